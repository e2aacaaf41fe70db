/**
 * Top-ups and payments over HTTP (CONTRACT.md "Wallet transactions", DESIGN.md flow 2): the
 * transactions a create call writes and their order, what the host needs to invoice a top-up, every
 * payment state change including the claw-back, and no double settlement under concurrent reports.
 * The ledger is reconciled at the end with SQL that does not use the code under test.
 */
import { auditLedger } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { RouterOutputs, WalletClient } from '../src/client/index.js';
import { errorOf, type Harness, listAllEvents, startHarness } from './harness.js';

type Transaction = RouterOutputs['walletTransactions']['get'];

let h: Harness;
let db: pg.Pool;
/** Every wallet this file creates, for the final ledger audit. */
const walletIds = new Set<string>();

beforeAll(async () => {
  h = await startHarness();
  db = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
});
afterAll(async () => {
  await db.end();
  await h.stop();
});
beforeEach(() => h.clock.set('2026-03-01T09:00:00.000Z'));

const MINUTE = 60_000;

async function rowCounts(organizationId: string) {
  const { rows } = await db.query<Record<string, string>>(
    `select (select count(*) from wallet_transactions where organization_id = $1) as transactions,
            (select count(*) from wallet_transaction_consumptions where organization_id = $1) as consumptions,
            (select count(*) from events where organization_id = $1) as events`,
    [organizationId],
  );
  return rows[0];
}

async function setup(walletInput: Record<string, unknown> = {}) {
  const tenant = await h.newTenant();
  await tenant.client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
  const wallet = await tenant.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', ...walletInput });
  walletIds.add(wallet.id);
  return { ...tenant, wallet };
}

async function topUp(client: WalletClient, walletId: string, paidCredits: string, extra: Record<string, unknown> = {}): Promise<Transaction> {
  const { transactions } = await client.walletTransactions.create.mutate({ walletId, paidCredits, ...extra });
  const [tx] = transactions;
  if (!tx) throw new Error('expected a purchase');
  return tx;
}

