/**
 * The host's scenarios against a real plugin, run once over HTTP and once in-process (the same
 * assertions prove the two transports behave the same).
 */
import type { WalletClient } from '@wallets/api';
import { isWalletError } from '@wallets/api/client';
import { auditLedger } from '@wallets/db/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PRO_PLAN } from '../src/demo-month.js';
import {
  computeInvoice,
  type FeeLine,
  finalizeInvoice,
  type InvoiceDraft,
  resumeFinalizeInvoice,
  toWireInvoice,
  voidInvoice,
} from '../src/invoice-pipeline.js';
import { divRoundHalfUp, minBig, PRECISE_SCALE } from '../src/money.js';
import { scriptedProvider, TopUpDesk } from '../src/top-ups.js';
import { type Transport, walletErrorCodeOf } from './support.js';

const charge = (metric: string, amountCents: bigint): FeeLine => ({
  key: metric,
  feeType: 'charge',
  billableMetricCode: metric,
  description: metric,
  amountCents,
});
const subscription = (amountCents: bigint): FeeLine => ({
  key: 'subscription',
  feeType: 'subscription',
  billableMetricCode: null,
  description: 'plan',
  amountCents,
});

export function describeHostScenarios(start: () => Promise<Transport>) {
  let transport: Transport;
  let client: WalletClient;
  let customers = 0;

  beforeAll(async () => {
    transport = await start();
    client = await transport.newTenant();
  });
  afterAll(() => transport.stop());

  /** A fresh EUR customer of the host. */
  async function newCustomer(): Promise<string> {
    const id = `cus_${transport.name}_${++customers}`;
    await client.customers.upsert.mutate({ externalId: id, currency: 'EUR' });
    return id;
  }
  const draft = (customer: string, id: string, lines: FeeLine[], extra: Partial<InvoiceDraft> = {}): InvoiceDraft => ({
    id: `${transport.name}_${id}`,
    externalCustomerId: customer,
    currency: 'EUR',
    invoiceType: 'subscription',
    lines,
    taxRatePercent: '20',
    ...extra,
  });
  const balanceOf = async (walletId: string) => (await client.wallets.get.query({ id: walletId })).balanceCents;

  describe('invoices with prepaid credits', () => {
    it('passes coupon, sub-cent taxes and credit notes through exactly: the plugin takes the rounded total', async () => {
      const customer = await newCustomer();
      const wallet = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', grantedCredits: '1000' });
      const invoice = computeInvoice(
        draft(customer, 'exact', [subscription(4900n), charge('api_calls', 61_728n), charge('storage_gb', 83n)], {
          coupon: { code: 'C12', kind: 'percentage', percent: '12.5' },
          taxRatePercent: '8.875',
          creditNoteCents: 1234n,
        }),
      );
      expect(toWireInvoice(invoice).fees.some((f) => String(f.taxesAmountCents).includes('.'))).toBe(true);
      const result = await finalizeInvoice(client, invoice);
      expect(result.prepaidCreditAmountCents).toBe(invoice.totalAmountCents);
      expect([result.totalAfterCreditsCents, result.paymentStatus]).toEqual([0n, 'succeeded']);
      expect(await balanceOf(wallet.id)).toBe(100_000 - Number(invoice.totalAmountCents));
    });

    it('lets a wallet scoped to one metric pay only that fee, to the sub-cent cap rounded half up', async () => {
      const customer = await newCustomer();
      const api = await client.wallets.create.mutate({
        externalCustomerId: customer,
        rateAmount: '1',
        grantedCredits: '500',
        appliesTo: { billableMetricCodes: ['api_calls'] },
      });
      // api_calls 7.00 + 8.875% = 7.62125 -> 7.62; the subscription fee is not the wallet's to pay.
      const invoice = computeInvoice(draft(customer, 'scoped', [subscription(4900n), charge('api_calls', 700n)], { taxRatePercent: '8.875' }));
      const apiFee = invoice.fees.find((f) => f.billableMetricCode === 'api_calls')!;
      const cap = divRoundHalfUp(apiFee.amountCents * PRECISE_SCALE + apiFee.taxesPreciseCents, PRECISE_SCALE);
      expect(cap).toBe(762n);
      const result = await finalizeInvoice(client, invoice);
      expect(result.prepaidCreditAmountCents).toBe(762n);
      expect(result.totalAfterCreditsCents).toBe(invoice.totalAmountCents - 762n);
      expect(result.allocation.wallets.map((w) => [w.walletId, w.amountCents, w.creditAmount])).toEqual([[api.id, 762, '7.62']]);
    });

    it('uses two wallets by priority, and an invoice larger than the balances leaves the rest to pay', async () => {
      const customer = await newCustomer();
      const second = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', priority: 2, grantedCredits: '8' });
      const first = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', priority: 1, grantedCredits: '10' });
      // 49.00 + 20% = 58.80 against 10.00 + 8.00 of credits.
      const result = await finalizeInvoice(client, computeInvoice(draft(customer, 'larger', [subscription(4900n)])));
      expect(result.totalAmountCents).toBe(5880n);
      expect(result.allocation.wallets.map((w) => [w.walletId, w.amountCents])).toEqual([
        [first.id, 1000],
        [second.id, 800],
      ]);
      expect([result.prepaidCreditAmountCents, result.totalAfterCreditsCents, result.paymentStatus]).toEqual([1800n, 4080n, 'pending']);
      expect([await balanceOf(first.id), await balanceOf(second.id)]).toEqual([0, 0]);
    });

    it('an invoice smaller than the balance is paid in full by the first wallet', async () => {
      const customer = await newCustomer();
      const first = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', priority: 1, grantedCredits: '100' });
      const second = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', priority: 2, grantedCredits: '100' });
      const result = await finalizeInvoice(
        client,
        computeInvoice(draft(customer, 'smaller', [charge('api_calls', 2500n)], { coupon: { code: 'F5', kind: 'fixed', amountCents: 500n } })),
      );
      // (25.00 - 5.00) + 20% = 24.00
      expect([result.totalAmountCents, result.prepaidCreditAmountCents, result.totalAfterCreditsCents]).toEqual([2400n, 2400n, 0n]);
      expect(result.allocation.wallets.map((w) => w.walletId)).toEqual([first.id]);
      expect([await balanceOf(first.id), await balanceOf(second.id)]).toEqual([7600, 10_000]);
    });

    it('gives a one-off invoice nothing', async () => {
      const customer = await newCustomer();
      const wallet = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', grantedCredits: '100' });
      const oneOff = computeInvoice(
        draft(customer, 'one_off', [{ key: 'setup', feeType: 'add_on', billableMetricCode: null, description: 'Setup', amountCents: 3000n }], {
          invoiceType: 'one_off',
        }),
      );
      const result = await finalizeInvoice(client, oneOff);
      expect([result.totalAmountCents, result.prepaidCreditAmountCents, result.totalAfterCreditsCents]).toEqual([3600n, 0n, 3600n]);
      expect(result.allocation.wallets).toEqual([]);
      expect(await balanceOf(wallet.id)).toBe(10_000);
    });

    it('keeps the totals straight across preview, apply, a replay and a void', async () => {
      const customer = await newCustomer();
      const wallet = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1.5', grantedCredits: '40' }); // 60.00
      const invoice = computeInvoice(draft(customer, 'void', planFees3(), { coupon: { code: 'C', kind: 'percentage', percent: '15' } }));
      const preview = await client.invoices.previewPrepaidCredits.mutate({ invoice: toWireInvoice(invoice) });
      expect(await balanceOf(wallet.id)).toBe(6000); // a preview spends nothing
      const result = await finalizeInvoice(client, invoice);
      expect(result.prepaidCreditAmountCents).toBe(BigInt(preview.prepaidCreditAmountCents));
      expect(result.prepaidCreditAmountCents).toBe(minBig(invoice.totalAmountCents, 6000n));
      expect(BigInt(await balanceOf(wallet.id))).toBe(6000n - result.prepaidCreditAmountCents);
      // A retry of the finalization gets the first allocation back; nothing more is spent.
      expect((await resumeFinalizeInvoice(client, invoice)).allocation).toEqual(result.allocation);
      // A preview of an applied invoice answers what an apply would: the first allocation.
      const { wallets: previewWallets, ...previewTotals } = await client.invoices.previewPrepaidCredits.mutate({ invoice: toWireInvoice(invoice) });
      const { wallets: appliedWallets, ...appliedTotals } = result.allocation;
      expect([previewTotals, previewWallets.map((w) => [w.walletId, w.amountCents])]).toEqual([
        appliedTotals,
        appliedWallets.map((w) => [w.walletId, w.amountCents]),
      ]);
      expect(BigInt(await balanceOf(wallet.id))).toBe(6000n - result.prepaidCreditAmountCents);
      const voided = await voidInvoice(client, invoice.id);
      expect(voided.creditedBackCents).toBe(result.prepaidCreditAmountCents);
      expect(voided.transactions.map((t) => [t.walletId, t.transactionStatus, t.source])).toEqual([[wallet.id, 'granted', 'invoice_void']]);
      expect(await balanceOf(wallet.id)).toBe(6000);
      expect((await voidInvoice(client, invoice.id)).creditedBackCents).toBe(0n);
      expect(await walletErrorCodeOf(finalizeInvoice(client, invoice))).toBe('INVOICE_VOIDED');
      expect(await walletErrorCodeOf(resumeFinalizeInvoice(client, invoice))).toBe('INVOICE_VOIDED');
      const refused: unknown = await finalizeInvoice(client, invoice).catch((error: unknown) => error);
      if (!isWalletError(refused, 'INVOICE_VOIDED')) throw new Error(`expected INVOICE_VOIDED, got ${String(refused)}`);
      expect([refused.data.code, refused.data.details]).toEqual(['CONFLICT', { invoiceId: invoice.id }]);
    });
  });

  describe('paid top-ups', () => {
    it('issues the top-up invoice at once or only after payment, as each transaction says', async () => {
      const customer = await newCustomer();
      const desk = new TopUpDesk(client, scriptedProvider(), () => transport.clock.now());
      const gated = await client.wallets.create.mutate({
        externalCustomerId: customer,
        rateAmount: '1',
        paidCredits: '50',
        invoiceRequiresSuccessfulPayment: true,
      });
      const open = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '2', paidCredits: '15', priority: 2 });
      const [gatedInvoice] = await desk.issueTopUpInvoices(gated.id);
      const [openInvoice] = await desk.issueTopUpInvoices(open.id);
      expect([gatedInvoice!.status, gatedInvoice!.issuedAt, gatedInvoice!.amountCents]).toEqual(['open', null, 5000n]);
      expect([openInvoice!.status, openInvoice!.issuedAt, openInvoice!.amountCents]).toEqual(['finalized', transport.clock.now(), 3000n]);
      expect(await desk.issueTopUpInvoices(gated.id)).toEqual([]); // invoiced once
      expect([await balanceOf(gated.id), await balanceOf(open.id)]).toEqual([0, 0]); // nothing before payment

      transport.clock.set('2026-03-02T09:00:00Z');
      await desk.collectPendingPayments();
      expect([gatedInvoice!.status, gatedInvoice!.issuedAt, gatedInvoice!.paymentStatus]).toEqual(['finalized', transport.clock.now(), 'succeeded']);
      expect(openInvoice!.issuedAt).toEqual(new Date('2026-03-01T09:00:00Z'));
      expect([await balanceOf(gated.id), await balanceOf(open.id)]).toEqual([5000, 3000]);
      const tx = await client.walletTransactions.get.query({ id: gatedInvoice!.walletTransactionId });
      expect([tx.status, tx.invoiceId]).toEqual(['settled', gatedInvoice!.id]);

      // A transaction may override its wallet: this one is invoiced at once although the wallet gates.
      await client.walletTransactions.create.mutate({ walletId: gated.id, paidCredits: '5', invoiceRequiresSuccessfulPayment: false });
      const [override] = await desk.issueTopUpInvoices(gated.id);
      expect([override!.invoiceRequiresSuccessfulPayment, override!.status]).toEqual([false, 'finalized']);
      transport.clock.set('2026-03-01T09:00:00Z');
    });

    it('a failed payment leaves the balance alone; the retry settles it', async () => {
      const customer = await newCustomer();
      const provider = scriptedProvider('failed', 'succeeded');
      const desk = new TopUpDesk(client, provider, () => transport.clock.now());
      const wallet = await client.wallets.create.mutate({
        externalCustomerId: customer,
        rateAmount: '1',
        grantedCredits: '5',
        paidCredits: '20',
        invoiceRequiresSuccessfulPayment: true,
      });
      const [invoice] = await desk.processTopUps(wallet.id);
      expect([invoice!.paymentStatus, invoice!.status, invoice!.transaction.status]).toEqual(['failed', 'open', 'failed']);
      expect(await balanceOf(wallet.id)).toBe(500);
      expect(await desk.issueTopUpInvoices(wallet.id)).toEqual([]); // a failed purchase is not invoiced twice

      const [retried] = await desk.collectPendingPayments();
      expect([retried!.paymentStatus, retried!.status, retried!.transaction.status]).toEqual(['succeeded', 'finalized', 'settled']);
      expect(await balanceOf(wallet.id)).toBe(2500);
      expect(provider.attempts.map((a) => [a.invoiceId, a.attempt, a.outcome, a.amountCents])).toEqual([
        [invoice!.id, 1, 'failed', 2000n],
        [invoice!.id, 2, 'succeeded', 2000n],
      ]);
      // Nothing left to collect; a repeated report changes nothing.
      expect(await desk.collectPendingPayments()).toEqual([]);
      const again = await client.walletTransactions.recordPayment.mutate({
        id: invoice!.walletTransactionId,
        status: 'succeeded',
        invoiceId: invoice!.id,
      });
      expect(again.status).toBe('settled');
      expect(await balanceOf(wallet.id)).toBe(2500);
      // The paid credits then pay an invoice (granted credits first).
      const result = await finalizeInvoice(client, computeInvoice(draft(customer, 'after_top_up', [subscription(1500n)])));
      expect([
        result.prepaidCreditAmountCents,
        result.allocation.prepaidGrantedCreditAmountCents,
        result.allocation.prepaidPurchasedCreditAmountCents,
      ]).toEqual([1800n, 500, 1300]);
    });
  });

  it('leaves every ledger balanced', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });

  function planFees3(): FeeLine[] {
    return [subscription(PRO_PLAN.amountCents), charge('api_calls', 1234n), charge('storage_gb', 77n)];
  }
}
