/**
 * Integer division with a named rounding mode. All money and credit arithmetic goes through these;
 * nothing in wallet-core divides any other way.
 */
import { invariant } from './errors.js';

/** floor(n / d) for any sign of n, d > 0. */
export function divFloor(n: bigint, d: bigint): bigint {
  invariant(d > 0n, 'divisor must be positive');
  const q = n / d;
  return n % d !== 0n && n < 0n ? q - 1n : q;
}

/** round(n / d), halves away from zero ("half up" on magnitudes, as BigDecimal ROUND_HALF_UP). */
export function divRoundHalfUp(n: bigint, d: bigint): bigint {
  invariant(d > 0n, 'divisor must be positive');
  const neg = n < 0n;
  const m = neg ? -n : n;
  const q = (m * 2n + d) / (2n * d);
  return neg ? -q : q;
}

export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