describe('walletTransactions.create', () => {
  it('writes paid, granted and voided in that order; the void is checked against the balance before the call', async () => {
    const { client, wallet } = await setup({ grantedCredits: '10' });
    const eventsBefore = (await listAllEvents(client)).length;
    h.clock.advance(MINUTE);
    const now = h.clock.now();
    const lotExpiry = new Date('2026-06-01T00:00:00.000Z');

    const refused = await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '3', voidedCredits: '10.00001' }));
    expect(refused).toMatchObject({ code: 'UNPROCESSABLE_CONTENT', walletErrorCode: 'INSUFFICIENT_CREDITS' });

    const { transactions } = await client.walletTransactions.create.mutate({
      walletId: wallet.id,
      voidedCredits: '10',
      grantedCredits: '3',
      paidCredits: '5',
      name: 'March',
      metadata: [{ key: 'ref', value: 'abc' }],
      priority: 10,
      expirationAt: lotExpiry,
    });
    expect(transactions.map((t) => [t.transactionStatus, t.transactionType, t.status])).toEqual([
      ['purchased', 'inbound', 'pending'],
      ['granted', 'inbound', 'settled'],
      ['voided', 'outbound', 'settled'],
    ]);
    const [paid, granted, voided] = transactions as [Transaction, Transaction, Transaction];
    expect(paid).toMatchObject({
      walletId: wallet.id,
      currency: 'EUR',
      source: 'manual',
      creditAmount: '5',
      amountCents: 500,
      remainingCreditAmount: null,
      priority: 10,
      expirationAt: lotExpiry,
      name: 'March',
      metadata: [{ key: 'ref', value: 'abc' }],
      invoiceId: null,
      invoiceRequiresSuccessfulPayment: false,
      settledAt: null,
      failedAt: null,
      createdAt: now,
    });
    expect(granted).toMatchObject({
      creditAmount: '3',
      amountCents: 300,
      remainingCreditAmount: '3',
      priority: 10,
      expirationAt: lotExpiry,
      settledAt: now,
    });
    // The void took the 10 credits that were there before the call, never the grant of this call.
    expect(voided).toMatchObject({ creditAmount: '10', amountCents: 1000, source: 'manual', name: 'March' });
    expect(await client.walletTransactions.get.query({ id: granted.id })).toEqual(granted);

    const after = await client.wallets.get.query({ id: wallet.id });
    expect(after).toMatchObject({ balanceCents: 300, creditsBalance: '3', consumedCredits: '10', consumedAmountCents: 1000 });

    // The balance dipped to zero inside the call (void before grant) but ends above it: not depleted.
    const events = (await listAllEvents(client)).slice(eventsBefore);
    expect(events.map((e) => e.type)).toEqual([
      'wallet_transaction.created',
      'wallet_transaction.created',
      'wallet_transaction.created',
      'wallet.updated',
    ]);
    // Events follow the ledger: the void was written before the grant it must not consume.
    expect(events.slice(0, 3).map((e) => (e.data as { id: string }).id)).toEqual([paid.id, voided.id, granted.id]);
    expect(events[3]?.data).toMatchObject({ id: wallet.id, balanceCents: 300 });
  });

  it('needs at least one positive amount', async () => {
    const { client, wallet } = await setup();
    const error = await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id }));
    expect(error).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'VALIDATION_FAILED' });
    const zeros = await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '0', grantedCredits: '0.0' }));
    expect(zeros.walletErrorCode).toBe('VALIDATION_FAILED');
  });

  it('carries invoiceRequiresSuccessfulPayment (wallet default, per-transaction override) with amount and currency in its event', async () => {
    const { client, wallet } = await setup({ invoiceRequiresSuccessfulPayment: true, paidCredits: '7' });
    await client.customers.upsert.mutate({ externalId: 'cus_usd', currency: 'USD' });
    const usd = await client.wallets.create.mutate({ externalCustomerId: 'cus_usd', rateAmount: '0.5' });
    walletIds.add(usd.id);

    const inherited = await topUp(client, wallet.id, '12.5');
    const overridden = await topUp(client, wallet.id, '3', { invoiceRequiresSuccessfulPayment: false });
    const forced = await topUp(client, usd.id, '9', { invoiceRequiresSuccessfulPayment: true });
    const plain = await topUp(client, usd.id, '9');
    expect(inherited).toMatchObject({ invoiceRequiresSuccessfulPayment: true, amountCents: 1250, currency: 'EUR', status: 'pending' });
    expect(overridden).toMatchObject({ invoiceRequiresSuccessfulPayment: false, amountCents: 300, currency: 'EUR' });
    expect(forced).toMatchObject({ invoiceRequiresSuccessfulPayment: true, amountCents: 450, currency: 'USD', creditAmount: '9' });
    expect(plain).toMatchObject({ invoiceRequiresSuccessfulPayment: false, amountCents: 450, currency: 'USD' });

    const created = (await listAllEvents(client)).filter((e) => e.type === 'wallet_transaction.created');
    const byId = new Map(created.map((e) => [(e.data as { id: string }).id, e.data]));
    // The purchase made by wallets.create carries the wallet's setting too.
    const initial = (await client.walletTransactions.list.query({ walletId: wallet.id, transactionStatus: 'purchased' })).items.find(
      (t) => t.amountCents === 700,
    );
    expect(byId.get(initial?.id ?? '')).toMatchObject({
      invoiceRequiresSuccessfulPayment: true,
      amountCents: 700,
      currency: 'EUR',
      status: 'pending',
    });
    for (const tx of [inherited, overridden, forced, plain]) {
      expect(byId.get(tx.id)).toMatchObject({
        id: tx.id,
        walletId: tx.walletId,
        invoiceRequiresSuccessfulPayment: tx.invoiceRequiresSuccessfulPayment,
        amountCents: tx.amountCents,
        creditAmount: tx.creditAmount,
        currency: tx.currency,
        transactionStatus: 'purchased',
        status: 'pending',
      });
    }
  });
});

