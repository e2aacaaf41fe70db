/**
 * The Lago-compatible REST API (docs/rest-api.md), driven by Lago's own JavaScript client 1.53.0
 * against the running server: a wallet's whole life, idempotent replays, every error case the
 * issue lists; a Lago-format webhook endpoint receives that life, checked with our own HMAC over
 * the raw body; then every answer recorded on the way is validated against the OpenAPI document
 * the server serves (the contract test). One server for the file (its own database, as
 * `runScheduledJobs` delivers for every organization).
 */
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { Client, getLagoError } from 'lago-javascript-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WalletClient } from '../src/client/index.js';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
let apiKey: string;
let trpc: WalletClient;

/** A Lago webhook receiver: keeps each POST's raw body and headers, answers as `answer` says. */
interface Arrival {
  raw: string;
  headers: http.IncomingHttpHeaders;
}
const arrivals: Arrival[] = [];
let answer = () => 200;
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    arrivals.push({ raw: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
    res.writeHead(answer()).end();
  });
});
let base: string;

interface Recorded {
  method: string;
  path: string;
  status: number;
  body: unknown;
}
const recorded: Recorded[] = [];

/** A fetch that keeps every answer (status and JSON body) for the contract test. */
const recordingFetch: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
  const text = await response.clone().text();
  recorded.push({ method: (init?.method ?? 'GET').toUpperCase(), path: url.pathname, status: response.status, body: text ? JSON.parse(text) : null });
  return response;
};

const lagoFor = (key: string) => Client(key, { baseUrl: `${base}/api/v1`, customFetch: recordingFetch });
let lago: ReturnType<typeof lagoFor>;

/** The Lago error body (and status) of a call that must fail. */
async function failure(promise: Promise<unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    const body = (await getLagoError<unknown>(error)) as Record<string, unknown>;
    return { status: (error as Response).status, body };
  }
  throw new Error('expected the call to fail');
}

/** A REST answer's body, loosely typed for assertions. */
type Answer = Record<string, { status?: string; [field: string]: unknown }>;

/** A plain HTTP call (our extension has no method in Lago's client). */
async function rest(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await recordingFetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Answer };
}

let secret = '';
let organizationId = '';

beforeAll(async () => {
  h = await startHarness({ ownDatabase: true });
  base = h.app.url.replace(/\/$/, '');
  ({ apiKey, client: trpc, organizationId } = await h.newTenant());
  lago = lagoFor(apiKey);
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;
  const endpoint = await trpc.webhooks.createEndpoint.mutate({ url: `http://127.0.0.1:${port}/lago`, format: 'lago' });
  expect(endpoint.format).toBe('lago');
  secret = endpoint.secret;
});
afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
  await h.stop();
});

const FUTURE = '2027-06-01T00:00:00Z';

