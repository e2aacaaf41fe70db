/**
 * Ongoing balance: how much of the customer's not-yet-invoiced usage each wallet is expected to pay
 * (DESIGN.md flow 4, Lago's AllocateOngoingUsageByWallets).
 *
 * - Net per (feeType, billableMetricCode): + current usage (amount + taxes), + draft invoice fees
 *   (amount - coupons + taxes), - fees already billed by progressive billing or pay-in-advance
 *   invoices (amount - coupons + taxes). The budget is max(0, sum of nets): an over-billed key
 *   offsets the others.
 * - Keys with a positive net, largest first, each capped by what is left of the budget. For each,
 *   the wallets that may pay it (same scope rule as invoices) in priority order: a wallet with an
 *   active threshold rule takes all that is left of the key (it will be topped up); the last such
 *   wallet takes the overflow; the others take up to their balance not yet allocated.
 * - Exact sub-cent shares are rounded once (half up) and distributed by largest remainder.
 * Invariants: the allocations sum to the rounded budget actually placed; a wallet without a
 * threshold rule that is not the last candidate never goes below zero; deterministic.
 */
import { distributeRounded, mayPay } from './allocation.js';
import { SCALE_FACTOR, type Scaled } from './decimal.js';
import { divRoundHalfUp, maxBig, minBig } from './rounding.js';

export interface UsageFee {
  feeType: string;
  billableMetricCode: string | null;
  /** 1e-5 cents. */
  amount: Scaled;
  coupons: Scaled;
  taxes: Scaled;
}

export interface UsageSnapshotInput {
  currentFees: readonly UsageFee[];
  draftInvoiceFees: readonly UsageFee[];
  billedFees: readonly UsageFee[];
}

export interface OngoingWallet {
  id: string;
  balanceCents: bigint;
  feeTypes: readonly string[];
  billableMetricCodes: readonly string[];
  hasActiveThresholdRule: boolean;
}

export function planUsageNets(usage: UsageSnapshotInput): { feeType: string; billableMetricCode: string | null; net: Scaled }[] {
  const nets = new Map<string, { feeType: string; billableMetricCode: string | null; net: Scaled }>();
  const add = (fee: UsageFee, value: Scaled) => {
    const key = JSON.stringify([fee.feeType, fee.billableMetricCode]);
    const entry = nets.get(key) ?? { feeType: fee.feeType, billableMetricCode: fee.billableMetricCode, net: 0n };
    entry.net += value;
    nets.set(key, entry);
  };
  for (const fee of usage.currentFees) add(fee, fee.amount + fee.taxes);
  for (const fee of usage.draftInvoiceFees) add(fee, fee.amount - fee.coupons + fee.taxes);
  for (const fee of usage.billedFees) add(fee, -(fee.amount - fee.coupons + fee.taxes));
  return [...nets.values()];
}

/** Usage allocated to each wallet, in cents (a wallet absent from the map has none). */
export function planOngoingUsage(usage: UsageSnapshotInput, wallets: readonly OngoingWallet[]): Map<string, bigint> {
  const nets = planUsageNets(usage);
  let budget = maxBig(
    0n,
    nets.reduce((total, entry) => total + entry.net, 0n),
  );
  const keys = nets
    .filter((entry) => entry.net > 0n)
    .sort((a, b) => {
      if (a.net !== b.net) return a.net > b.net ? -1 : 1;
      const ka = `${a.feeType}\u0000${a.billableMetricCode ?? ''}`;
      const kb = `${b.feeType}\u0000${b.billableMetricCode ?? ''}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  const shares = new Map<string, Scaled>(wallets.map((w) => [w.id, 0n]));
  for (const key of keys) {
    let remaining = minBig(key.net, budget);
    if (remaining <= 0n) break;
    const candidates = wallets.filter((w) => mayPay(w, key));
    for (const [index, wallet] of candidates.entries()) {
      if (remaining === 0n) break;
      const taken = shares.get(wallet.id)!;
      const isLast = index === candidates.length - 1;
      const take = wallet.hasActiveThresholdRule || isLast ? remaining : minBig(remaining, maxBig(0n, wallet.balanceCents * SCALE_FACTOR - taken));
      shares.set(wallet.id, taken + take);
      remaining -= take;
      // Only what is placed uses the budget: a key no wallet may pay leaves it to the others.
      budget -= take;
      if (wallet.hasActiveThresholdRule) break;
    }
  }
  const ids = [...shares.keys()];
  const exact = ids.map((id) => shares.get(id)!);
  const total = divRoundHalfUp(
    exact.reduce((sum, share) => sum + share, 0n),
    SCALE_FACTOR,
  );
  const parts = distributeRounded(exact, total);
  return new Map(ids.map((id, index) => [id, parts[index]!]));
}
