import { auditLedger } from '@wallets/db/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WalletClient } from '../src/client/index.js';
import { errorOf, type Harness, listAllEvents, startHarness } from './harness.js';

let h: Harness;
let client: WalletClient;

beforeAll(async () => {
  h = await startHarness();
  ({ client } = await h.newTenant());
});
afterAll(() => h.stop());

const fee = (metric: string | null, amountCents: number, taxesAmountCents: number | string = 0) => ({
  feeType: 'charge' as const,
  billableMetricCode: metric,
  amountCents,
  taxesAmountCents,
});

async function depletedCount(walletId: string): Promise<number> {
  return (await listAllEvents(client)).filter((e) => e.type === 'wallet.depleted_ongoing_balance' && e.data.id === walletId).length;
}

describe('usage.sync and ongoing balances', () => {
  it('allocates usage by priority and scope; the last wallet absorbs the overflow', async () => {
    await client.customers.upsert.mutate({ externalId: 'u1', currency: 'EUR' });
    const w1 = await client.wallets.create.mutate({ externalCustomerId: 'u1', rateAmount: '1', priority: 1, grantedCredits: '20' });
    const w2 = await client.wallets.create.mutate({ externalCustomerId: 'u1', rateAmount: '0.5', priority: 2, grantedCredits: '200' });
    const storageOnly = await client.wallets.create.mutate({
      externalCustomerId: 'u1',
      rateAmount: '1',
      priority: 1,
      grantedCredits: '50',
      appliesTo: { billableMetricCodes: ['storage'] },
    });
    // Usage: api 40.00 + 8.00 tax = 48.00; w1 (20.00) is first, w2 takes the other 28.00. storage-only takes nothing.
    const { wallets } = await client.usage.sync.mutate({ externalCustomerId: 'u1', currency: 'EUR', fees: [fee('api', 4000, 800)] });
    const byId = new Map(wallets.map((w) => [w.id, w]));
    expect(byId.get(w1.id)).toMatchObject({ ongoingUsageBalanceCents: 2000, ongoingBalanceCents: 0, creditsOngoingBalance: '0' });
    expect(byId.get(w2.id)).toMatchObject({
      ongoingUsageBalanceCents: 2800,
      ongoingBalanceCents: 7200,
      creditsOngoingUsageBalance: '56',
      creditsOngoingBalance: '144',
    });
    expect(byId.get(storageOnly.id)).toMatchObject({ ongoingUsageBalanceCents: 0, ongoingBalanceCents: 5000 });
    expect(await depletedCount(w1.id)).toBe(1);
    // 200.00 of usage: w1 20.00, w2 its 100.00 and, as the last candidate, the 80.00 overflow (ongoing -80.00).
    const big = await client.usage.sync.mutate({
      externalCustomerId: 'u1',
      currency: 'EUR',
      asOf: new Date('2026-01-15T11:00:00Z'),
      fees: [fee('api', 20_000)],
    });
    expect(big.wallets.find((w) => w.id === w2.id)).toMatchObject({ ongoingUsageBalanceCents: 18_000, ongoingBalanceCents: -8000 });
    // An older snapshot is ignored.
    const stale = await client.usage.sync.mutate({ externalCustomerId: 'u1', currency: 'EUR', asOf: new Date('2026-01-15T10:30:00Z'), fees: [] });
    expect(stale.wallets.find((w) => w.id === w2.id)!.ongoingBalanceCents).toBe(-8000);
    // A balance change recomputes at once from the stored snapshot: a grant of 100 credits (50.00) on w2.
    await client.walletTransactions.create.mutate({ walletId: w2.id, grantedCredits: '100' });
    expect((await client.wallets.get.query({ id: w2.id })).ongoingBalanceCents).toBe(-3000);
    // Still depleted: no second event in a row.
    expect(await depletedCount(w2.id)).toBe(1);
    expect(await depletedCount(w1.id)).toBe(1);
  });

  it('subtracts billed fees, adds drafts, and drops a draft once its invoice is applied', async () => {
    await client.customers.upsert.mutate({ externalId: 'u2', currency: 'EUR' });
    const w = await client.wallets.create.mutate({ externalCustomerId: 'u2', rateAmount: '1', grantedCredits: '100' });
    const draftFees = [
      { feeType: 'subscription' as const, billableMetricCode: null, amountCents: 1000, couponsAmountCents: 200, taxesAmountCents: '160.5' },
    ];
    await client.usage.sync.mutate({
      externalCustomerId: 'u2',
      currency: 'EUR',
      fees: [fee('api', 3000, 600)],
      billedFees: [fee('api', 1000, 200)],
      draftInvoices: [{ id: 'draft_1', fees: draftFees }],
    });
    // api: 36.00 - 12.00 billed = 24.00; draft: 10.00 - 2.00 + 1.605 = 9.605; total 33.605 -> 33.61 (half up).
    expect((await client.wallets.get.query({ id: w.id })).ongoingUsageBalanceCents).toBe(3361);
    const applied = await client.invoices.applyPrepaidCredits.mutate({
      invoice: {
        id: 'draft_1',
        externalCustomerId: 'u2',
        currency: 'EUR',
        invoiceType: 'subscription',
        totalAmountCents: 961,
        fees: [{ id: 'f1', ...draftFees[0]!, feeType: 'subscription' }],
      },
    });
    expect(applied.prepaidCreditAmountCents).toBe(961);
    const after = await client.wallets.get.query({ id: w.id });
    // The draft left the snapshot, the balance paid it: usage 24.00, balance 100.00 - 9.61 = 90.39.
    expect([after.balanceCents, after.ongoingUsageBalanceCents, after.ongoingBalanceCents]).toEqual([9039, 2400, 6639]);
  });

  it('takes a usage snapshot with the invoice in the same transaction', async () => {
    await client.customers.upsert.mutate({ externalId: 'u3', currency: 'EUR' });
    const w = await client.wallets.create.mutate({ externalCustomerId: 'u3', rateAmount: '1', grantedCredits: '100' });
    await client.usage.sync.mutate({ externalCustomerId: 'u3', currency: 'EUR', fees: [fee('api', 5000)] });
    const usage = { externalCustomerId: 'u3', currency: 'EUR', asOf: new Date('2026-01-15T12:00:00Z'), fees: [fee('api', 500)] };
    await client.invoices.applyPrepaidCredits.mutate({
      invoice: {
        id: 'inv_u3',
        externalCustomerId: 'u3',
        currency: 'EUR',
        invoiceType: 'progressive_billing',
        totalAmountCents: 5000,
        fees: [{ id: 'f', ...fee('api', 5000), taxesAmountCents: 0 }],
      },
      usage,
    });
    const after = await client.wallets.get.query({ id: w.id });
    expect([after.balanceCents, after.ongoingUsageBalanceCents, after.ongoingBalanceCents]).toEqual([5000, 500, 4500]);
    const mismatch = await errorOf(
      client.invoices.applyPrepaidCredits.mutate({
        invoice: { id: 'inv_u3b', externalCustomerId: 'u3', currency: 'EUR', invoiceType: 'subscription', totalAmountCents: 10, fees: [] },
        usage: { ...usage, externalCustomerId: 'someone-else' },
      }),
    );
    expect(mismatch.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });

  it('a wallet with an active threshold rule absorbs its keys', async () => {
    await client.customers.upsert.mutate({ externalId: 'u4', currency: 'EUR' });
    const ruled = await client.wallets.create.mutate({
      externalCustomerId: 'u4',
      rateAmount: '1',
      priority: 1,
      grantedCredits: '10',
      recurringTransactionRules: [{ trigger: 'threshold', thresholdCredits: '5', method: 'fixed', paidCredits: '10' }],
    });
    const other = await client.wallets.create.mutate({ externalCustomerId: 'u4', rateAmount: '1', priority: 2, grantedCredits: '100' });
    const { wallets } = await client.usage.sync.mutate({ externalCustomerId: 'u4', currency: 'EUR', fees: [fee('api', 3000)] });
    expect(wallets.find((w) => w.id === ruled.id)!.ongoingBalanceCents).toBe(-2000);
    expect(wallets.find((w) => w.id === other.id)!.ongoingUsageBalanceCents).toBe(0);
    const unknown = await errorOf(client.usage.sync.mutate({ externalCustomerId: 'nobody', currency: 'EUR', fees: [] }));
    expect(unknown.walletErrorCode).toBe('CUSTOMER_NOT_FOUND');
  });
});
