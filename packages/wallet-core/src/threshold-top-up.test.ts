import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Conversion } from './conversion.js';
import { planThresholdTopUp, shouldFire, type ThresholdRule, type ThresholdWalletState } from './threshold-top-up.js';

const S = 100_000n; // 1 credit in 1e-5 units

/** "1.5" -> 150_000n, "-3" -> -300_000n, parsed here without the module under test. */
function units(text: string): bigint {
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = (negative ? text.slice(1) : text).split('.');
  if (fraction.length > 5) throw new Error(`fixture ${text} has more than 5 places`);
  const value = BigInt(whole) * S + BigInt(fraction.padEnd(5, '0'));
  return negative ? -value : value;
}

const EXPONENT = { EUR: 2, JPY: 0, KWD: 3 } as const;
type Currency = keyof typeof EXPONENT;

function conversion(currency: Currency, rate: string): Conversion {
  return { rate: units(rate), exponent: EXPONENT[currency] };
}

type RuleFields = {
  method?: 'fixed' | 'target';
  paid?: string;
  granted?: string;
  threshold?: string;
  target?: string;
  grantsTargetTopUp?: boolean;
  ignoreLimits?: boolean;
};

function rule(fields: RuleFields): ThresholdRule {
  return {
    method: fields.method ?? 'fixed',
    paidCredits: units(fields.paid ?? '0'),
    grantedCredits: units(fields.granted ?? '0'),
    thresholdCredits: units(fields.threshold ?? '0'),
    targetOngoingBalance: fields.target === undefined ? null : units(fields.target),
    grantsTargetTopUp: fields.grantsTargetTopUp ?? false,
    ignorePaidTopUpLimits: fields.ignoreLimits ?? false,
  };
}

type StateFields = { balance: string; pending?: string; minCents?: number; maxCents?: number; currency?: Currency; rate?: string };

function state(fields: StateFields): ThresholdWalletState {
  return {
    creditsOngoingBalance: units(fields.balance),
    pendingCredits: units(fields.pending ?? '0'),
    paidTopUpMinAmountCents: fields.minCents === undefined ? null : BigInt(fields.minCents),
    paidTopUpMaxAmountCents: fields.maxCents === undefined ? null : BigInt(fields.maxCents),
    conversion: conversion(fields.currency ?? 'EUR', fields.rate ?? '1'),
  };
}

const topUp = (paid: string, granted = '0') => ({ paidCredits: units(paid), grantedCredits: units(granted) });

describe('shouldFire: ongoing balance plus pending top-ups at or below the threshold', () => {
  it.each<[string, string, string, boolean]>([
    // threshold, balance, pending, fires
    ['10', '10', '0', true], // exactly at the threshold
    ['10', '10.00001', '0', false], // one step above
    ['10', '9.99999', '0', true],
    ['10', '5', '5', true], // 5 + 5 pending = 10
    ['10', '5', '5.00001', false], // pending lifts it above
    ['10', '0', '12', false],
    ['10', '-3', '0', true], // an ongoing balance below zero
    ['0', '0', '0', true],
    ['0', '0.00001', '0', false],
  ])('threshold %s, balance %s, pending %s -> %s', (threshold, balance, pending, fires) => {
    const r = rule({ paid: '10', threshold });
    const s = state({ balance, pending });
    expect(shouldFire(r, s)).toBe(fires);
    expect(planThresholdTopUp(r, s) !== null).toBe(fires);
  });
});