describe('walletTransactions.recordPayment', () => {
  it('pending -> succeeded settles once, with the invoice id; a repeat changes nothing', async () => {
    const { client, organizationId, wallet } = await setup({ grantedCredits: '1' });
    const tx = await topUp(client, wallet.id, '20');
    h.clock.advance(MINUTE);
    const settledAt = h.clock.now();
    const settled = await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'succeeded', invoiceId: 'inv_top_1' });
    expect(settled).toEqual({
      ...tx,
      status: 'settled',
      settledAt,
      invoiceId: 'inv_top_1',
      remainingCreditAmount: '20',
      ...('remainingAmountCents' in tx ? { remainingAmountCents: 2000 } : {}),
    });
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ balanceCents: 2100, creditsBalance: '21' });
    const counts = await rowCounts(organizationId);
    const events = await listAllEvents(client);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['wallet_transaction.updated', 'wallet.updated']);
    expect(events.at(-2)?.data).toMatchObject({ id: tx.id, status: 'settled', invoiceId: 'inv_top_1' });

    h.clock.advance(MINUTE);
    const repeat = await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'succeeded', invoiceId: 'inv_other' });
    expect(repeat).toEqual(settled);
    expect(await rowCounts(organizationId)).toEqual(counts);
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ balanceCents: 2100 });
  });

  it('pending -> failed, then failed -> succeeded when a retry of the payment works', async () => {
    const { client, organizationId, wallet } = await setup();
    const tx = await topUp(client, wallet.id, '8');
    const eventsBefore = (await listAllEvents(client)).length;
    h.clock.advance(MINUTE);
    const failedAt = h.clock.now();
    const failed = await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'failed', invoiceId: 'inv_8' });
    expect(failed).toMatchObject({ status: 'failed', failedAt, settledAt: null, invoiceId: 'inv_8', remainingCreditAmount: null });
    expect((await client.wallets.get.query({ id: wallet.id })).balanceCents).toBe(0);
    const failEvents = (await listAllEvents(client)).slice(eventsBefore);
    expect(failEvents.map((e) => e.type).sort()).toEqual(['wallet_transaction.payment_failure', 'wallet_transaction.updated']);
    for (const event of failEvents) expect(event.data).toMatchObject({ id: tx.id, status: 'failed' });

    const counts = await rowCounts(organizationId);
    expect(await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'failed' })).toEqual(failed);
    expect(await rowCounts(organizationId)).toEqual(counts);

    h.clock.advance(MINUTE);
    const retried = await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'succeeded' });
    expect(retried).toMatchObject({ status: 'settled', settledAt: h.clock.now(), invoiceId: 'inv_8', remainingCreditAmount: '8' });
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ balanceCents: 800, creditsBalance: '8' });
    const last = (await listAllEvents(client)).filter((e) => e.type === 'wallet_transaction.updated').at(-1);
    expect(last?.data).toMatchObject({ id: tx.id, status: 'settled' });
  });

  it('settled -> failed claws back what is left of the lot, once, with a payment_failure event', async () => {
    const { client, organizationId, wallet } = await setup({ grantedCredits: '2' });
    const tx = await topUp(client, wallet.id, '10');
    await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'succeeded' });
    // Granted credits are used before purchased ones: void 5 takes the 2 granted, then 3 of the lot.
    await client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '5' });
    expect(await client.walletTransactions.get.query({ id: tx.id })).toMatchObject({ remainingCreditAmount: '7' });
    const eventsBefore = (await listAllEvents(client)).length;

    h.clock.advance(MINUTE);
    const clawed = await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'failed' });
    expect(clawed).toMatchObject({ id: tx.id, status: 'settled', remainingCreditAmount: '0', failedAt: null });
    const voids = (await client.walletTransactions.list.query({ walletId: wallet.id, transactionStatus: 'voided' })).items;
    const clawBack = voids.find((v) => v.source === 'payment_failure');
    expect(clawBack).toMatchObject({ transactionType: 'outbound', status: 'settled', creditAmount: '7', amountCents: 700, createdAt: h.clock.now() });
    if (clawBack && 'voidedTransactionId' in clawBack) expect(clawBack.voidedTransactionId).toBe(tx.id);
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ balanceCents: 0, creditsBalance: '0', consumedCredits: '12' });

    const events = (await listAllEvents(client)).slice(eventsBefore);
    expect(events.map((e) => e.type).sort()).toEqual([
      'wallet.depleted_ongoing_balance',
      'wallet.updated',
      'wallet_transaction.created',
      'wallet_transaction.payment_failure',
    ]);
    expect(events.find((e) => e.type === 'wallet.depleted_ongoing_balance')?.data).toMatchObject({ id: wallet.id, ongoingBalanceCents: 0 });
    expect(events.find((e) => e.type === 'wallet_transaction.payment_failure')?.data).toMatchObject({ id: tx.id });
    expect(events.find((e) => e.type === 'wallet_transaction.created')?.data).toMatchObject({ id: clawBack?.id, source: 'payment_failure' });

    // Repeats of either report change nothing: no second claw-back, no second settlement.
    const counts = await rowCounts(organizationId);
    expect(await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'failed' })).toEqual(clawed);
    expect(await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'succeeded' })).toEqual(clawed);
    expect(await rowCounts(organizationId)).toEqual(counts);
  });

  it('TRANSACTION_NOT_PAYABLE (CONFLICT) for anything but a purchase', async () => {
    const { client, wallet } = await setup({ grantedCredits: '5' });
    const { transactions } = await client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '1' });
    const granted = (await client.walletTransactions.list.query({ walletId: wallet.id, transactionStatus: 'granted' })).items[0];
    for (const id of [granted?.id ?? '', transactions[0]?.id ?? '']) {
      for (const status of ['succeeded', 'failed'] as const) {
        const error = await errorOf(client.walletTransactions.recordPayment.mutate({ id, status }));
        expect(error).toMatchObject({ code: 'CONFLICT', walletErrorCode: 'TRANSACTION_NOT_PAYABLE' });
      }
    }
    expect((await client.wallets.get.query({ id: wallet.id })).balanceCents).toBe(400);
  });

  it('a payment that succeeds after termination settles and is voided at once (the host refunds it)', async () => {
    const { client, wallet } = await setup();
    const tx = await topUp(client, wallet.id, '6');
    await client.wallets.terminate.mutate({ id: wallet.id });
    expect((await client.walletTransactions.get.query({ id: tx.id })).status).toBe('failed');
    h.clock.advance(MINUTE);
    const late = await client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'succeeded', invoiceId: 'inv_late' });
    expect(late).toMatchObject({ status: 'settled', remainingCreditAmount: '0', invoiceId: 'inv_late' });
    const voids = (await client.walletTransactions.list.query({ walletId: wallet.id, transactionStatus: 'voided' })).items;
    expect(voids).toEqual([expect.objectContaining({ source: 'termination', creditAmount: '6', amountCents: 600 })]);
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ status: 'terminated', balanceCents: 0 });
  });
});

