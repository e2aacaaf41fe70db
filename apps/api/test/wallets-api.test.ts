/**
 * wallets.* over HTTP (CONTRACT.md "Wallets", DESIGN.md flows 1 and 6): the full wire shape of a
 * wallet, granted credits settled at once, rules by id, list filters and paging, and each business
 * error with its own code and tRPC code.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { RouterOutputs } from '../src/client/index.js';
import { errorOf, type Harness, listAllEvents, startHarness } from './harness.js';

type Wallet = RouterOutputs['wallets']['get'];

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
beforeEach(() => h.clock.set('2026-02-01T10:00:00.000Z'));

const HOUR = 3_600_000;
const DECIMAL = /^\d+(\.\d{1,5})?$/;
const SIGNED_DECIMAL = /^-?\d+(\.\d{1,5})?$/;

/** Every CONTRACT field of a wallet, with its wire type. */
function expectWalletShape(wallet: Wallet): void {
  const w = wallet as Record<string, unknown>;
  for (const key of ['id', 'externalCustomerId', 'code', 'status', 'currency']) expect(typeof w[key], key).toBe('string');
  expect(w.name === null || typeof w.name === 'string').toBe(true);
  for (const key of ['rateAmount', 'creditsBalance', 'consumedCredits']) expect(w[key], key).toMatch(DECIMAL);
  for (const key of ['creditsOngoingBalance', 'creditsOngoingUsageBalance']) expect(w[key], key).toMatch(SIGNED_DECIMAL);
  for (const key of ['priority', 'balanceCents', 'ongoingBalanceCents', 'ongoingUsageBalanceCents', 'consumedAmountCents']) {
    expect(Number.isSafeInteger(w[key]), key).toBe(true);
  }
  for (const key of ['paidTopUpMinAmountCents', 'paidTopUpMaxAmountCents']) expect(w[key] === null || Number.isSafeInteger(w[key]), key).toBe(true);
  for (const key of ['expirationAt', 'terminatedAt']) expect(w[key] === null || w[key] instanceof Date, key).toBe(true);
  expect(w.createdAt).toBeInstanceOf(Date);
  expect(typeof w.invoiceRequiresSuccessfulPayment).toBe('boolean');
  expect(Array.isArray(wallet.appliesTo.feeTypes)).toBe(true);
  expect(Array.isArray(wallet.appliesTo.billableMetricCodes)).toBe(true);
  expect(Array.isArray(wallet.recurringTransactionRules)).toBe(true);
  for (const rule of wallet.recurringTransactionRules) {
    const r = rule as Record<string, unknown>;
    for (const key of ['id', 'status', 'trigger', 'method']) expect(typeof r[key], key).toBe('string');
    for (const key of ['paidCredits', 'grantedCredits', 'thresholdCredits']) expect(r[key], key).toMatch(DECIMAL);
    expect(r.targetOngoingBalance === null || DECIMAL.test(r.targetOngoingBalance as string)).toBe(true);
    for (const key of ['grantsTargetTopUp', 'ignorePaidTopUpLimits', 'invoiceRequiresSuccessfulPayment']) expect(typeof r[key], key).toBe('boolean');
    for (const key of ['startedAt', 'expirationAt']) expect(r[key] === null || r[key] instanceof Date, key).toBe(true);
    expect(r.createdAt).toBeInstanceOf(Date);
    expect(Array.isArray(r.transactionMetadata)).toBe(true);
  }
}

async function tenant(currency: string | undefined = 'EUR', externalId = 'cus_1') {
  const t = await h.newTenant();
  await t.client.customers.upsert.mutate({ externalId, ...(currency ? { currency } : {}) });
  return t;
}