describe('planThresholdTopUp, fixed: whole increments landing strictly above the threshold', () => {
  it.each<[string, RuleFields, StateFields, ReturnType<typeof topUp>]>([
    // gap = threshold - (balance + pending) - granted; under one increment -> one increment.
    ['gap 5 < increment 10: one increment (15 + 10 = 25 > 20)', { paid: '10', threshold: '20' }, { balance: '15' }, topUp('10')],
    ['at the threshold: gap 0, one increment', { paid: '10', threshold: '20' }, { balance: '20' }, topUp('10')],
    // One increment would land exactly on the threshold, which is not above it.
    ['gap 10 = increment: two (10 + 20 = 30 > 20)', { paid: '10', threshold: '20' }, { balance: '10' }, topUp('20')],
    ['gap 20, twice the increment: three (0 + 30 > 20)', { paid: '10', threshold: '20' }, { balance: '0' }, topUp('30')],
    ['gap 19.99999: two increments (0.00001 + 20 > 20)', { paid: '10', threshold: '20' }, { balance: '0.00001' }, topUp('20')],
    ['gap 35 from a negative balance: four (-15 + 40 = 25 > 20)', { paid: '10', threshold: '20' }, { balance: '-15' }, topUp('40')],
    ['gap 10 with increments of 3: four (0 + 12 > 10)', { paid: '3', threshold: '10' }, { balance: '0' }, topUp('12')],
    ['gap 10 with increments of 2.5: five (0 + 12.5 > 10)', { paid: '2.5', threshold: '10' }, { balance: '0' }, topUp('12.5')],
    ['pending counts: 5 + 5 pending, gap 10: two increments', { paid: '10', threshold: '20' }, { balance: '5', pending: '5' }, topUp('20')],
    // Granted credits count towards landing: gap = 20 - 10 - 3 = 7 < 10.
    ['granted 3 with the increment: one (10 + 10 + 3 = 23 > 20)', { paid: '10', granted: '3', threshold: '20' }, { balance: '10' }, topUp('10', '3')],
    // gap = 20 - 7 - 3 = 10 = increment: two (7 + 20 + 3 = 30 > 20).
    ['granted 3, gap 10: two increments', { paid: '10', granted: '3', threshold: '20' }, { balance: '7' }, topUp('20', '3')],
    // Granted alone lands above (gap -10): still the one configured increment, as Lago does.
    ['granted 30 lands above alone: one increment', { paid: '10', granted: '30', threshold: '20' }, { balance: '0' }, topUp('10', '30')],
    // The wallet minimum is not a fixed rule's business (the command's limit check refuses or not).
    ['no raise to the wallet minimum', { paid: '10', threshold: '20' }, { balance: '15', minCents: 100_000 }, topUp('10')],
  ])('%s', (_name, r, s, expected) => {
    expect(planThresholdTopUp(rule(r), state(s))).toEqual(expected);
  });

  it('granted-only rules grant their credits; a rule with neither gives nothing', () => {
    expect(planThresholdTopUp(rule({ granted: '5', threshold: '20' }), state({ balance: '0' }))).toEqual(topUp('0', '5'));
    // Not multiplied: granted credits are a fixed amount, whatever the gap.
    expect(planThresholdTopUp(rule({ granted: '5', threshold: '20' }), state({ balance: '-100' }))).toEqual(topUp('0', '5'));
    expect(planThresholdTopUp(rule({ threshold: '20' }), state({ balance: '0' }))).toBeNull();
  });
});

describe('planThresholdTopUp, fixed: capped at the wallet maximum', () => {
  // Increment 10, threshold 100, balance 0: uncapped, gap 100 -> 11 increments = 110 credits.
  const big = { paid: '10', threshold: '100' };

  it.each<[string, RuleFields, StateFields, string]>([
    ['no maximum: 110', big, { balance: '0' }, '110'],
    ['a maximum that does not bind: 110', big, { balance: '0', maxCents: 1_000_000 }, '110'],
    ['max 2500 cents = 25 credits: two whole increments', big, { balance: '0', maxCents: 2500 }, '20'],
    ['max 3000 cents = 30 credits exactly: three', big, { balance: '0', maxCents: 3000 }, '30'],
    ['max 500 cents, under one increment: still one (the limit check refuses it later)', big, { balance: '0', maxCents: 500 }, '10'],
    ['ignorePaidTopUpLimits: uncapped', { ...big, ignoreLimits: true }, { balance: '0', maxCents: 2500 }, '110'],
    // Rate 2 EUR: 2500 cents = 25 EUR = 12.5 credits -> two increments of 5 (uncapped 5 x 21 = 105).
    ['rate 2: 2500 cents is 12.5 credits', { paid: '5', threshold: '100' }, { balance: '0', maxCents: 2500, rate: '2' }, '10'],
    // Rate 0.33333 EUR: 1000 cents = 10 / 0.33333 = 30.0003 credits -> 30 (worth 9.9999 EUR, rounds to 1000 cents).
    ['rate 0.33333: 1000 cents is 30.0003 credits', big, { balance: '0', maxCents: 1000, rate: '0.33333' }, '30'],
    // 999 cents = 9.99 / 0.33333 = 29.97003 credits -> 20.
    ['rate 0.33333: 999 cents is 29.97003 credits', big, { balance: '0', maxCents: 999, rate: '0.33333' }, '20'],
    // JPY, exponent 0, rate 150: 10000 yen = 66.66667 credits -> 60 (read as cents of exponent 2 it would be 0.66667).
    ['JPY rate 150: 10000 yen is 66.66667 credits', big, { balance: '0', maxCents: 10_000, currency: 'JPY', rate: '150' }, '60'],
    // JPY rate 0.33333, increments of 1, uncapped 101: 10 yen = 30.0003 credits -> 30.
    [
      'JPY rate 0.33333: 10 yen is 30.0003 credits',
      { paid: '1', threshold: '100' },
      { balance: '0', maxCents: 10, currency: 'JPY', rate: '0.33333' },
      '30',
    ],
    // KWD, exponent 3: 5000 fils = 5 KWD = 5 credits -> two increments of 2.
    ['KWD: 5000 fils is 5 credits', { paid: '2', threshold: '100' }, { balance: '0', maxCents: 5000, currency: 'KWD' }, '4'],
  ])('%s', (_name, r, s, paid) => {
    expect(planThresholdTopUp(rule(r), state(s))).toEqual(topUp(paid));
  });

  it('the cap leaves granted credits alone', () => {
    expect(planThresholdTopUp(rule({ ...big, granted: '7' }), state({ balance: '0', maxCents: 2500 }))).toEqual(topUp('20', '7'));
  });
});

