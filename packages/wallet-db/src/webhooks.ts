/**
 * Webhook endpoints and deliveries (CONTRACT.md "Events"). Events never leave the outbox table;
 * deliveries are rows owed by one event to one endpoint, so nothing is lost while no worker runs.
 *
 * - Which endpoints get an event: those live when it was created. An endpoint starts its fan-out
 *   cursor at the organization's newest event, read under the outbox's exclusive reader lock, so
 *   every event after the cursor was created after the endpoint (writers hold the shared lock while
 *   they draw positions). Fan-out reads under the same lock, so a late commit with an earlier
 *   position is never skipped.
 * - Sending: a delivery due at the given time (the injected clock) is claimed with a lease, in one
 *   short statement (a token and an end time, in database time); the POST runs with no transaction
 *   and no pooled connection held; the attempt is then recorded in one short transaction, only if
 *   the lease is still the sender's. A sender that dies mid-send leaves its lease to expire, and
 *   another sender then sends the delivery again: at least once. A live sender's lease outlasts its
 *   POST's timeout, so one attempt is never sent twice at once.
 * - Fairness: claims are made per organization (the caller goes round the organizations); within
 *   one, the endpoint whose delivery was claimed longest ago goes first, an endpoint has at most one
 *   delivery in flight, and an organization at most `maxInFlight`, across every process (counted
 *   from live leases; an organization's claims take turns on an advisory lock, so the limits hold
 *   exactly). So dead endpoints of one
 *   organization hold at most its share of the senders and never delay another's.
 * - Retries: a failed attempt is retried after 30 s, doubling, capped at 4 h, until the delays add
 *   up to a day; then the delivery is failed. Every attempt is a row.
 * - At most WEBHOOK_ENDPOINT_LIMIT live endpoints per organization.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { EVENTS_LOCK_CLASS } from './events.js';
import { readRows } from './reads.js';
import { isUuid } from './repositories.js';

const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 4 * 3_600_000;
const RETRY_WINDOW_MS = 24 * 3_600_000;

/** Advisory lock class of webhook claims (the object is the organization): claims of one organization take turns. */
export const WEBHOOK_CLAIM_LOCK_CLASS = 7247;

/** Live endpoints one organization may have. */
export const WEBHOOK_ENDPOINT_LIMIT = 20;

/** Delay before retry n+1 (index n = after attempt n+1 failed); their sum is at least a day. */
export const WEBHOOK_RETRY_DELAYS_MS: readonly number[] = (() => {
  const delays: number[] = [];
  for (let total = 0; total < RETRY_WINDOW_MS; total += delays[delays.length - 1] ?? 0) {
    delays.push(Math.min(FIRST_RETRY_MS * 2 ** delays.length, MAX_RETRY_MS));
  }
  return delays;
})();

/** Attempts before a delivery is failed: the first one plus every retry. */
export const WEBHOOK_MAX_ATTEMPTS = WEBHOOK_RETRY_DELAYS_MS.length + 1;