describe('wallets.create / get / list: the wire shape', () => {
  it('returns every contract field, with granted credits settled and paid credits pending', async () => {
    const { client } = await tenant(undefined);
    const now = h.clock.now();
    const expirationAt = new Date(now.getTime() + 90 * 24 * HOUR);
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '2.5',
      currency: 'EUR',
      name: 'Promo Credits',
      priority: 3,
      paidCredits: '20',
      grantedCredits: '10',
      expirationAt,
      invoiceRequiresSuccessfulPayment: true,
      transactionMetadata: [{ key: 'campaign', value: 'spring' }],
      transactionName: 'Welcome pack',
      appliesTo: { feeTypes: ['charge', 'charge'], billableMetricCodes: ['api_calls'] },
      paidTopUpMinAmountCents: 500,
      paidTopUpMaxAmountCents: 100_000,
    });
    expectWalletShape(wallet);
    expect(wallet).toMatchObject({
      externalCustomerId: 'cus_1',
      name: 'Promo Credits',
      code: 'promo_credits',
      status: 'active',
      currency: 'EUR',
      rateAmount: '2.5',
      priority: 3,
      balanceCents: 2500,
      creditsBalance: '10',
      ongoingBalanceCents: 2500,
      creditsOngoingBalance: '10',
      ongoingUsageBalanceCents: 0,
      creditsOngoingUsageBalance: '0',
      consumedCredits: '0',
      consumedAmountCents: 0,
      expirationAt,
      terminatedAt: null,
      invoiceRequiresSuccessfulPayment: true,
      paidTopUpMinAmountCents: 500,
      paidTopUpMaxAmountCents: 100_000,
      appliesTo: { feeTypes: ['charge'], billableMetricCodes: ['api_calls'] },
      recurringTransactionRules: [],
      createdAt: now,
    });
    // The wallet set the customer's currency.
    expect((await client.customers.get.query({ externalId: 'cus_1' })).currency).toBe('EUR');

    expect(await client.wallets.get.query({ id: wallet.id })).toEqual(wallet);
    const listed = await client.wallets.list.query({});
    expect(listed).toEqual({ items: [wallet], nextCursor: null });

    const transactions = (await client.walletTransactions.list.query({ walletId: wallet.id })).items;
    const byStatus = Object.fromEntries(transactions.map((t) => [t.transactionStatus, t]));
    expect(byStatus.granted).toMatchObject({
      walletId: wallet.id,
      currency: 'EUR',
      transactionType: 'inbound',
      status: 'settled',
      source: 'manual',
      creditAmount: '10',
      amountCents: 2500,
      remainingCreditAmount: '10',
      name: 'Welcome pack',
      metadata: [{ key: 'campaign', value: 'spring' }],
      settledAt: now,
      createdAt: now,
    });
    expect(byStatus.purchased).toMatchObject({
      status: 'pending',
      creditAmount: '20',
      amountCents: 5000,
      remainingCreditAmount: null,
      invoiceRequiresSuccessfulPayment: true,
      invoiceId: null,
      settledAt: null,
      failedAt: null,
      name: 'Welcome pack',
    });

    // The wallet.created event comes after the transactions it opened with and already shows the grant.
    const events = await listAllEvents(client);
    expect(events.map((e) => e.type)).toEqual(['wallet_transaction.created', 'wallet_transaction.created', 'wallet.created']);
    const created = events[2];
    expect(created?.createdAt).toBeInstanceOf(Date);
    expect(created?.data).toMatchObject({ id: wallet.id, balanceCents: 2500, creditsBalance: '10', status: 'active', code: 'promo_credits' });
    const txIds = events.slice(0, 2).map((e) => (e.data as { id: string }).id);
    expect(txIds.sort()).toEqual(transactions.map((t) => t.id).sort());
  });

  it('defaults: no name -> code "default", priority 50, empty appliesTo, no limits; a second default code gets a suffix', async () => {
    const { client } = await tenant();
    const first = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1' });
    expectWalletShape(first);
    expect(first).toMatchObject({
      name: null,
      code: 'default',
      priority: 50,
      currency: 'EUR',
      balanceCents: 0,
      creditsBalance: '0',
      expirationAt: null,
      invoiceRequiresSuccessfulPayment: false,
      paidTopUpMinAmountCents: null,
      paidTopUpMaxAmountCents: null,
      appliesTo: { feeTypes: [], billableMetricCodes: [] },
    });
    const second = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1' });
    expect(second.code).toBe('default_2');
    // Every fee type selected means all of them: stored as no limit.
    const all = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      appliesTo: { feeTypes: ['subscription', 'charge', 'fixed_charge', 'commitment', 'add_on', 'credit'] },
    });
    expect(all.appliesTo).toEqual({ feeTypes: [], billableMetricCodes: [] });
  });

  it('JPY has no minor unit and KWD three: cents follow the currency exponent', async () => {
    const jpy = await tenant('JPY');
    const yen = await jpy.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '100', grantedCredits: '1.5' });
    expect(yen).toMatchObject({ balanceCents: 150, creditsBalance: '1.5' });
    const kwd = await tenant('KWD');
    const dinar = await kwd.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '1.2345' });
    // 1.2345 KWD -> 1234.5 fils -> 1235 fils -> 1.235 credits (round trip).
    expect(dinar).toMatchObject({ balanceCents: 1235, creditsBalance: '1.235' });
  });
});

