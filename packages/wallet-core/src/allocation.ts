/**
 * How many prepaid credits each wallet pays on one invoice (DESIGN.md flow 3, Lago's allocator with
 * its rounding holes closed).
 *
 * - Each fee's cap is `amount - coupons + taxes - creditNotes` (sub-cent decimals allowed); fees with
 *   a cap of zero or less are skipped. Fees are grouped into buckets by (feeType, billableMetricCode).
 * - Buckets are served largest first. A gap between the invoice total and the bucket sum of at most
 *   one cent per bucket goes to the largest bucket (precise taxes vs rounded totals).
 * - Wallets, in the order given (priority, then creation), pay the buckets they may pay: the metric
 *   is in their list, or the fee type is, or they have no limits. Each takes up to its balance and
 *   the invoice's remaining total.
 * - The exact (sub-cent) total is rounded half up once; the per-wallet amounts are that rounded total
 *   distributed by largest remainder, so they sum to it exactly.
 * Invariants (property tests): the total never exceeds the invoice total; no wallet pays more than its
 * balance; no bucket pays more than its cap (plus its share of the reconciled gap); parts sum to the
 * whole; the result depends only on the input.
 */
import { SCALE_FACTOR, type Scaled } from './decimal.js';
import { divFloor, divRoundHalfUp, minBig } from './rounding.js';

export interface AllocationFee {
  feeType: string;
  billableMetricCode: string | null;
  /** All in 1e-5 cents (sub-cent precision). */
  amount: Scaled;
  coupons: Scaled;
  taxes: Scaled;
  creditNotes: Scaled;
}

export interface AllocationWallet {
  id: string;
  balanceCents: bigint;
  feeTypes: readonly string[];
  billableMetricCodes: readonly string[];
}

export interface AllocationInput {
  totalAmountCents: bigint;
  fees: readonly AllocationFee[];
  /** Eligible wallets in application order (priority, then creation). */
  wallets: readonly AllocationWallet[];
}

export interface WalletAllocation {
  walletId: string;
  amountCents: bigint;
}

export interface Allocation {
  amountCents: bigint;
  wallets: WalletAllocation[];
}

interface Bucket {
  feeType: string;
  billableMetricCode: string | null;
  remaining: Scaled;
}

export function planBuckets(fees: readonly AllocationFee[], totalAmountCents: bigint): Bucket[] {
  const byKey = new Map<string, Bucket>();
  for (const fee of fees) {
    const cap = fee.amount - fee.coupons + fee.taxes - fee.creditNotes;
    if (cap <= 0n) continue;
    const key = JSON.stringify([fee.feeType, fee.billableMetricCode]);
    const bucket = byKey.get(key) ?? { feeType: fee.feeType, billableMetricCode: fee.billableMetricCode, remaining: 0n };
    bucket.remaining += cap;
    byKey.set(key, bucket);
  }
  const buckets = [...byKey.values()].sort((a, b) => {
    if (a.remaining !== b.remaining) return a.remaining > b.remaining ? -1 : 1;
    const ka = `${a.feeType}\u0000${a.billableMetricCode ?? ''}`;
    const kb = `${b.feeType}\u0000${b.billableMetricCode ?? ''}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const largest = buckets[0];
  if (largest) {
    const sum = buckets.reduce((total, bucket) => total + bucket.remaining, 0n);
    const gap = totalAmountCents * SCALE_FACTOR - sum;
    if (gap > 0n && gap <= BigInt(buckets.length) * SCALE_FACTOR) largest.remaining += gap;
  }
  return buckets;
}

export function mayPay(wallet: AllocationWallet, bucket: { feeType: string; billableMetricCode: string | null }): boolean {
  if (wallet.feeTypes.length === 0 && wallet.billableMetricCodes.length === 0) return true;
  if (bucket.billableMetricCode !== null && wallet.billableMetricCodes.includes(bucket.billableMetricCode)) return true;
  return wallet.feeTypes.includes(bucket.feeType);
}

/** Splits a whole number of cents over exact shares by largest remainder (ties: earlier first). */
export function distributeRounded(shares: readonly Scaled[], wholeCents: bigint): bigint[] {
  const floors = shares.map((share) => divFloor(share, SCALE_FACTOR));
  let left = wholeCents - floors.reduce((total, part) => total + part, 0n);
  const order = shares
    .map((share, index) => ({ index, remainder: share - floors[index]! * SCALE_FACTOR }))
    .sort((a, b) => (a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1));
  const parts = [...floors];
  for (const { index, remainder } of order) {
    if (left <= 0n || remainder === 0n) break;
    parts[index]! += 1n;
    left -= 1n;
  }
  return parts;
}

export function planAllocation(input: AllocationInput): Allocation {
  const buckets = planBuckets(input.fees, input.totalAmountCents);
  let invoiceRemaining = input.totalAmountCents > 0n ? input.totalAmountCents * SCALE_FACTOR : 0n;
  const shares: Scaled[] = [];
  for (const wallet of input.wallets) {
    let available = wallet.balanceCents > 0n ? wallet.balanceCents * SCALE_FACTOR : 0n;
    let taken = 0n;
    for (const bucket of buckets) {
      if (available === 0n || invoiceRemaining === 0n) break;
      if (bucket.remaining === 0n || !mayPay(wallet, bucket)) continue;
      const take = minBig(minBig(bucket.remaining, available), invoiceRemaining);
      bucket.remaining -= take;
      available -= take;
      invoiceRemaining -= take;
      taken += take;
    }
    shares.push(taken);
  }
  const exactTotal = shares.reduce((total, share) => total + share, 0n);
  const amountCents = divRoundHalfUp(exactTotal, SCALE_FACTOR);
  const parts = distributeRounded(shares, amountCents);
  return {
    amountCents,
    wallets: input.wallets.map((wallet, index) => ({ walletId: wallet.id, amountCents: parts[index]! })).filter((part) => part.amountCents > 0n),
  };
}