type Sql = (text: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/** Runs `fn` in one transaction, with raw SQL bound to it. */
function inTransaction<T>(em: EntityManager, fn: (sql: Sql) => Promise<T>): Promise<T> {
  return em
    .fork()
    .transactional((tx) => fn((text, params = []) => tx.getConnection().execute(text, params as never[], 'all', tx.getTransactionContext())));
}

function rawSql(em: EntityManager): Sql {
  return (text, params = []) => em.getConnection().execute(text, params as never[]);
}

async function lockOutboxForReading(sql: Sql, organizationId: string): Promise<void> {
  await sql('select pg_advisory_xact_lock(?, hashtext(?))', [EVENTS_LOCK_CLASS, organizationId]);
}

/** How an endpoint's deliveries are shaped and signed: Standard Webhooks, or Lago's envelope and signature. */
export type WebhookFormat = 'standard' | 'lago';

export interface WebhookEndpointDto {
  id: string;
  url: string;
  format: WebhookFormat;
  createdAt: Date;
}

function endpointDto(row: Record<string, unknown>): WebhookEndpointDto {
  return {
    id: String(row.id),
    url: String(row.url),
    format: row.format === 'lago' ? 'lago' : 'standard',
    createdAt: new Date(row.created_at as string),
  };
}

/** A new signing secret in the Standard Webhooks form: `whsec_` + base64 of 24 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export async function createWebhookEndpoint(
  em: EntityManager,
  organizationId: string,
  url: string,
  now: Date,
  /** How the secret is stored (sealed under the key-encryption key when one is configured). */
  seal: (secret: string) => string = (secret) => secret,
  format: WebhookFormat = 'standard',
): Promise<WebhookEndpointDto & { secret: string }> {
  const id = randomUUID();
  const secret = newWebhookSecret();
  await inTransaction(em, async (sql) => {
    // The outbox reader lock is exclusive per organization: concurrent creations count in turn.
    await lockOutboxForReading(sql, organizationId);
    const [live] = await sql('select count(*)::int as n from webhook_endpoints where organization_id = ? and deleted_at is null', [organizationId]);
    if (Number(live?.n) >= WEBHOOK_ENDPOINT_LIMIT) {
      throw new WalletError('WEBHOOK_ENDPOINT_LIMIT_REACHED', `an organization has at most ${WEBHOOK_ENDPOINT_LIMIT} webhook endpoints`, {
        limit: WEBHOOK_ENDPOINT_LIMIT,
      });
    }
    await sql(
      `insert into webhook_endpoints (id, organization_id, url, secret, format, event_cursor, created_at)
       select ?, ?, ?, ?, ?, coalesce(max(position), 0), ? from events where organization_id = ?`,
      [id, organizationId, url, seal(secret), format, now, organizationId],
    );
  });
  return { id, url, format, secret, createdAt: now };
}

export async function listWebhookEndpoints(em: EntityManager, organizationId: string): Promise<WebhookEndpointDto[]> {
  const rows = await readRows(em, {
    name: 'read_webhook_endpoints',
    text: 'select id, url, format, created_at from webhook_endpoints where organization_id = $1 and deleted_at is null order by created_at, id',
    values: [organizationId],
  });
  return rows.map(endpointDto);
}

function endpointNotFound(id: string): WalletError {
  return new WalletError('WEBHOOK_ENDPOINT_NOT_FOUND', `webhook endpoint ${id} not found`, { id });
}

/** Stops deliveries to the endpoint: its pending deliveries are cancelled, its history stays listable. */
export async function deleteWebhookEndpoint(em: EntityManager, organizationId: string, id: string, now: Date): Promise<WebhookEndpointDto> {
  if (!isUuid(id)) throw endpointNotFound(id);
  return inTransaction(em, async (sql) => {
    const [row] = await sql(
      `update webhook_endpoints set deleted_at = ? where organization_id = ? and id = ? and deleted_at is null
       returning id, url, format, created_at`,
      [now, organizationId, id],
    );
    if (!row) throw endpointNotFound(id);
    await sql(
      `update webhook_deliveries set status = 'cancelled', next_attempt_at = null
        where organization_id = ? and endpoint_id = ? and status = 'pending'`,
      [organizationId, id],
    );
    return endpointDto(row);
  });
}

export interface WebhookAttemptDto {
  attemptNumber: number;
  attemptedAt: Date;
  /** The receiver's HTTP status, null when no answer came (network error or timeout). */
  statusCode: number | null;
  /** Coarse, never a socket code: `HTTP <status>`, `timeout`, `connection failed` or `address not allowed`. */
  error: WebhookAttemptError | null;
  durationMs: number;
}

/** What tenants see of a failed attempt: enough to act on, too little to map a network with. */
export type WebhookAttemptError = `HTTP ${number}` | 'timeout' | 'connection failed' | 'address not allowed';

