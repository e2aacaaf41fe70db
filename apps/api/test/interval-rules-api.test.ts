import { auditLedger } from '@wallets/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WalletClient } from '../src/client/index.js';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
let client: WalletClient;

beforeAll(async () => {
  h = await startHarness({ ownDatabase: true });
  ({ client } = await h.newTenant());
});
afterAll(() => h.stop());

const run = (asOf: string) => h.admin.admin.runScheduledJobs.mutate({ asOf: new Date(asOf) });
const intervalTopUps = async (walletId: string) =>
  (await client.walletTransactions.list.query({ walletId, limit: 100 })).items
    .filter((t) => t.source === 'interval')
    .map((t) => [t.transactionStatus, t.creditAmount]);

describe('interval rules and rule expiry through admin.runScheduledJobs', () => {
  it('fires once per anniversary in the customer time zone, month ends clamped, never on the start day', async () => {
    h.clock.set('2026-01-31T12:00:00Z');
    await client.customers.upsert.mutate({ externalId: 'i1', currency: 'EUR', timezone: 'America/New_York' });
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'i1',
      rateAmount: '1',
      recurringTransactionRules: [
        { trigger: 'interval', interval: 'monthly', method: 'fixed', grantedCredits: '5', startedAt: new Date('2026-01-31T12:00:00Z') },
      ],
    });
    expect((await run('2026-01-31T20:00:00Z')).intervalTopUps).toBe(0); // the start day itself
    // Feb 28 in New York: 2026-02-28T23:00Z is still Feb 28 there, the short month's last day.
    const feb = await run('2026-02-28T23:00:00Z');
    expect(feb.intervalTopUps).toBe(1);
    // The same anniversary again, from a later run that day: nothing more.
    expect((await run('2026-03-01T03:00:00Z')).intervalTopUps).toBe(0); // still Feb 28 in New York
    expect((await run('2026-03-30T15:00:00Z')).intervalTopUps).toBe(0);
    expect((await run('2026-03-31T15:00:00Z')).intervalTopUps).toBe(1);
    expect(await intervalTopUps(wallet.id)).toEqual([
      ['granted', '5'],
      ['granted', '5'],
    ]);
    expect((await client.wallets.get.query({ id: wallet.id })).balanceCents).toBe(1000);
  });

  it('a target rule tops up the gap; an expired rule ends and stops firing', async () => {
    h.clock.set('2026-05-01T00:00:00Z');
    await client.customers.upsert.mutate({ externalId: 'i2', currency: 'EUR' });
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'i2',
      rateAmount: '1',
      grantedCredits: '3',
      recurringTransactionRules: [
        {
          trigger: 'interval',
          interval: 'weekly',
          method: 'target',
          targetOngoingBalance: '10',
          invoiceRequiresSuccessfulPayment: true,
          expirationAt: new Date('2026-05-20T00:00:00Z'),
        },
      ],
    });
    await run('2026-05-08T09:00:00Z'); // one week: buys the 7-credit gap
    const [topUp] = (await client.walletTransactions.list.query({ walletId: wallet.id, status: 'pending' })).items;
    expect([topUp?.source, topUp?.creditAmount, topUp?.invoiceRequiresSuccessfulPayment]).toEqual(['interval', '7', true]);
    const later = await run('2026-05-22T09:00:00Z'); // past the rule's expiry: it ends, nothing fires
    expect([later.ruleExpirations, later.intervalTopUps]).toEqual([1, 0]);
    expect((await client.wallets.get.query({ id: wallet.id })).recurringTransactionRules).toEqual([]);
    expect(await auditLedger(h.app.databaseUrl)).toEqual([]);
  });
});
