/** The host's invoice maths, worked by hand (no plugin involved). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PRO_PLAN } from '../src/demo-month.js';
import {
  type Allocation,
  chargeAmountCents,
  checkAllocation,
  computeInvoice,
  type FeeLine,
  InvoiceCheckError,
  planFees,
  taxPreciseCents,
  toWireInvoice,
} from '../src/invoice-pipeline.js';
import { allocateExact, divRoundHalfUp, formatPreciseCents, PRECISE_SCALE, sum } from '../src/money.js';

const base = { externalCustomerId: 'cus_1', currency: 'EUR', invoiceType: 'subscription' as const };
const line = (key: string, amountCents: bigint, metric: string | null = key): FeeLine => ({
  key,
  feeType: metric ? 'charge' : 'subscription',
  billableMetricCode: metric,
  description: key,
  amountCents,
});

describe('exact helpers', () => {
  it('rounds half up and allocates by largest remainder', () => {
    expect([divRoundHalfUp(5n, 2n), divRoundHalfUp(7n, 3n), divRoundHalfUp(-5n, 2n), divRoundHalfUp(-4n, 10n)]).toEqual([3n, 2n, -2n, 0n]);
    expect(allocateExact(2n, [1n, 1n, 1n])).toEqual([1n, 1n, 0n]);
    expect(allocateExact(100n, [1n, 2n, 3n])).toEqual([17n, 33n, 50n]);
    expect(allocateExact(0n, [0n, 0n])).toEqual([0n, 0n]);
    expect(() => allocateExact(1n, [0n])).toThrow(RangeError);
    expect([formatPreciseCents(88_838_75n), formatPreciseCents(500n * PRECISE_SCALE), formatPreciseCents(1n)]).toEqual([
      '88.83875',
      '500',
      '0.00001',
    ]);
  });

  it('prices usage exactly, rounding each charge once', () => {
    expect(chargeAmountCents('120000', '0.05')).toBe(6000n);
    expect(chargeAmountCents('12.5', '25')).toBe(313n); // 312.5 -> 313
    expect(chargeAmountCents('3', '0.333')).toBe(1n); // 0.999 -> 1
    expect(chargeAmountCents('0', '25')).toBe(0n);
    expect(() => chargeAmountCents('1e3', '1')).toThrow(RangeError);
    expect(() => chargeAmountCents('-1', '1')).toThrow(RangeError);
    expect(() => planFees(PRO_PLAN, { seats: '1' })).toThrow(/not in plan/);
  });

  it('keeps taxes exact to 1e-5 cents and refuses rates that cannot be', () => {
    expect(taxPreciseCents(1001n, '8.875')).toBe(88_838_75n); // 88.83875 cents
    expect(taxPreciseCents(282n, '20')).toBe(56_400_00n);
    expect(() => taxPreciseCents(1n, '8.8755')).toThrow(/not exact/);
  });
});

describe('computeInvoice', () => {
  it('worked case: plan + usage, 10% coupon, 20% VAT with sub-cent tax, a 5.00 credit note', () => {
    const invoice = computeInvoice({
      ...base,
      id: 'inv_w1',
      lines: planFees(PRO_PLAN, { api_calls: '120000', storage_gb: '12.5' }),
      coupon: { code: 'TEN', kind: 'percentage', percent: '10' },
      taxRatePercent: '20',
      creditNoteCents: 500n,
    });
    // Fees 49.00 + 60.00 + 3.13 = 112.13; coupon 11.213 -> 11.21, spread 4.90 / 6.00 / 0.31 (largest remainders first).
    expect(invoice.fees.map((f) => [f.amountCents, f.couponsAmountCents])).toEqual([
      [4900n, 490n],
      [6000n, 600n],
      [313n, 31n],
    ]);
    expect([invoice.feesAmountCents, invoice.couponsAmountCents, invoice.subTotalExcludingTaxesCents]).toEqual([11213n, 1121n, 10092n]);
    // VAT on 44.10 / 54.00 / 2.82 = 8.82 / 10.80 / 0.564: exact, 20.184 in all, rounded only in the total.
    expect(invoice.fees.map((f) => formatPreciseCents(f.taxesPreciseCents))).toEqual(['882', '1080', '56.4']);
    expect([invoice.taxesPreciseCents, invoice.taxesAmountCents]).toEqual([201_840_000n, 2018n]);
    // 121.104 incl. taxes; the 5.00 credit note spread over 52.92 / 64.80 / 3.384 exactly (sums to 500 cents).
    expect(invoice.fees.map((f) => formatPreciseCents(f.creditNotesPreciseCents))).toEqual(['218.48989', '267.53865', '13.97146']);
    expect(sum(invoice.fees.map((f) => f.creditNotesPreciseCents))).toBe(500n * PRECISE_SCALE);
    expect([invoice.creditNotesAmountCents, invoice.totalAmountCents]).toEqual([500n, 11610n]); // round(121.104) - 5.00
    expect(toWireInvoice(invoice)).toEqual({
      id: 'inv_w1',
      externalCustomerId: 'cus_1',
      currency: 'EUR',
      invoiceType: 'subscription',
      totalAmountCents: 11610,
      fees: [
        {
          id: 'inv_w1:subscription',
          feeType: 'subscription',
          amountCents: 4900,
          couponsAmountCents: 490,
          taxesAmountCents: '882',
          creditNotesAmountCents: '218.48989',
        },
        {
          id: 'inv_w1:api_calls',
          feeType: 'charge',
          billableMetricCode: 'api_calls',
          amountCents: 6000,
          couponsAmountCents: 600,
          taxesAmountCents: '1080',
          creditNotesAmountCents: '267.53865',
        },
        {
          id: 'inv_w1:storage_gb',
          feeType: 'charge',
          billableMetricCode: 'storage_gb',
          amountCents: 313,
          couponsAmountCents: 31,
          taxesAmountCents: '56.4',
          creditNotesAmountCents: '13.97146',
        },
      ],
    });
  });

  it('caps a fixed coupon at the fees and a credit note at the total', () => {
    const free = computeInvoice({
      ...base,
      id: 'inv_w2',
      lines: [line('a', 300n), line('b', 700n)],
      coupon: { code: 'BIG', kind: 'fixed', amountCents: 5000n },
      taxRatePercent: '20',
    });
    expect([free.couponsAmountCents, free.taxesPreciseCents, free.totalAmountCents]).toEqual([1000n, 0n, 0n]);
    const covered = computeInvoice({ ...base, id: 'inv_w3', lines: [line('a', 1000n)], taxRatePercent: '5.5', creditNoteCents: 99_999n });
    expect([covered.creditNotesAmountCents, covered.totalAmountCents]).toEqual([1055n, 0n]);
  });

  it('rounds the total once: three fees each with half a cent of tax', () => {
    // 3 x (0.10 + 5% = 0.005): taxes 0.015 -> total 0.315 -> 0.32 (rounding each fee's tax would give 0.33).
    const invoice = computeInvoice({ ...base, id: 'inv_w4', lines: [line('a', 10n), line('b', 10n), line('c', 10n)], taxRatePercent: '5' });
    expect(invoice.fees.map((f) => formatPreciseCents(f.taxesPreciseCents))).toEqual(['0.5', '0.5', '0.5']);
    expect([invoice.taxesAmountCents, invoice.totalAmountCents]).toEqual([2n, 32n]);
  });

  it('property: coupons and credit notes split exactly; fee caps sum to the total within half a cent', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 0n, max: 10_000_000n }), { minLength: 1, maxLength: 6 }),
        fc.option(
          fc.oneof(
            fc.integer({ min: 0, max: 1000 }).map((p) => ({ kind: 'percentage' as const, percent: `${p / 10}` })),
            fc.bigInt({ min: 0n, max: 20_000_000n }).map((amountCents) => ({ kind: 'fixed' as const, amountCents })),
          ),
          { nil: undefined },
        ),
        fc.constantFrom('0', '5.5', '8.875', '20', '21'),
        fc.bigInt({ min: 0n, max: 20_000_000n }),
        (amounts, coupon, taxRatePercent, creditNoteCents) => {
          const invoice = computeInvoice({
            ...base,
            id: 'inv_p',
            lines: amounts.map((a, i) => line(`m${i}`, a)),
            coupon: coupon && { code: 'C', ...coupon },
            taxRatePercent,
            creditNoteCents,
          });
          expect(sum(invoice.fees.map((f) => f.couponsAmountCents))).toBe(invoice.couponsAmountCents);
          expect(invoice.fees.every((f) => f.couponsAmountCents <= f.amountCents)).toBe(true);
          expect(sum(invoice.fees.map((f) => f.creditNotesPreciseCents))).toBe(invoice.creditNotesAmountCents * PRECISE_SCALE);
          expect(invoice.totalAmountCents >= 0n).toBe(true);
          const caps = sum(
            invoice.fees.map((f) => (f.amountCents - f.couponsAmountCents) * PRECISE_SCALE + f.taxesPreciseCents - f.creditNotesPreciseCents),
          );
          const gap = invoice.totalAmountCents * PRECISE_SCALE - caps;
          expect(gap <= PRECISE_SCALE / 2n && gap > -PRECISE_SCALE / 2n).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkAllocation', () => {
  const invoice = computeInvoice({ ...base, id: 'inv_c', lines: [line('a', 1000n)], taxRatePercent: '0' });
  const good: Allocation = {
    invoiceId: 'inv_c',
    prepaidCreditAmountCents: 600,
    totalAfterCreditsCents: 400,
    prepaidGrantedCreditAmountCents: 600,
    prepaidPurchasedCreditAmountCents: 0,
    wallets: [{ walletId: 'w1', amountCents: 600, creditAmount: '6' }],
  };

  it('accepts a consistent answer and refuses every inconsistency', () => {
    expect(checkAllocation(invoice, good)).toBe(600n);
    const bad: Partial<Allocation>[] = [
      { totalAfterCreditsCents: 401 },
      { prepaidCreditAmountCents: 1100, totalAfterCreditsCents: -100 },
      { wallets: [{ walletId: 'w1', amountCents: 500, creditAmount: '5' }] },
      { prepaidPurchasedCreditAmountCents: 1 },
      { invoiceId: 'other' },
      {
        wallets: [
          { walletId: 'w1', amountCents: 300, creditAmount: '3' },
          { walletId: 'w1', amountCents: 300, creditAmount: '3' },
        ],
      },
    ];
    for (const change of bad) expect(() => checkAllocation(invoice, { ...good, ...change })).toThrow(InvoiceCheckError);
  });
});
