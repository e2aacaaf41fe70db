/**
 * For random usage, coupons, taxes, credit notes and wallets (balances, priorities, scopes), a
 * finalized invoice is never negative, equals total - applied, and its wallet amounts sum to the
 * applied amount; each wallet pays at most its balance, and its balance drops by what it paid.
 */
import type { WalletClient } from '@wallets/api';
import { auditLedger } from '@wallets/db/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { PRO_PLAN } from '../src/demo-month.js';
import { type Coupon, computeInvoice, finalizeInvoice, planFees } from '../src/invoice-pipeline.js';
import { centsFromWire, minBig, sum } from '../src/money.js';
import { startInProcessTransport, type Transport } from './support.js';

let transport: Transport;
let client: WalletClient;
beforeAll(async () => {
  transport = await startInProcessTransport();
  client = await transport.newTenant();
});
afterAll(() => transport.stop());

const decimal = (max: number, digits: number) =>
  fc.integer({ min: 0, max: max * 10 ** digits }).map((n) => {
    const whole = Math.trunc(n / 10 ** digits);
    const fraction = String(n % 10 ** digits).padStart(digits, '0');
    return digits === 0 ? String(n) : `${whole}.${fraction}`;
  });

const usageArb = fc.record({ api_calls: decimal(2_000_000, 0), storage_gb: decimal(500, 2) });
const couponArb: fc.Arbitrary<Coupon | undefined> = fc.option(
  fc.oneof(
    decimal(100, 1).map((percent): Coupon => ({ code: 'P', kind: 'percentage', percent })),
    fc.bigInt({ min: 0n, max: 200_000n }).map((amountCents): Coupon => ({ code: 'F', kind: 'fixed', amountCents })),
  ),
  { nil: undefined },
);
const walletArb = fc.record({
  grantedCredits: decimal(2_000, 2),
  priority: fc.integer({ min: 1, max: 3 }),
  scope: fc.constantFrom<'all' | 'api_calls' | 'storage_gb' | 'subscription'>('all', 'api_calls', 'storage_gb', 'subscription'),
});

let run = 0;

it('never leaves a negative total; total after = total - applied = total - sum of wallet amounts', async () => {
  await fc.assert(
    fc.asyncProperty(
      usageArb,
      couponArb,
      fc.constantFrom('0', '5.5', '8.875', '20'),
      fc.bigInt({ min: 0n, max: 5_000n }),
      fc.array(walletArb, { minLength: 0, maxLength: 3 }),
      async (usage, coupon, taxRatePercent, creditNoteCents, wallets) => {
        const customer = `cus_prop_${++run}`;
        await client.customers.upsert.mutate({ externalId: customer, currency: 'EUR' });
        const created = [];
        for (const w of wallets) {
          if (w.grantedCredits.replace(/[0.]/g, '') === '') continue; // a wallet of 0 credits is allowed but pays nothing
          created.push(
            await client.wallets.create.mutate({
              externalCustomerId: customer,
              rateAmount: '1',
              grantedCredits: w.grantedCredits,
              priority: w.priority,
              ...(w.scope === 'all'
                ? {}
                : { appliesTo: w.scope === 'subscription' ? { feeTypes: ['subscription' as const] } : { billableMetricCodes: [w.scope] } }),
            }),
          );
        }
        const before = new Map(created.map((w) => [w.id, BigInt(w.balanceCents)]));
        const invoice = computeInvoice({
          id: `inv_prop_${run}`,
          externalCustomerId: customer,
          currency: 'EUR',
          invoiceType: 'subscription',
          lines: planFees(PRO_PLAN, usage),
          coupon,
          taxRatePercent,
          creditNoteCents,
        });
        const result = await finalizeInvoice(client, invoice); // also checks preview = apply and the host's subtraction
        const applied = result.prepaidCreditAmountCents;
        const walletSum = sum(result.allocation.wallets.map((w) => centsFromWire(w.amountCents)));
        expect(result.totalAfterCreditsCents >= 0n).toBe(true);
        expect(result.totalAfterCreditsCents).toBe(invoice.totalAmountCents - applied);
        expect(walletSum).toBe(applied);
        const totalBalance = sum([...before.values()]);
        expect(applied <= totalBalance && applied <= invoice.totalAmountCents).toBe(true);
        // An unscoped wallet with enough credits would have covered everything.
        if (
          wallets.some((w) => w.scope === 'all') &&
          created.every((w) => w.appliesTo.feeTypes.length + w.appliesTo.billableMetricCodes.length === 0)
        ) {
          expect(applied).toBe(minBig(invoice.totalAmountCents, totalBalance));
        }
        const after = new Map((await client.wallets.list.query({ externalCustomerId: customer })).items.map((w) => [w.id, BigInt(w.balanceCents)]));
        for (const [walletId, balance] of before) {
          const paid = centsFromWire(result.allocation.wallets.find((w) => w.walletId === walletId)?.amountCents ?? 0);
          expect(after.get(walletId)).toBe(balance - paid);
          expect(paid <= balance).toBe(true);
        }
      },
    ),
    { numRuns: 20 },
  );
  expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
});
