/**
 * Recomputes ongoing balances from the stored usage snapshot, in the request that changed a balance,
 * a wallet's scope or the usage itself (Lago polls every 5 minutes; we never serve a stale one).
 * Emits `wallet.depleted_ongoing_balance` when a wallet's ongoing balance reaches zero or below from
 * above zero (or as a new wallet), never twice in a row (a latch on the wallet).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { centsToCredits, parseDecimal, planOngoingUsage, type UsageFee, type UsageSnapshotInput } from '@wallets/core';
import { RecurringTransactionRule, type UsageFeeRecord, type UsageSnapshot, Wallet } from './entities/index.js';
import type { EventRecorder } from './events.js';
import { isPastExpiration, isRuleLive, walletConversion } from './wallet-facts.js';

function toUsageFee(record: UsageFeeRecord): UsageFee {
  const parse = (text: string) => {
    const parsed = parseDecimal(text, { excess: 'floor', allowNegative: true });
    if (!parsed.ok) throw new Error(`stored usage amount ${text}: ${parsed.reason}`);
    return parsed.value;
  };
  return {
    feeType: record.feeType,
    billableMetricCode: record.billableMetricCode,
    amount: parse(record.amountCents),
    coupons: parse(record.couponsAmountCents),
    taxes: parse(record.taxesAmountCents),
  };
}

export function snapshotInput(snapshot: UsageSnapshot | null): UsageSnapshotInput {
  if (!snapshot) return { currentFees: [], draftInvoiceFees: [], billedFees: [] };
  return {
    currentFees: snapshot.fees.map(toUsageFee),
    draftInvoiceFees: snapshot.draftInvoices.flatMap((draft) => draft.fees.map(toUsageFee)),
    billedFees: snapshot.billedFees.map(toUsageFee),
  };
}

export interface OngoingGroup {
  customerId: string;
  currency: string;
  /** Every active wallet of the customer in that currency, when the caller already has them. */
  wallets?: Wallet[] | undefined;
  /** All active rules of those wallets, when the caller already has them. */
  rules?: RecurringTransactionRule[] | undefined;
}

/**
 * Recomputes one (customer, currency) group; returns its wallets and their active rules (all
 * triggers), so the caller fires threshold rules and writes events without loading them again.
 */
export async function recomputeOngoingBalances(
  em: EntityManager,
  ctx: { organizationId: string; now: Date },
  group: OngoingGroup,
  events: EventRecorder,
  loadSnapshot: () => Promise<UsageSnapshot | null>,
): Promise<{ wallets: Wallet[]; rules: RecurringTransactionRule[] }> {
  const wallets =
    group.wallets ??
    (await em.find(
      Wallet,
      { organization: ctx.organizationId, customer: group.customerId, currency: group.currency, status: 'active' },
      { populate: ['customer'], orderBy: { priority: 'asc', createdAt: 'asc', id: 'asc' } },
    ));
  const snapshot = await loadSnapshot();
  const rules = group.rules
    ? group.rules.filter((r) => r.status === 'active')
    : wallets.length
      ? await em.find(
          RecurringTransactionRule,
          { organization: ctx.organizationId, wallet: { $in: wallets.map((w) => w.id) }, status: 'active' },
          { orderBy: { createdAt: 'asc', id: 'asc' } },
        )
      : [];
  events.rememberRules(
    wallets.map((w) => w.id),
    rules,
  );
  // Only rules that can still fire absorb usage: not past their own expiry, on a wallet not past its expiry.
  const live = new Set(wallets.filter((w) => !isPastExpiration(w, ctx.now)).map((w) => w.id));
  const withRule = new Set(rules.filter((r) => r.trigger === 'threshold' && live.has(r.wallet.id) && isRuleLive(r, ctx.now)).map((r) => r.wallet.id));
  const usage = planOngoingUsage(
    snapshotInput(snapshot),
    wallets.map((w) => ({
      id: w.id,
      balanceCents: w.balanceCents,
      feeTypes: w.appliesToFeeTypes,
      billableMetricCodes: w.appliesToBillableMetricCodes,
      hasActiveThresholdRule: withRule.has(w.id),
    })),
  );
  for (const wallet of wallets) applyOngoing(wallet, usage.get(wallet.id) ?? 0n, events);
  return { wallets, rules };
}

/** Sets a wallet's ongoing fields from its allocated usage and fires the depletion latch. */
export function applyOngoing(wallet: Wallet, usageCents: bigint, events: EventRecorder): void {
  const before = [wallet.ongoingBalanceCents, wallet.creditsOngoingBalance, wallet.ongoingUsageBalanceCents];
  const usageCredits = centsToCredits(usageCents, walletConversion(wallet));
  wallet.ongoingUsageBalanceCents = usageCents;
  wallet.creditsOngoingUsageBalance = usageCredits;
  wallet.ongoingBalanceCents = wallet.balanceCents - usageCents;
  wallet.creditsOngoingBalance = wallet.creditsBalance - usageCredits;
  if (wallet.status === 'active' && !wallet.depletedOngoingBalance && wallet.ongoingBalanceCents <= 0n) {
    wallet.depletedOngoingBalance = true;
    events.wallet('wallet.depleted_ongoing_balance', wallet);
  } else if (wallet.depletedOngoingBalance && wallet.ongoingBalanceCents > 0n) {
    wallet.depletedOngoingBalance = false;
  }
  const after = [wallet.ongoingBalanceCents, wallet.creditsOngoingBalance, wallet.ongoingUsageBalanceCents];
  if (before.some((value, index) => value !== after[index])) events.wallet('wallet.updated', wallet);
}
