/**
 * The outbox. Events are rows written in the same database transaction as the change that causes
 * them. A request records what happened; `flush` writes the Lago-named events once, at the end:
 * transaction events in the order they happened, then one event per touched wallet
 * (`wallet.created` or `wallet.terminated` take the place of `wallet.updated` for that wallet).
 *
 * Readers never miss an event that commits late with an earlier position: writers insert their events
 * while holding a shared per-organization advisory lock (until commit), and a reader takes the same
 * lock exclusively for its read. So a reader sees no writer in flight, and every later writer draws
 * its positions after the reader is done: position order is final order.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { transactionDto, walletDto } from './dto.js';
import type { RecurringTransactionRule, Wallet, WalletTransaction } from './entities/index.js';
import type { Queryable } from './group-loader.js';
import { loadActiveRules } from './repositories.js';
import { type SqlStatement, sendStatements } from './sql-statements.js';

export type EventType =
  | 'wallet.created'
  | 'wallet.updated'
  | 'wallet.terminated'
  | 'wallet.depleted_ongoing_balance'
  | 'wallet_transaction.created'
  | 'wallet_transaction.updated'
  | 'wallet_transaction.payment_failure';

type WalletEventType = 'wallet.created' | 'wallet.updated' | 'wallet.terminated' | 'wallet.depleted_ongoing_balance';

export class EventRecorder {
  private readonly transactionEvents: { type: EventType; data: Record<string, unknown> }[] = [];
  private readonly walletEvents = new Map<string, { wallet: Wallet; types: Set<WalletEventType> }>();
  /** Active rules already loaded in this request, by wallet (saves loading them again for event data). */
  private readonly knownRules = new Map<string, RecurringTransactionRule[]>();

  rememberRules(walletIds: readonly string[], rules: readonly RecurringTransactionRule[]): void {
    for (const id of walletIds) this.knownRules.set(id, []);
    for (const rule of rules) this.knownRules.get(rule.wallet.id)?.push(rule);
  }

  transaction(
    type: 'wallet_transaction.created' | 'wallet_transaction.updated' | 'wallet_transaction.payment_failure',
    tx: WalletTransaction,
    extra: Record<string, unknown> = {},
  ): void {
    this.transactionEvents.push({ type, data: { ...transactionDto(tx), ...extra } });
  }

  wallet(type: WalletEventType, wallet: Wallet): void {
    const entry = this.walletEvents.get(wallet.id) ?? { wallet, types: new Set<WalletEventType>() };
    entry.types.add(type);
    this.walletEvents.set(wallet.id, entry);
  }

  /** Writes the events, then `trailing` (writes nobody reads back), in one round trip; true when it wrote events (to notify after commit). */
  async flush(em: EntityManager, organizationId: string, now: Date, trailing: readonly SqlStatement[] = []): Promise<boolean> {
    const rows: { type: EventType; data: Record<string, unknown> }[] = [...this.transactionEvents];
    const wallets = [...this.walletEvents.values()];
    const missing = wallets.map((w) => w.wallet.id).filter((id) => !this.knownRules.has(id));
    const rules = new Map([...this.knownRules, ...(await loadActiveRules(em, organizationId, missing))]);
    for (const { wallet, types } of wallets) {
      const data = walletDto(wallet, rules.get(wallet.id) ?? []);
      const main: WalletEventType[] = types.has('wallet.created')
        ? ['wallet.created']
        : types.has('wallet.terminated')
          ? ['wallet.terminated']
          : types.has('wallet.updated')
            ? ['wallet.updated']
            : [];
      // Only if the request leaves it depleted: a void then a grant in one call dips to zero and back.
      if (types.has('wallet.depleted_ongoing_balance') && wallet.ongoingBalanceCents <= 0n) main.push('wallet.depleted_ongoing_balance');
      for (const type of main) rows.push({ type, data });
    }
    const statements: SqlStatement[] = [];
    if (rows.length > 0) {
      // The shared outbox lock, then the rows (positions drawn in this order).
      statements.push(
        { sql: 'select pg_advisory_xact_lock_shared(?, hashtext(?))', params: [EVENTS_LOCK_CLASS, organizationId] },
        {
          sql: `insert into events (id, organization_id, type, data, created_at) values ${rows.map(() => '(?, ?, ?, ?::jsonb, ?)').join(', ')}`,
          params: rows.flatMap((row) => [randomUUID(), organizationId, row.type, JSON.stringify(row.data), now]),
        },
      );
    }
    statements.push(...trailing);
    if (statements.length > 0) await sendStatements(em, statements);
    this.transactionEvents.length = 0;
    this.walletEvents.clear();
    return rows.length > 0;
  }
}

