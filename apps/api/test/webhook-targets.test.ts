/**
 * Webhooks cannot reach inside (CONTRACT.md "Webhook targets"). At creation, without DNS: every
 * spelling of a loopback, private, link-local, unique-local, CGNAT, unspecified, multicast or
 * broadcast address, URLs with credentials and the internal names are WEBHOOK_URL_NOT_ALLOWED,
 * and create nothing; `WALLET_WEBHOOK_ALLOWED_NETWORKS` lets chosen networks through; a 21st live
 * endpoint is WEBHOOK_ENDPOINT_LIMIT_REACHED, even when created all at once. At send: the address
 * actually connected to is checked, so a public-looking name that resolves to 127.0.0.1 (an
 * injected resolver; nothing here leaves this machine) is refused before any connection, and goes
 * through once the allow-list names it; redirects are not followed; tenants see coarse errors.
 */
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { WEBHOOK_ENDPOINT_LIMIT } from '@wallets/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnv } from '../src/env.js';
import { JobRunner } from '../src/jobs/runner.js';
import { createWebhookSender } from '../src/jobs/webhook-sender.js';
import { errorOf, type Harness, listAllEvents, startHarness } from './harness.js';
import { WebhookReceiver } from './webhook-receiver.js';

/** Harness without an allow-list (creation checks) and one with loopback allowed, on its own database (sends). */
let strict: Harness;
let open: Harness;
const receiver = new WebhookReceiver();
beforeAll(async () => {
  [strict, open] = await Promise.all([startHarness({ webhookAllowedNetworks: '' }), startHarness({ ownDatabase: true })]);
  await receiver.start();
});
afterAll(async () => {
  await receiver.stop();
  await Promise.all([strict?.stop(), open?.stop()]);
});

/** A resolver that answers from a table (loopback only: this machine has no network), and notes what it was asked. */
function fakeDns(answers: Record<string, string>): LookupFunction & { asked: string[] } {
  const asked: string[] = [];
  const lookup = ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    asked.push(hostname);
    const address = answers[hostname];
    if (!address) {
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
      return;
    }
    const family = address.includes(':') ? 6 : 4;
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction & { asked: string[] };
  lookup.asked = asked;
  return lookup;
}

/** errorOf plus the domain error's details. */
async function failure(promise: Promise<unknown>) {
  const details = await promise.then(
    () => null,
    (error: { data?: { details?: unknown } }) => error.data?.details ?? null,
  );
  return { ...(await errorOf(promise)), details };
}

const event = { id: '00000000-0000-4000-8000-000000000001', type: 'wallet.updated', createdAt: new Date(0).toISOString(), data: {} };
const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;

