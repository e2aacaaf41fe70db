import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AllocationFee, type AllocationWallet, distributeRounded, planAllocation, planBuckets } from './allocation.js';

const C = 100_000n; // 1 cent in 1e-5 cents

function fee(
  feeType: string,
  amountCents: number,
  extra: Partial<Record<'coupons' | 'taxes' | 'creditNotes', bigint>> & { metric?: string } = {},
): AllocationFee {
  return {
    feeType,
    billableMetricCode: extra.metric ?? null,
    amount: BigInt(amountCents) * C,
    coupons: extra.coupons ?? 0n,
    taxes: extra.taxes ?? 0n,
    creditNotes: extra.creditNotes ?? 0n,
  };
}

function wallet(id: string, balanceCents: number, limits: { feeTypes?: string[]; metrics?: string[] } = {}): AllocationWallet {
  return { id, balanceCents: BigInt(balanceCents), feeTypes: limits.feeTypes ?? [], billableMetricCodes: limits.metrics ?? [] };
}

const amounts = (a: ReturnType<typeof planAllocation>) => Object.fromEntries(a.wallets.map((w) => [w.walletId, Number(w.amountCents)]));

describe('planAllocation: worked examples', () => {
  it('one unrestricted wallet pays up to its balance', () => {
    const a = planAllocation({ totalAmountCents: 1200n, fees: [fee('subscription', 1000, { taxes: 200n * C })], wallets: [wallet('w1', 500)] });
    expect(amounts(a)).toEqual({ w1: 500 });
    expect(a.amountCents).toBe(500n);
  });

  it('never more than the invoice total', () => {
    const a = planAllocation({ totalAmountCents: 1200n, fees: [fee('subscription', 1000, { taxes: 200n * C })], wallets: [wallet('w1', 5000)] });
    expect(amounts(a)).toEqual({ w1: 1200 });
  });

  it('wallets pay in the order given; the second pays what the first could not', () => {
    const a = planAllocation({
      totalAmountCents: 1000n,
      fees: [fee('charge', 1000, { metric: 'api' })],
      wallets: [wallet('w1', 300), wallet('w2', 2000)],
    });
    expect(amounts(a)).toEqual({ w1: 300, w2: 700 });
  });

  it('a limited wallet pays only its buckets: metric in list, or fee type in list', () => {
    // Buckets: charge/api 600, charge/storage 300, subscription 100 (total 1000).
    const fees = [fee('charge', 600, { metric: 'api' }), fee('charge', 300, { metric: 'storage' }), fee('subscription', 100)];
    const a = planAllocation({
      totalAmountCents: 1000n,
      fees,
      wallets: [wallet('storage-only', 5000, { metrics: ['storage'] }), wallet('subs', 5000, { feeTypes: ['subscription'] })],
    });
    expect(amounts(a)).toEqual({ 'storage-only': 300, subs: 100 });
    // The union rule: metric OR fee type.
    const b = planAllocation({
      totalAmountCents: 1000n,
      fees,
      wallets: [wallet('both', 5000, { metrics: ['storage'], feeTypes: ['subscription'] })],
    });
    expect(amounts(b)).toEqual({ both: 400 });
  });

  it('fee caps subtract coupons and credit notes and add taxes; zero caps are skipped', () => {
    // api: 1000 - 100 coupons + 180 taxes - 80 credit notes = 1000; storage: 500 - 500 coupons = 0 -> skipped.
    const fees = [
      fee('charge', 1000, { metric: 'api', coupons: 100n * C, taxes: 180n * C, creditNotes: 80n * C }),
      fee('charge', 500, { metric: 'storage', coupons: 500n * C }),
    ];
    expect(planBuckets(fees, 1000n).map((b) => [b.billableMetricCode, b.remaining])).toEqual([['api', 1000n * C]]);
    const a = planAllocation({ totalAmountCents: 1000n, fees, wallets: [wallet('storage', 5000, { metrics: ['storage'] })] });
    expect(a.wallets).toEqual([]);
  });

  it('a gap of at most one cent per bucket goes to the largest bucket', () => {
    // Precise taxes 33.333 + 33.333 + 33.333 cents on three fees sum to 99.999, the invoice says 100.
    const third = 3_333_300n; // 33.333 cents in 1e-5 cents
    const fees = [
      fee('charge', 0, { metric: 'a', taxes: third }),
      fee('charge', 0, { metric: 'b', taxes: third }),
      fee('charge', 0, { metric: 'c', taxes: third + 1n }),
    ];
    const buckets = planBuckets(fees, 100n);
    expect(buckets.reduce((s, b) => s + b.remaining, 0n)).toBe(100n * C);
    expect(buckets[0]!.billableMetricCode).toBe('c');
    // A gap larger than one cent per bucket is not papered over.
    expect(planBuckets([fee('charge', 50)], 52n)[0]!.remaining).toBe(50n * C);
    expect(planBuckets([fee('charge', 50)], 51n)[0]!.remaining).toBe(51n * C);
  });

  it('sub-cent shares are rounded once and distributed by largest remainder', () => {
    // Bucket x 10.4 cents (metric x), bucket y 10.4 cents (metric y); total 21 cents (gap 0.2 to the first).
    const tenPointFour = 1_040_000n;
    const fees = [
      { ...fee('charge', 0, { metric: 'x' }), amount: tenPointFour },
      { ...fee('charge', 0, { metric: 'y' }), amount: tenPointFour },
    ];
    const a = planAllocation({
      totalAmountCents: 21n,
      fees,
      wallets: [wallet('wx', 100, { metrics: ['x'] }), wallet('wy', 100, { metrics: ['y'] })],
    });
    // Shares 10.6 (x got the 0.2 gap) and 10.4: exact total 21.0 -> 21; floors 10 + 10, one cent to the larger remainder (x).
    expect(amounts(a)).toEqual({ wx: 11, wy: 10 });
  });

  it('distributeRounded gives leftover cents to the largest remainders, earlier first on ties', () => {
    expect(distributeRounded([150_000n, 150_000n, 100_000n], 4n)).toEqual([2n, 1n, 1n]);
    expect(distributeRounded([], 0n)).toEqual([]);
  });
});