describe('planThresholdTopUp, target: the gap to targetOngoingBalance', () => {
  it.each<[string, RuleFields, StateFields, ReturnType<typeof topUp> | null]>([
    ['balance 4, target 50: pays 46', { method: 'target', threshold: '10', target: '50' }, { balance: '4' }, topUp('46')],
    [
      'pending counts: 4 + 6 pending, target 50: pays 40',
      { method: 'target', threshold: '10', target: '50' },
      { balance: '4', pending: '6' },
      topUp('40'),
    ],
    ['negative balance -20, target 50: pays 70', { method: 'target', threshold: '10', target: '50' }, { balance: '-20' }, topUp('70')],
    // Wallet min 6000 cents = 60 credits at rate 1 EUR: the 46 gap is raised to 60.
    ['raised to the wallet minimum', { method: 'target', threshold: '10', target: '50' }, { balance: '4', minCents: 6000 }, topUp('60')],
    ['a minimum below the gap changes nothing', { method: 'target', threshold: '10', target: '50' }, { balance: '4', minCents: 1000 }, topUp('46')],
    [
      'ignorePaidTopUpLimits: not raised',
      { method: 'target', threshold: '10', target: '50', ignoreLimits: true },
      { balance: '4', minCents: 6000 },
      topUp('46'),
    ],
    // Lago: reaching the target matters most, the maximum never cuts a target top-up.
    ['the maximum is never applied', { method: 'target', threshold: '10', target: '50' }, { balance: '4', maxCents: 1000 }, topUp('46')],
    [
      'grantsTargetTopUp: the gap is granted',
      { method: 'target', threshold: '10', target: '50', grantsTargetTopUp: true },
      { balance: '4' },
      topUp('0', '46'),
    ],
    [
      'grantsTargetTopUp: the wallet minimum does not apply to a grant',
      { method: 'target', threshold: '10', target: '50', grantsTargetTopUp: true },
      { balance: '4', minCents: 6000 },
      topUp('0', '46'),
    ],
    // A target rule's own grantedCredits are not added (Lago's compute_granted_credits).
    ['the rule granted credits are ignored', { method: 'target', threshold: '10', target: '50', granted: '5' }, { balance: '4' }, topUp('46')],
    ['at the threshold which is the target: nothing to do', { method: 'target', threshold: '10', target: '10' }, { balance: '10' }, null],
    [
      'at the target with pending top-ups: nothing to do',
      { method: 'target', threshold: '10', target: '10', grantsTargetTopUp: true },
      { balance: '2', pending: '8' },
      null,
    ],
    ['above the threshold: does not fire', { method: 'target', threshold: '10', target: '50' }, { balance: '10.00001' }, null],
    // Rate 0.33333 EUR: min 1000 cents = 30.0003 credits (worth 1000.0099999 cents, rounds to 1000); gap 20.
    [
      'odd rate: the minimum in credits',
      { method: 'target', threshold: '10', target: '20' },
      { balance: '0', minCents: 1000, rate: '0.33333' },
      topUp('30.0003'),
    ],
    // JPY exponent 0, rate 150: min 1000 yen = 6.66667 credits; gap 5.
    [
      'JPY: the minimum in credits uses exponent 0',
      { method: 'target', threshold: '1', target: '5' },
      { balance: '0', minCents: 1000, currency: 'JPY', rate: '150' },
      topUp('6.66667'),
    ],
    // KWD exponent 3, rate 1: min 7500 fils = 7.5 credits; gap 5.
    [
      'KWD: the minimum in credits uses exponent 3',
      { method: 'target', threshold: '1', target: '5' },
      { balance: '0', minCents: 7500, currency: 'KWD' },
      topUp('7.5'),
    ],
  ])('%s', (_name, r, s, expected) => {
    expect(planThresholdTopUp(rule(r), state(s))).toEqual(expected);
  });
});

