/**
 * The yardstick's own arithmetic, written from the rules (not from the project's code): integers
 * only. Amounts of money inside an allocation are bigints in 1e-5 cents ("micros"); credits and
 * rates are bigints scaled by 1e5; cents are bigints.
 *
 * - Invoice: each fee's cap is amount - coupons + taxes - credit notes; caps group into buckets by
 *   (fee type, metric); wallets in priority then creation order pay the buckets they may pay,
 *   largest first, up to their balance and what is left of the invoice total. The wallets' exact
 *   shares are then rounded once: the total half up (never above the invoice total), split by
 *   largest remainder, so the parts sum to it.
 * - Lots: an outbound amount consumes lots in order (priority, soonest expiry with none last,
 *   granted before purchased, oldest first), cents and credits each summing exactly.
 * - Usage: keys (fee type, metric) largest first; each applicable wallet takes what its balance
 *   allows, the last applicable one absorbs the rest.
 */

export const SCALE = 100_000n;

const EXPONENTS: Record<string, bigint> = { EUR: 2n, USD: 2n, GBP: 2n, CHF: 2n, JPY: 0n, KWD: 3n };

export function currencyExponent(currency: string): bigint {
  const exponent = EXPONENTS[currency];
  if (exponent === undefined) throw new InputError(`unsupported currency ${currency}`);
  return exponent;
}

export class InputError extends Error {}

/** A decimal string or a safe integer with at most 5 fractional digits, scaled by 1e5. */
export function parseScaled(value: unknown, field: string): bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value) * SCALE;
  if (typeof value !== 'string') throw new InputError(`${field}: a decimal string or an integer`);
  const match = /^(-?)(\d{1,20})(?:\.(\d{1,5}))?$/.exec(value);
  if (!match) throw new InputError(`${field}: not a decimal with at most 5 fractional digits`);
  const scaled = BigInt(match[2]!) * SCALE + BigInt((match[3] ?? '').padEnd(5, '0') || '0');
  return match[1] ? -scaled : scaled;
}

