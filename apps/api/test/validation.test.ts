/**
 * Input validation over HTTP (CONTRACT.md "Wire conventions", DESIGN.md "Units and arithmetic"):
 * every shape problem of a request comes back at once as VALIDATION_FAILED with field paths, decimal
 * strings are the only way to say credits and rates, extra credit digits are floored, and a refused
 * request writes nothing.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { WalletClient } from '../src/client/index.js';
import { errorOf, type Harness, rowCounts, startHarness } from './harness.js';

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

const paths = (issues: { path: (string | number)[] }[] | null) => (issues ?? []).map((i) => i.path.join('.')).sort();

const metadata = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));

async function tenantWithCustomer(currency?: string) {
  const tenant = await h.newTenant();
  await tenant.client.customers.upsert.mutate({ externalId: 'cus_1', ...(currency ? { currency } : {}) });
  return tenant;
}

async function activeWallet(client: WalletClient, extra: Record<string, unknown> = {}) {
  return client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', currency: 'EUR', ...extra });
}

describe('VALIDATION_FAILED reports every shape problem of one request', () => {
  it('wallets.create: numbers for decimals, bad currency, priority 0, too much metadata, unknown fee type, negative and fractional cents', async () => {
    const { client } = await tenantWithCustomer();
    const error = await errorOf(
      client.wallets.create.mutate({
        externalCustomerId: 'cus_1',
        rateAmount: 1 as never,
        paidCredits: 10 as never,
        grantedCredits: '1e3',
        currency: 'EURO',
        priority: 0,
        transactionMetadata: metadata(6),
        appliesTo: { feeTypes: ['subscription', 'bogus' as never] },
        paidTopUpMinAmountCents: -5,
        paidTopUpMaxAmountCents: 1.5,
      }),
    );
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(error.issues)).toEqual(
      [
        'appliesTo.feeTypes.1',
        'currency',
        'grantedCredits',
        'paidCredits',
        'paidTopUpMaxAmountCents',
        'paidTopUpMinAmountCents',
        'priority',
        'rateAmount',
        'transactionMetadata',
      ].sort(),
    );
    for (const issue of error.issues ?? []) expect(issue.message.length).toBeGreaterThan(0);
    // The message names the fields too, for a human reading a log.
    expect(error.message).toContain('rateAmount');
    expect(error.message).toContain('appliesTo.feeTypes.1');
  });

  it('wallets.create: priority 51, metadata key over 20 and value over 100 characters, an empty key', async () => {
    const { client } = await tenantWithCustomer();
    const error = await errorOf(
      client.wallets.create.mutate({
        externalCustomerId: 'cus_1',
        rateAmount: '1',
        currency: 'EUR',
        priority: 51,
        transactionMetadata: [
          { key: 'k'.repeat(21), value: 'ok' },
          { key: 'fine', value: 'v'.repeat(101) },
          { key: '', value: 'x' },
        ],
      }),
    );
    expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(error.issues)).toEqual(['priority', 'transactionMetadata.0.key', 'transactionMetadata.1.value', 'transactionMetadata.2.key']);
  });

  it('accepts the boundaries: priority 1 and 50, 5 metadata items, a 20-character key and a 100-character value', async () => {
    const { client } = await tenantWithCustomer('EUR');
    const first = await activeWallet(client, {
      priority: 1,
      transactionMetadata: [...metadata(4), { key: 'k'.repeat(20), value: 'v'.repeat(100) }],
      grantedCredits: '1',
    });
    expect(first.priority).toBe(1);
    const second = await activeWallet(client, { priority: 50 });
    expect(second.priority).toBe(50);
    const [grant] = (await client.walletTransactions.list.query({ walletId: first.id })).items;
    expect(grant?.metadata).toEqual([...metadata(4), { key: 'k'.repeat(20), value: 'v'.repeat(100) }]);
  });

  it('wallets.create: duplicate metadata keys, a rule with a number for credits, more than one rule', async () => {
    const { client } = await tenantWithCustomer('EUR');
    const duplicate = await errorOf(
      activeWallet(client, {
        transactionMetadata: [
          { key: 'a', value: '1' },
          { key: 'a', value: '2' },
        ],
      }),
    );
    expect(duplicate.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(duplicate.issues)).toEqual(['transactionMetadata']);

    const rule = await errorOf(
      activeWallet(client, {
        recurringTransactionRules: [{ trigger: 'interval', interval: 'fortnightly', method: 'fixed', paidCredits: 5 }],
      }),
    );
    expect(rule.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(rule.issues)).toEqual(['recurringTransactionRules.0.interval', 'recurringTransactionRules.0.paidCredits']);

    const two = await errorOf(
      activeWallet(client, {
        recurringTransactionRules: [
          { trigger: 'interval', interval: 'monthly', grantedCredits: '1' },
          { trigger: 'interval', interval: 'weekly', grantedCredits: '1' },
        ],
      }),
    );
    expect(two.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(two.issues)).toEqual(['recurringTransactionRules']);
  });

  it('walletTransactions.create: more than 15 metadata items, negative credits, numbers, priority out of range', async () => {
    const { client } = await tenantWithCustomer('EUR');
    const wallet = await activeWallet(client, { grantedCredits: '10' });
    const error = await errorOf(
      client.walletTransactions.create.mutate({
        walletId: wallet.id,
        paidCredits: '-1',
        grantedCredits: 3 as never,
        voidedCredits: '1e1',
        metadata: metadata(16),
        priority: 51,
      }),
    );
    expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(error.issues)).toEqual(['grantedCredits', 'metadata', 'paidCredits', 'priority', 'voidedCredits']);

    const ok = await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1', metadata: metadata(15), priority: 1 });
    expect(ok.transactions[0]?.metadata).toHaveLength(15);
    expect(ok.transactions[0]?.priority).toBe(1);
  });

  it('list limits: 0 and 101 refused on every list, 1 and 100 accepted', async () => {
    const { client } = await tenantWithCustomer('EUR');
    const wallet = await activeWallet(client);
    for (const limit of [0, 101, 2.5]) {
      const results = await Promise.all([
        errorOf(client.wallets.list.query({ limit })),
        errorOf(client.walletTransactions.list.query({ walletId: wallet.id, limit })),
        errorOf(client.customers.list.query({ limit })),
        errorOf(client.events.list.query({ limit })),
      ]);
      for (const error of results) {
        expect(error.code).toBe('BAD_REQUEST');
        expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
        expect(paths(error.issues)).toEqual(['limit']);
      }
    }
    for (const limit of [1, 100]) {
      const page = await client.wallets.list.query({ limit });
      expect(page.items).toHaveLength(1);
      expect((await client.walletTransactions.list.query({ walletId: wallet.id, limit })).items).toHaveLength(0);
    }
  });

  it('an unknown cursor is a validation error on the cursor, not a 500', async () => {
    const { client } = await tenantWithCustomer('EUR');
    for (const call of [() => client.wallets.list.query({ cursor: 'garbage' }), () => client.customers.list.query({ cursor: '!!' })]) {
      const error = await errorOf(call());
      expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
      expect(paths(error.issues)).toEqual(['cursor']);
    }
    const events = await errorOf(client.events.list.query({ after: 'garbage' }));
    expect(events.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(events.issues)).toEqual(['after']);
  });

  it('customers.upsert: unsupported currency and unknown time zone together', async () => {
    const { client } = await h.newTenant();
    const error = await errorOf(client.customers.upsert.mutate({ externalId: ' ', currency: 'eur', timezone: 'Mars/Olympus' }));
    expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(error.issues)).toEqual(['currency', 'externalId', 'timezone']);
  });
});

describe('decimal strings', () => {
  it('refuses exponents, signs, separators, blanks and other non-plain decimals', async () => {
    const { client } = await tenantWithCustomer('EUR');
    for (const text of ['1e3', '1E3', '1.5e-2', '+1', ' 1', '1 ', '1,5', '.5', '5.', '', 'NaN', 'Infinity', '0x10', '١']) {
      const error = await errorOf(activeWallet(client, { grantedCredits: text }));
      expect(error.walletErrorCode, JSON.stringify(text)).toBe('VALIDATION_FAILED');
      expect(paths(error.issues), JSON.stringify(text)).toEqual(['grantedCredits']);
    }
    for (const text of ['1e3', '0', '-1', '0.000001', '1.000001']) {
      const error = await errorOf(activeWallet(client, { rateAmount: text }));
      expect(error.walletErrorCode, text).toBe('VALIDATION_FAILED');
      expect(paths(error.issues), text).toEqual(['rateAmount']);
    }
    // Trailing zeros beyond 5 digits are exact, so a rate written that way is fine.
    const wallet = await activeWallet(client, { rateAmount: '1.2500000' });
    expect(wallet.rateAmount).toBe('1.25');
  });

  it('floors input credits to 5 digits before converting (never rounds them up)', async () => {
    const { client } = await tenantWithCustomer('EUR');
    // Rate 1000: every 5th-digit credit is worth a whole cent, so the floored credits survive the
    // round trip and show the flooring itself.
    const fine = await activeWallet(client, { rateAmount: '1000', grantedCredits: '1.123459' });
    expect(fine.creditsBalance).toBe('1.12345');
    expect(fine.balanceCents).toBe(112345);
    const [grant] = (await client.walletTransactions.list.query({ walletId: fine.id })).items;
    expect(grant).toMatchObject({ transactionStatus: 'granted', creditAmount: '1.12345', amountCents: 112345 });

    // Rate 1: 1.123456 floors to 1.12345, worth 112.345 -> 112 cents; granted credits are the
    // round trip of those cents, so the customer holds exactly 1.12.
    const coarse = await activeWallet(client, { grantedCredits: '1.123456', paidCredits: '2.999999' });
    expect(coarse.creditsBalance).toBe('1.12');
    expect(coarse.balanceCents).toBe(112);
    const purchased = (await client.walletTransactions.list.query({ walletId: coarse.id, transactionStatus: 'purchased' })).items[0];
    // 2.99999 credits -> 299.999 cents -> 300 cents -> 3 credits.
    expect(purchased).toMatchObject({ status: 'pending', creditAmount: '3', amountCents: 300 });

    // Voided credits are floored and keep their own cents conversion (no round trip).
    const { transactions } = await client.walletTransactions.create.mutate({ walletId: coarse.id, voidedCredits: '0.123459' });
    expect(transactions).toHaveLength(1);
    expect(transactions[0]).toMatchObject({ transactionStatus: 'voided', creditAmount: '0.12345', amountCents: 12 });
    const after = await client.wallets.get.query({ id: coarse.id });
    expect(after.creditsBalance).toBe('0.99655');
    expect(after.balanceCents).toBe(100);
  });

  it('credits that floor to zero are not a top-up', async () => {
    const { client } = await tenantWithCustomer('EUR');
    const wallet = await activeWallet(client);
    // 0.000009 floors to 0: nothing is asked for.
    const error = await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '0.000009' }));
    expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
    expect((await client.walletTransactions.list.query({ walletId: wallet.id })).items).toEqual([]);
  });
});

describe('a refused request writes nothing', () => {
  it('leaves every table as it was after shape errors and business errors', async () => {
    const { client, organizationId } = await h.newTenant();
    await client.customers.upsert.mutate({ externalId: 'cus_1' });
    const before = await rowCounts(db, organizationId);
    const listsBefore = {
      wallets: await client.wallets.list.query({}),
      events: await client.events.list.query({}),
    };

    // Shape errors, with an idempotency key (which must not be claimed either).
    const shape = await errorOf(
      client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: 1 as never, currency: 'EUR', idempotencyKey: 'k1' }),
    );
    expect(shape.walletErrorCode).toBe('VALIDATION_FAILED');
    // A business refusal after the customer currency would have been set: nothing sticks.
    const business = await errorOf(
      client.wallets.create.mutate({
        externalCustomerId: 'cus_1',
        rateAmount: '1',
        currency: 'USD',
        grantedCredits: '10',
        paidCredits: '1',
        paidTopUpMinAmountCents: 500,
        idempotencyKey: 'k2',
      }),
    );
    expect(business.walletErrorCode).toBe('AMOUNT_BELOW_MINIMUM');
    const limits = await errorOf(
      client.wallets.create.mutate({
        externalCustomerId: 'cus_1',
        rateAmount: '1',
        currency: 'USD',
        paidTopUpMinAmountCents: 500,
        paidTopUpMaxAmountCents: 100,
      }),
    );
    expect(limits.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(paths(limits.issues)).toEqual(['paidTopUpMaxAmountCents']);

    expect(await rowCounts(db, organizationId)).toEqual(before);
    expect(await client.wallets.list.query({})).toEqual(listsBefore.wallets);
    expect(await client.events.list.query({})).toEqual(listsBefore.events);
    expect((await client.customers.get.query({ externalId: 'cus_1' })).currency).toBeNull();

    // The keys of refused requests are free: the same key now runs as a first attempt.
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      currency: 'USD',
      grantedCredits: '10',
      idempotencyKey: 'k2',
    });
    expect(wallet.balanceCents).toBe(1000);

    // A refused top-up on an existing wallet writes nothing either.
    const mid = await rowCounts(db, organizationId);
    const walletBefore = await client.wallets.get.query({ id: wallet.id });
    const void_ = await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '5', voidedCredits: '11' }));
    expect(void_.walletErrorCode).toBe('INSUFFICIENT_CREDITS');
    const bad = await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '5', metadata: metadata(16) }));
    expect(bad.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(await rowCounts(db, organizationId)).toEqual(mid);
    expect(await client.wallets.get.query({ id: wallet.id })).toEqual(walletBefore);
  });
});
