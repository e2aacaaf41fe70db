/**
 * Interval rules and rule expiry (DESIGN.md flow 5). A rule fires on each anniversary of its start
 * (else its wallet's creation) in the customer's time zone, never on the start day itself; a missed
 * anniversary is not caught up. Each firing is one mutation through the door (group-mutation.ts),
 * keyed by rule and local date, so several processes, or a retry after a crash, never top up twice
 * for one anniversary; wallet-core's `planIntervalTopUp` decides (a top-up that fails its own checks
 * is skipped).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { formatLocalDate, isAnniversary, localDate, planExpireRules, planIntervalTopUp, type RuleInterval, WalletError } from '@wallets/core';
import { groupDbOf, runBatchMutation, runGroupMutation } from '../group-mutation.js';
import { toExpirationBatches } from './expiration-batch.js';

export interface DueIntervalRule {
  organizationId: string;
  ruleId: string;
  walletId: string;
  /** The anniversary, as the customer's local date (YYYY-MM-DD). */
  date: string;
}

interface RuleRow {
  organization_id: string;
  id: string;
  wallet_id: string;
  interval: RuleInterval;
  started_at: Date;
  timezone: string;
}

export async function findDueIntervalRules(em: EntityManager, asOf: Date): Promise<DueIntervalRule[]> {
  const rows: RuleRow[] = await em.getConnection().execute(
    `select r.organization_id, r.id, r.wallet_id, r.interval, coalesce(r.started_at, w.created_at) as started_at, c.timezone
       from recurring_transaction_rules r
       join wallets w on w.id = r.wallet_id and w.organization_id = r.organization_id
       join customers c on c.id = w.customer_id and c.organization_id = w.organization_id
      where r.status = 'active' and r.trigger = 'interval' and r.interval is not null
        and (r.expiration_at is null or r.expiration_at > ?)
        and w.status = 'active' and (w.expiration_at is null or w.expiration_at > ?)
      order by r.id`,
    [asOf, asOf],
  );
  const due: DueIntervalRule[] = [];
  for (const row of rows) {
    const today = localDate(asOf, row.timezone);
    if (isAnniversary(localDate(new Date(row.started_at), row.timezone), today, row.interval)) {
      due.push({ organizationId: row.organization_id, ruleId: row.id, walletId: row.wallet_id, date: formatLocalDate(today) });
    }
  }
  return due;
}

/** One firing through the door: wallet-core's `planIntervalTopUp` decides under the customer's lock. */
export async function runIntervalRule(em: EntityManager, due: DueIntervalRule, asOf: Date): Promise<{ intervalTopUps: number }> {
  const door = {
    db: groupDbOf(em),
    asOf: true,
    scope: {
      organizationId: due.organizationId,
      procedure: 'jobs.intervalTopUp',
      idempotencyKey: `${due.ruleId}@${due.date}`,
      request: due,
      now: asOf,
    },
  };
  // A top-up neither consumes nor expires lots: none are loaded.
  const load = { customer: { ownerOf: due.walletId }, scope: { walletId: due.walletId }, lots: 'none' } as const;
  return runGroupMutation(door, load, ({ records }, clock) => {
    if (!records?.wallets.some((w) => w.id === due.walletId)) {
      throw new WalletError('WALLET_NOT_FOUND', `wallet ${due.walletId} not found`, { walletId: due.walletId });
    }
    const { delta, intervalTopUps } = planIntervalTopUp(records, { walletId: due.walletId, ruleId: due.ruleId }, clock);
    return { answer: { intervalTopUps }, delta };
  });
}

/**
 * Ends every active rule past its expiry; returns how many ended. The query only selects the wallets
 * that hold one (`expiration_at <= asOf`: what wallet-core's `isRuleLive` calls no longer live);
 * their groups go through the door for many groups, a few hundred wallets per transaction under
 * their customers' locks, where wallet-core's `planExpireRules` decides and the one writer ends them.
 */
export async function expireDueRules(em: EntityManager, asOf: Date): Promise<number> {
  const rows: { organization_id: string; wallet_id: string }[] = await em
    .getConnection()
    .execute(`select distinct r.organization_id, r.wallet_id from recurring_transaction_rules r where r.status = 'active' and r.expiration_at <= ?`, [
      asOf,
    ]);
  let ended = 0;
  for (const batch of toExpirationBatches(rows.map((row) => ({ organizationId: row.organization_id, walletId: row.wallet_id })))) {
    const scope = { organizationId: batch.organizationId, procedure: 'jobs.expireRules', request: batch, now: asOf };
    ended += await runBatchMutation(
      { db: groupDbOf(em), scope, asOf: true },
      { walletIds: batch.walletIds, lots: 'none' },
      (_walletId, records, clock) => {
        const { delta, rulesEnded } = planExpireRules(records, clock);
        return { answer: rulesEnded, delta };
      },
      (counts) => counts.reduce((total, n) => total + n, 0),
    );
  }
  return ended;
}