/** Cents for the wire (JSON numbers, as our server sends them); refuses what a number cannot hold exactly. */
export function wireCents(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${value} cents exceed a safe integer`);
  return Number(value);
}

export function formatScaled(value: bigint): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / SCALE;
  const fraction = (abs % SCALE).toString().padStart(5, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** The smallest of bigints (Math.min takes numbers only). */
export function minOf(first: bigint, ...rest: bigint[]): bigint {
  let min = first;
  for (const value of rest) if (value < min) min = value;
  return min;
}

/** numerator / denominator rounded half up (both >= 0). */
export function divideHalfUp(numerator: bigint, denominator: bigint): bigint {
  return (2n * numerator + denominator) / (2n * denominator);
}

/** Cents of `credits` (scaled) at `rate` (scaled), half up. */
export function creditsToCents(credits: bigint, rate: bigint, exponent: bigint): bigint {
  return divideHalfUp(credits * rate * 10n ** exponent, SCALE * SCALE);
}

/** Credits (scaled, 5 digits) worth `cents` at `rate` (scaled), half up. */
export function centsToCredits(cents: bigint, rate: bigint, exponent: bigint): bigint {
  return divideHalfUp(cents * SCALE * SCALE, rate * 10n ** exponent);
}

export interface FeeIn {
  feeType: string;
  billableMetricCode?: string | null;
  amountCents: unknown;
  couponsAmountCents?: unknown;
  taxesAmountCents?: unknown;
  creditNotesAmountCents?: unknown;
}

export interface WalletForAllocation {
  id: string;
  balanceCents: bigint;
  feeTypes: string[];
  billableMetricCodes: string[];
}

function bucketsOf(fees: FeeIn[]): { feeType: string; metric: string | null; micros: bigint }[] {
  const buckets = new Map<string, { feeType: string; metric: string | null; micros: bigint }>();
  for (const [i, fee] of fees.entries()) {
    const cap =
      parseScaled(fee.amountCents, `fees.${i}.amountCents`) -
      parseScaled(fee.couponsAmountCents ?? 0, `fees.${i}.couponsAmountCents`) +
      parseScaled(fee.taxesAmountCents ?? 0, `fees.${i}.taxesAmountCents`) -
      parseScaled(fee.creditNotesAmountCents ?? 0, `fees.${i}.creditNotesAmountCents`);
    if (cap <= 0n) continue;
    const metric = fee.billableMetricCode ?? null;
    const key = `${fee.feeType}\u0000${metric ?? ''}`;
    const bucket = buckets.get(key) ?? { feeType: fee.feeType, metric, micros: 0n };
    bucket.micros += cap;
    buckets.set(key, bucket);
  }
  return [...buckets.values()];
}

const mayPay = (wallet: WalletForAllocation, feeType: string, metric: string | null) =>
  (wallet.feeTypes.length === 0 && wallet.billableMetricCodes.length === 0) ||
  wallet.feeTypes.includes(feeType) ||
  (metric !== null && wallet.billableMetricCodes.includes(metric));

/** Cents each wallet pays (in the given order, which is priority then creation), summing to a whole number of cents <= the total. */
export function allocateInvoice(totalAmountCents: bigint, fees: FeeIn[], wallets: WalletForAllocation[]): bigint[] {
  const buckets = bucketsOf(fees).sort((a, b) => (a.micros > b.micros ? -1 : a.micros < b.micros ? 1 : 0));
  let invoiceLeft = totalAmountCents * SCALE;
  const shares = wallets.map((wallet) => {
    let walletLeft = wallet.balanceCents * SCALE;
    let share = 0n;
    for (const bucket of buckets) {
      if (invoiceLeft <= 0n || walletLeft <= 0n) break;
      if (bucket.micros <= 0n || !mayPay(wallet, bucket.feeType, bucket.metric)) continue;
      const take = minOf(bucket.micros, walletLeft, invoiceLeft);
      bucket.micros -= take;
      walletLeft -= take;
      invoiceLeft -= take;
      share += take;
    }
    return share;
  });
  const exact = shares.reduce((a, b) => a + b, 0n);
  let rounded = divideHalfUp(exact, SCALE);
  if (rounded > totalAmountCents) rounded = totalAmountCents;
  const cents = shares.map((share) => share / SCALE);
  let missing = rounded - cents.reduce((a, b) => a + b, 0n);
  const byRemainder = shares.map((share, i) => ({ i, remainder: share % SCALE })).sort((a, b) => Number(b.remainder - a.remainder) || a.i - b.i);
  for (const { i, remainder } of byRemainder) {
    if (missing <= 0n || remainder === 0n) break;
    cents[i]! += 1n;
    missing -= 1n;
  }
  return cents;
}

export interface Lot {
  id: string;
  kind: 'granted' | 'purchased';
  remainingCents: bigint;
  remainingCredits: bigint;
}

/** What an outbound of `cents` and `credits` takes from each lot (lots already in consumption order). */
export function consumeLots(lots: Lot[], cents: bigint, credits: bigint): { lot: Lot; cents: bigint; credits: bigint }[] {
  const taken: { lot: Lot; cents: bigint; credits: bigint }[] = [];
  let centsLeft = cents;
  let creditsLeft = credits;
  for (const lot of lots) {
    if (centsLeft <= 0n && creditsLeft <= 0n) break;
    const takeCents = minOf(centsLeft, lot.remainingCents);
    const takeCredits = minOf(creditsLeft, lot.remainingCredits);
    if (takeCents === 0n && takeCredits === 0n) continue;
    taken.push({ lot, cents: takeCents, credits: takeCredits });
    centsLeft -= takeCents;
    creditsLeft -= takeCredits;
  }
  if (centsLeft !== 0n || creditsLeft !== 0n) throw new Error('the lots do not cover the outbound amount');
  return taken;
}

export interface UsageFeeIn {
  feeType: string;
  billableMetricCode?: string | null;
  amountCents: unknown;
  couponsAmountCents?: unknown;
  taxesAmountCents?: unknown;
}

/** Usage cents allocated to each wallet (in priority order); the last applicable wallet absorbs the rest. */
export function allocateUsage(fees: UsageFeeIn[], wallets: WalletForAllocation[]): bigint[] {
  const keys = bucketsOf(fees).sort((a, b) => (a.micros > b.micros ? -1 : a.micros < b.micros ? 1 : 0));
  const left = wallets.map((w) => w.balanceCents * SCALE);
  const usage = wallets.map(() => 0n);
  for (const key of keys) {
    const applicable = wallets.flatMap((w, i) => (mayPay(w, key.feeType, key.metric) ? [i] : []));
    let rest = key.micros;
    for (const [n, i] of applicable.entries()) {
      const take = n === applicable.length - 1 ? rest : minOf(rest, left[i]! > 0n ? left[i]! : 0n);
      usage[i]! += take;
      left[i]! -= take;
      rest -= take;
      if (rest === 0n) break;
    }
  }
  return usage.map((micros) => divideHalfUp(micros, SCALE));
}