/** Rows written before errors were coarse may hold socket codes: those read as `connection failed`. */
function coarseAttemptError(error: string | null): WebhookAttemptError | null {
  if (error === null) return null;
  if (/^HTTP \d{3}$/.test(error) || error === 'timeout' || error === 'address not allowed') return error as WebhookAttemptError;
  return /^timed out/.test(error) ? 'timeout' : 'connection failed';
}

export interface WebhookDeliveryDto {
  id: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'delivered' | 'failed' | 'cancelled';
  attemptCount: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  createdAt: Date;
  attempts: WebhookAttemptDto[];
}

function decodeDeliveryCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString();
  if (!/^d\d{1,19}$/.test(text)) {
    throw new WalletError('VALIDATION_FAILED', 'cursor is not one returned by webhooks.deliveries', {
      issues: [{ path: ['cursor'], message: 'unknown cursor' }],
    });
  }
  return text.slice(1);
}

/** An endpoint's deliveries, newest event first, each with every attempt made. */
export async function listWebhookDeliveries(
  em: EntityManager,
  organizationId: string,
  { endpointId, cursor, limit }: { endpointId: string; cursor?: string | null | undefined; limit: number },
): Promise<{ items: WebhookDeliveryDto[]; nextCursor: string | null }> {
  if (!isUuid(endpointId)) throw endpointNotFound(endpointId);
  const before = cursor ? decodeDeliveryCursor(cursor) : null;
  // One statement: the endpoint (no row: not this organization's), beside a page of its deliveries (a null id: none).
  const found = await readRows(em, {
    name: 'read_webhook_deliveries',
    text: `select e.id as endpoint_id, p.* from webhook_endpoints e
             left join lateral (
               select d.id, d.event_id, ev.type, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.created_at,
                      d.event_position, d.event_position::text as position,
                      coalesce((select jsonb_agg(jsonb_build_object('attemptNumber', a.attempt_number, 'attemptedAt', a.attempted_at,
                                                                    'statusCode', a.status_code, 'error', a.error, 'durationMs', a.duration_ms)
                                                 order by a.attempt_number)
                                  from webhook_attempts a where a.organization_id = d.organization_id and a.delivery_id = d.id), '[]') as attempt_log
                 from webhook_deliveries d
                 join events ev on ev.organization_id = d.organization_id and ev.position = d.event_position
                where d.organization_id = e.organization_id and d.endpoint_id = e.id and ($3::bigint is null or d.event_position < $3::bigint)
                order by d.event_position desc limit $4) p on true
            where e.organization_id = $1 and e.id = $2
            order by p.event_position desc`,
    values: [organizationId, endpointId, before, limit + 1],
  });
  if (found.length === 0) throw endpointNotFound(endpointId);
  const rows = found.filter((row) => row.id !== null);
  const items = rows.slice(0, limit).map(
    (row): WebhookDeliveryDto => ({
      id: String(row.id),
      eventId: String(row.event_id),
      eventType: String(row.type),
      status: row.status as WebhookDeliveryDto['status'],
      attemptCount: Number(row.attempts),
      nextAttemptAt: row.next_attempt_at ? new Date(row.next_attempt_at as string) : null,
      lastAttemptAt: row.last_attempt_at ? new Date(row.last_attempt_at as string) : null,
      createdAt: new Date(row.created_at as string),
      attempts: (row.attempt_log as (Omit<WebhookAttemptDto, 'attemptedAt' | 'error'> & { attemptedAt: string; error: string | null })[]).map(
        (a) => ({ ...a, attemptedAt: new Date(a.attemptedAt), error: coarseAttemptError(a.error) }),
      ),
    }),
  );
  const last = rows[limit - 1];
  return { items, nextCursor: rows.length > limit && last ? Buffer.from(`d${last.position}`).toString('base64url') : null };
}

/**
 * Turns new events into delivery rows, one per live endpoint. Per organization with events after
 * an endpoint's cursor: under the outbox reader lock (no writer in flight), every event up to the
 * newest gets a row due at `asOf`, and the cursors move to the newest, in one transaction.
 * Returns the number of rows created.
 */