describe('webhook URLs at creation', () => {
  const refused = [
    'http://169.254.169.254/latest/meta-data/',
    'http://127.0.0.1:5432/',
    'http://localhost:6379/',
    'http://[::1]:3811/trpc/admin.createOrganization',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://metadata.google.internal/',
    'https://10.0.0.1/',
    'http://user:pass@127.0.0.1/',
    'https://user@hooks.example.com/',
    // short, octal, hex and IPv4-mapped spellings
    'http://127.1/',
    'http://0177.0.0.1/',
    'http://0x7f000001/',
    'http://0/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[0:0:0:0:0:ffff:10.0.0.1]/',
    // the other ranges
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://[::]/',
    'http://100.64.0.1/',
    'http://224.0.0.1/',
    'http://[ff02::1]/',
    'http://255.255.255.255/',
    'http://0.0.0.0:3000/',
    'http://192.168.0.1/',
    'http://172.16.5.4/',
    // the fixed names, in any case and with a trailing dot
    'http://LOCALHOST./',
    'http://api.localhost/',
    'http://metadata/',
    'http://db.internal/',
  ];

  it.each(refused)('refuses %s with WEBHOOK_URL_NOT_ALLOWED and creates nothing', async (url) => {
    const { client } = await strict.newTenant();
    expect(await failure(client.webhooks.createEndpoint.mutate({ url }))).toMatchObject({
      code: 'BAD_REQUEST',
      walletErrorCode: 'WEBHOOK_URL_NOT_ALLOWED',
      details: { field: 'url', reason: expect.any(String) },
    });
    expect(await client.webhooks.list.query()).toEqual([]);
  });

  it('accepts public addresses and names (names are checked again when sent)', async () => {
    const { client } = await strict.newTenant();
    for (const url of ['https://hooks.example.com/wallets', 'http://93.184.215.14:8080/x', 'https://[2606:4700::1111]/x']) {
      expect(await client.webhooks.createEndpoint.mutate({ url })).toMatchObject({ url });
    }
    expect(await client.webhooks.list.query()).toHaveLength(3);
  });

  it('lets the allowed networks through, and nothing else', async () => {
    const { client } = await open.newTenant();
    for (const url of ['http://127.0.0.1:9/a', 'http://127.1.2.3/b', 'http://2130706433/c', 'http://[::1]:9/d', 'http://[::ffff:127.0.0.1]/e']) {
      expect(await client.webhooks.createEndpoint.mutate({ url })).toMatchObject({ url });
    }
    for (const url of ['http://10.0.0.1/', 'http://[fc00::5]/', 'http://localhost/', 'http://user:pass@127.0.0.1/', 'http://169.254.169.254/']) {
      expect(await errorOf(client.webhooks.createEndpoint.mutate({ url }))).toMatchObject({ walletErrorCode: 'WEBHOOK_URL_NOT_ALLOWED' });
    }
    expect(await client.webhooks.list.query()).toHaveLength(5);
  });

  it('reads WALLET_WEBHOOK_ALLOWED_NETWORKS as comma-separated CIDRs or addresses, and refuses anything else', () => {
    expect(readEnv({ WALLET_WEBHOOK_ALLOWED_NETWORKS: ' 10.0.0.0/8, ::1 ,192.168.1.7' }).WALLET_WEBHOOK_ALLOWED_NETWORKS).toEqual([
      '10.0.0.0/8',
      '::1/128',
      '192.168.1.7/32',
    ]);
    expect(readEnv({}).WALLET_WEBHOOK_ALLOWED_NETWORKS).toEqual([]);
    for (const bad of ['10.0.0.0/33', 'localhost', '10.0.0.0/8,,', 'fd00::/129']) {
      expect(() => readEnv({ WALLET_WEBHOOK_ALLOWED_NETWORKS: bad })).toThrow(/WALLET_WEBHOOK_ALLOWED_NETWORKS/);
    }
  });

  it(`allows at most ${WEBHOOK_ENDPOINT_LIMIT} live endpoints per organization, even created all at once`, async () => {
    const { client } = await strict.newTenant();
    const other = await strict.newTenant();
    const results = await Promise.allSettled(
      Array.from({ length: WEBHOOK_ENDPOINT_LIMIT + 5 }, (_, i) => client.webhooks.createEndpoint.mutate({ url: `https://hooks.example.com/${i}` })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(WEBHOOK_ENDPOINT_LIMIT);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      expect(await failure(Promise.reject(r.reason))).toMatchObject({
        code: 'CONFLICT',
        walletErrorCode: 'WEBHOOK_ENDPOINT_LIMIT_REACHED',
        details: { limit: WEBHOOK_ENDPOINT_LIMIT },
      });
    }
    const listed = await client.webhooks.list.query();
    expect(listed).toHaveLength(WEBHOOK_ENDPOINT_LIMIT);
    // Another organization has its own 20; a deleted endpoint frees a place.
    expect(await other.client.webhooks.createEndpoint.mutate({ url: 'https://hooks.example.com/other' })).toMatchObject({ id: expect.any(String) });
    await client.webhooks.delete.mutate({ id: listed[0]?.id ?? '' });
    expect(await client.webhooks.createEndpoint.mutate({ url: 'https://hooks.example.com/again' })).toMatchObject({ id: expect.any(String) });
    expect(await errorOf(client.webhooks.createEndpoint.mutate({ url: 'https://hooks.example.com/more' }))).toMatchObject({
      walletErrorCode: 'WEBHOOK_ENDPOINT_LIMIT_REACHED',
    });
  });
});

describe('webhook sends', () => {
  it('refuse a public-looking name that resolves to 127.0.0.1 before connecting, and send once the allow-list names it', async () => {
    const { client } = await open.newTenant();
    await client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
    const port = new URL(receiver.url('/')).port;
    const created = await client.webhooks.createEndpoint.mutate({ url: `http://hooks.example.test:${port}/rebound` });
    receiver.expect('/rebound', created.secret);
    await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1' });
    const events = await listAllEvents(client);
    expect(events.length).toBeGreaterThan(0);

    const dns = fakeDns({ 'hooks.example.test': '127.0.0.1' });
    const asOf = new Date('2026-04-01T00:00:00Z');
    const closed = new JobRunner({ orm: open.app.orm, databaseUrl: open.app.databaseUrl, webhookLookup: dns });
    try {
      expect(await closed.deliverWebhooks(asOf)).toBe(events.length);
    } finally {
      await closed.stop();
    }
    expect(dns.asked).toContain('hooks.example.test');
    expect(receiver.arrivals('/rebound')).toEqual([]);
    let [delivery] = (await client.webhooks.deliveries.query({ endpointId: created.id })).items;
    expect(delivery).toMatchObject({ status: 'pending', attemptCount: 1 });
    expect(delivery?.attempts).toEqual([{ attemptNumber: 1, attemptedAt: asOf, statusCode: null, error: 'address not allowed', durationMs: 0 }]);

    // The operator allows loopback: the same name now reaches the receiver it resolves to.
    const allowed = new JobRunner({
      orm: open.app.orm,
      databaseUrl: open.app.databaseUrl,
      webhookLookup: dns,
      webhookAllowedNetworks: ['127.0.0.0/8'],
    });
    const later = new Date(asOf.getTime() + 60_000);
    try {
      expect(await allowed.deliverWebhooks(later)).toBe(events.length);
    } finally {
      await allowed.stop();
    }
    expect(receiver.rejected).toEqual([]);
    expect(
      receiver
        .arrivals('/rebound')
        .map((a) => a.webhookId)
        .sort(),
    ).toEqual(events.map((e) => e.id).sort());
    [delivery] = (await client.webhooks.deliveries.query({ endpointId: created.id })).items;
    expect(delivery).toMatchObject({ status: 'delivered', attemptCount: 2 });
    expect(delivery?.attempts.map((a) => [a.statusCode, a.error])).toEqual([
      [null, 'address not allowed'],
      [204, null],
    ]);
    await client.webhooks.delete.mutate({ id: created.id });
  });

  it('refuse loopback literals unless allowed, follow no redirect, and report only coarse errors', async () => {
    let requests: string[] = [];
    const server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      req.resume();
      res.writeHead(307, { location: '/elsewhere' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const send = (url: string, allowedNetworks: string[], lookup?: LookupFunction) =>
        createWebhookSender({ timeoutMs: 2000, allowedNetworks, ...(lookup ? { lookup } : {}) })({ url, secret, event, attemptNumber: 1 });
      for (const url of [`http://127.0.0.1:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`, `http://2130706433:${port}/`]) {
        expect(await send(url, [])).toEqual({ statusCode: null, error: 'address not allowed', durationMs: 0 });
      }
      // Through a name: the resolver's loopback answer is refused, and so is an IPv6 one.
      expect(await send(`http://a.example.test:${port}/`, [], fakeDns({ 'a.example.test': '127.0.0.1' }))).toMatchObject({
        error: 'address not allowed',
      });
      expect(await send(`http://b.example.test:${port}/`, ['127.0.0.0/8'], fakeDns({ 'b.example.test': '::1' }))).toMatchObject({
        error: 'address not allowed',
      });
      expect(requests).toEqual([]);

      // Allowed: the redirect is an answer like any other non-2xx, not followed.
      expect(await send(`http://127.0.0.1:${port}/hook`, ['127.0.0.0/8'])).toEqual({
        statusCode: 307,
        error: 'HTTP 307',
        durationMs: expect.any(Number),
      });
      expect(requests).toEqual(['/hook']);
      requests = [];

      // Unknown names and closed ports read the same to the tenant: connection failed, no socket code.
      expect(await send('http://nowhere.example.test/', [], fakeDns({}))).toMatchObject({ statusCode: null, error: 'connection failed' });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      expect(await send(`http://127.0.0.1:${port}/`, ['127.0.0.0/8'])).toMatchObject({ statusCode: null, error: 'connection failed' });
    } finally {
      if (server.listening) {
        server.closeAllConnections();
        server.close();
      }
    }
  });
});
