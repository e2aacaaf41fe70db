/**
 * The outbox. Events are rows written in the same database transaction as the change that causes
 * them. A request records what happened; `flush` writes the Lago-named events once, at the end:
 * transaction events in the order they happened, then one event per touched wallet
 * (`wallet.created` or `wallet.terminated` take the place of `wallet.updated` for that wallet).
 *
 * Readers page in (txid, position) order and only see rows whose writing transaction is older than
 * every transaction still running, so a row that commits late can never appear behind a cursor.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { transactionDto, walletDto } from './dto.js';
import { OutboxEvent, type Wallet, type WalletTransaction } from './entities/index.js';
import { loadActiveRules } from './repositories.js';

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

  async flush(em: EntityManager, organizationId: string): Promise<void> {
    const rows: { type: EventType; data: Record<string, unknown> }[] = [...this.transactionEvents];
    const wallets = [...this.walletEvents.values()];
    const rules = await loadActiveRules(
      em,
      organizationId,
      wallets.map((w) => w.wallet.id),
    );
    for (const { wallet, types } of wallets) {
      const data = walletDto(wallet, rules.get(wallet.id) ?? []);
      const main: WalletEventType[] = types.has('wallet.created')
        ? ['wallet.created']
        : types.has('wallet.terminated')
          ? ['wallet.terminated']
          : types.has('wallet.updated')
            ? ['wallet.updated']
            : [];
      if (types.has('wallet.depleted_ongoing_balance')) main.push('wallet.depleted_ongoing_balance');
      for (const type of main) rows.push({ type, data });
    }
    for (const row of rows) {
      em.create(OutboxEvent, {
        id: randomUUID(),
        organization: organizationId,
        type: row.type,
        data: JSON.parse(JSON.stringify(row.data)),
        createdAt: new Date(),
      } as never);
    }
    this.transactionEvents.length = 0;
    this.walletEvents.clear();
    await em.flush();
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

export function encodeEventCursor(txid: string, position: string): string {
  return Buffer.from(`${txid}:${position}`).toString('base64url');
}

function decodeEventCursor(cursor: string): [string, string] {
  const [txid, position] = Buffer.from(cursor, 'base64url').toString().split(':');
  if (!txid || !position || !/^\d+$/.test(txid) || !/^\d+$/.test(position)) {
    throw new WalletError('VALIDATION_FAILED', 'after is not a cursor returned by events.list', {
      issues: [{ path: ['after'], message: 'unknown cursor' }],
    });
  }
  return [txid, position];
}

interface EventRow {
  position: string;
  txid: string;
  id: string;
  type: EventType;
  data: Record<string, unknown>;
  created_at: Date;
}

export async function listEvents(
  em: EntityManager,
  organizationId: string,
  { after, limit }: { after?: string | null; limit: number },
): Promise<{ items: EventItem[]; nextCursor: string | null }> {
  const [txid, position] = after ? decodeEventCursor(after) : ['0', '0'];
  const rows: EventRow[] = await em.getConnection().execute(
    `select position::text, txid::text, id, type, data, created_at from events
      where organization_id = ? and txid < pg_snapshot_xmin(pg_current_snapshot())
        and (txid, position) > (?::xid8, ?::bigint)
      order by txid, position limit ?`,
    [organizationId, txid, position, limit],
  );
  const items = rows.map((row) => ({
    id: row.id,
    type: row.type,
    createdAt: new Date(row.created_at),
    data: row.data,
    cursor: encodeEventCursor(row.txid, row.position),
  }));
  const last = items[items.length - 1];
  return { items, nextCursor: items.length === limit && last ? last.cursor : null };
}

/** The cursor of one event, for resuming after it. */
export async function findEventCursor(em: EntityManager, organizationId: string, eventId: string): Promise<string | null> {
  const rows: { position: string; txid: string }[] = await em
    .getConnection()
    .execute('select position::text, txid::text from events where organization_id = ? and id = ?', [organizationId, eventId]);
  const row = rows[0];
  return row ? encodeEventCursor(row.txid, row.position) : null;
}
