/**
 * The host's own exact arithmetic. Money is a bigint of cents; sub-cent amounts (taxes, credit
 * notes spread over fees) are a bigint of "precise cents", 1e-5 of a cent, the precision the
 * wallets plugin accepts as decimal strings. Rates, unit prices and quantities are decimal strings
 * parsed exactly. Every rounding is half up and named; every split is an exact allocation whose
 * parts sum to the whole. No floats anywhere.
 */

export const PRECISE_DIGITS = 5;
/** Precise cents per cent. */
export const PRECISE_SCALE = 10n ** BigInt(PRECISE_DIGITS);

/** An exact non-negative decimal: `units / scale`, scale a power of ten. */
export interface Decimal {
  units: bigint;
  scale: bigint;
}

const DECIMAL_RE = /^(\d+)(?:\.(\d+))?$/;

/** Parses "12", "12.5", "0.00001" exactly; refuses signs, exponents and anything else. */
export function parseDecimal(text: string): Decimal {
  const match = DECIMAL_RE.exec(text);
  if (!match) throw new RangeError(`not a non-negative decimal string: ${JSON.stringify(text)}`);
  const [, whole = '0', fraction = ''] = match;
  return { units: BigInt(whole + fraction), scale: 10n ** BigInt(fraction.length) };
}

/** `numerator / denominator` rounded half up (toward +infinity on a tie), for any sign of numerator. */
export function divRoundHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new RangeError('denominator must be positive');
  return floorDiv(2n * numerator + denominator, 2n * denominator);
}

/** `numerator / denominator` when it is exact; throws otherwise (the caller promised exactness). */
export function divExact(numerator: bigint, denominator: bigint, what: string): bigint {
  if (denominator <= 0n) throw new RangeError('denominator must be positive');
  if (numerator % denominator !== 0n) throw new RangeError(`${what} is not exact at ${PRECISE_DIGITS} decimal places of a cent`);
  return numerator / denominator;
}

function floorDiv(numerator: bigint, denominator: bigint): bigint {
  const quotient = numerator / denominator;
  return numerator % denominator !== 0n && numerator < 0n ? quotient - 1n : quotient;
}

export function sum(values: readonly bigint[]): bigint {
  return values.reduce((total, value) => total + value, 0n);
}

export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/**
 * Splits `total` over `weights` in proportion, by largest remainder (ties: earlier first). The
 * parts always sum to `total`; when `total <= sum(weights)` no part exceeds its weight.
 */
export function allocateExact(total: bigint, weights: readonly bigint[]): bigint[] {
  if (total < 0n || weights.some((w) => w < 0n)) throw new RangeError('allocation needs non-negative amounts');
  const whole = sum(weights);
  if (whole === 0n) {
    if (total !== 0n) throw new RangeError('cannot allocate a positive amount over zero weights');
    return weights.map(() => 0n);
  }
  const parts = weights.map((w) => (total * w) / whole);
  let left = total - sum(parts);
  const order = weights
    .map((w, index) => ({ index, remainder: (total * w) % whole }))
    .filter((entry) => entry.remainder > 0n)
    .sort((a, b) => (a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1));
  for (const { index } of order) {
    if (left === 0n) break;
    parts[index]! += 1n;
    left -= 1n;
  }
  return parts;
}

/** 1e-5 cents as the shortest exact decimal string of cents: 1_250_000n -> "12.5". */
export function formatPreciseCents(value: bigint): string {
  if (value < 0n) return `-${formatPreciseCents(-value)}`;
  const whole = value / PRECISE_SCALE;
  const fraction = (value % PRECISE_SCALE).toString().padStart(PRECISE_DIGITS, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : `${whole}`;
}

/** Cents for the wire (a JavaScript number holding a safe integer). */
export function centsToWire(value: bigint): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`cents ${value} are outside the safe integer range`);
  return n;
}

/** Cents from the wire: must be a safe integer. */
export function centsFromWire(value: number): bigint {
  if (!Number.isSafeInteger(value)) throw new RangeError(`cents ${value} are not a safe integer`);
  return BigInt(value);
}

/** "EUR 1234" -> "12.34 EUR" for printing (2-digit currencies; enough for the demo). */
export function formatCents(value: bigint, currency = 'EUR'): string {
  const sign = value < 0n ? '-' : '';
  const m = value < 0n ? -value : value;
  return `${sign}${m / 100n}.${(m % 100n).toString().padStart(2, '0')} ${currency}`;
}
