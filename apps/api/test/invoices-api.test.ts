import { auditLedger } from '@wallets/db/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WalletClient } from '../src/client/index.js';
import { errorOf, type Harness, startHarness } from './harness.js';

let h: Harness;
let client: WalletClient;

beforeAll(async () => {
  h = await startHarness();
  ({ client } = await h.newTenant());
});
afterAll(() => h.stop());

const invoice = (
  id: string,
  customer: string,
  fees: { feeType: 'subscription' | 'charge'; metric?: string; amountCents: number; taxes?: number | string }[],
  invoiceType: 'subscription' | 'one_off' = 'subscription',
) => {
  const total = fees.reduce((s, f) => s + f.amountCents + Math.round(Number(f.taxes ?? 0)), 0);
  return {
    id,
    externalCustomerId: customer,
    currency: 'EUR',
    invoiceType,
    totalAmountCents: total,
    fees: fees.map((f, i) => ({
      id: `${id}-f${i}`,
      feeType: f.feeType,
      billableMetricCode: f.metric,
      amountCents: f.amountCents,
      taxesAmountCents: f.taxes,
    })),
  };
};

describe('invoices hook', () => {
  it('applies wallets in priority order, splits granted and purchased, is idempotent per invoice, and voids once', async () => {
    await client.customers.upsert.mutate({ externalId: 'inv_c1', currency: 'EUR' });
    const first = await client.wallets.create.mutate({
      externalCustomerId: 'inv_c1',
      rateAmount: '1',
      priority: 1,
      grantedCredits: '3',
      paidCredits: '10',
    });
    const [purchase] = (await client.walletTransactions.list.query({ walletId: first.id, status: 'pending' })).items;
    await client.walletTransactions.recordPayment.mutate({ id: purchase!.id, status: 'succeeded' });
    const second = await client.wallets.create.mutate({ externalCustomerId: 'inv_c1', rateAmount: '1', priority: 2, grantedCredits: '100' });
    // Invoice of 15.00 + 3.00 tax = 18.00. Wallet 1 holds 13.00 (3 granted first, then 10 purchased), wallet 2 pays 5.00.
    const inv = invoice('inv_1', 'inv_c1', [{ feeType: 'subscription', amountCents: 1500, taxes: 300 }]);
    const preview = await client.invoices.previewPrepaidCredits.mutate({ invoice: inv });
    const applied = await client.invoices.applyPrepaidCredits.mutate({ invoice: inv });
    expect(applied.prepaidCreditAmountCents).toBe(1800);
    expect(applied.totalAfterCreditsCents).toBe(0);
    expect(applied.prepaidGrantedCreditAmountCents).toBe(300 + 500);
    expect(applied.prepaidPurchasedCreditAmountCents).toBe(1000);
    expect(applied.wallets.map((w) => [w.walletId, w.amountCents, w.creditAmount])).toEqual([
      [first.id, 1300, '13'],
      [second.id, 500, '5'],
    ]);
    const { transactionId: _t1, ...w1 } = applied.wallets[0]!;
    expect(preview.wallets[0]).toEqual(w1);
    expect(preview.prepaidCreditAmountCents).toBe(applied.prepaidCreditAmountCents);
    // Repeat: same answer, nothing more spent.
    expect(await client.invoices.applyPrepaidCredits.mutate({ invoice: inv })).toEqual(applied);
    expect((await client.wallets.get.query({ id: second.id })).balanceCents).toBe(9500);
    const changed = await errorOf(client.invoices.applyPrepaidCredits.mutate({ invoice: { ...inv, totalAmountCents: 1700 } }));
    expect([changed.code, changed.walletErrorCode]).toEqual(['CONFLICT', 'INVOICE_ALREADY_APPLIED']);
    // Void gives each kind back as itself, once: wallet 1's 10.00 purchased as purchased, then its 3.00 granted, then wallet 2's 5.00.
    const voided = await client.invoices.void.mutate({ invoiceId: 'inv_1' });
    expect(
      voided.transactions.map((t) => [t.walletId, t.amountCents, t.transactionStatus, t.status, t.source, t.voidedInvoiceId, t.remainingAmountCents]),
    ).toEqual([
      [first.id, 1000, 'purchased', 'settled', 'invoice_void', 'inv_1', 1000],
      [first.id, 300, 'granted', 'settled', 'invoice_void', 'inv_1', 300],
      [second.id, 500, 'granted', 'settled', 'invoice_void', 'inv_1', 500],
    ]);
    // The purchased credits given back were paid for already: no payment report applies to them.
    const report = await errorOf(client.walletTransactions.recordPayment.mutate({ id: voided.transactions[0]!.id, status: 'failed' }));
    expect(report.walletErrorCode).toBe('TRANSACTION_NOT_PAYABLE');
    expect((await client.invoices.void.mutate({ invoiceId: 'inv_1' })).transactions).toEqual([]);
    expect((await client.wallets.get.query({ id: first.id })).balanceCents).toBe(1300);
    const again = await errorOf(client.invoices.applyPrepaidCredits.mutate({ invoice: inv }));
    expect(again.walletErrorCode).toBe('INVOICE_VOIDED');
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });

  it('gives zero to one-off invoices, unknown customers and other currencies', async () => {
    await client.customers.upsert.mutate({ externalId: 'inv_c2', currency: 'EUR' });
    await client.wallets.create.mutate({ externalCustomerId: 'inv_c2', rateAmount: '1', grantedCredits: '50' });
    const oneOff = await client.invoices.applyPrepaidCredits.mutate({
      invoice: invoice('inv_oo', 'inv_c2', [{ feeType: 'subscription', amountCents: 1000 }], 'one_off'),
    });
    expect(oneOff.prepaidCreditAmountCents).toBe(0);
    const unknown = await client.invoices.applyPrepaidCredits.mutate({
      invoice: invoice('inv_unknown', 'nobody', [{ feeType: 'subscription', amountCents: 1000 }]),
    });
    expect([unknown.prepaidCreditAmountCents, unknown.totalAfterCreditsCents]).toEqual([0, 1000]);
    const usd = await client.invoices.applyPrepaidCredits.mutate({
      invoice: { ...invoice('inv_usd', 'inv_c2', [{ feeType: 'subscription', amountCents: 1000 }]), currency: 'USD' },
    });
    expect(usd.prepaidCreditAmountCents).toBe(0);
  });

  it('parallel applies for one customer all succeed and never overspend', async () => {
    await client.customers.upsert.mutate({ externalId: 'inv_c3', currency: 'EUR' });
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'inv_c3', rateAmount: '1', grantedCredits: '100' });
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        client.invoices.applyPrepaidCredits.mutate({
          invoice: invoice(`inv_par_${i}`, 'inv_c3', [{ feeType: 'charge', metric: 'api', amountCents: 700, taxes: '33.333' }]),
        }),
      ),
    );
    const spent = results.reduce((s, r) => s + r.prepaidCreditAmountCents, 0);
    const after = await client.wallets.get.query({ id: wallet.id });
    expect(spent).toBe(10_000 - after.balanceCents);
    expect(after.balanceCents).toBeGreaterThanOrEqual(0);
    expect(results.filter((r) => r.prepaidCreditAmountCents === 733)).toHaveLength(13); // 13 x 7.33 = 95.29, then 4.71, then 0
    expect(spent).toBe(10_000);
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
