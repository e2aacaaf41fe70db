import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import { createWallet, readCustomer, readCustomers, terminateWallet, upsertCustomer } from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger } from '../testing/index.js';

let orm: Orm;
let org: string;
const now = new Date('2026-04-01T08:00:00Z');
const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const em = () => orm.em.fork() as EntityManager;

beforeAll(async () => {
  orm = await openTestOrm();
  org = await newOrganization(orm);
});
afterAll(() => orm.close(true));

describe('upsertCustomer', () => {
  it('creates the customer once, then updates it in place', async () => {
    const created = await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'acme' }));
    expect(created).toEqual({ id: expect.any(String), externalId: 'acme', currency: null, timezone: 'UTC', createdAt: now });
    const withCurrency = await mutate(orm, org, at(1), (w) => upsertCustomer(w, { externalId: 'acme', currency: 'EUR' }));
    expect(withCurrency).toEqual({ ...created, currency: 'EUR' });
    const kept = await mutate(orm, org, at(2), (w) => upsertCustomer(w, { externalId: 'acme' }));
    expect(kept.currency).toBe('EUR');
    const zoned = await mutate(orm, org, at(3), (w) => upsertCustomer(w, { externalId: 'acme', timezone: 'Europe/Paris' }));
    expect(zoned).toEqual({ ...created, currency: 'EUR', timezone: 'Europe/Paris' });
    const again = await mutate(orm, org, at(4), (w) => upsertCustomer(w, { externalId: 'acme', currency: 'EUR' }));
    expect(again).toEqual(zoned);
    expect(await readCustomer(em(), org, 'acme')).toEqual(zoned);
  });

  it('keeps the same external id apart per organization', async () => {
    const other = await newOrganization(orm);
    const mine = await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'shared', currency: 'EUR' }));
    const theirs = await mutate(orm, other, now, (w) => upsertCustomer(w, { externalId: 'shared', currency: 'USD' }));
    expect(theirs.id).not.toBe(mine.id);
    expect((await readCustomer(em(), org, 'shared')).currency).toBe('EUR');
    await expect(readCustomer(em(), other, 'acme')).rejects.toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
  });

  it('changes the currency only while no active wallet uses the current one', async () => {
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'switch', currency: 'EUR' }));
    // No wallet yet: the host may correct the currency.
    expect((await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'switch', currency: 'USD' }))).currency).toBe('USD');
    const wallet = await mutate(orm, org, now, (w) =>
      createWallet(w, { externalCustomerId: 'switch', rateAmount: 100_000n, grantedCredits: 100_000n }),
    );
    expect(wallet.currency).toBe('USD');
    await expect(mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'switch', currency: 'EUR' }))).rejects.toMatchObject({
      code: 'CURRENCY_MISMATCH',
    });
    // A refused upsert changes nothing, not even the timezone sent with it.
    await expect(
      mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'switch', currency: 'EUR', timezone: 'Asia/Tokyo' })),
    ).rejects.toMatchObject({ code: 'CURRENCY_MISMATCH' });
    expect(await readCustomer(em(), org, 'switch')).toMatchObject({ currency: 'USD', timezone: 'UTC' });
    // The same currency, or none, is fine.
    expect((await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'switch', currency: 'USD' }))).currency).toBe('USD');
    expect((await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'switch', timezone: 'Asia/Tokyo' }))).currency).toBe('USD');
    // Once the wallet is terminated the currency may change again.
    await mutate(orm, org, now, (w) => terminateWallet(w, wallet.id));
    expect((await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'switch', currency: 'EUR' }))).currency).toBe('EUR');
    expect(await readCustomer(em(), org, 'switch')).toMatchObject({ currency: 'EUR', timezone: 'Asia/Tokyo' });
  });

  it('does not let a wallet past its expiry hold the currency, even before the sweep', async () => {
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'expired-wallet', currency: 'EUR' }));
    await mutate(orm, org, now, (w) =>
      createWallet(w, { externalCustomerId: 'expired-wallet', rateAmount: 100_000n, grantedCredits: 100_000n, expirationAt: at(60) }),
    );
    await expect(mutate(orm, org, at(59), (w) => upsertCustomer(w, { externalId: 'expired-wallet', currency: 'USD' }))).rejects.toMatchObject({
      code: 'CURRENCY_MISMATCH',
    });
    expect((await mutate(orm, org, at(60), (w) => upsertCustomer(w, { externalId: 'expired-wallet', currency: 'USD' }))).currency).toBe('USD');
  });

  it('gets the currency from the first wallet when unset', async () => {
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'by-wallet' }));
    await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'by-wallet', rateAmount: 100_000n, currency: 'KWD' }));
    expect((await readCustomer(em(), org, 'by-wallet')).currency).toBe('KWD');
    await expect(mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'by-wallet', currency: 'EUR' }))).rejects.toMatchObject({
      code: 'CURRENCY_MISMATCH',
    });
  });

  it('reports an unknown customer', async () => {
    await expect(readCustomer(em(), org, 'never-upserted')).rejects.toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
  });
});

describe('readCustomers', () => {
  let listOrg: string;
  const ids = ['k-0', 'k-1', 'k-2', 'k-3', 'k-4', 'other_5', 'otherx6'];

  beforeAll(async () => {
    listOrg = await newOrganization(orm);
    // Distinct times for the first five; the last two share k-4's time, so paging must break ties.
    for (const [i, externalId] of ids.entries()) {
      await mutate(orm, listOrg, at(Math.min(i, 4)), (w) => upsertCustomer(w, { externalId }));
    }
  });

  async function pageAll(input: { search?: string; limit: number }) {
    const pages: string[][] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const page = await readCustomers(em(), listOrg, { ...input, cursor });
      pages.push(page.items.map((c) => c.externalId));
      cursor = page.nextCursor;
      if (cursor === null) return pages;
    }
    throw new Error('paging did not end');
  }

  it('lists newest first, pages with the cursor, and ends with a null cursor', async () => {
    const all = await readCustomers(em(), listOrg, { limit: 100 });
    expect(all.nextCursor).toBeNull();
    expect(all.items).toHaveLength(7);
    const names = all.items.map((c) => c.externalId);
    expect(names.slice(3)).toEqual(['k-3', 'k-2', 'k-1', 'k-0']);
    expect(new Set(names.slice(0, 3))).toEqual(new Set(['k-4', 'other_5', 'otherx6']));
    // Ties on createdAt are ordered by id, descending.
    const tied = all.items.slice(0, 3).map((c) => c.id);
    expect(tied).toEqual([...tied].sort().reverse());

    const pages = await pageAll({ limit: 2 });
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 1]);
    expect(pages.flat()).toEqual(names);
    // An exact multiple of the limit ends with a null cursor, not an empty page.
    const exact = await pageAll({ limit: 7 });
    expect(exact).toEqual([names]);
  });

  it('searches the external id as a literal substring, case-insensitively', async () => {
    expect((await pageAll({ search: 'K-', limit: 3 })).flat()).toEqual(['k-4', 'k-3', 'k-2', 'k-1', 'k-0']);
    // "_" and "%" are not wildcards.
    expect((await pageAll({ search: 'other_', limit: 3 })).flat()).toEqual(['other_5']);
    expect((await pageAll({ search: '%', limit: 3 })).flat()).toEqual([]);
  });

  it('refuses a cursor it did not make', async () => {
    await expect(readCustomers(em(), listOrg, { cursor: 'garbage', limit: 2 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
