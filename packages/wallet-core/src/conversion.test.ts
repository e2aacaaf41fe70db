import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { amountFromCents, type Conversion, centsToCredits, creditsToCents, MAX_AMOUNT_CENTS, planAmount } from './conversion.js';
import { WalletError } from './errors.js';

/**
 * "1.5" -> 150_000n, written here without the module under test so a bug in parseDecimal cannot hide
 * one in the conversion. Only plain non-negative decimals with at most 5 places.
 */
function units(text: string): bigint {
  const [whole = '0', fraction = ''] = text.split('.');
  if (fraction.length > 5) throw new Error(`fixture ${text} has more than 5 places`);
  return BigInt(whole) * 100_000n + BigInt(fraction.padEnd(5, '0'));
}

const EXPONENT = { EUR: 2, JPY: 0, KWD: 3 } as const;
type Currency = keyof typeof EXPONENT;

function conversion(currency: Currency, rate: string): Conversion {
  return { rate: units(rate), exponent: EXPONENT[currency] };
}

function refusal(run: () => unknown): WalletError {
  try {
    run();
  } catch (error) {
    if (error instanceof WalletError) return error;
    throw error;
  }
  throw new Error('expected a WalletError');
}

/**
 * The largest rate x 10^exponent, in 1e-5 units, for which every cents amount survives
 * cents -> credits -> cents: 10^10, i.e. one credit worth 100000 minor units (EUR 1000, JPY 100000,
 * KWD 100), where 0.00001 credit is worth exactly one minor unit. Below it a 1e-5 credit step is worth
 * less than a cent, so rounding the credits moves the value by less than half a cent. Above it there
 * are fewer credit steps than cents, so some cents amounts cannot come back (pigeonhole).
 */
const ROUND_TRIP_BOUND = 10n ** 10n;

describe('creditsToCents: roundHalfUp(credits x rate x 10^exponent)', () => {
  it.each([
    // currency, rate, credits, cents: credits x rate in currency units, then x 10^exponent
    ['EUR', '1', '10', 1000n],
    ['EUR', '1', '10.5', 1050n],
    ['EUR', '1', '0.00001', 0n], // 0.001 cent
    ['EUR', '1', '0.00499', 0n], // 0.499 cent
    ['EUR', '1', '0.005', 1n], // 0.5 cent, half up
    ['EUR', '1.5', '3', 450n], // 4.50 EUR
    ['EUR', '1.5', '0.00333', 0n], // 0.004995 EUR = 0.4995 cent
    ['EUR', '1.5', '0.00334', 1n], // 0.00501 EUR = 0.501 cent
    ['EUR', '0.33333', '1', 33n], // 33.333 cents
    ['EUR', '0.33333', '3', 100n], // 0.99999 EUR = 99.999 cents
    ['EUR', '0.33333', '1.5', 50n], // 0.499995 EUR = 49.9995 cents
    ['EUR', '0.33333', '0.15', 5n], // 4.99995 cents
    ['EUR', '0.33333', '0.045', 1n], // 0.01499985 EUR = 1.499985 cents: just under the half
    ['EUR', '1000.12345', '1', 100_012n], // 100012.345 cents
    ['EUR', '1000.12345', '2', 200_025n], // 2000.2469 EUR = 200024.69 cents
    ['EUR', '1000.12345', '0.5', 50_006n], // 500.061725 EUR = 50006.1725 cents
    ['EUR', '1000.12345', '0.00001', 1n], // 1.00012345 cents
    ['EUR', '1000.12345', '0.00005', 5n], // 5.00061725 cents
    ['EUR', '0.01', '0.4', 0n], // 0.004 EUR = 0.4 cent
    ['EUR', '0.01', '0.5', 1n], // 0.005 EUR = 0.5 cent, half up
    ['JPY', '1', '10', 10n],
    ['JPY', '1', '0.5', 1n],
    ['JPY', '1', '0.49999', 0n],
    ['JPY', '1.5', '1', 2n], // 1.5 yen
    ['JPY', '1.5', '3', 5n], // 4.5 yen
    ['JPY', '0.33333', '1', 0n],
    ['JPY', '0.33333', '3', 1n], // 0.99999 yen
    ['JPY', '1000.12345', '1', 1000n],
    ['JPY', '1000.12345', '3', 3000n], // 3000.37035 yen
    ['JPY', '1000.12345', '0.5', 500n], // 500.061725 yen
    ['JPY', '150', '2.5', 375n],
    ['KWD', '1', '1', 1000n],
    ['KWD', '1.5', '0.0003', 0n], // 0.00045 KWD = 0.45 fils
    ['KWD', '1.5', '0.00034', 1n], // 0.00051 KWD = 0.51 fils
    ['KWD', '0.33333', '1', 333n], // 333.33 fils
    ['KWD', '0.33333', '0.5', 167n], // 0.166665 KWD = 166.665 fils
    ['KWD', '1000.12345', '1', 1_000_123n], // 1000123.45 fils
    ['KWD', '1000.12345', '0.00001', 10n], // 10.0012345 fils
    ['KWD', '0.00001', '50', 1n], // 0.0005 KWD = 0.5 fils
  ] as const)('%s at rate %s: %s credits -> %s', (currency, rate, credits, cents) => {
    expect(creditsToCents(units(credits), conversion(currency, rate))).toBe(cents);
  });

  it('is exact on huge amounts', () => {
    // (10^25 - 0.00001) credits x 1000.12345 EUR x 100 = 100012345 x 10^22 - 1.00012345 cents,
    // whose fraction .99987655 rounds up to 100012345 x 10^22 - 1
    expect(creditsToCents(10n ** 30n - 1n, conversion('EUR', '1000.12345'))).toBe(100_012_345n * 10n ** 22n - 1n);
  });
});