describe('recurring transaction rules round trip', () => {
  it('creates, changes by id, replaces, keeps when left out of an update, and ends with []', async () => {
    const { client } = await tenant();
    const now = h.clock.now();
    const ruleExpiry = new Date(now.getTime() + 365 * 24 * HOUR);
    const startedAt = new Date('2026-02-15T00:00:00.000Z');
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      invoiceRequiresSuccessfulPayment: true,
      recurringTransactionRules: [
        {
          trigger: 'interval',
          interval: 'monthly',
          method: 'fixed',
          paidCredits: '10.5',
          grantedCredits: '2',
          startedAt,
          expirationAt: ruleExpiry,
          transactionMetadata: [{ key: 'source', value: 'auto' }],
          transactionName: 'Monthly top-up',
        },
      ],
    });
    expectWalletShape(wallet);
    expect(wallet.recurringTransactionRules).toHaveLength(1);
    const rule = wallet.recurringTransactionRules[0];
    expect(rule).toEqual({
      id: expect.any(String),
      status: 'active',
      trigger: 'interval',
      interval: 'monthly',
      method: 'fixed',
      paidCredits: '10.5',
      grantedCredits: '2',
      thresholdCredits: '0',
      targetOngoingBalance: null,
      grantsTargetTopUp: false,
      ignorePaidTopUpLimits: false,
      // Inherited from the wallet when the rule does not say.
      invoiceRequiresSuccessfulPayment: true,
      startedAt,
      expirationAt: ruleExpiry,
      transactionMetadata: [{ key: 'source', value: 'auto' }],
      transactionName: 'Monthly top-up',
      createdAt: now,
    });
    expect((await client.wallets.get.query({ id: wallet.id })).recurringTransactionRules).toEqual([rule]);

    // Listed with its id: changed in place.
    h.clock.advance(HOUR);
    const changed = await client.wallets.update.mutate({
      id: wallet.id,
      recurringTransactionRules: [{ id: rule?.id, interval: 'quarterly', method: 'target', targetOngoingBalance: '50', grantsTargetTopUp: true }],
    });
    expect(changed.recurringTransactionRules).toEqual([
      { ...rule, interval: 'quarterly', method: 'target', targetOngoingBalance: '50', grantsTargetTopUp: true },
    ]);

    // Left out of an update: kept.
    const renamed = await client.wallets.update.mutate({ id: wallet.id, name: 'Renamed' });
    expect(renamed.recurringTransactionRules).toEqual(changed.recurringTransactionRules);

    // Listed without id: a new rule, and the old one ends.
    const replaced = await client.wallets.update.mutate({
      id: wallet.id,
      recurringTransactionRules: [
        { trigger: 'threshold', method: 'fixed', thresholdCredits: '0', grantedCredits: '1', invoiceRequiresSuccessfulPayment: false },
      ],
    });
    expect(replaced.recurringTransactionRules).toHaveLength(1);
    expect(replaced.recurringTransactionRules[0]).toMatchObject({
      trigger: 'threshold',
      interval: null,
      method: 'fixed',
      thresholdCredits: '0',
      grantedCredits: '1',
      paidCredits: '0',
      invoiceRequiresSuccessfulPayment: false,
      startedAt: h.clock.now(),
      createdAt: h.clock.now(),
    });
    expect(replaced.recurringTransactionRules[0]?.id).not.toBe(rule?.id);

    // []: every active rule ends.
    const ended = await client.wallets.update.mutate({ id: wallet.id, recurringTransactionRules: [] });
    expect(ended.recurringTransactionRules).toEqual([]);
    expect((await client.wallets.get.query({ id: wallet.id })).recurringTransactionRules).toEqual([]);
    const { rows } = await db.query<{ status: string }>('select status from recurring_transaction_rules where wallet_id = $1 order by created_at', [
      wallet.id,
    ]);
    expect(rows.map((r) => r.status)).toEqual(['terminated', 'terminated']);
  });

  it("refuses a rule that breaks its own shape or the wallet's top-up limits", async () => {
    const { client } = await tenant();
    const noInterval = await errorOf(
      client.wallets.create.mutate({
        externalCustomerId: 'cus_1',
        rateAmount: '1',
        recurringTransactionRules: [{ trigger: 'interval', grantedCredits: '1' }],
      }),
    );
    expect(noInterval.walletErrorCode).toBe('VALIDATION_FAILED');
    expect(noInterval.issues?.map((i) => i.path.join('.'))).toEqual(['recurringTransactionRules.0.interval']);
    const noTarget = await errorOf(
      client.wallets.create.mutate({
        externalCustomerId: 'cus_1',
        rateAmount: '1',
        recurringTransactionRules: [{ trigger: 'threshold', method: 'target', thresholdCredits: '5' }],
      }),
    );
    expect(noTarget.walletErrorCode).toBe('VALIDATION_FAILED');
    const tooBig = await errorOf(
      client.wallets.create.mutate({
        externalCustomerId: 'cus_1',
        rateAmount: '1',
        paidTopUpMaxAmountCents: 1000,
        recurringTransactionRules: [{ trigger: 'interval', interval: 'weekly', paidCredits: '10.01' }],
      }),
    );
    expect(tooBig).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'AMOUNT_ABOVE_MAXIMUM' });
    const pastExpiry = await errorOf(
      client.wallets.create.mutate({
        externalCustomerId: 'cus_1',
        rateAmount: '1',
        recurringTransactionRules: [{ trigger: 'interval', interval: 'weekly', grantedCredits: '1', expirationAt: new Date('2026-01-01T00:00:00Z') }],
      }),
    );
    expect(pastExpiry).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'INVALID_EXPIRATION_DATE' });
    expect((await client.wallets.list.query({})).items).toEqual([]);
  });
});