export async function fanOutWebhookEvents(em: EntityManager, asOf: Date): Promise<number> {
  const organizations = await rawSql(em)(
    `select distinct p.organization_id from webhook_endpoints p
      where p.deleted_at is null
        and exists (select 1 from events ev where ev.organization_id = p.organization_id and ev.position > p.event_cursor)`,
  );
  let created = 0;
  for (const { organization_id: organizationId } of organizations) {
    created += await inTransaction(em, async (sql) => {
      await lockOutboxForReading(sql, String(organizationId));
      const inserted = await sql(
        `insert into webhook_deliveries (id, organization_id, endpoint_id, event_position, event_id, status, attempts, next_attempt_at, created_at)
         select gen_random_uuid(), p.organization_id, p.id, ev.position, ev.id, 'pending', 0, ?, ?
           from webhook_endpoints p
           join events ev on ev.organization_id = p.organization_id and ev.position > p.event_cursor
          where p.organization_id = ? and p.deleted_at is null
         on conflict do nothing
         returning 1`,
        [asOf, asOf, organizationId],
      );
      await sql(
        `update webhook_endpoints p set event_cursor = newest.position
           from (select max(position) as position from events where organization_id = ?) newest
          where p.organization_id = ? and p.deleted_at is null and p.event_cursor < newest.position`,
        [organizationId, organizationId],
      );
      return inserted.length;
    });
  }
  return created;
}

/** What the sender gets: where to POST, the key, and the event as it is in the outbox. */
export interface WebhookSend {
  url: string;
  secret: string;
  event: { id: string; type: string; createdAt: string; data: unknown };
  attemptNumber: number;
  /** Default `standard`. */
  format?: WebhookFormat;
  organizationId?: string;
  /** The id of the customer the event's wallet belongs to (Lago's envelope names it). */
  customerId?: string | null;
}

export interface WebhookAttemptResult {
  statusCode: number | null;
  error: WebhookAttemptError | null;
  durationMs: number;
}

export type WebhookOutcome = 'delivered' | 'retrying' | 'failed';

/** A delivery claimed by one sender: what to send, and the lease to record the attempt under. */
export interface ClaimedWebhookDelivery extends WebhookSend {
  deliveryId: string;
  organizationId: string;
  endpointId: string;
  leaseToken: string;
  leaseUntil: Date;
}

/** Organizations with a delivery due at `asOf` that no live lease holds. */
export async function findOrganizationsWithDueWebhooks(em: EntityManager, asOf: Date): Promise<string[]> {
  const rows = await rawSql(em)(
    `select distinct d.organization_id from webhook_deliveries d
      where d.status = 'pending' and d.next_attempt_at <= ? and (d.lease_until is null or d.lease_until < now())`,
    [asOf],
  );
  return rows.map((row) => String(row.organization_id));
}

/**
 * Claims one delivery of the organization due at `asOf`, for `leaseMs` of database time, in one
 * short transaction (the organization's claim lock, then one statement): from the endpoint whose
 * delivery was claimed longest ago, among endpoints with no delivery in flight, while the
 * organization has fewer than `maxInFlight` in flight. Null when none can be claimed now.
 */
