/**
 * One month of a customer, as the host bills it: a wallet with granted and paid credits, its top-up
 * invoice and payment, a second top-up whose first payment fails and is retried, the monthly usage
 * invoice with the prepaid credits applied last, and a mistaken invoice that is voided.
 */
import type { WalletClient } from '@wallets/api/client';
import { computeInvoice, type FinalizedInvoice, finalizeInvoice, type Plan, planFees, type VoidResult, voidInvoice } from './invoice-pipeline.js';
import { centsFromWire, formatCents } from './money.js';
import { type CreditInvoice, scriptedProvider, TopUpDesk } from './top-ups.js';

export const PRO_PLAN: Plan = {
  code: 'pro',
  currency: 'EUR',
  amountCents: 4900n,
  charges: [
    { billableMetricCode: 'api_calls', unitPriceCents: '0.05' },
    { billableMetricCode: 'storage_gb', unitPriceCents: '25' },
  ],
};

export interface DemoResult {
  externalCustomerId: string;
  walletId: string;
  topUps: CreditInvoice[];
  usageInvoice: FinalizedInvoice;
  voided: VoidResult;
  lines: string[];
}

export async function runDemoMonth(client: WalletClient, options: { runId: string; now?: () => Date }): Promise<DemoResult> {
  const customer = `cus_demo_${options.runId}`;
  const provider = scriptedProvider('succeeded', 'failed', 'succeeded');
  const desk = new TopUpDesk(client, provider, options.now);

  await client.customers.upsert.mutate({ externalId: customer, currency: 'EUR', timezone: 'Europe/Paris' });
  // 20 free credits (settled at once) and 50 bought (pending until paid); one credit = 1.00 EUR.
  const wallet = await client.wallets.create.mutate({
    externalCustomerId: customer,
    name: 'Prepaid credits',
    rateAmount: '1',
    grantedCredits: '20',
    paidCredits: '50',
    invoiceRequiresSuccessfulPayment: true,
    idempotencyKey: `demo-wallet-${options.runId}`,
  });
  const topUps = await desk.processTopUps(wallet.id); // paid first time: the invoice is issued after payment
  // A mid-month top-up invoiced at once; the card is declined, the retry goes through.
  await client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '30', invoiceRequiresSuccessfulPayment: false });
  topUps.push(...(await desk.processTopUps(wallet.id)));
  await desk.collectPendingPayments();

  // Mid-month, a pay-in-advance invoice sent by mistake: credits applied, then the invoice is voided and they come back.
  const mistake = await finalizeInvoice(
    client,
    computeInvoice({
      id: `inv_${options.runId}_mistake`,
      externalCustomerId: customer,
      currency: 'EUR',
      invoiceType: 'pay_in_advance',
      lines: [{ key: 'seats', feeType: 'charge', billableMetricCode: 'seats', description: '3 seats', amountCents: 1500n }],
      taxRatePercent: '20',
    }),
  );
  const voided = await voidInvoice(client, mistake.id);

  // Month end: 49.00 plan + 120,000 API calls at 0.05 cents + 12.5 GB at 0.25 EUR, 10% off, 20% VAT, a 5.00 credit note.
  const usage = computeInvoice({
    id: `inv_${options.runId}_usage`,
    externalCustomerId: customer,
    currency: 'EUR',
    invoiceType: 'subscription',
    lines: planFees(PRO_PLAN, { api_calls: '120000', storage_gb: '12.5' }),
    coupon: { code: 'WELCOME10', kind: 'percentage', percent: '10' },
    taxRatePercent: '20',
    creditNoteCents: 500n,
  });
  const usageInvoice = await finalizeInvoice(client, usage);

  const after = await client.wallets.get.query({ id: wallet.id });
  const ledger = await client.walletTransactions.list.query({ walletId: wallet.id, limit: 100 });
  const money = (cents: bigint | number) => formatCents(typeof cents === 'number' ? centsFromWire(cents) : cents, 'EUR');
  const lines = [
    `Customer ${customer}, wallet ${wallet.id}`,
    ...topUps.map(
      (t) =>
        `Top-up invoice ${t.id}: ${money(t.amountCents)} for ${t.creditAmount} credits, ${t.invoiceRequiresSuccessfulPayment ? 'issued after payment' : 'issued at once'}, payment ${t.paymentStatus} after ${provider.attempts.filter((a) => a.invoiceId === t.id).length} attempt(s)`,
    ),
    `Usage invoice ${usageInvoice.id}: fees ${money(usageInvoice.feesAmountCents)}, coupon -${money(usageInvoice.couponsAmountCents)}, taxes ${money(usageInvoice.taxesAmountCents)}, credit note -${money(usageInvoice.creditNotesAmountCents)}, total ${money(usageInvoice.totalAmountCents)}, prepaid credits -${money(usageInvoice.prepaidCreditAmountCents)}, to pay ${money(usageInvoice.totalAfterCreditsCents)}`,
    `Voided ${mistake.id}: ${money(mistake.prepaidCreditAmountCents)} of credits applied, ${money(voided.creditedBackCents)} given back`,
    `Wallet balance: ${after.creditsBalance} credits = ${money(after.balanceCents)} (consumed ${after.consumedCredits} credits)`,
    'Ledger (oldest first):',
    ...ledger.items
      .slice()
      .reverse()
      .map(
        (t) =>
          `  ${t.transactionType.padEnd(8)} ${t.transactionStatus.padEnd(9)} ${t.status.padEnd(8)} ${t.source.padEnd(12)} ${money(t.amountCents).padStart(12)}`,
      ),
  ];
  return { externalCustomerId: customer, walletId: wallet.id, topUps, usageInvoice, voided, lines };
}