describe('wallets.update and wallets.terminate', () => {
  it('changes every setting, clears with null, and emits wallet.updated with the new state', async () => {
    const { client } = await tenant();
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      name: 'Old',
      expirationAt: new Date('2026-06-01T00:00:00.000Z'),
      paidTopUpMinAmountCents: 100,
      paidTopUpMaxAmountCents: 900,
    });
    h.clock.advance(HOUR);
    const newExpiry = new Date('2026-12-31T23:59:59.000Z');
    const updated = await client.wallets.update.mutate({
      id: wallet.id,
      name: 'New',
      code: 'new_code',
      priority: 7,
      expirationAt: newExpiry,
      invoiceRequiresSuccessfulPayment: true,
      appliesTo: { feeTypes: ['subscription'], billableMetricCodes: ['seats', 'seats', 'storage'] },
      paidTopUpMinAmountCents: 200,
      paidTopUpMaxAmountCents: 2000,
    });
    expectWalletShape(updated);
    // updatedAt is not a contract field (and is stamped by the ORM, not by the injected clock).
    expect({ ...updated, updatedAt: undefined }).toEqual({
      ...wallet,
      updatedAt: undefined,
      name: 'New',
      code: 'new_code',
      priority: 7,
      expirationAt: newExpiry,
      invoiceRequiresSuccessfulPayment: true,
      appliesTo: { feeTypes: ['subscription'], billableMetricCodes: ['seats', 'storage'] },
      paidTopUpMinAmountCents: 200,
      paidTopUpMaxAmountCents: 2000,
    });
    expect(await client.wallets.get.query({ id: wallet.id })).toEqual(updated);

    const cleared = await client.wallets.update.mutate({
      id: wallet.id,
      expirationAt: null,
      paidTopUpMinAmountCents: null,
      paidTopUpMaxAmountCents: null,
      name: null,
    });
    expect(cleared).toMatchObject({ expirationAt: null, paidTopUpMinAmountCents: null, paidTopUpMaxAmountCents: null, name: null, code: 'new_code' });
    // An update that leaves everything out changes nothing.
    const same = await client.wallets.update.mutate({ id: wallet.id });
    expect({ ...same, updatedAt: undefined }).toEqual({ ...cleared, updatedAt: undefined });

    const updates = (await listAllEvents(client)).filter((e) => e.type === 'wallet.updated');
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates[0]?.data).toMatchObject({ id: wallet.id, name: 'New', code: 'new_code', priority: 7 });
    expect(updates[1]?.data).toMatchObject({ id: wallet.id, name: null, paidTopUpMinAmountCents: null });
  });

  it('terminate voids the balance in the ledger, fails pending top-ups, ends rules, and is a no-op the second time', async () => {
    const { client } = await tenant();
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      code: 'main',
      grantedCredits: '12.34',
      paidCredits: '5',
      recurringTransactionRules: [{ trigger: 'interval', interval: 'monthly', grantedCredits: '1' }],
    });
    h.clock.advance(HOUR);
    const terminatedAt = h.clock.now();
    const terminated = await client.wallets.terminate.mutate({ id: wallet.id });
    expectWalletShape(terminated);
    expect(terminated).toMatchObject({
      id: wallet.id,
      status: 'terminated',
      terminatedAt,
      balanceCents: 0,
      creditsBalance: '0',
      ongoingBalanceCents: 0,
      creditsOngoingBalance: '0',
      consumedCredits: '12.34',
      consumedAmountCents: 1234,
      recurringTransactionRules: [],
    });
    const transactions = (await client.walletTransactions.list.query({ walletId: wallet.id })).items;
    const voids = transactions.filter((t) => t.transactionStatus === 'voided');
    expect(voids).toHaveLength(1);
    expect(voids[0]).toMatchObject({
      transactionType: 'outbound',
      status: 'settled',
      source: 'termination',
      creditAmount: '12.34',
      amountCents: 1234,
    });
    expect(transactions.find((t) => t.transactionStatus === 'purchased')).toMatchObject({ status: 'failed', failedAt: terminatedAt });

    const events = await listAllEvents(client);
    const terminatedEvent = events.find((e) => e.type === 'wallet.terminated');
    expect(terminatedEvent?.data).toMatchObject({ id: wallet.id, status: 'terminated', balanceCents: 0 });

    h.clock.advance(HOUR);
    const again = await client.wallets.terminate.mutate({ id: wallet.id });
    expect(again).toEqual(terminated);
    expect((await client.walletTransactions.list.query({ walletId: wallet.id })).items).toHaveLength(transactions.length);

    // The code is free again among active wallets.
    const successor = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', code: 'main' });
    expect(successor.code).toBe('main');
  });
});

