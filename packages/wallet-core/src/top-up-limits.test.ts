import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalletError } from './errors.js';
import { checkPaidTopUpLimits, type TopUpLimits } from './top-up-limits.js';

function outcome(run: () => void): string {
  try {
    run();
    return 'ok';
  } catch (error) {
    if (error instanceof WalletError) return error.code;
    throw error;
  }
}

function refusal(run: () => void): WalletError {
  try {
    run();
  } catch (error) {
    if (error instanceof WalletError) return error;
    throw error;
  }
  throw new Error('expected a WalletError');
}

const limits = (min: bigint | null, max: bigint | null): TopUpLimits => ({ paidTopUpMinAmountCents: min, paidTopUpMaxAmountCents: max });

describe('checkPaidTopUpLimits', () => {
  it.each([
    // amount, min, max, outcome
    [0n, null, null, 'ok'],
    [10n ** 20n, null, null, 'ok'],
    [999n, 1000n, null, 'AMOUNT_BELOW_MINIMUM'],
    [1000n, 1000n, null, 'ok'], // equal to the minimum passes
    [1001n, 1000n, null, 'ok'],
    [4999n, null, 5000n, 'ok'],
    [5000n, null, 5000n, 'ok'], // equal to the maximum passes
    [5001n, null, 5000n, 'AMOUNT_ABOVE_MAXIMUM'],
    [999n, 1000n, 5000n, 'AMOUNT_BELOW_MINIMUM'],
    [1000n, 1000n, 5000n, 'ok'],
    [5000n, 1000n, 5000n, 'ok'],
    [5001n, 1000n, 5000n, 'AMOUNT_ABOVE_MAXIMUM'],
    [1999n, 2000n, 2000n, 'AMOUNT_BELOW_MINIMUM'], // min = max: only that exact amount
    [2000n, 2000n, 2000n, 'ok'],
    [2001n, 2000n, 2000n, 'AMOUNT_ABOVE_MAXIMUM'],
    [0n, 0n, 0n, 'ok'],
    [1n, 0n, 0n, 'AMOUNT_ABOVE_MAXIMUM'],
  ])('%s cents with min %s and max %s: %s', (amountCents, min, max, expected) => {
    expect(outcome(() => checkPaidTopUpLimits(amountCents, limits(min, max)))).toBe(expected);
  });

  it('says which field and which limit', () => {
    const below = refusal(() => checkPaidTopUpLimits(999n, limits(1000n, 5000n)));
    expect(below.code).toBe('AMOUNT_BELOW_MINIMUM');
    expect(below.details).toEqual({ field: 'paidCredits', amountCents: 999n, paidTopUpMinAmountCents: 1000n });

    const above = refusal(() => checkPaidTopUpLimits(5001n, limits(1000n, 5000n), 'recurringTransactionRules[1].paidCredits'));
    expect(above.code).toBe('AMOUNT_ABOVE_MAXIMUM');
    expect(above.details).toEqual({ field: 'recurringTransactionRules[1].paidCredits', amountCents: 5001n, paidTopUpMaxAmountCents: 5000n });
    expect(above.message).toContain('recurringTransactionRules[1].paidCredits');
  });

  it('passes exactly the amounts within [min, max], each bound optional', () => {
    const bound = fc.option(fc.bigInt({ min: 0n, max: 100_000n }), { nil: null });
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 100_000n }), bound, bound, (amountCents, min, max) => {
        const expected =
          min !== null && amountCents < min ? 'AMOUNT_BELOW_MINIMUM' : max !== null && amountCents > max ? 'AMOUNT_ABOVE_MAXIMUM' : 'ok';
        expect(outcome(() => checkPaidTopUpLimits(amountCents, limits(min, max)))).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