const feeArb = fc.record({
  feeType: fc.constantFrom('subscription', 'charge', 'fixed_charge', 'commitment', 'add_on'),
  billableMetricCode: fc.option(fc.constantFrom('api', 'storage', 'seats'), { nil: null }),
  amount: fc.bigInt({ min: 0n, max: 10_000_000n * C }),
  coupons: fc.bigInt({ min: 0n, max: 1_000_000n * C }),
  taxes: fc.bigInt({ min: 0n, max: 2_000_000n * C }),
  creditNotes: fc.bigInt({ min: 0n, max: 1_000_000n * C }),
});
const walletArb = fc.record({
  id: fc.uuid(),
  balanceCents: fc.bigInt({ min: 0n, max: 20_000_000n }),
  feeTypes: fc.subarray(['subscription', 'charge', 'fixed_charge', 'commitment', 'add_on']),
  billableMetricCodes: fc.subarray(['api', 'storage', 'seats']),
});
const inputArb = fc.record({
  fees: fc.array(feeArb, { maxLength: 8 }),
  wallets: fc.uniqueArray(walletArb, { maxLength: 6, selector: (w) => w.id }),
  totalSlackCents: fc.bigInt({ min: -500n, max: 500n }),
});

describe('planAllocation: properties', () => {
  it('never exceeds the invoice total or any wallet balance; parts sum to the whole; deterministic', () => {
    fc.assert(
      fc.property(inputArb, ({ fees, wallets, totalSlackCents }) => {
        const capSum = fees.reduce((s, f) => {
          const cap = f.amount - f.coupons + f.taxes - f.creditNotes;
          return cap > 0n ? s + cap : s;
        }, 0n);
        const total = capSum / C + totalSlackCents;
        const totalAmountCents = total > 0n ? total : 0n;
        const a = planAllocation({ totalAmountCents, fees, wallets });
        const sum = a.wallets.reduce((s, w) => s + w.amountCents, 0n);
        expect(sum).toBe(a.amountCents);
        expect(a.amountCents <= totalAmountCents).toBe(true);
        for (const part of a.wallets) {
          const w = wallets.find((x) => x.id === part.walletId)!;
          expect(part.amountCents > 0n && part.amountCents <= w.balanceCents).toBe(true);
        }
        // Never more than the (gap-reconciled) caps of the buckets the wallets may pay.
        expect(a.amountCents * C <= capSum + BigInt(new Set(fees.map((f) => `${f.feeType}/${f.billableMetricCode}`)).size) * C).toBe(true);
        expect(planAllocation({ totalAmountCents, fees, wallets })).toEqual(a);
      }),
      { numRuns: 500 },
    );
  });

  it('unlimited wallets with enough balance pay the whole invoice when the caps cover it', () => {
    fc.assert(
      fc.property(fc.array(feeArb, { minLength: 1, maxLength: 6 }), (fees) => {
        const capSum = fees.reduce((s, f) => {
          const cap = f.amount - f.coupons + f.taxes - f.creditNotes;
          return cap > 0n ? s + cap : s;
        }, 0n);
        const totalAmountCents = capSum / C; // caps cover the total (floored)
        const a = planAllocation({ totalAmountCents, fees, wallets: [wallet('rich', Number.MAX_SAFE_INTEGER)] });
        expect(a.amountCents).toBe(totalAmountCents);
      }),
    );
  });
});
