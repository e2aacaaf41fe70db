import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import type { Queryable } from './group-loader.js';

export type EventType =
  | 'wallet.created'
  | 'wallet.updated'
  | 'wallet.terminated'
  | 'wallet.depleted_ongoing_balance'
  | 'wallet_transaction.created'
  | 'wallet_transaction.updated'
  | 'wallet_transaction.payment_failure';

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
