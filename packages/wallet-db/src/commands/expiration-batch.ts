/**
 * Batched wallet expiry: a few hundred due wallets of one organization per transaction, through
 * the door for many groups (group-mutation.ts `runBatchMutation`): one load of every wallet's group
 * under its customer's lock (customers locked in id order, so API requests and other batches wait
 * or are waited for, never deadlock), wallet-core's `planExpireWallet` per group, exactly as the
 * per-wallet path (`expireWallet`) decides, and one write of all the deltas. The sweep batches the
 * wallets that share their ongoing balance group with no other; one that gained a sibling since is
 * expired all the same (the planner recomputes its group), and one that is no longer active, or no
 * longer past its expiry, gets what the planner decides for it now (nothing, or its due lots
 * voided). With an idempotency key the outcome is recorded in the same transaction: a replay after
 * a crash changes nothing and reports the first outcome.
 */
import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { planExpireWallet } from '@wallets/core';
import { groupDbOf, runBatchMutation } from '../group-mutation.js';
import { type DueWallet, type ExpirationOutcome, HAS_ACTIVE_SIBLING } from './expiration.js';

/** Wallets per batch: one transaction holds this many customer locks for a fraction of a second. */
export const EXPIRATION_BATCH_SIZE = 200;

export interface ExpirationBatch {
  organizationId: string;
  /** Ascending. */
  walletIds: string[];
}

/**
 * Active wallets past their own expiry (what wallet-core's `isWalletExpired` calls expired:
 * `expiration_at <= asOf`) whose customer has no other active wallet in that currency; the others
 * get a job each (`findWalletsDueOneByOne`).
 */
export async function findWalletsDueForBatchExpiration(em: EntityManager, asOf: Date, limit = 1_000_000): Promise<DueWallet[]> {
  const rows: { organization_id: string; id: string }[] = await em.getConnection().execute(
    `select w.organization_id, w.id from wallets w
      where w.status = 'active' and w.expiration_at <= ?
        and not ${HAS_ACTIVE_SIBLING}
      order by w.organization_id, w.id limit ?`,
    [asOf, limit],
  );
  return rows.map((row) => ({ organizationId: row.organization_id, walletId: row.id }));
}

/** Splits due wallets into batches of one organization each, wallet ids ascending. */
export function toExpirationBatches(due: readonly DueWallet[], size = EXPIRATION_BATCH_SIZE): ExpirationBatch[] {
  const byOrganization = new Map<string, string[]>();
  for (const { organizationId, walletId } of due) {
    const list = byOrganization.get(organizationId) ?? [];
    list.push(walletId);
    byOrganization.set(organizationId, list);
  }
  const batches: ExpirationBatch[] = [];
  for (const [organizationId, ids] of byOrganization) {
    const sorted = [...ids].sort();
    for (let i = 0; i < sorted.length; i += size) batches.push({ organizationId, walletIds: sorted.slice(i, i + size) });
  }
  return batches;
}

/** A stable name for a batch (its organization and wallets), for job and idempotency keys. */
export function expirationBatchId(batch: ExpirationBatch): string {
  return createHash('sha256')
    .update(`${batch.organizationId}:${batch.walletIds.join(',')}`)
    .digest('hex')
    .slice(0, 32);
}

/** Expires the batch's wallets as of `asOf` in one transaction (each as `expireWallet` would). */
export async function expireWalletBatch(em: EntityManager, batch: ExpirationBatch, asOf: Date, idempotencyKey?: string): Promise<ExpirationOutcome> {
  const request = { organizationId: batch.organizationId, walletIds: batch.walletIds };
  const door = {
    db: groupDbOf(em),
    asOf: true,
    scope: { organizationId: batch.organizationId, procedure: 'jobs.expireWallets', idempotencyKey, request, now: asOf },
  };
  return runBatchMutation(
    door,
    { walletIds: batch.walletIds },
    (walletId, records, clock) => {
      const { delta, outcome } = planExpireWallet(records, walletId, clock);
      return { answer: outcome, delta };
    },
    (outcomes) => ({
      walletsExpired: outcomes.reduce((total, o) => total + o.walletsExpired, 0),
      lotsExpired: outcomes.reduce((total, o) => total + o.lotsExpired, 0),
    }),
  );
}
