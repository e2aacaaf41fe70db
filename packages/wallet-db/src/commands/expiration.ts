/**
 * Expiration: wallets whose expirationAt has passed are terminated with ledger voids, and lots whose
 * own expiry has passed have their remainder voided. Due times live in our tables; the queries here
 * only select candidates (comparing times as wallet-core's expiry predicates do), and wallet-core's
 * `planExpireWallet` decides under the customer's lock with the time the caller passes (the
 * injected clock). Each wallet is one mutation through the door (group-mutation.ts), so running the
 * same work twice (two workers, a retry after a crash) changes nothing the second time. Wallets past
 * their own expiry that share their ongoing balance with no other wallet go through the batched
 * path instead (expiration-batch.ts), which plans the same way and writes a few hundred wallets per
 * transaction.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { type ExpiryOutcome, planExpireWallet, WalletError } from '@wallets/core';
import { groupDbOf, runGroupMutation } from '../group-mutation.js';

export interface DueWallet {
  organizationId: string;
  walletId: string;
}

/** Selects what wallet-core's `isWalletExpired` and `isLotExpired` (expiry.ts) call due: `expiration_at <= asOf`. */
const DUE_CONDITION = `w.status = 'active' and (
        w.expiration_at <= ?
        or exists (select 1 from wallet_transactions t
                    where t.organization_id = w.organization_id and t.wallet_id = w.id
                      and t.transaction_type = 'inbound' and t.status = 'settled'
                      and (t.remaining_amount_cents > 0 or t.remaining_credit_amount > 0)
                      and t.expiration_at <= ?))`;

/** Active wallets that are past their expiry or hold a lot past its expiry, as of `asOf`. */
export async function findWalletsDueForExpiration(em: EntityManager, asOf: Date, limit = 10_000): Promise<DueWallet[]> {
  return findDue(em, DUE_CONDITION, [asOf, asOf], limit);
}

/** Another active wallet shares the wallet's ongoing balance group (same customer and currency). */
export const HAS_ACTIVE_SIBLING = `exists (select 1 from wallets s
                         where s.organization_id = w.organization_id and s.customer_id = w.customer_id and s.status = 'active'
                           and s.currency = w.currency and s.id <> w.id)`;

/**
 * The due wallets that the sweep leaves to `expireWallet`, a job each: those with only a lot past
 * its expiry, and those sharing their ongoing balance group with another active wallet (the batch
 * path, expiration-batch.ts, takes the others).
 */
export async function findWalletsDueOneByOne(em: EntityManager, asOf: Date, limit = 10_000): Promise<DueWallet[]> {
  return findDue(em, `${DUE_CONDITION} and not (coalesce(w.expiration_at <= ?, false) and not ${HAS_ACTIVE_SIBLING})`, [asOf, asOf, asOf], limit);
}

async function findDue(em: EntityManager, condition: string, params: unknown[], limit: number): Promise<DueWallet[]> {
  const rows: { organization_id: string; id: string }[] = await em
    .getConnection()
    .execute(`select w.organization_id, w.id from wallets w where ${condition} order by w.id limit ?`, [...params, limit]);
  return rows.map((row) => ({ organizationId: row.organization_id, walletId: row.id }));
}

export type ExpirationOutcome = ExpiryOutcome;

/**
 * Expires one wallet (or its due lots) as of `asOf`. With an idempotency key the outcome is recorded
 * in the same transaction, so a replay reports the first outcome and changes nothing.
 */
export async function expireWallet(em: EntityManager, due: DueWallet, asOf: Date, idempotencyKey?: string): Promise<ExpirationOutcome> {
  const request = { organizationId: due.organizationId, walletId: due.walletId };
  const door = {
    db: groupDbOf(em),
    asOf: true,
    scope: { organizationId: due.organizationId, procedure: 'jobs.expireWallet', idempotencyKey, request, now: asOf },
  };
  const load = { customer: { ownerOf: due.walletId }, scope: { walletId: due.walletId } } as const;
  return runGroupMutation(door, load, ({ records }, clock) => {
    if (!records?.wallets.some((w) => w.id === due.walletId)) {
      throw new WalletError('WALLET_NOT_FOUND', `wallet ${due.walletId} not found`, { walletId: due.walletId });
    }
    const { delta, outcome } = planExpireWallet(records, due.walletId, clock);
    return { answer: outcome, delta };
  });
}