// ---- properties ----

/**
 * Conversions where a 1e-5 credit step is worth at most one minor unit (rate x 10^exponent <= 10^10 in
 * 1e-5 units, see conversion.test.ts): there "worth" in rounded cents is monotone and round trips.
 */
const conversionArb = fc.constantFrom<[Currency, string]>(
  ['EUR', '1'],
  ['EUR', '0.33333'],
  ['EUR', '1.5'],
  ['EUR', '0.01'],
  ['EUR', '7.77777'],
  ['EUR', '1000'],
  ['JPY', '1'],
  ['JPY', '0.33333'],
  ['JPY', '150'],
  ['KWD', '1'],
  ['KWD', '0.33333'],
  ['KWD', '2.5'],
);

const credits = (min: bigint, max: bigint) => fc.bigInt({ min: min * S, max: max * S });
const stateArb = fc.record({
  creditsOngoingBalance: credits(-1000n, 1000n),
  pendingCredits: fc.oneof(fc.constant(0n), credits(0n, 300n)),
  paidTopUpMinAmountCents: fc.option(fc.bigInt({ min: 1n, max: 200_000n }), { nil: null }),
  paidTopUpMaxAmountCents: fc.option(fc.bigInt({ min: 1n, max: 2_000_000n }), { nil: null }),
  conversion: conversionArb.map(([currency, rate]) => conversion(currency, rate)),
});
const fixedRuleArb = fc.record({
  method: fc.constant<'fixed'>('fixed'),
  paidCredits: fc.oneof(credits(0n, 500n), fc.bigInt({ min: 1n, max: 1000n })),
  grantedCredits: fc.oneof(fc.constant(0n), credits(0n, 100n)),
  thresholdCredits: credits(0n, 1000n),
  targetOngoingBalance: fc.constant(null),
  grantsTargetTopUp: fc.constant(false),
  ignorePaidTopUpLimits: fc.boolean(),
});
const targetRuleArb = fc
  .record({
    method: fc.constant<'target'>('target'),
    paidCredits: fc.constant(0n),
    grantedCredits: fc.oneof(fc.constant(0n), credits(0n, 100n)),
    thresholdCredits: credits(0n, 1000n),
    aboveThreshold: credits(0n, 1000n),
    grantsTargetTopUp: fc.boolean(),
    ignorePaidTopUpLimits: fc.boolean(),
  })
  .map(({ aboveThreshold, ...r }): ThresholdRule => ({ ...r, targetOngoingBalance: r.thresholdCredits + aboveThreshold }));

/** Exact value in 1e-5 x 1e-5 minor units (credits x rate x 10^exponent), no rounding. */
const exactWorth = (c: bigint, { rate, exponent }: Conversion) => c * rate * 10n ** BigInt(exponent);
/** Rounded half up to minor units, written here without conversion.ts (c >= 0). */
const worthCents = (c: bigint, conv: Conversion) => (exactWorth(c, conv) * 2n + S * S) / (2n * S * S);

const OPTIONS = { numRuns: 1000 };

