/**
 * The bench's yardstick (bench/yardstick/) is a fair comparison only while it does the same logical
 * work as our server: for the same wallets and invoices it must answer the same allocation (per
 * wallet cents and credits, granted and purchased shares), and its balances must stay equal to its
 * own ledger rows. Seeded random invoices go to our server (over HTTP) and to the yardstick (on
 * its own schema of the same database), customers seeded alike on both sides.
 */
import { seededRandom } from '@wallets/db/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { jsonCaller } from '../bench/support.js';
import { auditYardstick, seedYardstick, type YardstickSeed } from '../bench/yardstick/seed.js';
import { startYardstick, type Yardstick } from '../bench/yardstick/server.js';
import type { WalletClient } from '../src/client/index.js';
import { type Harness, startHarness } from './harness.js';

const SCHEMA = 'yardstick_test';
const SEED = Number(process.env.YARDSTICK_TEST_SEED ?? 20261207);
const INVOICES = 24;

let harness: Harness;
let client: WalletClient;
let yardstick: Yardstick;
let seed: YardstickSeed;

beforeAll(async () => {
  harness = await startHarness();
  ({ client } = await harness.newTenant());
  seed = await seedYardstick(inject('databaseUrl'), ['cus-a', 'cus-b'], SCHEMA);
  yardstick = await startYardstick({ databaseUrl: inject('databaseUrl'), poolMax: 2, schema: SCHEMA });
  // The yardstick's seed, through our API: wallet A (priority 1, api_calls only) with a lot of
  // 1,000,000 credits and a priority-10 lot of 500,000; wallet B (priority 2, no limits) 1,000,000.
  for (const externalId of ['cus-a', 'cus-b']) {
    await client.customers.upsert.mutate({ externalId, currency: 'EUR' });
    const a = await client.wallets.create.mutate({
      externalCustomerId: externalId,
      rateAmount: '1',
      priority: 1,
      grantedCredits: '1000000',
      appliesTo: { billableMetricCodes: ['api_calls'] },
    });
    await client.walletTransactions.create.mutate({ walletId: a.id, grantedCredits: '500000', priority: 10, expirationAt: new Date('2099-01-01') });
    await client.wallets.create.mutate({ externalCustomerId: externalId, rateAmount: '1', priority: 2, grantedCredits: '1000000' });
  }
});

afterAll(async () => {
  await yardstick?.stop();
  await harness?.stop();
});

type Fee = { id: string; feeType: 'subscription' | 'charge' | 'add_on'; billableMetricCode?: string; amountCents: number; taxesAmountCents?: string };

function randomInvoice(random: () => number, id: string, externalCustomerId: string) {
  const fees: Fee[] = Array.from({ length: 1 + Math.floor(random() * 4) }, (_, i) => {
    const roll = random();
    const feeType = roll < 0.3 ? 'subscription' : roll < 0.9 ? 'charge' : 'add_on';
    const metric = feeType === 'charge' ? (random() < 0.6 ? 'api_calls' : 'storage_gb') : undefined;
    const amountCents = Math.floor(random() * 50_000);
    const taxes = Math.floor(amountCents * 200 * random()) / 1000; // up to 20%, 3 decimals of a cent
    return { id: `${id}-${i}`, feeType, ...(metric ? { billableMetricCode: metric } : {}), amountCents, taxesAmountCents: String(taxes) };
  });
  const caps = fees.reduce((sum, fee) => sum + fee.amountCents + Number(fee.taxesAmountCents ?? 0), 0);
  // The total is the fees' sum rounded, or below it (only part of it is paid), or above it (the
  // fees' sub-cent caps are then what is paid, rounded once).
  const roll = random();
  const totalAmountCents = roll < 0.4 ? Math.round(caps) : roll < 0.7 ? Math.floor(caps * random()) : Math.ceil(caps) + Math.floor(random() * 100);
  return { id, externalCustomerId, currency: 'EUR', invoiceType: 'subscription' as const, totalAmountCents, fees };
}

interface Allocation {
  prepaidCreditAmountCents: number;
  totalAfterCreditsCents: number;
  prepaidGrantedCreditAmountCents: number;
  prepaidPurchasedCreditAmountCents: number;
  wallets: { amountCents: number; creditAmount: string }[];
}

const amounts = (a: Allocation) => ({
  total: a.prepaidCreditAmountCents,
  after: a.totalAfterCreditsCents,
  granted: a.prepaidGrantedCreditAmountCents,
  purchased: a.prepaidPurchasedCreditAmountCents,
  wallets: a.wallets.map((w) => [w.amountCents, w.creditAmount]),
});

describe('the yardstick', () => {
  it('answers the same allocations as our server and keeps its balances equal to its rows', async () => {
    const random = seededRandom(SEED);
    const ys = jsonCaller(yardstick.url, seed.apiKey, { maxSockets: 2, timeoutMs: 30_000 });
    let paidByBoth = 0;
    for (let n = 0; n < INVOICES; n++) {
      const invoice = randomInvoice(random, `ys-test-${n}`, n % 2 === 0 ? 'cus-a' : 'cus-b');
      const ours = (await client.invoices.applyPrepaidCredits.mutate({ invoice })) as Allocation;
      const theirs = await ys.post<Allocation>('/v1/invoices/apply', { invoice });
      expect(amounts(theirs), `seed ${SEED}, invoice ${JSON.stringify(invoice)}`).toEqual(amounts(ours));
      if (ours.wallets.length === 2) paidByBoth++;
    }
    // The invoices exercised the split between the two wallets, not only one of them.
    expect(paidByBoth).toBeGreaterThan(INVOICES / 4);
    const stats = yardstick.stats();
    expect(stats.calls.apply).toBe(INVOICES);
    expect(stats.roundTrips.apply).toBe(INVOICES * 5);
    const audit = await auditYardstick(inject('databaseUrl'), SCHEMA);
    expect(audit.problems).toEqual([]);
    expect(audit.claims).toBe(INVOICES);
  });
});
