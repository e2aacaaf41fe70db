/**
 * admin.runScheduledJobs over HTTP (DESIGN.md flow 6, "Interfaces"): wallets past their
 * expirationAt are terminated with ledger voids (source expiration) and their pending top-ups
 * failed; lots past their own expiry are voided; the counts say what ran; running again changes
 * nothing.
 *
 * The sweep is global (every organization of the database), and its counts too, so this file runs
 * the same app as `startHarness({ workerConcurrency: 0 })` on a database of its own: another test
 * file's wallets can neither be expired by our runs nor have theirs counted in ours. With no
 * worker, only runScheduledJobs drains the queue.
 */
import { auditLedger, createMigratedDatabase } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningApp, startApp } from '../src/app.js';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { readEnv } from '../src/env.js';
import { ADMIN_TOKEN, errorOf, listAllEvents, TestClock } from './harness.js';

const T0 = new Date('2026-07-01T00:00:00.000Z');
const DAY = 24 * 3_600_000;
const at = (days: number) => new Date(T0.getTime() + days * DAY);

let databaseUrl: string;
let app: RunningApp;
let admin: WalletClient;
let db: pg.Pool;
const clock = new TestClock(T0);

beforeAll(async () => {
  databaseUrl = await createMigratedDatabase(inject('serverUrl'), 'wallets_jobs');
  const env = readEnv({
    DATABASE_URL: databaseUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
    WALLET_WORKER_CONCURRENCY: '0',
    WALLET_DB_POOL_MAX: '10',
  });
  app = await startApp(env, { clock, log: () => undefined });
  admin = createWalletClient({ url: app.url, apiKey: ADMIN_TOKEN });
  db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
});
afterAll(async () => {
  await db?.end();
  await app?.stop();
});

async function newTenant(name: string) {
  const { organization, apiKey } = await admin.admin.createOrganization.mutate({ name });
  return { client: createWalletClient({ url: app.url, apiKey }), organizationId: organization.id };
}

/** Everything in the database that a job could change. */
async function snapshot() {
  const { rows: wallets } = await db.query('select id, status, balance_cents, credits_balance, terminated_at from wallets order by id');
  const { rows: transactions } = await db.query(
    'select id, status, remaining_amount_cents, remaining_credit_amount from wallet_transactions order by id',
  );
  const { rows: events } = await db.query<{ n: string }>('select count(*)::text as n from events');
  return { wallets, transactions, events: events[0]?.n };
}

const zero = { walletsExpired: 0, lotsExpired: 0 };