describe('centsToCredits: roundHalfUp(cents / (rate x 10^exponent), 5 digits)', () => {
  it.each([
    ['EUR', '1', 1050n, '10.5'],
    ['EUR', '1.5', 100n, '0.66667'], // 1 / 1.5 = 0.666666...
    ['EUR', '1.5', 1n, '0.00667'], // 0.01 / 1.5 = 0.0066666...
    ['EUR', '0.33333', 33n, '0.99001'], // 0.33 / 0.33333 = 0.990009900...
    ['EUR', '0.33333', 100n, '3.00003'], // 1 / 0.33333 = 3.0000300003...
    ['EUR', '1000.12345', 100_012n, '1'], // 1000.12 / 1000.12345 = 0.99999655...
    ['EUR', '1000.12345', 1n, '0.00001'], // 0.01 / 1000.12345 = 0.0000099987...
    ['EUR', '0.01', 1n, '1'],
    ['EUR', '0.64', 1n, '0.01563'], // 0.01 / 0.64 = 0.015625: a tie at the 6th digit, half up
    ['JPY', '0.64', 1n, '1.5625'],
    ['JPY', '64', 1n, '0.01563'], // 1 / 64 = 0.015625, tie again
    ['JPY', '1.5', 2n, '1.33333'], // 2 / 1.5 = 1.3333...
    ['KWD', '0.64', 1n, '0.00156'], // 0.001 / 0.64 = 0.0015625: below the half at the 6th digit
    ['KWD', '0.33333', 167n, '0.50101'], // 0.167 / 0.33333 = 0.501005010...
  ] as const)('%s at rate %s: %s cents -> %s credits', (currency, rate, cents, credits) => {
    expect(centsToCredits(cents, conversion(currency, rate))).toBe(units(credits));
  });
});

