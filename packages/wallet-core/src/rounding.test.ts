import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvariantViolation } from './errors.js';
import { divFloor, divRoundHalfUp, maxBig, minBig } from './rounding.js';

/**
 * Naive references, computed another way than the implementation:
 * - floor: subtract the non-negative remainder ((n mod d) + d) mod d, then divide exactly;
 * - half up: divide the magnitude, round up when twice the remainder reaches the divisor, put the sign back.
 */
function referenceFloor(n: bigint, d: bigint): bigint {
  const remainder = ((n % d) + d) % d;
  return (n - remainder) / d;
}

function referenceHalfUp(n: bigint, d: bigint): bigint {
  const magnitude = n < 0n ? -n : n;
  const q = magnitude / d;
  const r = magnitude - q * d;
  const rounded = 2n * r >= d ? q + 1n : q;
  return n < 0n ? -rounded : rounded;
}

const numerator = fc.oneof(fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }), fc.bigInt({ min: -50n, max: 50n }));
const divisor = fc.oneof(fc.bigInt({ min: 1n, max: 10n ** 20n }), fc.bigInt({ min: 1n, max: 12n }));

describe('divFloor', () => {
  it.each([
    // n, d, floor(n / d)
    [7n, 2n, 3n], // 3.5
    [-7n, 2n, -4n], // -3.5: floor goes down, truncation would give -3
    [6n, 3n, 2n],
    [-6n, 3n, -2n], // exact: no step down
    [0n, 5n, 0n],
    [1n, 5n, 0n],
    [4n, 5n, 0n],
    [-1n, 5n, -1n],
    [-4n, 5n, -1n],
    [-5n, 5n, -1n],
    [-6n, 5n, -2n],
    [10n ** 30n + 1n, 10n ** 15n, 10n ** 15n],
    [-(10n ** 30n) - 1n, 10n ** 15n, -(10n ** 15n) - 1n],
  ])('floor(%s / %s) = %s', (n, d, expected) => {
    expect(divFloor(n, d)).toBe(expected);
  });

  it.each([0n, -1n, -7n])('refuses the divisor %s', (d) => {
    expect(() => divFloor(10n, d)).toThrow(InvariantViolation);
  });

  it('matches the naive reference and the definition q*d <= n < (q+1)*d', () => {
    fc.assert(
      fc.property(numerator, divisor, (n, d) => {
        const q = divFloor(n, d);
        expect(q).toBe(referenceFloor(n, d));
        expect(q * d <= n).toBe(true);
        expect(n < (q + 1n) * d).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('divRoundHalfUp', () => {
  it.each([
    // n, d, round(n / d) with halves away from zero
    [5n, 2n, 3n], // 2.5
    [-5n, 2n, -3n], // -2.5
    [7n, 2n, 4n], // 3.5
    [-7n, 2n, -4n],
    [3n, 2n, 2n], // 1.5
    [1n, 2n, 1n], // 0.5
    [-1n, 2n, -1n], // -0.5
    [1n, 3n, 0n], // 0.333
    [-1n, 3n, 0n],
    [2n, 3n, 1n], // 0.667
    [-2n, 3n, -1n],
    [4n, 3n, 1n], // 1.333
    [5n, 3n, 2n], // 1.667
    [13n, 4n, 3n], // 3.25
    [14n, 4n, 4n], // 3.5
    [15n, 4n, 4n], // 3.75
    [-13n, 4n, -3n],
    [-14n, 4n, -4n],
    [0n, 7n, 0n],
    [6n, 3n, 2n],
    [-6n, 3n, -2n],
    [499_999n, 1_000_000n, 0n], // 0.499999
    [500_000n, 1_000_000n, 1n],
    [-499_999n, 1_000_000n, 0n],
    [-500_000n, 1_000_000n, -1n],
    [10n ** 30n + 5n * 10n ** 14n, 10n ** 15n, 10n ** 15n + 1n], // 10^15 + 0.5
  ])('round(%s / %s) = %s', (n, d, expected) => {
    expect(divRoundHalfUp(n, d)).toBe(expected);
  });

  it.each([0n, -1n, -2n])('refuses the divisor %s', (d) => {
    expect(() => divRoundHalfUp(10n, d)).toThrow(InvariantViolation);
  });

  it('matches the naive reference, is within half a unit, and sends ties away from zero', () => {
    fc.assert(
      fc.property(numerator, divisor, (n, d) => {
        const q = divRoundHalfUp(n, d);
        expect(q).toBe(referenceHalfUp(n, d));
        // |n/d - q| <= 1/2  <=>  |2n - 2qd| <= d
        const twiceError = 2n * n - 2n * q * d;
        expect(twiceError <= d && -twiceError <= d).toBe(true);
        // on a tie, q is the one farther from zero: |q*d| > |n|
        if (twiceError === d || twiceError === -d) {
          expect(q * d > n === n > 0n).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('is odd: round(-n / d) = -round(n / d)', () => {
    fc.assert(
      fc.property(numerator, divisor, (n, d) => {
        expect(divRoundHalfUp(-n, d)).toBe(-divRoundHalfUp(n, d));
      }),
      { numRuns: 1000 },
    );
  });

  it('every tie k + 1/2 rounds to k + 1, and -(k + 1/2) to -(k + 1)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 25n }), fc.bigInt({ min: 1n, max: 10n ** 10n }), (k, half) => {
        const d = 2n * half;
        const n = k * d + half; // n / d = k + 1/2
        expect(divRoundHalfUp(n, d)).toBe(k + 1n);
        expect(divRoundHalfUp(-n, d)).toBe(-(k + 1n));
      }),
    );
  });
});

describe('minBig / maxBig', () => {
  it.each([
    [1n, 2n, 1n, 2n],
    [2n, 1n, 1n, 2n],
    [-3n, 3n, -3n, 3n],
    [5n, 5n, 5n, 5n],
    [10n ** 30n, 10n ** 30n + 1n, 10n ** 30n, 10n ** 30n + 1n],
  ])('min/max(%s, %s) = %s / %s', (a, b, min, max) => {
    expect(minBig(a, b)).toBe(min);
    expect(maxBig(a, b)).toBe(max);
  });
});
