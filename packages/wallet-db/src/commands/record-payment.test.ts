import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, door, mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import { createWallet, createWalletTransactions, readWallet, recordPayment, terminateWallet, upsertCustomer } from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger } from '../testing/index.js';

let orm: Orm;
let org: string;
let pool: pg.Pool;
const now = new Date('2026-06-01T00:00:00Z');
const at = (hours: number) => new Date(now.getTime() + hours * 3_600_000);
const em = () => orm.em.fork() as EntityManager;

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

/** Everything a report could have written for this organization: ledger rows, consumptions, events. */
async function footprint() {
  const rows = await sql<{ transactions: string; consumptions: string; events: string }>(
    `select (select count(*) from wallet_transactions where organization_id = $1)::text as transactions,
            (select count(*) from wallet_transaction_consumptions where organization_id = $1)::text as consumptions,
            (select count(*) from events where organization_id = $1)::text as events`,
    [org],
  );
  return rows[0];
}

async function eventTypes(transactionId: string): Promise<string[]> {
  const rows = await sql<{ type: string }>(`select type from events where organization_id = $1 and data->>'id' = $2 order by position`, [
    org,
    transactionId,
  ]);
  return rows.map((r) => r.type);
}

let counter = 0;
async function walletWithPurchase(input: { paid?: string; granted?: string; expirationAt?: Date } = {}) {
  const externalId = `rp-${++counter}`;
  await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId, currency: 'EUR' }));
  const wallet = await mutate(orm, org, now, (w) =>
    createWallet(w, {
      externalCustomerId: externalId,
      rateAmount: cr('1'),
      grantedCredits: input.granted ? cr(input.granted) : undefined,
      expirationAt: input.expirationAt,
    }),
  );
  const { transactions } = await mutate(orm, org, now, (w) =>
    createWalletTransactions(w, { walletId: wallet.id, paidCredits: cr(input.paid ?? '10') }),
  );
  const purchase = transactions[0];
  if (!purchase) throw new Error('no purchase');
  return { wallet, purchase };
}

const report = (id: string, status: 'succeeded' | 'failed', when = at(1), invoiceId?: string) =>
  recordPayment(door(orm, org, when), { id, status, invoiceId });