describe('planAmount', () => {
  it.each([
    // kind, currency, rate, requested credits, cents, stored credits
    ['paid', 'EUR', '1.5', '1', 150n, '1'],
    // 1 credit at 0.33333 is 33 cents, and 33 cents buy 0.99001 credits: the customer gets what was paid
    ['paid', 'EUR', '0.33333', '1', 33n, '0.99001'],
    ['granted', 'EUR', '0.33333', '1', 33n, '0.99001'],
    ['voided', 'EUR', '0.33333', '1', 33n, '1'],
    // 0.5 credit at 0.01 EUR is half a cent -> 1 cent, which is worth 1 credit
    ['paid', 'EUR', '0.01', '0.5', 1n, '1'],
    ['voided', 'EUR', '0.01', '0.5', 1n, '0.5'],
    ['paid', 'JPY', '1.5', '1', 2n, '1.33333'], // 1.5 yen -> 2 yen -> 2 / 1.5 credits
    ['voided', 'JPY', '1.5', '1', 2n, '1'],
    ['granted', 'KWD', '0.33333', '0.5', 167n, '0.50101'],
    ['paid', 'EUR', '1000.12345', '1', 100_012n, '1'],
    ['paid', 'EUR', '1', '0', 0n, '0'], // nothing asked, nothing refused
  ] as const)('%s %s at rate %s: %s credits -> %s cents, %s credits', (kind, currency, rate, credits, cents, stored) => {
    expect(planAmount(kind, units(credits), conversion(currency as Currency, rate))).toEqual({ creditAmount: units(stored), amountCents: cents });
  });

  it.each([
    ['paid', 'EUR', '0.01', '0.4'], // 0.4 cent
    ['granted', 'EUR', '1', '0.00001'], // 0.001 cent
    ['voided', 'EUR', '1', '0.00499'], // 0.499 cent: voids a caller asks for are refused too
    ['paid', 'JPY', '0.33333', '1'], // 0.33333 yen
    ['granted', 'KWD', '1.5', '0.0003'], // 0.45 fils
  ] as const)('refuses %s %s at rate %s: %s credits worth 0 minor units', (kind, currency, rate, credits) => {
    const error = refusal(() => planAmount(kind, units(credits), conversion(currency, rate)));
    expect(error.code).toBe('AMOUNT_ROUNDS_TO_ZERO');
    expect(error.details).toEqual({ field: `${kind}Credits` });
  });

  it.each([
    ['paid', 'EUR', '1', '90071992547409.92'], // 2^53 cents
    ['granted', 'EUR', '100000000000000', '1'],
    ['voided', 'JPY', '1', '9007199254740992'],
  ] as const)('refuses %s %s at rate %s: %s credits worth more than 2^53 - 1 minor units', (kind, currency, rate, credits) => {
    const error = refusal(() => planAmount(kind, units(credits), conversion(currency, rate)));
    expect(error.code).toBe('AMOUNT_ABOVE_MAXIMUM');
    expect(error.details).toEqual({ field: `${kind}Credits`, maximumCents: 9_007_199_254_740_991n });
  });

  it('accepts exactly 2^53 - 1 minor units', () => {
    expect(planAmount('granted', units('90071992547409.91'), conversion('EUR', '1')).amountCents).toBe(9_007_199_254_740_991n);
  });

  it('names the field it was given', () => {
    const error = refusal(() => planAmount('paid', 1n, conversion('EUR', '1'), 'recurringTransactionRules[0].paidCredits'));
    expect(error.details).toEqual({ field: 'recurringTransactionRules[0].paidCredits' });
    expect(error.message).toContain('recurringTransactionRules[0].paidCredits');
  });
});

describe('amountFromCents', () => {
  it.each([
    ['EUR', '1.5', 450n, '3'],
    ['EUR', '0.33333', 33n, '0.99001'],
    ['KWD', '0.64', 1n, '0.00156'],
  ] as const)('%s at rate %s: %s cents -> %s credits', (currency, rate, cents, credits) => {
    expect(amountFromCents(cents, conversion(currency, rate))).toEqual({ amountCents: cents, creditAmount: units(credits) });
  });
});

