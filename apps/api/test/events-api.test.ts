/**
 * events.list over HTTP (CONTRACT.md "Events"): the outbox read oldest first, resumable with
 * `after`, with Lago's event names and the wallet or transaction as it was when the event happened.
 *
 * The outbox may hold back events while writers are still in flight (so that a late commit never
 * lands behind a cursor), and other test files share the database. So `allEvents` first counts
 * the organization's committed events with its own SQL, then reads until the list shows them all
 * (bounded, no sleeping).
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { RouterOutputs } from '../src/client/index.js';
import { errorOf, type Harness, listAllEvents, startHarness } from './harness.js';

type EventItem = RouterOutputs['events']['list']['items'][number];

let h: Harness;
let db: pg.Pool;
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
});
afterAll(async () => {
  await db.end();
  await h.stop();
});
beforeEach(() => h.clock.set('2026-05-01T12:00:00.000Z'));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function committedEventCount(organizationId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>('select count(*)::text as n from events where organization_id = $1', [organizationId]);
  return Number(rows[0]?.n);
}

/** JSON form of a value, so DTOs (Dates) and event data (as stored) compare field by field. */
// Event data carries the wallet or transaction as it was then, with times as Dates like every response.
const plain = (value: unknown) => value;

async function tenant() {
  const t = await h.newTenant();
  await t.client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
  return t;
}