beforeAll(async () => {
  orm = await openTestOrm();
  org = await newOrganization(orm);
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 3 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

describe('recordPayment', () => {
  it('pending -> succeeded settles once, creates the lot and raises the balance; a repeat writes nothing', async () => {
    const { wallet, purchase } = await walletWithPurchase();
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(0);
    const settled = await report(purchase.id, 'succeeded', at(1), 'inv-1');
    expect(settled).toMatchObject({
      status: 'settled',
      settledAt: at(1),
      failedAt: null,
      remainingAmountCents: 1000,
      remainingCreditAmount: '10',
      invoiceId: 'inv-1',
    });
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ balanceCents: 1000, creditsBalance: '10' });
    expect(await eventTypes(purchase.id)).toEqual(['wallet_transaction.created', 'wallet_transaction.updated']);

    const before = await footprint();
    const repeat = await report(purchase.id, 'succeeded', at(2));
    expect(repeat).toEqual(settled);
    expect(await footprint()).toEqual(before);
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(1000);
  });

  it('pending -> failed marks it failed with a payment_failure event; a repeat writes nothing', async () => {
    const { wallet, purchase } = await walletWithPurchase();
    const failed = await report(purchase.id, 'failed');
    expect(failed).toMatchObject({ status: 'failed', failedAt: at(1), settledAt: null, remainingAmountCents: null });
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(0);
    expect(await eventTypes(purchase.id)).toEqual(['wallet_transaction.created', 'wallet_transaction.updated', 'wallet_transaction.payment_failure']);
    const before = await footprint();
    expect(await report(purchase.id, 'failed', at(2))).toEqual(failed);
    expect(await footprint()).toEqual(before);
  });

  it('failed -> succeeded settles (a later retry of the payment worked)', async () => {
    const { wallet, purchase } = await walletWithPurchase({ paid: '7.5' });
    await report(purchase.id, 'failed', at(1));
    const settled = await report(purchase.id, 'succeeded', at(2));
    expect(settled).toMatchObject({ status: 'settled', settledAt: at(2), remainingAmountCents: 750 });
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(750);
    const before = await footprint();
    expect(await report(purchase.id, 'succeeded', at(3))).toEqual(settled);
    expect(await footprint()).toEqual(before);
  });

  it('settled -> failed keeps it settled and voids what is left of its lot, once', async () => {
    const { wallet, purchase } = await walletWithPurchase({ paid: '10', granted: '5' });
    await report(purchase.id, 'succeeded', at(1));
    // Spend 3 credits first: the granted lot goes first (same priority and expiry, granted before purchased).
    await mutate(orm, org, at(2), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr('8') }));
    const grantedLeft = await sql<{ remaining: string }>(
      `select remaining_amount_cents::text as remaining from wallet_transactions where organization_id = $1 and wallet_id = $2 and transaction_status = 'granted'`,
      [org, wallet.id],
    );
    expect(grantedLeft).toEqual([{ remaining: '0' }]);

    const before = await footprint();
    const clawedBack = await report(purchase.id, 'failed', at(3));
    expect(clawedBack).toMatchObject({ status: 'settled', remainingAmountCents: 0, remainingCreditAmount: '0', failedAt: null });
    const voids = await sql<{ source: string; amount_cents: string; credit_amount: string; voided_transaction_id: string }>(
      `select source, amount_cents::text, credit_amount::text, voided_transaction_id from wallet_transactions
        where organization_id = $1 and wallet_id = $2 and transaction_status = 'voided' and source = 'payment_failure'`,
      [org, wallet.id],
    );
    expect(voids).toEqual([{ source: 'payment_failure', amount_cents: '700', credit_amount: '7.00000', voided_transaction_id: purchase.id }]);
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ balanceCents: 0, creditsBalance: '0', consumedAmountCents: 1500 });
    expect((await eventTypes(purchase.id)).filter((t) => t === 'wallet_transaction.payment_failure')).toHaveLength(1);
    const after = await footprint();
    expect(Number(after?.transactions)).toBe(Number(before?.transactions) + 1);

    // Any repeat, of either report, now changes nothing.
    expect(await report(purchase.id, 'failed', at(4))).toEqual(clawedBack);
    expect(await report(purchase.id, 'succeeded', at(4))).toEqual(clawedBack);
    expect(await footprint()).toEqual(after);
  });

  it('refuses what is not a purchase, and ids of another organization', async () => {
    const { wallet, purchase } = await walletWithPurchase({ granted: '5' });
    const granted = await sql<{ id: string }>(
      `select id from wallet_transactions where organization_id = $1 and wallet_id = $2 and transaction_status = 'granted'`,
      [org, wallet.id],
    );
    const before = await footprint();
    await expect(report(granted[0]?.id ?? '', 'succeeded')).rejects.toMatchObject({ code: 'TRANSACTION_NOT_PAYABLE' });
    await expect(report(granted[0]?.id ?? '', 'failed')).rejects.toMatchObject({ code: 'TRANSACTION_NOT_PAYABLE' });
    const { transactions } = await mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr('1') }));
    await expect(report(transactions[0]?.id ?? '', 'succeeded')).rejects.toMatchObject({ code: 'TRANSACTION_NOT_PAYABLE' });

    const other = await newOrganization(orm);
    await expect(mutate(orm, other, at(1), (w) => recordPayment(w, { id: purchase.id, status: 'succeeded' }))).rejects.toMatchObject({
      code: 'TRANSACTION_NOT_FOUND',
    });
    await expect(report('00000000-0000-4000-8000-000000000000', 'succeeded')).rejects.toMatchObject({ code: 'TRANSACTION_NOT_FOUND' });
    await expect(report('not-an-id', 'succeeded')).rejects.toMatchObject({ code: 'TRANSACTION_NOT_FOUND' });
    expect(Number((await footprint())?.transactions)).toBe(Number(before?.transactions) + 1);
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(400);
  });

  it('settles and voids at once a payment that arrives after the wallet was terminated', async () => {
    const { wallet, purchase } = await walletWithPurchase({ paid: '12', granted: '1' });
    await mutate(orm, org, at(1), (w) => terminateWallet(w, wallet.id));
    const failed = await sql<{ status: string }>('select status from wallet_transactions where id = $1', [purchase.id]);
    expect(failed).toEqual([{ status: 'failed' }]);

    const settled = await report(purchase.id, 'succeeded', at(2));
    expect(settled).toMatchObject({ status: 'settled', settledAt: at(2), remainingAmountCents: 0 });
    const voids = await sql<{ source: string; amount_cents: string; voided_transaction_id: string | null }>(
      `select source, amount_cents::text, voided_transaction_id from wallet_transactions
        where organization_id = $1 and wallet_id = $2 and transaction_status = 'voided' order by created_at`,
      [org, wallet.id],
    );
    expect(voids).toEqual([
      { source: 'termination', amount_cents: '100', voided_transaction_id: null },
      { source: 'termination', amount_cents: '1200', voided_transaction_id: purchase.id },
    ]);
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ status: 'terminated', balanceCents: 0, consumedAmountCents: 1300 });
    const before = await footprint();
    expect(await report(purchase.id, 'succeeded', at(3))).toEqual(settled);
    expect(await footprint()).toEqual(before);
  });

  it('treats a wallet past its expiry as expired before settling a late payment', async () => {
    const { wallet, purchase } = await walletWithPurchase({ paid: '3', granted: '2', expirationAt: at(10) });
    const settled = await report(purchase.id, 'succeeded', at(11));
    expect(settled).toMatchObject({ status: 'settled', remainingAmountCents: 0 });
    const voids = await sql<{ source: string; amount_cents: string }>(
      `select source, amount_cents::text from wallet_transactions
        where organization_id = $1 and wallet_id = $2 and transaction_status = 'voided' order by amount_cents`,
      [org, wallet.id],
    );
    expect(voids).toEqual([
      { source: 'expiration', amount_cents: '200' },
      { source: 'expiration', amount_cents: '300' },
    ]);
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ status: 'terminated', terminatedAt: at(11), balanceCents: 0 });
  });

  it('voids at once a purchase whose own lot expiry passed before the payment arrived', async () => {
    const externalId = `rp-${++counter}`;
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId, currency: 'EUR' }));
    const wallet = await mutate(orm, org, now, (w) =>
      createWallet(w, { externalCustomerId: externalId, rateAmount: cr('1'), grantedCredits: cr('1') }),
    );
    const { transactions } = await mutate(orm, org, now, (w) =>
      createWalletTransactions(w, { walletId: wallet.id, paidCredits: cr('4'), expirationAt: at(5) }),
    );
    const purchaseId = transactions[0]?.id ?? '';
    const settled = await report(purchaseId, 'succeeded', at(6));
    expect(settled).toMatchObject({ status: 'settled', expirationAt: at(5), remainingAmountCents: 0 });
    const voids = await sql<{ source: string; amount_cents: string; voided_transaction_id: string }>(
      `select source, amount_cents::text, voided_transaction_id from wallet_transactions where organization_id = $1 and wallet_id = $2 and transaction_status = 'voided'`,
      [org, wallet.id],
    );
    expect(voids).toEqual([{ source: 'expiration', amount_cents: '400', voided_transaction_id: purchaseId }]);
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ status: 'active', balanceCents: 100 });
  });

  it('settles exactly once under 20 parallel success reports', async () => {
    const { wallet, purchase } = await walletWithPurchase({ paid: '25' });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => report(purchase.id, 'succeeded', at(1 + i / 100))));
    const settledAt = results[0]?.settledAt;
    for (const result of results) expect(result).toMatchObject({ status: 'settled', remainingAmountCents: 2500, settledAt });
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ balanceCents: 2500, creditsBalance: '25' });
    expect((await eventTypes(purchase.id)).filter((t) => t === 'wallet_transaction.updated')).toHaveLength(1);
    const walletUpdates = await sql<{ n: string }>(
      `select count(*)::text as n from events where organization_id = $1 and type = 'wallet.updated' and data->>'id' = $2`,
      [org, wallet.id],
    );
    expect(walletUpdates[0]?.n).toBe('1');
  });

  it('stays consistent under parallel success and failure reports', async () => {
    const { wallet, purchase } = await walletWithPurchase({ paid: '25' });
    const reports = Array.from({ length: 20 }, (_, i) => report(purchase.id, i % 2 === 0 ? 'succeeded' : 'failed', at(1)));
    const results = await Promise.all(reports);
    expect(results.every((r) => r.id === purchase.id)).toBe(true);
    // With at least one success the purchase ends settled, settled exactly once.
    const final = await sql<{ status: string }>('select status from wallet_transactions where id = $1', [purchase.id]);
    expect(final).toEqual([{ status: 'settled' }]);
    const settlements = await sql<{ n: string }>(
      `select count(*)::text as n from events where organization_id = $1 and type = 'wallet_transaction.updated' and data->>'id' = $2 and data->>'status' = 'settled'`,
      [org, purchase.id],
    );
    expect(settlements[0]?.n).toBe('1');
    // A failure reported after the settlement claws back once at most.
    const clawbacks = await sql<{ amount_cents: string }>(
      `select amount_cents::text from wallet_transactions where organization_id = $1 and voided_transaction_id = $2 and source = 'payment_failure'`,
      [org, purchase.id],
    );
    expect(clawbacks.length).toBeLessThanOrEqual(1);
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(clawbacks.length === 1 ? 0 : 2500);
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
