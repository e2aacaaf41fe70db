/**
 * Keyset pagination, newest first: the cursor is the (createdAt, id) of the last item returned.
 */
import { WalletError } from '@wallets/core';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const createdAt = new Date(iso ?? '');
  if (!id || Number.isNaN(createdAt.getTime())) {
    throw new WalletError('VALIDATION_FAILED', 'cursor is not one returned by this list', {
      issues: [{ path: ['cursor'], message: 'unknown cursor' }],
    });
  }
  return { createdAt, id };
}

/** The filter for "older than the cursor" on (createdAt desc, id desc). */
export function olderThan(cursor: string | null | undefined): Record<string, unknown> {
  if (!cursor) return {};
  const { createdAt, id } = decodeCursor(cursor);
  return { $or: [{ createdAt: { $lt: createdAt } }, { createdAt, id: { $lt: id } }] };
}

export function toPage<E extends { createdAt: Date; id: string }, T>(rows: E[], limit: number, map: (row: E) => T): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(map), nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
}
