/**
 * The in-process client (DESIGN.md "Interfaces"): the same typed client over the router itself,
 * for a host that runs it in its own process. Same results, same validation, same error codes and
 * the same idempotency records as over HTTP.
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { isWalletError, type WalletClient, type WalletErrorCode } from '../src/client/index.js';
import { createInProcessWalletClient } from '../src/in-process.js';
import { ADMIN_TOKEN, errorOf, type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.stop());

const inProcess = (apiKey: string): WalletClient => createInProcessWalletClient({ orm: h.app.orm, clock: h.clock, adminToken: ADMIN_TOKEN }, apiKey);

/** The parts of a wallet that do not depend on which customer or call made it. */
function comparable(wallet: { recurringTransactionRules: { id: string }[] }) {
  const { id, externalCustomerId, updatedAt, recurringTransactionRules, ...rest } = wallet as typeof wallet & Record<string, unknown>;
  return { ...rest, recurringTransactionRules: recurringTransactionRules.map(({ id: _id, ...rule }) => rule) };
}

describe('createInProcessWalletClient', () => {
  it('gives the same results as HTTP for a create / get / list / top-up / pay sequence', async () => {
    h.clock.set('2026-06-01T00:00:00.000Z');
    const { client: http, apiKey } = await h.newTenant();
    const local = inProcess(apiKey);

    const run = async (client: WalletClient, customer: string) => {
      const upserted = await client.customers.upsert.mutate({ externalId: customer, currency: 'EUR', timezone: 'Europe/Berlin' });
      const created = await client.wallets.create.mutate({
        externalCustomerId: customer,
        rateAmount: '1.1',
        name: 'Same',
        grantedCredits: '10.123456',
        paidCredits: '3',
        expirationAt: new Date('2027-01-01T00:00:00.000Z'),
        appliesTo: { billableMetricCodes: ['calls'] },
        recurringTransactionRules: [{ trigger: 'interval', interval: 'yearly', grantedCredits: '1' }],
      });
      const fetched = await client.wallets.get.query({ id: created.id });
      const purchase = (await client.walletTransactions.list.query({ walletId: created.id, transactionStatus: 'purchased' })).items[0];
      const paid = await client.walletTransactions.recordPayment.mutate({
        id: purchase?.id ?? '',
        status: 'succeeded',
        invoiceId: `inv_${customer}`,
      });
      const after = await client.wallets.get.query({ id: created.id });
      const listed = await client.wallets.list.query({ externalCustomerId: customer });
      return { upserted, created, fetched, paid, after, listed };
    };
    const overHttp = await run(http, 'cus_http');
    const local_ = await run(local, 'cus_local');

    expect(local_.created.createdAt).toBeInstanceOf(Date);
    expect(local_.created.expirationAt).toBeInstanceOf(Date);
    expect(local_.fetched).toEqual(local_.created);
    expect(comparable(local_.created)).toEqual(comparable(overHttp.created));
    expect(local_.created.recurringTransactionRules).toHaveLength(1);
    expect(comparable(local_.after)).toEqual(comparable(overHttp.after));
    // 10.12345 credits x 1.1 = 1113.58 -> 1114 cents -> 10.12727 credits; 3 x 1.1 = 330 cents -> 3 credits.
    expect(local_.after).toMatchObject({ balanceCents: 1444, creditsBalance: '13.12727' });
    const { id: _a, walletId: _b, invoiceId: _c, ...localPaid } = local_.paid;
    const { id: _d, walletId: _e, invoiceId: _f, ...httpPaid } = overHttp.paid;
    expect(localPaid).toEqual(httpPaid);
    expect(local_.paid.invoiceId).toBe('inv_cus_local');
    expect({ ...local_.upserted, id: null, externalId: null }).toEqual({ ...overHttp.upserted, id: null, externalId: null });
    expect(local_.listed.items.map((w) => w.id)).toEqual([local_.created.id]);

    // Both clients see one organization: each reads what the other wrote, identically.
    expect(await http.wallets.get.query({ id: local_.created.id })).toEqual(local_.after);
    expect(await local.wallets.get.query({ id: overHttp.created.id })).toEqual(overHttp.after);
    const everything = await local.wallets.list.query({});
    expect(everything).toEqual(await http.wallets.list.query({}));
    expect(everything.items).toHaveLength(2);
  });

  it('gives the same error codes, tRPC codes and field paths as HTTP', async () => {
    h.clock.set('2026-06-02T00:00:00.000Z');
    const { client: http, apiKey } = await h.newTenant();
    const local = inProcess(apiKey);
    await http.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
    const wallet = await http.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '2', idempotencyKey: 'w1' });

    const cases: ((client: WalletClient) => Promise<unknown>)[] = [
      (c) => c.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: 1 as never, priority: 0, currency: 'XYZ', grantedCredits: '1e3' }),
      (c) => c.wallets.create.mutate({ externalCustomerId: 'cus_nobody', rateAmount: '1', currency: 'EUR' }),
      (c) => c.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', currency: 'USD' }),
      (c) => c.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '3', idempotencyKey: 'w1' }),
      (c) => c.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '0.001' }),
      (c) => c.wallets.get.query({ id: 'not-a-uuid' }),
      (c) => c.walletTransactions.get.query({ id: '00000000-0000-0000-0000-000000000000' }),
      (c) => c.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '5' }),
      (c) => c.wallets.update.mutate({ id: wallet.id, expirationAt: new Date('2020-01-01T00:00:00Z') }),
      (c) => c.wallets.list.query({ limit: 101 }),
    ];
    const expected = [
      ['BAD_REQUEST', 'VALIDATION_FAILED'],
      ['NOT_FOUND', 'CUSTOMER_NOT_FOUND'],
      ['BAD_REQUEST', 'CURRENCY_MISMATCH'],
      ['CONFLICT', 'IDEMPOTENCY_KEY_REUSED'],
      ['BAD_REQUEST', 'AMOUNT_ROUNDS_TO_ZERO'],
      ['NOT_FOUND', 'WALLET_NOT_FOUND'],
      ['NOT_FOUND', 'TRANSACTION_NOT_FOUND'],
      ['UNPROCESSABLE_CONTENT', 'INSUFFICIENT_CREDITS'],
      ['BAD_REQUEST', 'INVALID_EXPIRATION_DATE'],
      ['BAD_REQUEST', 'VALIDATION_FAILED'],
    ];
    for (const [index, call] of cases.entries()) {
      const overHttp = await errorOf(call(http));
      const local_ = await errorOf(call(local));
      expect([overHttp.code, overHttp.walletErrorCode], `case ${index}`).toEqual(expected[index]);
      expect(local_, `case ${index}`).toEqual(overHttp);
    }
    const shape = await errorOf(cases[0]?.(local) ?? Promise.resolve());
    expect(shape.issues?.map((i) => i.path.join('.')).sort()).toEqual(['currency', 'grantedCredits', 'priority', 'rateAmount']);
    // Nothing of the refused calls was written.
    expect((await local.wallets.list.query({})).items.map((w) => w.id)).toEqual([wallet.id]);
  });

  it('isWalletError narrows what either client throws to its wallet error code', async () => {
    h.clock.set('2026-06-03T00:00:00.000Z');
    const { client: http, apiKey } = await h.newTenant();
    const local = inProcess(apiKey);
    const thrown = async (promise: Promise<unknown>): Promise<unknown> => {
      try {
        await promise;
      } catch (error) {
        return error;
      }
      throw new Error('expected the call to fail');
    };
    for (const client of [http, local]) {
      const missing = await thrown(client.wallets.get.query({ id: '00000000-0000-0000-0000-000000000000' }));
      expect(isWalletError(missing)).toBe(true);
      expect(isWalletError(missing, 'WALLET_NOT_FOUND')).toBe(true);
      expect(isWalletError(missing, 'TRANSACTION_NOT_FOUND')).toBe(false);
      if (!isWalletError(missing, 'WALLET_NOT_FOUND')) throw new Error('not narrowed');
      expectTypeOf(missing.data.walletErrorCode).toEqualTypeOf<'WALLET_NOT_FOUND'>();
      expect(missing.data).toMatchObject({ code: 'NOT_FOUND', walletErrorCode: 'WALLET_NOT_FOUND' });

      const invalid = await thrown(client.wallets.list.query({ limit: 101 }));
      expect(isWalletError(invalid, 'VALIDATION_FAILED')).toBe(true);
      if (!isWalletError(invalid)) throw new Error('not narrowed');
      expectTypeOf(invalid.data.walletErrorCode).toEqualTypeOf<WalletErrorCode>();
      expect(invalid.data.issues?.map((i) => i.path.join('.'))).toEqual(['limit']);

      // An error without a wallet code (authentication), and things that are no tRPC error at all.
      const unauthorized = await thrown((client === http ? h.client('wk_unknown') : inProcess('wk_unknown')).wallets.list.query({}));
      expect(isWalletError(unauthorized)).toBe(false);
    }
    expect(isWalletError(new Error('WALLET_NOT_FOUND'))).toBe(false);
    expect(isWalletError({ data: { walletErrorCode: 'WALLET_NOT_FOUND' } })).toBe(false);
    expect(isWalletError(null, 'WALLET_NOT_FOUND')).toBe(false);
  });

  it('shares idempotency records with HTTP: a key used over one transport replays over the other', async () => {
    const { client: http, apiKey } = await h.newTenant();
    const local = inProcess(apiKey);
    await local.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
    const wallet = await local.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', idempotencyKey: 'cross' });
    expect(await http.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', idempotencyKey: 'cross' })).toEqual(wallet);
    const topUp = await http.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '5', idempotencyKey: 't' });
    expect(await local.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '5', idempotencyKey: 't' })).toEqual(topUp);
    expect((await local.wallets.get.query({ id: wallet.id })).balanceCents).toBe(500);
    expect((await http.wallets.list.query({})).items).toHaveLength(1);
  });

  it('authenticates like HTTP: unknown key, admin token on org procedures, org key on admin procedures', async () => {
    const { apiKey } = await h.newTenant();
    expect((await errorOf(inProcess('wk_unknown').wallets.list.query({}))).code).toBe('UNAUTHORIZED');
    expect((await errorOf(inProcess('').wallets.list.query({}))).code).toBe('UNAUTHORIZED');
    expect((await errorOf(inProcess(ADMIN_TOKEN).wallets.list.query({}))).code).toBe('FORBIDDEN');
    expect((await errorOf(inProcess(apiKey).admin.createOrganization.mutate({ name: 'x' }))).code).toBe('FORBIDDEN');
    const created = await inProcess(ADMIN_TOKEN).admin.createOrganization.mutate({ name: 'in-process org' });
    expect(created.organization.name).toBe('in-process org');
    // The new key works over HTTP too.
    expect(await h.client(created.apiKey).wallets.list.query({})).toEqual({ items: [], nextCursor: null });
  });
});