describe('concurrent payment reports over HTTP', () => {
  it('30 concurrent succeeded reports settle the purchase exactly once', async () => {
    const { client, organizationId, wallet } = await setup({ grantedCredits: '1' });
    const tx = await topUp(client, wallet.id, '25');
    const counts = await rowCounts(organizationId);
    const results = await Promise.all(
      Array.from({ length: 30 }, () => client.walletTransactions.recordPayment.mutate({ id: tx.id, status: 'succeeded' })),
    );
    for (const result of results) expect(result).toEqual(results[0]);
    expect(results[0]).toMatchObject({ status: 'settled', remainingCreditAmount: '25' });
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ balanceCents: 2600, creditsBalance: '26' });
    const after = await rowCounts(organizationId);
    expect(after?.transactions).toBe(counts?.transactions);
    const { rows } = await db.query<{ n: string }>(
      `select count(*)::text as n from events where organization_id = $1 and type = 'wallet_transaction.updated' and data->>'id' = $2`,
      [organizationId, tx.id],
    );
    expect(rows[0]?.n).toBe('1');
  });

  it('30 concurrent mixed reports leave a consistent ledger with at most one claw-back', async () => {
    const { client, organizationId, wallet } = await setup();
    const tx = await topUp(client, wallet.id, '40');
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        client.walletTransactions.recordPayment.mutate({ id: tx.id, status: i % 2 === 0 ? 'succeeded' : 'failed' }),
      ),
    );
    for (const result of results) expect(['settled', 'failed']).toContain(result.status);
    const final = await client.walletTransactions.get.query({ id: tx.id });
    const { rows } = await db.query<{ n: string }>(
      `select count(*)::text as n from wallet_transactions where organization_id = $1 and source = 'payment_failure'`,
      [organizationId],
    );
    expect(Number(rows[0]?.n)).toBeLessThanOrEqual(1);
    const walletAfter = await client.wallets.get.query({ id: wallet.id });
    if (final.status === 'failed') expect(walletAfter.balanceCents).toBe(0);
    else expect(walletAfter.balanceCents).toBe(rows[0]?.n === '1' ? 0 : 4000);
    const problems = (await auditLedger(inject('databaseUrl'))).filter((p) => p.walletId === wallet.id);
    expect(problems).toEqual([]);
  });
});

describe('ledger audit', () => {
  it("every wallet of this file agrees with its ledger (the audit's own SQL)", async () => {
    expect(walletIds.size).toBeGreaterThan(5);
    const problems = (await auditLedger(inject('databaseUrl'))).filter((p) => walletIds.has(p.walletId));
    expect(problems).toEqual([]);
  });
});
