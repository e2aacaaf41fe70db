/** The host against a real HTTP server of the plugin: the scenarios, then the runnable demo's month. */
import { auditLedger } from '@wallets/db/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runDemoMonth } from '../src/demo-month.js';
import { describeHostScenarios } from './host-scenarios.js';
import { startHttpTransport, type Transport } from './support.js';

describe('host over HTTP', () => describeHostScenarios(startHttpTransport));

describe('the demo month', () => {
  let transport: Transport;
  beforeAll(async () => {
    transport = await startHttpTransport();
  });
  afterAll(() => transport.stop());

  it('bills a month: top-ups paid (one after a declined card), a void, the usage invoice with credits last', async () => {
    const client = await transport.newTenant();
    const result = await runDemoMonth(client, { runId: 'test', now: () => transport.clock.now() });
    expect(result.topUps.map((t) => [t.amountCents, t.invoiceRequiresSuccessfulPayment, t.status, t.paymentStatus])).toEqual([
      [5000n, true, 'finalized', 'succeeded'],
      [3000n, false, 'finalized', 'succeeded'],
    ]);
    // The mistaken 18.00 came back, so the wallet held 20 + 50 + 30 = 100 credits for the 116.10 usage invoice.
    expect(result.voided.creditedBackCents).toBe(1800n);
    const usage = result.usageInvoice;
    expect([usage.totalAmountCents, usage.prepaidCreditAmountCents, usage.totalAfterCreditsCents]).toEqual([11_610n, 10_000n, 1610n]);
    // Granted lots go first: 2.00 left of the 20 granted, plus the 18.00 given back by the void; then the 80.00 bought.
    expect([usage.allocation.prepaidGrantedCreditAmountCents, usage.allocation.prepaidPurchasedCreditAmountCents]).toEqual([2000, 8000]);
    const wallet = await client.wallets.get.query({ id: result.walletId });
    expect([wallet.balanceCents, wallet.creditsBalance]).toEqual([0, '0']);
    expect(result.lines.join('\n')).toContain('to pay 16.10 EUR');
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
