import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());

describe('smoke', () => {
  it('creates a wallet with granted and paid credits over HTTP', async () => {
    const { client } = await h.newTenant();
    await client.customers.upsert.mutate({ externalId: 'cus_1' });
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      currency: 'EUR',
      grantedCredits: '10',
      paidCredits: '5',
    });
    expect(wallet.balanceCents).toBe(1000);
    expect(wallet.creditsBalance).toBe('10');
    const list = await client.walletTransactions.list.query({ walletId: wallet.id });
    expect(list.items.map((t) => [t.transactionStatus, t.status]).sort()).toEqual([
      ['granted', 'settled'],
      ['purchased', 'pending'],
    ]);
    const bad = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: 1 as never, grantedCredits: 10 as never }));
    expect(bad.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(bad.issues?.map((i) => i.path.join('.')).sort()).toEqual(['grantedCredits', 'rateAmount']);
    const events = await client.events.list.query({});
    expect(events.items.map((e) => e.type)).toEqual(['wallet_transaction.created', 'wallet_transaction.created', 'wallet.created']);
  });
});