export interface EventItem {
  id: string;
  type: EventType;
  createdAt: Date;
  data: Record<string, unknown>;
  /** Pass to `after` to continue after this event. */
  cursor: string;
}

/** Advisory lock class of the outbox (the object is the organization). */
export const EVENTS_LOCK_CLASS = 7246;

/** The channel live streams listen on; payload: the organization id. */
export const EVENTS_CHANNEL = 'wallet_events';

const NOTIFY_EVENTS = { name: 'notify_events', text: 'select pg_notify($1, o) from unnest($2::text[]) o' };

/**
 * Tells live streams (every process's LISTEN connection) which organizations have new events.
 * Writers call it after their transaction COMMITTED, never notify inside it: a NOTIFY inside a
 * transaction holds PostgreSQL's notification lock through the commit's WAL flush, which
 * serializes every writing commit of the server (no group commit; measured 265 against 313 grants/s
 * with 16 callers on this machine). Sent alone, a notification writes no WAL and holds the lock for
 * microseconds. Calls are gathered: one statement, on a pooled connection, off the request's path,
 * notifies every organization that committed since the last one went out (one at a time, so under
 * load many commits share one).
 *
 * A notification is only a hint to read: what a stream yields always comes from the locked outbox
 * read. A lost one (the process ends right after a commit) delays delivery, never skips an event:
 * the organization's next notification, or a stream's reconnection, reads it.
 */
export function eventNotifier(acquire: () => Promise<{ client: Queryable; release: () => void }>): (organizationId: string) => void {
  const pending = new Set<string>();
  let sending = false;
  const send = async () => {
    sending = true;
    while (pending.size > 0) {
      const organizations = [...pending];
      pending.clear();
      try {
        const { client, release } = await acquire();
        try {
          await client.query({ ...NOTIFY_EVENTS, values: [EVENTS_CHANNEL, organizations] });
        } finally {
          release();
        }
      } catch {
        // The pool is closing or the server is gone: the streams read again when they reconnect.
      }
    }
    sending = false;
  };
  return (organizationId) => {
    pending.add(organizationId);
    if (!sending) void send();
  };
}

export function encodeEventCursor(position: string): string {
  return Buffer.from(`e${position}`).toString('base64url');
}

function decodeEventCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString();
  if (!/^e\d{1,19}$/.test(text)) {
    throw new WalletError('VALIDATION_FAILED', 'after is not a cursor returned by events.list', {
      issues: [{ path: ['after'], message: 'unknown cursor' }],
    });
  }
  return text.slice(1);
}

interface EventRow {
  position: string;
  id: string;
  type: EventType;
  data: Record<string, unknown>;
  created_at: Date;
}

export async function listEvents(
  em: EntityManager,
  organizationId: string,
  { after, limit }: { after?: string | null | undefined; limit: number },
): Promise<{ items: EventItem[]; nextCursor: string | null }> {
  const position = after ? decodeEventCursor(after) : '0';
  const rows: EventRow[] = await em.fork().transactional(async (tx) => {
    await tx
      .getConnection()
      .execute('select pg_advisory_xact_lock(?, hashtext(?))', [EVENTS_LOCK_CLASS, organizationId], 'all', tx.getTransactionContext());
    return tx.getConnection().execute(
      `select position::text, id, type, data, created_at from events
        where organization_id = ? and position > ?::bigint order by events.position limit ?`,
      [organizationId, position, limit + 1],
      'all',
      tx.getTransactionContext(),
    );
  });
  const items = rows.slice(0, limit).map((row) => ({
    id: row.id,
    type: row.type,
    createdAt: new Date(row.created_at),
    data: reviveDates(row.data) as Record<string, unknown>,
    cursor: encodeEventCursor(row.position),
  }));
  const last = items[items.length - 1];
  // One row more than asked tells whether this is the end (nextCursor null), as in every list.
  return { items, nextCursor: rows.length > limit && last ? last.cursor : null };
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Event data is stored as JSON; times (fields ending in `At`) come back as Dates, as everywhere on the wire. */
function reviveDates(value: unknown, key = ''): unknown {
  if (typeof value === 'string' && key.endsWith('At') && ISO_DATE.test(value)) return new Date(value);
  if (Array.isArray(value)) return value.map((item) => reviveDates(item));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, reviveDates(v, k)]));
  }
  return value;
}

/** The cursor of one event, for resuming after it. */
export async function findEventCursor(em: EntityManager, organizationId: string, eventId: string): Promise<string | null> {
  const rows: { position: string }[] = await em
    .getConnection()
    .execute('select position::text from events where organization_id = ? and id = ?', [organizationId, eventId]);
  const row = rows[0];
  return row ? encodeEventCursor(row.position) : null;
}
