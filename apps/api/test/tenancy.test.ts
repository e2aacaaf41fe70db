/**
 * Authentication and tenancy over HTTP (DESIGN.md "Domain model", CONTRACT.md "Errors"): a key opens
 * its own organization only; another organization's ids are NOT_FOUND (never FORBIDDEN, never a
 * leak), and the admin token opens admin procedures only.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { ADMIN_TOKEN, errorOf, type Harness, startHarness } from './harness.js';

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

/** Rows of one organization, counted with SQL of our own (events included, visible or not yet). */
async function rowCounts(organizationId: string) {
  const { rows } = await db.query<Record<string, string>>(
    `select (select count(*) from wallets where organization_id = $1) as wallets,
            (select count(*) from wallet_transactions where organization_id = $1) as transactions,
            (select count(*) from events where organization_id = $1) as events`,
    [organizationId],
  );
  return rows[0];
}

/**
 * Every event of an organization, oldest first, once all of its committed events are visible (the
 * outbox may hold events back while writers are in flight). Bounded; never sleeps.
 */
async function allEvents(client: WalletClient, organizationId: string) {
  const { rows } = await db.query<{ n: string }>('select count(*)::text as n from events where organization_id = $1', [organizationId]);
  const expected = Number(rows[0]?.n);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const items = [];
    let after: string | null = null;
    do {
      const page: Awaited<ReturnType<WalletClient['events']['list']['query']>> = await client.events.list.query({ after, limit: 100 });
      items.push(...page.items);
      after = page.nextCursor;
    } while (after);
    if (items.length === expected || Date.now() > deadline) return items;
  }
}

/** Organization A with a customer, a wallet holding granted credits and a pending top-up. */
async function orgA() {
  const a = await h.newTenant('org-a');
  await a.client.customers.upsert.mutate({ externalId: 'cus_shared', currency: 'EUR' });
  const wallet = await a.client.wallets.create.mutate({
    externalCustomerId: 'cus_shared',
    rateAmount: '1',
    name: 'Main',
    grantedCredits: '10',
    paidCredits: '5',
  });
  const transactions = (await a.client.walletTransactions.list.query({ walletId: wallet.id })).items;
  const pending = transactions.find((t) => t.transactionStatus === 'purchased');
  const granted = transactions.find((t) => t.transactionStatus === 'granted');
  if (!pending || !granted) throw new Error('expected a purchase and a grant');
  return { ...a, wallet, pending, granted };
}