describe('planThresholdTopUp: properties', () => {
  it('fires exactly when balance + pending <= threshold', () => {
    fc.assert(
      fc.property(fc.oneof(fixedRuleArb, targetRuleArb), stateArb, (r, s) => {
        const fires = s.creditsOngoingBalance + s.pendingCredits <= r.thresholdCredits;
        expect(shouldFire(r, s)).toBe(fires);
        if (!fires) expect(planThresholdTopUp(r, s)).toBeNull();
      }),
      OPTIONS,
    );
  });

  it('fixed, no binding cap: the fewest whole increments that land strictly above the threshold', () => {
    fc.assert(
      fc.property(fixedRuleArb, stateArb, fc.boolean(), (r, s0, dropMax) => {
        // No cap binds: either there is no maximum or the rule ignores it.
        const s = dropMax ? { ...s0, paidTopUpMaxAmountCents: null } : s0;
        const rule = dropMax ? r : { ...r, ignorePaidTopUpLimits: true };
        const plan = planThresholdTopUp(rule, s);
        if (!shouldFire(rule, s) || (rule.paidCredits === 0n && rule.grantedCredits === 0n)) {
          expect(plan).toBeNull();
          return;
        }
        expect(plan!.grantedCredits).toBe(rule.grantedCredits);
        if (rule.paidCredits === 0n) {
          expect(plan!.paidCredits).toBe(0n);
          return;
        }
        const { paidCredits } = plan!;
        const landing = (paid: bigint) => s.creditsOngoingBalance + s.pendingCredits + paid + rule.grantedCredits;
        expect(paidCredits % rule.paidCredits).toBe(0n);
        expect(paidCredits >= rule.paidCredits).toBe(true);
        expect(landing(paidCredits) > rule.thresholdCredits).toBe(true);
        // One increment fewer would not have been enough (or it is the single configured increment).
        if (paidCredits > rule.paidCredits) expect(landing(paidCredits - rule.paidCredits) <= rule.thresholdCredits).toBe(true);
      }),
      OPTIONS,
    );
  });

  it('fixed with a maximum: whole increments, at least one, within the max unless one alone exceeds it, as many as needed or allowed', () => {
    fc.assert(
      fc.property(fixedRuleArb, stateArb, fc.bigInt({ min: 1n, max: 500_000n }), (r0, s0, maxCents) => {
        const r = { ...r0, paidCredits: r0.paidCredits === 0n ? S : r0.paidCredits, ignorePaidTopUpLimits: false };
        const s = { ...s0, paidTopUpMaxAmountCents: maxCents };
        const plan = planThresholdTopUp(r, s);
        if (!shouldFire(r, s)) {
          expect(plan).toBeNull();
          return;
        }
        const uncapped = planThresholdTopUp(r, { ...s, paidTopUpMaxAmountCents: null })!.paidCredits;
        const paid = plan!.paidCredits;
        const inc = r.paidCredits;
        expect(paid % inc).toBe(0n);
        expect(paid >= inc && paid <= uncapped).toBe(true);
        if (worthCents(paid, s.conversion) > maxCents) expect(paid).toBe(inc); // only a single increment may exceed the max
        // Capped below what was needed: one more increment would be worth more than the max.
        if (paid < uncapped) expect(exactWorth(paid + inc, s.conversion) > maxCents * S * S).toBe(true);
        expect(plan!.grantedCredits).toBe(r.grantedCredits);
      }),
      OPTIONS,
    );
  });

  it('target: the gap, raised to exactly the minimum when worth less, or granted', () => {
    fc.assert(
      fc.property(targetRuleArb, stateArb, (r, s) => {
        const plan = planThresholdTopUp(r, s);
        const gap = r.targetOngoingBalance! - s.creditsOngoingBalance - s.pendingCredits;
        if (!shouldFire(r, s) || gap <= 0n) {
          expect(plan).toBeNull();
          return;
        }
        if (r.grantsTargetTopUp) {
          expect(plan).toEqual({ paidCredits: 0n, grantedCredits: gap });
          return;
        }
        expect(plan!.grantedCredits).toBe(0n);
        const paid = plan!.paidCredits;
        const min = r.ignorePaidTopUpLimits ? null : s.paidTopUpMinAmountCents;
        if (min === null) {
          expect(paid).toBe(gap);
          return;
        }
        expect(paid >= gap).toBe(true);
        expect(worthCents(paid, s.conversion) >= min).toBe(true);
        if (paid > gap) expect(worthCents(paid, s.conversion)).toBe(min); // raised to the minimum, no further
      }),
      OPTIONS,
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(fc.oneof(fixedRuleArb, targetRuleArb), stateArb, (r, s) => {
        expect(planThresholdTopUp(r, s)).toEqual(planThresholdTopUp(r, s));
      }),
      { numRuns: 200 },
    );
  });
});