export async function claimWebhookDelivery(
  em: EntityManager,
  organizationId: string,
  asOf: Date,
  { leaseMs, maxInFlight }: { leaseMs: number; maxInFlight: number },
): Promise<ClaimedWebhookDelivery | null> {
  const leaseToken = randomUUID();
  const [row] = await inTransaction(em, async (sql) => {
    await sql('select pg_advisory_xact_lock(?, hashtext(?))', [WEBHOOK_CLAIM_LOCK_CLASS, organizationId]);
    return sql(
      `with candidate as (
       select d.id, d.endpoint_id from webhook_deliveries d
         join webhook_endpoints p on p.organization_id = d.organization_id and p.id = d.endpoint_id
        where d.organization_id = ? and d.status = 'pending' and d.next_attempt_at <= ? and p.deleted_at is null
          and (d.lease_until is null or d.lease_until < now())
          and not exists (select 1 from webhook_deliveries x
                           where x.organization_id = d.organization_id and x.endpoint_id = d.endpoint_id
                             and x.status = 'pending' and x.lease_until >= now())
          and (select count(*) from webhook_deliveries x
                where x.organization_id = d.organization_id and x.status = 'pending' and x.lease_until >= now()) < ?::int
        order by p.last_claimed_at nulls first, d.next_attempt_at, d.event_position
        limit 1
        for update of d skip locked
     ), claimed as (
       update webhook_deliveries d set lease_token = ?, lease_until = now() + ?::int * interval '1 millisecond'
         from candidate where d.id = candidate.id
       returning d.id, d.organization_id, d.endpoint_id, d.event_position, d.attempts, d.event_id, d.lease_until
     ), touched as (
       update webhook_endpoints p set last_claimed_at = now() from claimed where p.id = claimed.endpoint_id
     )
     select c.id, c.organization_id, c.endpoint_id, c.attempts, c.event_id, c.lease_until, p.url, p.secret, p.format, ev.type, ev.data, ev.created_at,
            (select cu.id from customers cu
              where p.format = 'lago' and cu.organization_id = c.organization_id and cu.external_id = ev.data->>'externalCustomerId') as customer_id
       from claimed c
       join webhook_endpoints p on p.id = c.endpoint_id
       join events ev on ev.organization_id = c.organization_id and ev.position = c.event_position`,
      [organizationId, asOf, maxInFlight, leaseToken, leaseMs],
    );
  });
  if (!row) return null;
  return {
    deliveryId: String(row.id),
    organizationId: String(row.organization_id),
    endpointId: String(row.endpoint_id),
    leaseToken,
    leaseUntil: new Date(row.lease_until as string),
    url: String(row.url),
    secret: String(row.secret),
    event: { id: String(row.event_id), type: String(row.type), createdAt: new Date(row.created_at as string).toISOString(), data: row.data },
    attemptNumber: Number(row.attempts) + 1,
    format: row.format === 'lago' ? 'lago' : 'standard',
    customerId: row.customer_id === null || row.customer_id === undefined ? null : String(row.customer_id),
  };
}

/**
 * Records the attempt made on a claimed delivery and its next due time (after `asOf`), and ends
 * the lease, in one short transaction. Null, recording nothing, when the lease was lost (it ran
 * out and another sender took the delivery).
 */
export async function recordWebhookAttempt(
  em: EntityManager,
  claim: ClaimedWebhookDelivery,
  result: WebhookAttemptResult,
  asOf: Date,
): Promise<WebhookOutcome | null> {
  const { attemptNumber } = claim;
  const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
  const outcome: WebhookOutcome = ok ? 'delivered' : attemptNumber >= WEBHOOK_MAX_ATTEMPTS ? 'failed' : 'retrying';
  const delay = WEBHOOK_RETRY_DELAYS_MS[attemptNumber - 1] ?? 0;
  return inTransaction(em, async (sql) => {
    const updated = await sql(
      `update webhook_deliveries set attempts = ?, last_attempt_at = ?, status = ?, next_attempt_at = ?, lease_token = null, lease_until = null
        where organization_id = ? and id = ? and lease_token = ? and status = 'pending'
        returning 1`,
      [
        attemptNumber,
        asOf,
        outcome === 'retrying' ? 'pending' : outcome,
        outcome === 'retrying' ? new Date(asOf.getTime() + delay) : null,
        claim.organizationId,
        claim.deliveryId,
        claim.leaseToken,
      ],
    );
    if (updated.length === 0) return null;
    await sql(
      `insert into webhook_attempts (id, organization_id, delivery_id, attempt_number, attempted_at, status_code, error, duration_ms)
       values (?, ?, ?, ?, ?, ?, ?, ?)`,
      [randomUUID(), claim.organizationId, claim.deliveryId, attemptNumber, asOf, result.statusCode, result.error, result.durationMs],
    );
    return outcome;
  });
}