describe('REST API with the Lago client', () => {
  const ext = `cus_${randomUUID().slice(0, 8)}`;
  let walletId = '';

  it('walks a wallet through its whole life', async () => {
    const { data: created } = await lago.customers.createCustomer({ customer: { external_id: ext, currency: 'EUR', name: 'Acme' } });
    expect(created.customer).toMatchObject({ external_id: ext, currency: 'EUR', timezone: 'UTC' });
    const { data: found } = await lago.customers.findCustomer(ext);
    expect(found.customer.lago_id).toBe(created.customer.lago_id);

    const { data: w } = await lago.wallets.createWallet({
      wallet: {
        external_customer_id: ext,
        currency: 'EUR',
        rate_amount: '1.5',
        name: 'Prepaid',
        code: 'prepaid',
        paid_credits: '20.0',
        granted_credits: '10.0',
        expiration_at: FUTURE,
        recurring_transaction_rules: [
          { trigger: 'threshold', threshold_credits: '2.0', method: 'fixed', paid_credits: '10.0', granted_credits: '0' },
        ],
      },
    });
    const wallet = w.wallet;
    walletId = wallet.lago_id;
    // Ours: the initial credits are in the answer (granted settled, paid pending until its payment).
    expect(wallet).toMatchObject({
      status: 'active',
      lago_customer_id: created.customer.lago_id,
      external_customer_id: ext,
      code: 'prepaid',
      rate_amount: '1.5',
      credits_balance: '10.0',
      balance_cents: 1500,
      consumed_credits: '0.0',
      expiration_at: FUTURE,
    });
    expect(wallet.recurring_transaction_rules).toHaveLength(1);
    expect(wallet.recurring_transaction_rules?.[0]).toMatchObject({
      trigger: 'threshold',
      threshold_credits: '2.0',
      paid_credits: '10.0',
      status: 'active',
    });

    const { data: topUp } = await lago.walletTransactions.createWalletTransaction({
      wallet_transaction: {
        wallet_id: walletId,
        paid_credits: '5.0',
        granted_credits: '2.5',
        name: 'Top-up',
        metadata: [{ key: 'po', value: '42' }],
      },
    });
    expect(topUp.wallet_transactions.map((t) => [t.transaction_status, t.status, t.amount, t.credit_amount])).toEqual([
      ['purchased', 'pending', '7.5', '5.0'],
      ['granted', 'settled', '3.75', '2.5'],
    ]);
    expect(topUp.wallet_transactions[0]).toMatchObject({ name: 'Top-up', metadata: [{ key: 'po', value: '42' }], transaction_type: 'inbound' });

    const { data: voided } = await lago.walletTransactions.createWalletTransaction({
      wallet_transaction: { wallet_id: walletId, voided_credits: '1.0' },
    });
    expect(voided.wallet_transactions).toMatchObject([
      { transaction_status: 'voided', transaction_type: 'outbound', status: 'settled', credit_amount: '1.0' },
    ]);

    // Listing with filters and pages: 4 inbound (two paid, two granted), newest first.
    const { data: inbound } = await lago.wallets.findAllWalletTransactions(walletId, { transaction_type: 'inbound', per_page: 3 });
    expect(inbound.meta).toEqual({ current_page: 1, next_page: 2, prev_page: null, total_pages: 2, total_count: 4 });
    expect(inbound.wallet_transactions).toHaveLength(3);
    const { data: second } = await lago.wallets.findAllWalletTransactions(walletId, { transaction_type: 'inbound', per_page: 3, page: 2 });
    expect(second.meta).toEqual({ current_page: 2, next_page: null, prev_page: 1, total_pages: 2, total_count: 4 });
    const { data: pending } = await lago.wallets.findAllWalletTransactions(walletId, { status: 'pending' });
    expect(pending.wallet_transactions.map((t) => t.credit_amount).sort()).toEqual(['20.0', '5.0']);
    const { data: outbound } = await lago.wallets.findAllWalletTransactions(walletId, { transaction_status: 'voided' });
    expect(outbound.meta.total_count).toBe(1);
    // An invalid filter value is ignored, as Lago does.
    const { data: all } = await lago.wallets.findAllWalletTransactions(walletId, { status: 'bogus' as 'pending' });
    expect(all.meta.total_count).toBe(5);

    // Update: a new rule replaces the old one (Lago's replace semantics).
    const oldRuleId = wallet.recurring_transaction_rules?.[0]?.lago_id;
    const { data: updated } = await lago.wallets.updateWallet(walletId, {
      wallet: { name: 'Renamed', priority: 10, recurring_transaction_rules: [{ trigger: 'interval', interval: 'monthly', granted_credits: '1.0' }] },
    });
    expect(updated.wallet).toMatchObject({ name: 'Renamed', priority: 10 });
    expect((await rest('PATCH', `/wallets/${walletId}`, { wallet: { priority: 11 } })).body.wallet).toMatchObject({ name: 'Renamed', priority: 11 });
    expect(updated.wallet.recurring_transaction_rules).toHaveLength(1);
    expect(updated.wallet.recurring_transaction_rules?.[0]).toMatchObject({ trigger: 'interval', interval: 'monthly', granted_credits: '1.0' });
    expect(updated.wallet.recurring_transaction_rules?.[0]?.lago_id).not.toBe(oldRuleId);

    // Settling the purchase (our extension): the balance rises by its credits.
    const purchase = topUp.wallet_transactions[0];
    const paid = await rest('POST', `/wallet_transactions/${purchase?.lago_id}/payment`, { status: 'succeeded', invoice_id: 'inv_1' });
    expect(paid.status).toBe(200);
    expect(paid.body.wallet_transaction).toMatchObject({ status: 'settled', lago_invoice_id: 'inv_1' });
    const { data: afterPayment } = await lago.wallets.findWallet(walletId);
    expect(afterPayment.wallet.credits_balance).toBe('16.5');
    const { data: one } = await lago.walletTransactions.findWalletTransaction(purchase?.lago_id as string);
    expect((one as unknown as { wallet_transaction: { status: string } }).wallet_transaction.status).toBe('settled');

    // The customer-scoped family.
    const { data: byCode } = await lago.customers.findCustomerWallet(ext, 'prepaid');
    expect(byCode.wallet.lago_id).toBe(walletId);
    h.clock.advance(1000);
    const { data: second2 } = await lago.customers.createCustomerWallet(ext, {
      wallet: { rate_amount: '1.0', currency: 'EUR', code: 'bonus' },
    } as never);
    const { data: list } = await lago.customers.findAllCustomerWallets(ext);
    expect(list.wallets.map((x) => x.code)).toEqual(['bonus', 'prepaid']);
    const { data: flatList } = await lago.wallets.findAllWallets({ external_customer_id: ext, per_page: 1 });
    expect(flatList.meta).toMatchObject({ total_count: 2, total_pages: 2, next_page: 2 });
    const { data: bonus } = await lago.customers.updateCustomerWallet(ext, 'bonus', { wallet: { name: 'Bonus' } });
    expect(bonus.wallet).toMatchObject({ lago_id: second2.wallet.lago_id, name: 'Bonus' });
    // PATCH works wherever PUT does, as on Lago's server.
    const patched = await rest('PATCH', `/customers/${ext}/wallets/bonus`, { wallet: { priority: 7 } });
    expect(patched.body.wallet).toMatchObject({ name: 'Bonus', priority: 7 });
    const { data: bonusEnd } = await lago.customers.destroyCustomerWallet(ext, 'bonus');
    expect(bonusEnd.wallet.status).toBe('terminated');
    // A terminated wallet is still found by its code, and its settings are frozen.
    expect(await failure(lago.customers.updateCustomerWallet(ext, 'bonus', { wallet: { name: 'x' } }))).toMatchObject({
      status: 422,
      body: { error_details: { wallet_id: ['wallet_is_terminated'] } },
    });

    // Terminate: remaining credits are voided; terminating again answers the same wallet.
    const { data: terminated } = await lago.wallets.destroyWallet(walletId);
    expect(terminated.wallet).toMatchObject({ status: 'terminated', credits_balance: '0.0', balance_cents: 0 });
    expect(terminated.wallet.terminated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const { data: again } = await lago.wallets.destroyWallet(walletId);
    expect(again.wallet.status).toBe('terminated');

    const { data: customers } = await lago.customers.findAllCustomers();
    expect(customers.customers.map((c) => c.external_id)).toContain(ext);
  });

  it('replays a write sent again with the same Idempotency-Key and refuses the key for another request', async () => {
    const { data: c } = await lago.wallets.createWallet({ wallet: { external_customer_id: ext, currency: 'EUR', rate_amount: '1.0', code: 'idem' } });
    const body = { wallet_transaction: { wallet_id: c.wallet.lago_id, granted_credits: '3.0' } };
    const headers = { 'Idempotency-Key': 'top-up-1' };
    const { data: first } = await lago.walletTransactions.createWalletTransaction(body, { headers });
    const { data: replay } = await lago.walletTransactions.createWalletTransaction(body, { headers });
    expect(replay.wallet_transactions.map((t) => t.lago_id)).toEqual(first.wallet_transactions.map((t) => t.lago_id));
    const { data: w } = await lago.wallets.findWallet(c.wallet.lago_id);
    expect(w.wallet.credits_balance).toBe('3.0');

    const reused = await failure(
      lago.walletTransactions.createWalletTransaction({ wallet_transaction: { wallet_id: c.wallet.lago_id, granted_credits: '4.0' } }, { headers }),
    );
    expect(reused).toEqual({ status: 409, body: { status: 409, error: 'Conflict', code: 'idempotency_key_reused' } });

    // The scope is the route: the same key on another route is a first request there.
    const terminated = await rest('DELETE', `/wallets/${c.wallet.lago_id}`, undefined, headers);
    expect(terminated.body.wallet?.status).toBe('terminated');
    const replayed = await rest('DELETE', `/wallets/${c.wallet.lago_id}`, undefined, headers);
    expect(replayed.body).toEqual(terminated.body);
    expect(terminated.headers.get('x-request-id')).toBeTruthy();
    expect(terminated.headers.get('content-security-policy')).toContain("default-src 'self'");
  });

  it('answers the errors in Lago envelopes with Lago codes', async () => {
    const owner = `cus_${randomUUID().slice(0, 8)}`;
    await lago.customers.createCustomer({ customer: { external_id: owner, currency: 'EUR' } });
    // Lago's quirk: an empty list is on page 0.
    const { data: none } = await lago.customers.findAllCustomerWallets(owner);
    expect(none).toEqual({ wallets: [], meta: { current_page: 0, next_page: null, prev_page: null, total_pages: 0, total_count: 0 } });
    const newWallet = (wallet: Record<string, unknown>) =>
      lago.wallets.createWallet({ wallet: { external_customer_id: owner, currency: 'EUR', rate_amount: '1.0', ...wallet } as never });
    const invalid = (details: Record<string, string[]>) => ({
      status: 422,
      body: { status: 422, error: 'Unprocessable Entity', code: 'validation_errors', error_details: details },
    });

    expect(await failure(lagoFor('').wallets.findWallet(randomUUID()))).toEqual({ status: 401, body: { status: 401, error: 'Unauthorized' } });
    expect(await failure(lagoFor('not-a-key').customers.findAllCustomers())).toEqual({ status: 401, body: { status: 401, error: 'Unauthorized' } });
    const notFound = (code: string) => ({ status: 404, body: { status: 404, error: 'Not Found', code } });
    expect(await failure(lago.wallets.findWallet(randomUUID()))).toEqual(notFound('wallet_not_found'));
    expect(await failure(lago.customers.findCustomer('cus_nobody'))).toEqual(notFound('customer_not_found'));
    expect(await failure(lago.walletTransactions.findWalletTransaction(randomUUID()))).toEqual(notFound('wallet_transaction_not_found'));
    expect(await failure(lago.wallets.findAllWallets({ external_customer_id: 'cus_nobody' }))).toEqual(notFound('customer_not_found'));
    expect(await failure(lago.customers.findCustomerWallet(owner, 'nope'))).toEqual(notFound('wallet_not_found'));

    expect(await failure(lago.wallets.createWallet({} as never))).toEqual({
      status: 400,
      body: { status: 400, error: 'BadRequest: param is missing or the value is empty or invalid: wallet' },
    });
    expect(await failure(newWallet({ rate_amount: '0' }))).toEqual(invalid({ rate_amount: ['value_is_out_of_range'] }));
    expect(await failure(newWallet({ paid_credits: 10 }))).toEqual(invalid({ paid_credits: ['invalid_paid_credits', 'invalid_amount'] }));
    expect(await failure(newWallet({ granted_credits: '0.001' }))).toEqual(invalid({ granted_credits: ['amount_rounds_to_zero'] }));
    expect(await failure(newWallet({ expiration_at: '2020-01-01T00:00:00Z' }))).toEqual(invalid({ expiration_at: ['invalid_date'] }));
    expect(await failure(newWallet({ expiration_at: 'tomorrow' }))).toEqual(invalid({ expiration_at: ['invalid_date'] }));
    expect(await failure(newWallet({ external_customer_id: 'cus_nobody' }))).toEqual(invalid({ customer: ['customer_not_found'] }));

    const { data: first } = await newWallet({
      code: 'main',
      granted_credits: '5.0',
      recurring_transaction_rules: [{ trigger: 'interval', interval: 'weekly' }],
    });
    // A rule naming no credits takes the wallet's (Lago).
    expect(first.wallet.recurring_transaction_rules?.[0]).toMatchObject({ granted_credits: '5.0', paid_credits: '0.0' });
    expect(await failure(newWallet({ code: 'main' }))).toEqual(invalid({ code: ['value_already_exist'] }));
    expect(
      await failure(
        lago.walletTransactions.createWalletTransaction({ wallet_transaction: { wallet_id: first.wallet.lago_id, voided_credits: '6.0' } }),
      ),
    ).toEqual(invalid({ voided_credits: ['insufficient_credits'] }));
    expect(
      await failure(lago.walletTransactions.createWalletTransaction({ wallet_transaction: { wallet_id: randomUUID(), granted_credits: '1.0' } })),
    ).toEqual(invalid({ wallet_id: ['wallet_not_found'] }));

    for (let i = 1; i < 6; i++) await newWallet({ code: `w${i}` });
    expect(await failure(newWallet({ code: 'seventh' }))).toEqual(invalid({ customer: ['wallet_limit_reached'] }));

    await lago.wallets.destroyWallet(first.wallet.lago_id);
    expect(await failure(lago.wallets.updateWallet(first.wallet.lago_id, { wallet: { name: 'x' } }))).toEqual(
      invalid({ wallet_id: ['wallet_is_terminated'] }),
    );

    expect(await failure(lago.customers.findCustomer('cus%00x'))).toMatchObject({ status: 400 });
    expect(await failure(lago.wallets.findAllWallets({ external_customer_id: 'a\u0000b' }))).toMatchObject({ status: 400 });
    const malformed = await rest('POST', '/wallets', '{"wallet":');
    expect(malformed.status).toBe(400);
    const unknownRoute = await rest('GET', '/nothing-here');
    expect(unknownRoute).toMatchObject({ status: 404, body: { code: 'route_not_found' } });
  });
});

describe('Lago-format webhooks', () => {
  it('deliver the life above in Lago envelopes, signed with X-Lago-Signature, the same key on a retry', async () => {
    // The first delivery fails and is retried later.
    let calls = 0;
    answer = () => (++calls === 1 ? 503 : 200);
    await h.admin.admin.runScheduledJobs.mutate({ asOf: h.clock.now() });
    await h.admin.admin.runScheduledJobs.mutate({ asOf: new Date(h.clock.now().getTime() + 3_600_000) });
    expect(arrivals.length).toBeGreaterThan(10);
    for (const arrival of arrivals) {
      const expected = createHmac('sha256', secret).update(arrival.raw).digest('base64');
      expect(arrival.headers['x-lago-signature']).toBe(expected);
      expect(arrival.headers['x-lago-signature-algorithm']).toBe('hmac');
      expect(arrival.headers['x-lago-unique-key']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const [failed, ...rest] = arrivals;
    const retried = rest.filter((a) => a.headers['x-lago-unique-key'] === failed?.headers['x-lago-unique-key']);
    expect(retried).toHaveLength(1);
    expect(retried[0]?.raw).toBe(failed?.raw);

    const bodies = rest.map((a) => JSON.parse(a.raw) as Record<string, Record<string, unknown> | string>);
    const types = new Set(bodies.map((b) => b.webhook_type));
    for (const type of ['wallet.created', 'wallet.updated', 'wallet.terminated', 'wallet_transaction.created', 'wallet_transaction.updated']) {
      expect(types).toContain(type);
    }
    const created = bodies.find((b) => b.webhook_type === 'wallet.created' && (b.wallet as Record<string, unknown>).code === 'prepaid');
    expect(created).toMatchObject({
      object_type: 'wallet',
      organization_id: organizationId,
      wallet: { credits_balance: '10.0', rate_amount: '1.5' },
    });
    const createdWallet = (created?.wallet ?? {}) as Record<string, string>;
    const customer = await lago.customers.findCustomer(createdWallet.external_customer_id as string);
    expect(createdWallet.lago_customer_id).toBe(customer.data.customer.lago_id);
    const settled = bodies.find((b) => b.webhook_type === 'wallet_transaction.updated');
    expect(settled).toMatchObject({
      object_type: 'wallet_transaction',
      wallet_transaction: { status: 'settled', amount: '7.5', credit_amount: '5.0' },
    });
  });
});

describe('the OpenAPI document', () => {
  it('is served, and every answer recorded above validates against it', async () => {
    const response = await fetch(`${base}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { responses: Record<string, { content: { 'application/json': { schema: unknown } } }> }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(document.openapi).toBe('3.1.0');
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ $id: 'doc', components: document.components });
    const templates = Object.keys(document.paths).map((template) => ({
      template,
      pattern: new RegExp(`^/api/v1${template.replace(/\{\w+\}/g, '[^/]+')}$`),
    }));
    const seen = new Set<string>();
    const problems: string[] = [];
    for (const answer of recorded) {
      const matches = templates.filter((t) => t.pattern.test(answer.path) && document.paths[t.template]?.[answer.method.toLowerCase()]);
      // The most literal template wins (/customers/{id}/wallets over /customers/{id}).
      const match = matches.sort((a, b) => b.template.replace(/\{\w+\}/g, '').length - a.template.replace(/\{\w+\}/g, '').length)[0];
      if (!match) {
        if (answer.status !== 404) problems.push(`${answer.method} ${answer.path}: no operation`);
        continue;
      }
      const operation = document.paths[match.template]?.[answer.method.toLowerCase()];
      const declared = operation?.responses[String(answer.status)];
      if (!declared) {
        problems.push(`${answer.method} ${match.template}: status ${answer.status} not documented`);
        continue;
      }
      seen.add(`${answer.method} ${match.template}`);
      const schema = JSON.parse(JSON.stringify(declared.content['application/json'].schema).replaceAll('"#/components/', '"doc#/components/'));
      const validate = ajv.compile(schema);
      if (!validate(answer.body)) problems.push(`${answer.method} ${match.template} ${answer.status}: ${ajv.errorsText(validate.errors)}`);
    }
    expect(problems).toEqual([]);
    const operations = Object.entries(document.paths).flatMap(([template, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${template}`));
    expect(operations.filter((op) => !seen.has(op))).toEqual([]);
  });

  it('has a reference page from local files under the same security headers', async () => {
    const page = await fetch(`${base}/api/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).not.toMatch(/<script>(?!<)/);
    for (const src of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string)) {
      expect(src.startsWith('/api/docs/')).toBe(true);
      expect((await fetch(`${base}${src}`)).status).toBe(200);
    }
  });
});