describe('events.list', () => {
  it("tells a wallet's story oldest first, with Lago's names and the state as it was then", async () => {
    const { client } = await tenant();
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '10', paidCredits: '5' });
    const createdTransactions = (await client.walletTransactions.list.query({ walletId: wallet.id })).items;
    const purchase = createdTransactions.find((t) => t.transactionStatus === 'purchased');
    h.clock.advance(60_000);
    const settled = await client.walletTransactions.recordPayment.mutate({ id: purchase?.id ?? '', status: 'succeeded' });
    const afterPayment = await client.wallets.get.query({ id: wallet.id });
    h.clock.advance(60_000);
    const { transactions: voids } = await client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '15' });
    const depleted = await client.wallets.get.query({ id: wallet.id });
    const { transactions: topUps } = await client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '3' });
    const failed = await client.walletTransactions.recordPayment.mutate({ id: topUps[0]?.id ?? '', status: 'failed' });
    h.clock.advance(60_000);
    const renamed = await client.wallets.update.mutate({ id: wallet.id, name: 'Renamed' });
    const terminated = await client.wallets.terminate.mutate({ id: wallet.id });

    const events = await listAllEvents(client);
    expect(events.map((e) => e.type)).toEqual([
      // create: its transactions, then the wallet
      'wallet_transaction.created',
      'wallet_transaction.created',
      'wallet.created',
      // payment succeeded
      'wallet_transaction.updated',
      'wallet.updated',
      // void of everything
      'wallet_transaction.created',
      'wallet.updated',
      'wallet.depleted_ongoing_balance',
      // a new top-up, then its payment fails
      'wallet_transaction.created',
      'wallet_transaction.updated',
      'wallet_transaction.payment_failure',
      // settings
      'wallet.updated',
      // terminate (nothing left to void, the pending top-up already failed)
      'wallet.terminated',
    ]);
    for (const event of events) {
      expect(event.id).toMatch(UUID);
      expect(event.createdAt).toBeInstanceOf(Date);
      expect(typeof event.cursor).toBe('string');
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);

    const [, , created, txUpdated, walletUpdated, voidCreated, afterVoid, depletedEvent, topUpCreated, topUpFailed, paymentFailure, settings, end] =
      events as EventItem[];
    // wallet.created already shows the granted credits, and is the wallet exactly as create returned it.
    expect(created?.data).toEqual(plain(wallet));
    expect(created?.data).toMatchObject({ balanceCents: 1000, creditsBalance: '10' });
    expect(txUpdated?.data).toEqual(plain(settled));
    expect(walletUpdated?.data).toEqual(plain(afterPayment));
    expect(walletUpdated?.data).toMatchObject({ balanceCents: 1500, creditsBalance: '15' });
    expect(voidCreated?.data).toEqual(plain(voids[0]));
    expect(afterVoid?.data).toEqual(plain(depleted));
    expect(depletedEvent?.data).toEqual(plain(depleted));
    expect(depletedEvent?.data).toMatchObject({ ongoingBalanceCents: 0, creditsOngoingBalance: '0' });
    expect(topUpCreated?.data).toEqual(plain(topUps[0]));
    expect(topUpFailed?.data).toEqual(plain(failed));
    expect(paymentFailure?.data).toEqual(plain(failed));
    expect(settings?.data).toEqual(plain(renamed));
    expect(end?.data).toEqual(plain(terminated));
    expect(end?.data).toMatchObject({ status: 'terminated', name: 'Renamed' });
    // The first events still hold the state as it was then.
    expect(created?.data).toMatchObject({ name: null, status: 'active' });
  });

  it('pages with nextCursor and resumes after any item cursor; limit caps a page', async () => {
    const { client, organizationId } = await tenant();
    // Created with credits, so that no depletion event joins the count.
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '0.5' });
    for (let i = 1; i <= 11; i++) await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: String(i) });
    const all = await listAllEvents(client);
    // (wallet_transaction.created, wallet.created) + 11 x (wallet_transaction.created, wallet.updated)
    expect(all).toHaveLength(24);
    expect(all.filter((e) => e.type === 'wallet_transaction.created').map((e) => (e.data as { creditAmount: string }).creditAmount)).toEqual([
      '0.5',
      ...Array.from({ length: 11 }, (_, i) => String(i + 1)),
    ]);

    // Default limit 20.
    const first = await client.events.list.query();
    expect(first.items).toHaveLength(20);
    expect(first.items).toEqual(all.slice(0, 20));
    expect(first.nextCursor).not.toBeNull();
    const rest = await client.events.list.query({ after: first.nextCursor });
    expect(rest.items).toEqual(all.slice(20));
    expect(rest.nextCursor).toBeNull();

    // Pages of 5, chained with nextCursor, give every event once and in order.
    const paged: EventItem[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page: RouterOutputs['events']['list'] = await client.events.list.query({ after, limit: 5 });
      expect(page.items.length).toBeLessThanOrEqual(5);
      paged.push(...page.items);
      after = page.nextCursor;
      pages++;
    } while (after);
    expect(pages).toBe(5);
    expect(paged).toEqual(all);

    // Any item's cursor resumes right after that item.
    expect((await client.events.list.query({ after: all[6]?.cursor, limit: 3 })).items).toEqual(all.slice(7, 10));
    expect((await client.events.list.query({ after: all[23]?.cursor })).items).toEqual([]);

    // A reader parked on the last cursor sees only what happens next.
    const last = all[all.length - 1]?.cursor ?? null;
    await client.wallets.update.mutate({ id: wallet.id, name: 'later' });
    const expected = await committedEventCount(organizationId);
    let next: EventItem[] = [];
    for (const deadline = Date.now() + 20_000; next.length < expected - all.length && Date.now() < deadline; ) {
      next = (await client.events.list.query({ after: last })).items;
    }
    expect(next.map((e) => e.type)).toEqual(['wallet.updated']);
    expect(next[0]?.data).toMatchObject({ name: 'later' });
  });

  it('lists only the calling organization, and refuses bad limits and cursors', async () => {
    const a = await tenant();
    const b = await h.newTenant();
    await a.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '1' });
    const aEvents = await listAllEvents(a.client);
    expect(aEvents.length).toBeGreaterThan(0);
    expect((await b.client.events.list.query({})).items).toEqual([]);
    // A's cursor in B shows nothing of A's.
    expect((await b.client.events.list.query({ after: aEvents[0]?.cursor })).items).toEqual([]);
    for (const limit of [0, 101]) expect((await errorOf(a.client.events.list.query({ limit }))).walletErrorCode).toBe('VALIDATION_FAILED');
    expect((await errorOf(a.client.events.list.query({ after: 'not-a-cursor' }))).walletErrorCode).toBe('VALIDATION_FAILED');
  });

  it('wallet_transaction.created carries what the host needs to invoice a top-up', async () => {
    const { client } = await tenant();
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '0.5', invoiceRequiresSuccessfulPayment: true });
    const { transactions } = await client.walletTransactions.create.mutate({
      walletId: wallet.id,
      paidCredits: '100',
      name: 'Top-up',
      metadata: [{ key: 'order', value: '42' }],
    });
    const event = (await listAllEvents(client)).find((e) => e.type === 'wallet_transaction.created');
    expect(event?.data).toEqual(plain(transactions[0]));
    expect(event?.data).toMatchObject({
      walletId: wallet.id,
      transactionType: 'inbound',
      transactionStatus: 'purchased',
      status: 'pending',
      source: 'manual',
      creditAmount: '100',
      amountCents: 5000,
      currency: 'EUR',
      invoiceRequiresSuccessfulPayment: true,
      name: 'Top-up',
      metadata: [{ key: 'order', value: '42' }],
    });
  });
});