describe('the round-trip bound', () => {
  it.each([
    ['EUR', '1000'],
    ['JPY', '100000'],
    ['KWD', '100'],
  ] as const)('%s at rate %s sits on the bound: 0.00001 credit is worth exactly one minor unit', (currency, rate) => {
    const { rate: scaledRate, exponent } = conversion(currency, rate);
    expect(scaledRate * 10n ** BigInt(exponent)).toBe(ROUND_TRIP_BOUND);
    expect(creditsToCents(1n, { rate: scaledRate, exponent })).toBe(1n);
  });

  it.each([
    // one 0.00001 credit is 2 cents, so 1 cent is half a step: 0.000005 -> 0.00001 credit -> 2 cents
    ['EUR', '2000', 1n, '0.00001', 2n],
    // 500 credits x 1000.00001 EUR = 500000.005 EUR = 50000000.5 cents
    ['EUR', '1000.00001', 50_000_000n, '500', 50_000_001n],
    // 50 credits x 100.00001 KWD = 5000.0005 KWD = 5000000.5 fils
    ['KWD', '100.00001', 5_000_000n, '50', 5_000_001n],
    // 50000 credits x 100000.00001 JPY = 5000000000.5 yen
    ['JPY', '100000.00001', 5_000_000_000n, '50000', 5_000_000_001n],
  ] as const)('above it, %s at rate %s: %s cents -> %s credits -> %s cents', (currency, rate, cents, credits, back) => {
    const c = conversion(currency, rate);
    expect(c.rate * 10n ** BigInt(c.exponent) > ROUND_TRIP_BOUND).toBe(true);
    expect(centsToCredits(cents, c)).toBe(units(credits));
    expect(creditsToCents(units(credits), c)).toBe(back);
  });
});

const exponent = fc.constantFrom(0, 2, 3);
/** Rates from 0.00001 to 10^10 currency units, biased toward the small and the odd. */
const anyRate = fc.oneof(
  fc.bigInt({ min: 1n, max: 10n ** 15n }),
  fc.bigInt({ min: 1n, max: 1_000_000n }),
  fc.constantFrom(1n, 33_333n, 150_000n, 100_012_345n, 1_000n, 64_000n),
);
const credits = fc.oneof(fc.bigInt({ min: 1n, max: 10n ** 30n - 1n }), fc.bigInt({ min: 1n, max: 10_000_000n }));