describe('authentication', () => {
  it('refuses a missing key with UNAUTHORIZED, over the typed client and over raw HTTP', async () => {
    const blank = createWalletClient({ url: h.app.url, apiKey: '' });
    const error = await errorOf(blank.customers.list.query({}));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.walletErrorCode).toBeNull();

    const raw = await fetch(`${h.app.url}/trpc/customers.list`);
    expect(raw.status).toBe(401);
    const malformedHeader = await fetch(`${h.app.url}/trpc/customers.list`, { headers: { authorization: 'Basic abc' } });
    expect(malformedHeader.status).toBe(401);
  });

  it('refuses an unknown key with UNAUTHORIZED on org and admin procedures', async () => {
    const stranger = h.client('wk_not_a_real_key_0123456789');
    expect((await errorOf(stranger.customers.list.query({}))).code).toBe('UNAUTHORIZED');
    expect((await errorOf(stranger.wallets.create.mutate({ externalCustomerId: 'x', rateAmount: '1' }))).code).toBe('UNAUTHORIZED');
    expect((await errorOf(stranger.admin.createOrganization.mutate({ name: 'sneaky' }))).code).toBe('UNAUTHORIZED');
    expect((await errorOf(stranger.admin.runScheduledJobs.mutate({}))).code).toBe('UNAUTHORIZED');
  });

  it('an organization key on an admin procedure is FORBIDDEN', async () => {
    const { client } = await h.newTenant();
    const create = await errorOf(client.admin.createOrganization.mutate({ name: 'another' }));
    expect(create.code).toBe('FORBIDDEN');
    const jobs = await errorOf(client.admin.runScheduledJobs.mutate({ asOf: new Date('2030-01-01T00:00:00Z') }));
    expect(jobs.code).toBe('FORBIDDEN');
  });

  it('the admin token opens admin procedures only: FORBIDDEN on organization procedures', async () => {
    for (const call of [
      () => h.admin.customers.list.query({}),
      () => h.admin.customers.upsert.mutate({ externalId: 'cus_admin' }),
      () => h.admin.wallets.list.query({}),
      () => h.admin.events.list.query({}),
    ]) {
      const error = await errorOf(call());
      expect(error.code).toBe('FORBIDDEN');
    }
    const created = await h.admin.admin.createOrganization.mutate({ name: 'via admin' });
    expect(created.organization.name).toBe('via admin');
    expect(typeof created.apiKey).toBe('string');
    expect(created.apiKey).not.toBe(ADMIN_TOKEN);
    // The new key works at once and sees an empty organization.
    expect(await h.client(created.apiKey).customers.list.query({})).toEqual({ items: [], nextCursor: null });
  });

  it('two keys of two organizations are distinct and each opens its own organization', async () => {
    const a = await h.newTenant();
    const b = await h.newTenant();
    expect(a.apiKey).not.toBe(b.apiKey);
    expect(a.organizationId).not.toBe(b.organizationId);
    await a.client.customers.upsert.mutate({ externalId: 'only_in_a' });
    expect((await a.client.customers.list.query({})).items.map((c) => c.externalId)).toEqual(['only_in_a']);
    expect((await b.client.customers.list.query({})).items).toEqual([]);
  });
});