describe('admin.runScheduledJobs', () => {
  it('expires due wallets and lots as of the given time, once', async () => {
    clock.set(T0);
    const a = await newTenant('jobs-a');
    const b = await newTenant('jobs-b');
    await a.client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
    await b.client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'USD' });

    // W1 (A) and W4 (B) expire on day 10; W3 (A) on day 20; W2 (A) never, but two of its lots on day 5.
    const w1 = await a.client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      name: 'w1',
      grantedCredits: '10',
      paidCredits: '5',
      expirationAt: at(10),
      recurringTransactionRules: [{ trigger: 'interval', interval: 'monthly', grantedCredits: '1' }],
    });
    const w2 = await a.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', name: 'w2', grantedCredits: '6' });
    const grantLot = (await a.client.walletTransactions.create.mutate({ walletId: w2.id, grantedCredits: '4', expirationAt: at(5), name: 'promo' }))
      .transactions[0];
    const paidLot = (await a.client.walletTransactions.create.mutate({ walletId: w2.id, paidCredits: '3', expirationAt: at(5) })).transactions[0];
    await a.client.walletTransactions.recordPayment.mutate({ id: paidLot?.id ?? '', status: 'succeeded' });
    // Half of the promo lot is used before it expires (granted is used before purchased, soonest expiry first).
    await a.client.walletTransactions.create.mutate({ walletId: w2.id, voidedCredits: '2' });
    const w3 = await a.client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      name: 'w3',
      grantedCredits: '1',
      expirationAt: at(20),
    });
    const w4 = await b.client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '2',
      grantedCredits: '1.5',
      paidCredits: '2',
      expirationAt: at(10),
    });
    expect(await a.client.wallets.get.query({ id: w2.id })).toMatchObject({ balanceCents: 1100, creditsBalance: '11' });

    // Before anything is due: nothing happens.
    const before = await snapshot();
    expect(await admin.admin.runScheduledJobs.mutate({ asOf: at(1) })).toMatchObject({ asOf: at(1), ...zero });
    expect(await admin.admin.runScheduledJobs.mutate({ asOf: new Date(at(5).getTime() - 1) })).toMatchObject(zero);
    expect(await snapshot()).toEqual(before);

    // Day 10: W1 and W4 expire, and W2's two lots (expired since day 5).
    const result = await admin.admin.runScheduledJobs.mutate({ asOf: at(10) });
    expect(result).toMatchObject({ asOf: at(10), walletsExpired: 2, lotsExpired: 2 });
    for (const key of ['ruleExpirations', 'intervalTopUps', 'webhookDeliveries'] as const) expect(Number.isSafeInteger(result[key])).toBe(true);

    const expired1 = await a.client.wallets.get.query({ id: w1.id });
    expect(expired1).toMatchObject({
      status: 'terminated',
      terminatedAt: at(10),
      balanceCents: 0,
      creditsBalance: '0',
      recurringTransactionRules: [],
    });
    const w1Transactions = (await a.client.walletTransactions.list.query({ walletId: w1.id })).items;
    expect(w1Transactions.filter((t) => t.transactionStatus === 'voided')).toEqual([
      expect.objectContaining({ source: 'expiration', transactionType: 'outbound', creditAmount: '10', amountCents: 1000, createdAt: at(10) }),
    ]);
    expect(w1Transactions.find((t) => t.transactionStatus === 'purchased')).toMatchObject({ status: 'failed', failedAt: at(10) });

    const expired4 = await b.client.wallets.get.query({ id: w4.id });
    expect(expired4).toMatchObject({ status: 'terminated', balanceCents: 0 });
    const w4Transactions = (await b.client.walletTransactions.list.query({ walletId: w4.id })).items;
    expect(w4Transactions.filter((t) => t.transactionStatus === 'voided')).toEqual([
      expect.objectContaining({ source: 'expiration', creditAmount: '1.5', amountCents: 300 }),
    ]);
    expect(w4Transactions.find((t) => t.transactionStatus === 'purchased')?.status).toBe('failed');

    // W2 stays active with its lot without expiry; one void per expired lot, for what each still held.
    expect(await a.client.wallets.get.query({ id: w2.id })).toMatchObject({ status: 'active', balanceCents: 600, creditsBalance: '6' });
    const lotVoids = (await a.client.walletTransactions.list.query({ walletId: w2.id, transactionStatus: 'voided' })).items.filter(
      (t) => t.source === 'expiration',
    );
    expect(lotVoids.map((t) => t.creditAmount).sort()).toEqual(['2', '3']);
    if (lotVoids[0] && 'voidedTransactionId' in lotVoids[0]) {
      expect(lotVoids.map((t) => (t as { voidedTransactionId: string | null }).voidedTransactionId).sort()).toEqual(
        [grantLot?.id, paidLot?.id].sort(),
      );
    }
    expect(await a.client.walletTransactions.get.query({ id: grantLot?.id ?? '' })).toMatchObject({ remainingCreditAmount: '0' });
    expect(await a.client.walletTransactions.get.query({ id: paidLot?.id ?? '' })).toMatchObject({ remainingCreditAmount: '0' });

    // W3 is not due yet.
    expect(await a.client.wallets.get.query({ id: w3.id })).toMatchObject({ status: 'active', balanceCents: 100 });

    // Events: the terminations, the failed top-ups.
    const aEvents = await listAllEvents(a.client);
    const terminated = aEvents.filter((e) => e.type === 'wallet.terminated');
    expect(terminated.map((e) => (e.data as { id: string }).id)).toEqual([w1.id]);
    expect(terminated[0]?.data).toMatchObject({ status: 'terminated', balanceCents: 0 });
    const failedTopUp = aEvents.filter((e) => e.type === 'wallet_transaction.updated' && (e.data as { status: string }).status === 'failed');
    expect(failedTopUp).toHaveLength(1);
    expect(failedTopUp[0]?.data).toMatchObject({ walletId: w1.id, transactionStatus: 'purchased' });
    const bEvents = await listAllEvents(b.client);
    expect(bEvents.filter((e) => e.type === 'wallet.terminated').map((e) => (e.data as { id: string }).id)).toEqual([w4.id]);

    // Again, with the same time and with a later one that is still before W3's expiry: nothing.
    const after = await snapshot();
    expect(await admin.admin.runScheduledJobs.mutate({ asOf: at(10) })).toMatchObject(zero);
    expect(await admin.admin.runScheduledJobs.mutate({ asOf: at(15) })).toMatchObject(zero);
    expect(await snapshot()).toEqual(after);

    // Without asOf the jobs take the clock's now: day 25 expires W3, and only W3.
    clock.set(at(25));
    expect(await admin.admin.runScheduledJobs.mutate({})).toMatchObject({ asOf: at(25), walletsExpired: 1, lotsExpired: 0 });
    expect(await a.client.wallets.get.query({ id: w3.id })).toMatchObject({ status: 'terminated', terminatedAt: at(25) });
    expect(await admin.admin.runScheduledJobs.mutate({})).toMatchObject(zero);

    // A payment that arrives after the expiry settles and is voided at once, for the host to refund.
    const late = w1Transactions.find((t) => t.transactionStatus === 'purchased');
    const settled = await a.client.walletTransactions.recordPayment.mutate({ id: late?.id ?? '', status: 'succeeded' });
    expect(settled).toMatchObject({ status: 'settled', remainingCreditAmount: '0' });
    const refundVoids = (await a.client.walletTransactions.list.query({ walletId: w1.id, transactionStatus: 'voided' })).items;
    expect(refundVoids.map((t) => [t.source, t.creditAmount]).sort()).toEqual([
      ['expiration', '10'],
      ['expiration', '5'],
    ]);
    expect(await a.client.wallets.get.query({ id: w1.id })).toMatchObject({ status: 'terminated', balanceCents: 0 });

    expect(await auditLedger(databaseUrl)).toEqual([]);
  });

  it('is refused to an organization key (FORBIDDEN) and changes nothing', async () => {
    clock.set(T0);
    const { client } = await newTenant('jobs-c');
    await client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '1', expirationAt: at(1) });
    const error = await errorOf(client.admin.runScheduledJobs.mutate({ asOf: at(2) }));
    expect(error.code).toBe('FORBIDDEN');
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ status: 'active', balanceCents: 100 });
    // The admin's run expires it.
    expect(await admin.admin.runScheduledJobs.mutate({ asOf: at(2) })).toMatchObject({ walletsExpired: 1 });
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ status: 'terminated', balanceCents: 0 });
    expect(await auditLedger(databaseUrl)).toEqual([]);
  });
});