describe('conversion properties', () => {
  it(`cents -> credits -> cents is the identity whenever rate x 10^exponent <= ${ROUND_TRIP_BOUND} (in 1e-5 units)`, () => {
    const withinBound = exponent.chain((exp) =>
      fc.record({ exponent: fc.constant(exp), rate: fc.bigInt({ min: 1n, max: ROUND_TRIP_BOUND / 10n ** BigInt(exp) }) }),
    );
    fc.assert(
      fc.property(withinBound, fc.bigInt({ min: 0n, max: 10n ** 15n }), (c, cents) => {
        expect(creditsToCents(centsToCredits(cents, c), c)).toBe(cents);
        expect(creditsToCents(amountFromCents(cents, c).creditAmount, c)).toBe(cents);
      }),
      { numRuns: 1000 },
    );
  });

  it('above the bound some cents amount does not come back (pigeonhole)', () => {
    // With R = rate x 10^exp = 10^10 x (1 + j/1000), one 1e-5 credit step is worth s = 1 + j/1000
    // cents. The cents 0..N land on credits 0..round(N/s), and N/s <= N - 1 once N >= s/(s-1), so
    // some two cents amounts share their credits and one of them cannot come back.
    fc.assert(
      fc.property(exponent, fc.integer({ min: 1, max: 5000 }), (exp, j) => {
        const r = ROUND_TRIP_BOUND + BigInt(j) * 10_000_000n;
        const c = { rate: r / 10n ** BigInt(exp), exponent: exp };
        expect(c.rate * 10n ** BigInt(exp)).toBe(r);
        const n = 1000n / BigInt(j) + 2n; // >= s / (s - 1) = 1000 / j + 1
        let failing: bigint | undefined;
        for (let cents = 0n; cents <= n && failing === undefined; cents++) {
          if (creditsToCents(centsToCredits(cents, c), c) !== cents) failing = cents;
        }
        expect(failing).toBeDefined();
      }),
    );
  });

  it('paid and granted: the stored credits convert back to exactly the cents charged, at every rate', () => {
    // Stronger than the cents round trip: cents that came from credits always come back, even above
    // the bound, because there one credit step is worth more than a cent and rounding the credits
    // moves them by less than half a step.
    fc.assert(
      fc.property(fc.constantFrom('paid', 'granted' as const), credits, anyRate, exponent, (kind, requested, rate, exp) => {
        const c = { rate, exponent: exp };
        let amount: ReturnType<typeof planAmount>;
        try {
          amount = planAmount(kind as 'paid' | 'granted', requested, c);
        } catch (error) {
          expect(error).toBeInstanceOf(WalletError);
          expect((error as WalletError).code).toBe(
            creditsToCents(requested, c) > MAX_AMOUNT_CENTS ? 'AMOUNT_ABOVE_MAXIMUM' : 'AMOUNT_ROUNDS_TO_ZERO',
          );
          return;
        }
        expect(amount.amountCents).toBe(creditsToCents(requested, c));
        expect(creditsToCents(amount.creditAmount, c)).toBe(amount.amountCents);
        expect(amount.creditAmount > 0n).toBe(true);
        // and the stored credits are cents / (rate x 10^exp) rounded to 5 digits, within half a unit:
        // |credits x R - cents x 10^10| <= R / 2, where R = rate x 10^exp in 1e-5 units
        const r = rate * 10n ** BigInt(exp);
        const twiceError = 2n * (amount.creditAmount * r - amount.amountCents * 10n ** 10n);
        expect(twiceError <= r && -twiceError <= r).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('voided: keeps the requested credits and their own cents', () => {
    fc.assert(
      fc.property(credits, anyRate, exponent, (requested, rate, exp) => {
        const c = { rate, exponent: exp };
        const cents = creditsToCents(requested, c);
        if (cents === 0n) return;
        if (cents > MAX_AMOUNT_CENTS) {
          expect(refusal(() => planAmount('voided', requested, c)).code).toBe('AMOUNT_ABOVE_MAXIMUM');
          return;
        }
        expect(planAmount('voided', requested, c)).toEqual({ creditAmount: requested, amountCents: cents });
      }),
      { numRuns: 1000 },
    );
  });

  it('never returns 0 cents for positive credits: refused exactly when they are worth under half a minor unit', () => {
    fc.assert(
      fc.property(fc.constantFrom('paid', 'granted', 'voided' as const), credits, anyRate, exponent, (kind, requested, rate, exp) => {
        const c = { rate, exponent: exp };
        // credits x rate x 10^exp < 1/2 minor unit  <=>  2 x requested x rate x 10^exp < 10^10 (both in 1e-5 units)
        const worthLessThanHalf = 2n * requested * rate * 10n ** BigInt(exp) < 10n ** 10n;
        let amount: ReturnType<typeof planAmount> | undefined;
        let error: unknown;
        try {
          amount = planAmount(kind as 'paid' | 'granted' | 'voided', requested, c);
        } catch (e) {
          error = e;
        }
        if (worthLessThanHalf) {
          expect(error).toBeInstanceOf(WalletError);
          expect((error as WalletError).code).toBe('AMOUNT_ROUNDS_TO_ZERO');
        } else if (creditsToCents(requested, c) > MAX_AMOUNT_CENTS) {
          expect((error as WalletError).code).toBe('AMOUNT_ABOVE_MAXIMUM');
        } else {
          expect(error).toBeUndefined();
          expect(amount?.amountCents).toBeGreaterThan(0n);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('creditsToCents is within half a minor unit of the exact value, ties up', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), anyRate, exponent, (amount, rate, exp) => {
        const cents = creditsToCents(amount, { rate, exponent: exp });
        // exact value x 10^10 = amount x rate x 10^exp
        const twiceError = 2n * (cents * 10n ** 10n - amount * rate * 10n ** BigInt(exp));
        expect(-twiceError <= 10n ** 10n && twiceError <= 10n ** 10n).toBe(true);
        expect(twiceError).not.toBe(-(10n ** 10n)); // a tie rounded down
      }),
      { numRuns: 1000 },
    );
  });
});