describe('wallets.list: filters and cursor paging', () => {
  it('pages newest first with nextCursor, and filters by customer and status', async () => {
    const { client } = await tenant('EUR', 'cus_x');
    await client.customers.upsert.mutate({ externalId: 'cus_y', currency: 'USD' });
    const created: Wallet[] = [];
    for (const customer of ['cus_x', 'cus_y', 'cus_x', 'cus_y', 'cus_x']) {
      h.clock.advance(60_000);
      created.push(await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', name: `w${created.length}` }));
    }
    await client.wallets.terminate.mutate({ id: created[2]?.id ?? '' });
    const newestFirst = [...created].reverse().map((w) => w.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: RouterOutputs['wallets']['list'] = await client.wallets.list.query({ limit: 2, cursor });
      pages++;
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const w of page.items) expectWalletShape(w);
      seen.push(...page.items.map((w) => w.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(newestFirst);

    // An exact fit: the last full page says there is no more.
    const full = await client.wallets.list.query({ limit: 5 });
    expect(full.items.map((w) => w.id)).toEqual(newestFirst);
    expect(full.nextCursor).toBeNull();
    const first = await client.wallets.list.query({ limit: 4 });
    expect(first.nextCursor).not.toBeNull();
    const rest = await client.wallets.list.query({ limit: 4, cursor: first.nextCursor });
    expect(rest).toEqual({ items: [expect.objectContaining({ id: created[0]?.id })], nextCursor: null });

    const x = await client.wallets.list.query({ externalCustomerId: 'cus_x' });
    expect(x.items.map((w) => w.id)).toEqual([created[4]?.id, created[2]?.id, created[0]?.id]);
    const y = await client.wallets.list.query({ externalCustomerId: 'cus_y' });
    expect(y.items.map((w) => w.id)).toEqual([created[3]?.id, created[1]?.id]);
    expect(y.items.every((w) => w.currency === 'USD' && w.externalCustomerId === 'cus_y')).toBe(true);
    const terminated = await client.wallets.list.query({ status: 'terminated' });
    expect(terminated.items.map((w) => w.id)).toEqual([created[2]?.id]);
    const activeX = await client.wallets.list.query({ externalCustomerId: 'cus_x', status: 'active' });
    expect(activeX.items.map((w) => w.id)).toEqual([created[4]?.id, created[0]?.id]);
    const activeXPage = await client.wallets.list.query({ externalCustomerId: 'cus_x', status: 'active', limit: 1 });
    const activeXNext = await client.wallets.list.query({ externalCustomerId: 'cus_x', status: 'active', limit: 1, cursor: activeXPage.nextCursor });
    expect([...activeXPage.items, ...activeXNext.items].map((w) => w.id)).toEqual([created[4]?.id, created[0]?.id]);
    expect(activeXNext.nextCursor).toBeNull();

    const unknown = await errorOf(client.wallets.list.query({ externalCustomerId: 'cus_nobody' }));
    expect(unknown).toMatchObject({ code: 'NOT_FOUND', walletErrorCode: 'CUSTOMER_NOT_FOUND' });
  });
});

describe('business errors: each code with its tRPC code', () => {
  it('CUSTOMER_NOT_FOUND (NOT_FOUND)', async () => {
    const { client } = await tenant();
    const error = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_missing', rateAmount: '1', currency: 'EUR' }));
    expect(error).toMatchObject({ code: 'NOT_FOUND', walletErrorCode: 'CUSTOMER_NOT_FOUND' });
  });

  it('CURRENCY_MISMATCH (BAD_REQUEST), on a wallet and on a customer upsert; VALIDATION_FAILED without any currency', async () => {
    const { client } = await tenant('EUR');
    const error = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', currency: 'USD' }));
    expect(error).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'CURRENCY_MISMATCH' });
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', currency: 'EUR' });
    const upsert = await errorOf(client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'GBP' }));
    expect(upsert).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'CURRENCY_MISMATCH' });
    // Leaving the currency out keeps it; once no wallet is active it may change.
    expect((await client.customers.upsert.mutate({ externalId: 'cus_1', timezone: 'Europe/Paris' })).currency).toBe('EUR');
    await client.wallets.terminate.mutate({ id: wallet.id });
    expect((await client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'GBP' })).currency).toBe('GBP');

    await client.customers.upsert.mutate({ externalId: 'cus_none' });
    const none = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_none', rateAmount: '1' }));
    expect(none).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'VALIDATION_FAILED' });
    expect(none.issues?.map((i) => i.path.join('.'))).toEqual(['currency']);
  });

  it('WALLET_LIMIT_REACHED (CONFLICT) at the seventh active wallet; a terminated one frees a place', async () => {
    const { client } = await tenant();
    const wallets: Wallet[] = [];
    for (let i = 0; i < 6; i++) wallets.push(await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1' }));
    expect(new Set(wallets.map((w) => w.code)).size).toBe(6);
    const error = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1' }));
    expect(error).toMatchObject({ code: 'CONFLICT', walletErrorCode: 'WALLET_LIMIT_REACHED' });
    await client.wallets.terminate.mutate({ id: wallets[0]?.id ?? '' });
    const seventh = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1' });
    expect(seventh.status).toBe('active');
    expect((await client.wallets.list.query({ status: 'active' })).items).toHaveLength(6);
  });

  it('CODE_ALREADY_EXISTS (CONFLICT) on create and on update; other customers may reuse a code', async () => {
    const { client } = await tenant();
    await client.customers.upsert.mutate({ externalId: 'cus_2', currency: 'EUR' });
    await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', code: 'vip' });
    const other = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', code: 'other' });
    const error = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', code: 'vip' }));
    expect(error).toMatchObject({ code: 'CONFLICT', walletErrorCode: 'CODE_ALREADY_EXISTS' });
    const update = await errorOf(client.wallets.update.mutate({ id: other.id, code: 'vip' }));
    expect(update).toMatchObject({ code: 'CONFLICT', walletErrorCode: 'CODE_ALREADY_EXISTS' });
    expect((await client.wallets.get.query({ id: other.id })).code).toBe('other');
    expect((await client.wallets.create.mutate({ externalCustomerId: 'cus_2', rateAmount: '1', code: 'vip' })).code).toBe('vip');
  });

  it('WALLET_TERMINATED (CONFLICT) on update and top-up, also for a wallet past its expiry before any job ran', async () => {
    const { client } = await tenant();
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '1' });
    await client.wallets.terminate.mutate({ id: wallet.id });
    for (const call of [
      () => client.wallets.update.mutate({ id: wallet.id, name: 'x' }),
      () => client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1' }),
    ]) {
      expect(await errorOf(call())).toMatchObject({ code: 'CONFLICT', walletErrorCode: 'WALLET_TERMINATED' });
    }

    const expiring = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      grantedCredits: '3',
      expirationAt: new Date(h.clock.now().getTime() + HOUR),
    });
    h.clock.advance(HOUR);
    for (const call of [
      () => client.wallets.update.mutate({ id: expiring.id, priority: 1 }),
      () => client.walletTransactions.create.mutate({ walletId: expiring.id, paidCredits: '1' }),
    ]) {
      expect(await errorOf(call())).toMatchObject({ code: 'CONFLICT', walletErrorCode: 'WALLET_TERMINATED' });
    }
    // Terminating it now records an expiration, not a termination.
    const ended = await client.wallets.terminate.mutate({ id: expiring.id });
    expect(ended.status).toBe('terminated');
    const voids = (await client.walletTransactions.list.query({ walletId: expiring.id, transactionStatus: 'voided' })).items;
    expect(voids).toEqual([expect.objectContaining({ source: 'expiration', creditAmount: '3', amountCents: 300 })]);
  });

  it('INSUFFICIENT_CREDITS (UNPROCESSABLE_CONTENT) for a void above the balance', async () => {
    const { client } = await tenant();
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '5', paidCredits: '100' });
    const error = await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '5.00001' }));
    expect(error).toMatchObject({ code: 'UNPROCESSABLE_CONTENT', walletErrorCode: 'INSUFFICIENT_CREDITS' });
    // Exactly the balance is fine; pending purchases are not balance.
    const { transactions } = await client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '5' });
    expect(transactions[0]).toMatchObject({ transactionStatus: 'voided', creditAmount: '5', amountCents: 500 });
    expect((await client.wallets.get.query({ id: wallet.id })).balanceCents).toBe(0);
  });

  it('AMOUNT_ROUNDS_TO_ZERO (BAD_REQUEST) for a positive amount worth less than a minor unit', async () => {
    const eur = await tenant();
    for (const input of [{ grantedCredits: '0.004' }, { paidCredits: '0.00001' }]) {
      const error = await errorOf(eur.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', ...input }));
      expect(error).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'AMOUNT_ROUNDS_TO_ZERO' });
    }
    // Half a cent rounds up to one.
    const half = await eur.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '0.005' });
    expect(half).toMatchObject({ balanceCents: 1, creditsBalance: '0.01' });
    const jpy = await tenant('JPY');
    const error = await errorOf(jpy.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '0.1', grantedCredits: '4' }));
    expect(error).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'AMOUNT_ROUNDS_TO_ZERO' });
    const wallet = await jpy.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '0.1', grantedCredits: '5' });
    const voidError = await errorOf(jpy.client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '1' }));
    expect(voidError).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'AMOUNT_ROUNDS_TO_ZERO' });
  });

  it('AMOUNT_BELOW_MINIMUM and AMOUNT_ABOVE_MAXIMUM (BAD_REQUEST) for paid top-ups, unless the limits are ignored', async () => {
    const { client } = await tenant();
    const limits = { paidTopUpMinAmountCents: 1000, paidTopUpMaxAmountCents: 5000 };
    const below = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', paidCredits: '9.99', ...limits }));
    expect(below).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'AMOUNT_BELOW_MINIMUM' });
    const above = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', paidCredits: '50.01', ...limits }));
    expect(above).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'AMOUNT_ABOVE_MAXIMUM' });
    // Granted credits are not paid top-ups.
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      grantedCredits: '500',
      paidCredits: '10',
      ...limits,
    });
    expect(wallet.balanceCents).toBe(50_000);
    const ignored = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      paidCredits: '1',
      ignorePaidTopUpLimitsOnCreation: true,
      ...limits,
    });
    expect(ignored.paidTopUpMinAmountCents).toBe(1000);

    expect(await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '9' }))).toMatchObject({
      code: 'BAD_REQUEST',
      walletErrorCode: 'AMOUNT_BELOW_MINIMUM',
    });
    expect(await errorOf(client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '51' }))).toMatchObject({
      code: 'BAD_REQUEST',
      walletErrorCode: 'AMOUNT_ABOVE_MAXIMUM',
    });
    const bounds = await client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '10' });
    expect(bounds.transactions[0]?.amountCents).toBe(1000);
    const overridden = await client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '100', ignorePaidTopUpLimits: true });
    expect(overridden.transactions[0]?.amountCents).toBe(10_000);
  });

  it('INVALID_EXPIRATION_DATE (BAD_REQUEST) for a past or present expiry, and a lot outliving its wallet', async () => {
    const { client } = await tenant();
    const now = h.clock.now();
    for (const expirationAt of [new Date(now.getTime() - 1000), now]) {
      const error = await errorOf(client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', expirationAt }));
      expect(error).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'INVALID_EXPIRATION_DATE' });
    }
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: 'cus_1',
      rateAmount: '1',
      expirationAt: new Date(now.getTime() + 10 * HOUR),
    });
    const update = await errorOf(client.wallets.update.mutate({ id: wallet.id, expirationAt: new Date(now.getTime() - HOUR) }));
    expect(update).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'INVALID_EXPIRATION_DATE' });
    const lot = await errorOf(
      client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1', expirationAt: new Date(now.getTime() + 11 * HOUR) }),
    );
    expect(lot).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'INVALID_EXPIRATION_DATE' });
    const pastLot = await errorOf(
      client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1', expirationAt: new Date(now.getTime() - 1) }),
    );
    expect(pastLot).toMatchObject({ code: 'BAD_REQUEST', walletErrorCode: 'INVALID_EXPIRATION_DATE' });
    expect((await client.wallets.get.query({ id: wallet.id })).expirationAt).toEqual(new Date(now.getTime() + 10 * HOUR));
  });
});
