import { auditLedger } from '@wallets/db/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WalletClient } from '../src/client/index.js';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
let client: WalletClient;

beforeAll(async () => {
  h = await startHarness();
  ({ client } = await h.newTenant());
});
afterAll(() => h.stop());

let asOfMinutes = 0;
const usage = (customer: string, amountCents: number) => {
  asOfMinutes += 1;
  h.clock.advance(60_000);
  return client.usage.sync.mutate({
    externalCustomerId: customer,
    currency: 'EUR',
    asOf: new Date(Date.UTC(2026, 0, 1, 0, asOfMinutes)),
    fees: [{ feeType: 'charge', billableMetricCode: 'api', amountCents }],
  });
};
const thresholdTransactions = async (walletId: string) =>
  (await client.walletTransactions.list.query({ walletId, limit: 100 })).items.filter((t) => t.source === 'threshold').reverse();

describe('threshold rules fire in the request that crosses the threshold', () => {
  it('fixed: one pending purchase, whole increments above the threshold, none while pending', async () => {
    await client.customers.upsert.mutate({ externalId: 't1', currency: 'EUR' });
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 't1',
      rateAmount: '1',
      grantedCredits: '10',
      invoiceRequiresSuccessfulPayment: false,
      recurringTransactionRules: [
        {
          trigger: 'threshold',
          method: 'fixed',
          thresholdCredits: '5',
          paidCredits: '4',
          invoiceRequiresSuccessfulPayment: true,
          transactionName: 'Auto top-up',
        },
      ],
    });
    await usage('t1', 600); // ongoing 4.00 <= 5: gap 1 < 4 -> buys 4
    let auto = await thresholdTransactions(wallet.id);
    expect(auto.map((t) => [t.transactionStatus, t.status, t.creditAmount, t.invoiceRequiresSuccessfulPayment, t.name])).toEqual([
      ['purchased', 'pending', '4', true, 'Auto top-up'],
    ]);
    await usage('t1', 900); // ongoing 1 + pending 4 = 5 <= 5, but a threshold purchase is pending: nothing
    expect(await thresholdTransactions(wallet.id)).toHaveLength(1);
    await client.walletTransactions.recordPayment.mutate({ id: auto[0]!.id, status: 'succeeded' });
    // Balance 14.00, usage 9.00 -> ongoing 5.00 <= 5 fires again at once; then usage 27.00 -> ongoing -13 (with 4 pending):
    auto = await thresholdTransactions(wallet.id);
    expect(auto).toHaveLength(2);
    await client.walletTransactions.recordPayment.mutate({ id: auto[1]!.id, status: 'succeeded' });
    const synced = await usage('t1', 3000); // balance 18, ongoing -12: gap 5 + 12 = 17 -> 4 x (floor(17/4) + 1) = 20
    expect(synced.wallets[0]!.ongoingBalanceCents).toBe(-1200);
    auto = await thresholdTransactions(wallet.id);
    expect(auto.map((t) => t.creditAmount)).toEqual(['4', '4', '20']);
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });

  it('backs off for an hour after a failed threshold purchase', async () => {
    h.clock.set('2026-02-01T00:00:00Z');
    await client.customers.upsert.mutate({ externalId: 't2', currency: 'EUR' });
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 't2',
      rateAmount: '1',
      grantedCredits: '10',
      recurringTransactionRules: [{ trigger: 'threshold', method: 'fixed', thresholdCredits: '5', paidCredits: '10' }],
    });
    await usage('t2', 800);
    const [first] = await thresholdTransactions(wallet.id);
    await client.walletTransactions.recordPayment.mutate({ id: first!.id, status: 'failed' });
    await usage('t2', 900);
    expect(await thresholdTransactions(wallet.id)).toHaveLength(1);
    h.clock.set('2026-02-01T01:00:01Z');
    await usage('t2', 950);
    expect((await thresholdTransactions(wallet.id)).map((t) => t.status)).toEqual(['failed', 'pending']);
  });

  it('target: grants the gap free with grantsTargetTopUp, or buys it raised to the wallet minimum', async () => {
    await client.customers.upsert.mutate({ externalId: 't3', currency: 'EUR' });
    const free = await client.wallets.create.mutate({
      externalCustomerId: 't3',
      rateAmount: '1',
      priority: 1,
      grantedCredits: '10',
      recurringTransactionRules: [
        { trigger: 'threshold', method: 'target', thresholdCredits: '2', targetOngoingBalance: '10', grantsTargetTopUp: true },
      ],
    });
    const { wallets } = await usage('t3', 950); // ongoing 0.50 -> grant 9.50 -> ongoing back to 10
    expect(wallets.find((w) => w.id === free.id)).toMatchObject({ balanceCents: 1950, ongoingBalanceCents: 1000 });
    await client.customers.upsert.mutate({ externalId: 't4', currency: 'EUR' });
    const paid = await client.wallets.create.mutate({
      externalCustomerId: 't4',
      rateAmount: '1',
      grantedCredits: '10',
      paidTopUpMinAmountCents: 500,
      recurringTransactionRules: [{ trigger: 'threshold', method: 'target', thresholdCredits: '2', targetOngoingBalance: '10' }],
    });
    await usage('t4', 900); // ongoing 1 -> gap 9 >= min 5 -> buys 9
    await client.walletTransactions.create.mutate({ walletId: paid.id, grantedCredits: '0.5' });
    const auto = await thresholdTransactions(paid.id);
    expect(auto.map((t) => [t.transactionStatus, t.status, t.creditAmount])).toEqual([['purchased', 'pending', '9']]);
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