describe("another organization's ids are NOT_FOUND", () => {
  it("organization B cannot read, change, terminate or pay anything of organization A's", async () => {
    const a = await orgA();
    const b = await h.newTenant('org-b');
    await b.client.customers.upsert.mutate({ externalId: 'cus_b', currency: 'EUR' });
    const walletBefore = await a.client.wallets.get.query({ id: a.wallet.id });
    const countsBefore = await rowCounts(a.organizationId);

    const walletCalls = [
      () => b.client.wallets.get.query({ id: a.wallet.id }),
      () => b.client.wallets.update.mutate({ id: a.wallet.id, name: 'stolen', priority: 1 }),
      () => b.client.wallets.terminate.mutate({ id: a.wallet.id }),
      () => b.client.walletTransactions.create.mutate({ walletId: a.wallet.id, grantedCredits: '100' }),
      () => b.client.walletTransactions.create.mutate({ walletId: a.wallet.id, voidedCredits: '10' }),
      () => b.client.walletTransactions.list.query({ walletId: a.wallet.id }),
    ];
    for (const call of walletCalls) {
      const error = await errorOf(call());
      expect(error.code).toBe('NOT_FOUND');
      expect(error.walletErrorCode).toBe('WALLET_NOT_FOUND');
    }
    for (const call of [
      () => b.client.walletTransactions.get.query({ id: a.pending.id }),
      () => b.client.walletTransactions.recordPayment.mutate({ id: a.pending.id, status: 'succeeded' }),
      () => b.client.walletTransactions.recordPayment.mutate({ id: a.granted.id, status: 'failed' }),
    ]) {
      const error = await errorOf(call());
      expect(error.code).toBe('NOT_FOUND');
      expect(error.walletErrorCode).toBe('TRANSACTION_NOT_FOUND');
    }
    for (const call of [
      () => b.client.customers.get.query({ externalId: 'cus_shared' }),
      () => b.client.wallets.create.mutate({ externalCustomerId: 'cus_shared', rateAmount: '1', grantedCredits: '1' }),
      () => b.client.wallets.list.query({ externalCustomerId: 'cus_shared' }),
    ]) {
      const error = await errorOf(call());
      expect(error.code).toBe('NOT_FOUND');
      expect(error.walletErrorCode).toBe('CUSTOMER_NOT_FOUND');
    }

    // Nothing of A's moved: same wallet, still pending, no new events.
    expect(await a.client.wallets.get.query({ id: a.wallet.id })).toEqual(walletBefore);
    expect((await a.client.walletTransactions.get.query({ id: a.pending.id })).status).toBe('pending');
    expect(await rowCounts(a.organizationId)).toEqual(countsBefore);
  });

  it("B's lists never show A's rows, even for the same external customer id", async () => {
    const a = await orgA();
    const b = await h.newTenant();
    // The same external id in B is another customer, with its own currency.
    const bCustomer = await b.client.customers.upsert.mutate({ externalId: 'cus_shared', currency: 'USD' });
    expect(bCustomer.currency).toBe('USD');
    expect((await a.client.customers.get.query({ externalId: 'cus_shared' })).currency).toBe('EUR');
    const bWallet = await b.client.wallets.create.mutate({ externalCustomerId: 'cus_shared', rateAmount: '2', grantedCredits: '3' });

    const bWallets = await b.client.wallets.list.query({});
    expect(bWallets.items.map((w) => w.id)).toEqual([bWallet.id]);
    const bByCustomer = await b.client.wallets.list.query({ externalCustomerId: 'cus_shared' });
    expect(bByCustomer.items.map((w) => w.id)).toEqual([bWallet.id]);
    const bCustomers = await b.client.customers.list.query({ search: 'cus' });
    expect(bCustomers.items.map((c) => c.id)).toEqual([bCustomer.id]);

    const aWallets = await a.client.wallets.list.query({});
    expect(aWallets.items.map((w) => w.id)).toEqual([a.wallet.id]);

    const aEventIds = new Set((await allEvents(a.client, a.organizationId)).map((e) => e.id));
    const bEvents = await allEvents(b.client, b.organizationId);
    expect(bEvents.length).toBeGreaterThan(0);
    for (const event of bEvents) {
      expect(aEventIds.has(event.id)).toBe(false);
      expect((event.data as { walletId?: string; id: string }).walletId ?? (event.data as { id: string }).id).toBe(bWallet.id);
    }
    // A's ids resolve nowhere in B, not even through B's own wallet's transactions.
    const bTransactions = await b.client.walletTransactions.list.query({ walletId: bWallet.id });
    expect(bTransactions.items.map((t) => t.walletId)).toEqual([bWallet.id]);
  });

  it('a malformed or unknown id is NOT_FOUND, not a server error', async () => {
    const { client } = await h.newTenant();
    const ids = ['not-a-uuid', "x' or '1'='1", '00000000-0000-0000-0000-000000000000', 'ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ', '../../etc/passwd'];
    for (const id of ids) {
      for (const call of [
        () => client.wallets.get.query({ id }),
        () => client.wallets.update.mutate({ id, name: 'x' }),
        () => client.wallets.terminate.mutate({ id }),
        () => client.walletTransactions.create.mutate({ walletId: id, grantedCredits: '1' }),
        () => client.walletTransactions.list.query({ walletId: id }),
      ]) {
        const error = await errorOf(call());
        expect(error.code, id).toBe('NOT_FOUND');
        expect(error.walletErrorCode, id).toBe('WALLET_NOT_FOUND');
      }
      for (const call of [
        () => client.walletTransactions.get.query({ id }),
        () => client.walletTransactions.recordPayment.mutate({ id, status: 'succeeded' }),
      ]) {
        const error = await errorOf(call());
        expect(error.code, id).toBe('NOT_FOUND');
        expect(error.walletErrorCode, id).toBe('TRANSACTION_NOT_FOUND');
      }
    }
    // An empty id or one longer than any id is a shape problem.
    for (const id of ['', 'x'.repeat(65)]) {
      const error = await errorOf(client.wallets.get.query({ id }));
      expect(error.code).toBe('BAD_REQUEST');
      expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
    }
  });
});
