/**
 * Webhooks over HTTP (CONTRACT.md "Events"): endpoints per organization with a `whsec_` secret shown
 * once; every event created after an endpoint POSTed to it, signed the Standard Webhooks way and
 * verified by a real receiver with the `standardwebhooks` package; failures and timeouts retried
 * with the same `webhook-id`, at due times compared with the injected clock (`runScheduledJobs`
 * with a later `asOf` makes them due), backing off from 30 s, doubling, for over a day, then failed;
 * every attempt listed. Own database: `runScheduledJobs` delivers for every organization.
 */
import { WEBHOOK_MAX_ATTEMPTS } from '@wallets/db';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouterOutputs, WalletClient } from '../src/client/index.js';
import { JobRunner } from '../src/jobs/runner.js';
import { type EventItem, errorOf, type Harness, listAllEvents, startHarness } from './harness.js';
import { WebhookReceiver } from './webhook-receiver.js';

type Delivery = RouterOutputs['webhooks']['deliveries']['items'][number];

let h: Harness;
const receiver = new WebhookReceiver();
beforeAll(async () => {
  h = await startHarness({ ownDatabase: true });
  await receiver.start();
});
afterAll(async () => {
  await receiver.stop();
  await h.stop();
});

const second = 1000;
const hour = 3600 * second;

async function tenantWithCustomer() {
  const t = await h.newTenant();
  await t.client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
  return t;
}

async function endpoint(client: WalletClient, path: string) {
  const created = await client.webhooks.createEndpoint.mutate({ url: receiver.url(path) });
  receiver.expect(path, created.secret);
  return created;
}

async function allDeliveries(client: WalletClient, endpointId: string): Promise<Delivery[]> {
  const items: Delivery[] = [];
  let cursor: string | null = null;
  do {
    const page: RouterOutputs['webhooks']['deliveries'] = await client.webhooks.deliveries.query({ endpointId, cursor, limit: 3 });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/** The wire form of an event as events.list gives it: plain JSON, times as ISO strings. */
const plain = ({ cursor: _cursor, ...event }: EventItem) => JSON.parse(JSON.stringify(event));

describe('webhook endpoints', () => {
  it('are per organization, with a whsec_ secret shown once; bad input and unknown ids are refused', async () => {
    const a = await h.newTenant();
    const b = await h.newTenant();
    const created = await a.client.webhooks.createEndpoint.mutate({ url: 'https://hooks.example.com/wallets' });
    expect(created).toMatchObject({ id: expect.any(String), url: 'https://hooks.example.com/wallets' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    // The secret is a valid Standard Webhooks key.
    expect(() => new Webhook(created.secret)).not.toThrow();
    const listed = await a.client.webhooks.list.query();
    expect(listed).toEqual([{ id: created.id, url: created.url, format: 'standard', createdAt: expect.any(Date) }]);
    expect(JSON.stringify(listed)).not.toContain('whsec_');
    expect(await b.client.webhooks.list.query()).toEqual([]);

    for (const url of ['not a url', 'ftp://example.com/x', `https://example.com/${'x'.repeat(2100)}`]) {
      expect(await errorOf(a.client.webhooks.createEndpoint.mutate({ url }))).toMatchObject({
        code: 'BAD_REQUEST',
        walletErrorCode: 'VALIDATION_FAILED',
        issues: [expect.objectContaining({ path: ['url'] })],
      });
    }
    // Another organization's endpoint does not exist for b.
    for (const call of [
      () => b.client.webhooks.delete.mutate({ id: created.id }),
      () => b.client.webhooks.deliveries.query({ endpointId: created.id }),
    ]) {
      expect(await errorOf(call())).toMatchObject({ code: 'NOT_FOUND', walletErrorCode: 'WEBHOOK_ENDPOINT_NOT_FOUND' });
    }
    expect(await errorOf(a.client.webhooks.delete.mutate({ id: 'nope' }))).toMatchObject({ walletErrorCode: 'WEBHOOK_ENDPOINT_NOT_FOUND' });
    expect(await a.client.webhooks.list.query()).toHaveLength(1);

    expect(await a.client.webhooks.delete.mutate({ id: created.id })).toMatchObject({ id: created.id });
    expect(await a.client.webhooks.list.query()).toEqual([]);
    expect(await errorOf(a.client.webhooks.delete.mutate({ id: created.id }))).toMatchObject({ walletErrorCode: 'WEBHOOK_ENDPOINT_NOT_FOUND' });
    // Its history stays listable.
    expect(await a.client.webhooks.deliveries.query({ endpointId: created.id })).toEqual({ items: [], nextCursor: null });
  });
});

describe('webhook delivery', () => {
  it('POSTs every event created after the endpoint to it, signed, with the state as it was then', async () => {
    const { client } = await tenantWithCustomer();
    const other = await tenantWithCustomer();
    await client.wallets.create.mutate({ externalCustomerId: 'cus_1', code: 'before', rateAmount: '1', grantedCredits: '1' });
    const before = await listAllEvents(client);
    const e1 = await endpoint(client, '/d/one');
    const e2 = await endpoint(client, '/d/two');
    const otherEndpoint = await endpoint(other.client, '/d/other');

    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '10', paidCredits: '5' });
    await client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '4' });
    await other.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '2', grantedCredits: '3' });
    const events = (await listAllEvents(client)).slice(before.length);
    const otherEvents = await listAllEvents(other.client);
    expect(events.length).toBeGreaterThanOrEqual(5);

    const asOf = h.clock.now();
    const run = await h.admin.admin.runScheduledJobs.mutate({ asOf });
    expect(run.webhookDeliveries).toBe(2 * events.length + otherEvents.length);
    expect(receiver.rejected).toEqual([]);
    for (const path of ['/d/one', '/d/two']) {
      const arrivals = receiver.arrivals(path);
      // Exactly the events after the endpoint, each once, as events.list shows them.
      expect(arrivals.map((a) => a.event).sort((x, y) => x.id.localeCompare(y.id))).toEqual(
        events.map(plain).sort((x, y) => x.id.localeCompare(y.id)),
      );
      for (const arrival of arrivals) {
        expect(arrival.webhookId).toBe(arrival.event.id);
        expect(Number.isInteger(arrival.timestampSeconds)).toBe(true);
        expect(arrival.answer).toBe(204);
        // The body is plain JSON: cents as numbers, decimals as strings, times as ISO strings.
        expect(typeof arrival.event.createdAt).toBe('string');
      }
    }
    expect(
      receiver
        .arrivals('/d/other')
        .map((a) => a.webhookId)
        .sort(),
    ).toEqual(otherEvents.map((e) => e.id).sort());

    // The wallet as it was when created (before the void), not as it is now.
    const created = receiver.arrivals('/d/one').find((a) => a.event.type === 'wallet.created' && a.event.data.id === wallet.id);
    expect(created?.event.data).toMatchObject({ id: wallet.id, balanceCents: 1000, creditsBalance: '10' });
    expect((await client.wallets.get.query({ id: wallet.id })).balanceCents).toBe(600);

    // A tampered body or another endpoint's secret does not verify.
    const sample = receiver.arrivals('/d/one')[0];
    if (!sample) throw new Error('no arrival');
    const signed = { 'webhook-id': sample.webhookId, 'webhook-timestamp': String(sample.timestampSeconds), 'webhook-signature': sample.signature };
    expect(sample.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(e1.secret).verify(sample.body, signed)).toEqual(sample.event);
    expect(() => new Webhook(e1.secret).verify(sample.body.replace('"type"', '"typo"'), signed)).toThrow();
    expect(() => new Webhook(e2.secret).verify(sample.body, signed)).toThrow();

    // Recorded: one delivered attempt per delivery, newest event first.
    const deliveries = await allDeliveries(client, e1.id);
    expect(deliveries.map((d) => d.eventId)).toEqual(events.map((e) => e.id).reverse());
    for (const d of deliveries) {
      expect(d).toMatchObject({ status: 'delivered', attemptCount: 1, nextAttemptAt: null, lastAttemptAt: asOf });
      expect(d.attempts).toEqual([{ attemptNumber: 1, attemptedAt: asOf, statusCode: 204, error: null, durationMs: expect.any(Number) }]);
    }
    expect(deliveries.find((d) => d.eventId === events[0]?.id)?.eventType).toBe(events[0]?.type);

    // Nothing is sent twice; a deleted endpoint gets nothing more, the others do.
    expect((await h.admin.admin.runScheduledJobs.mutate({ asOf })).webhookDeliveries).toBe(0);
    await client.webhooks.delete.mutate({ id: e2.id });
    await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1' });
    const latest = (await listAllEvents(client)).slice(before.length + events.length);
    expect(latest.length).toBeGreaterThan(0);
    expect((await h.admin.admin.runScheduledJobs.mutate({ asOf })).webhookDeliveries).toBe(latest.length);
    expect(receiver.arrivals('/d/one')).toHaveLength(events.length + latest.length);
    expect(receiver.arrivals('/d/two')).toHaveLength(events.length);
    expect(await allDeliveries(client, e2.id)).toHaveLength(events.length);
    await other.client.webhooks.delete.mutate({ id: otherEndpoint.id });
    await client.webhooks.delete.mutate({ id: e1.id });
  });

  it('retries a receiver that is down until it comes back, with the same webhook-id', async () => {
    const { client } = await tenantWithCustomer();
    const e = await endpoint(client, '/down');
    await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '2' });
    const events = await listAllEvents(client);
    const ids = events.map((ev) => ev.id).sort();
    const t0 = new Date('2026-02-01T00:00:00Z');

    await receiver.stop(); // connection refused
    try {
      expect((await h.admin.admin.runScheduledJobs.mutate({ asOf: t0 })).webhookDeliveries).toBe(events.length);
    } finally {
      await receiver.start();
    }
    let deliveries = await allDeliveries(client, e.id);
    for (const d of deliveries) {
      expect(d).toMatchObject({ status: 'pending', attemptCount: 1, nextAttemptAt: new Date(t0.getTime() + 30 * second) });
      // Coarse: no socket code reaches the tenant.
      expect(d.attempts[0]).toMatchObject({ statusCode: null, error: 'connection failed' });
    }
    expect(receiver.arrivals('/down')).toEqual([]);

    // Not due yet at 29 s.
    expect((await h.admin.admin.runScheduledJobs.mutate({ asOf: new Date(t0.getTime() + 29 * second) })).webhookDeliveries).toBe(0);

    // Back, but failing: 503 is retried 60 s later.
    receiver.answer = () => 503;
    const t1 = new Date(t0.getTime() + 30 * second);
    expect((await h.admin.admin.runScheduledJobs.mutate({ asOf: t1 })).webhookDeliveries).toBe(events.length);
    deliveries = await allDeliveries(client, e.id);
    for (const d of deliveries) {
      expect(d).toMatchObject({ status: 'pending', attemptCount: 2, nextAttemptAt: new Date(t1.getTime() + 60 * second) });
      expect(d.attempts[1]).toMatchObject({ attemptNumber: 2, attemptedAt: t1, statusCode: 503, error: 'HTTP 503' });
    }

    receiver.answer = () => 204;
    const t2 = new Date(t1.getTime() + 60 * second);
    expect((await h.admin.admin.runScheduledJobs.mutate({ asOf: t2 })).webhookDeliveries).toBe(events.length);
    deliveries = await allDeliveries(client, e.id);
    for (const d of deliveries) {
      expect(d).toMatchObject({ status: 'delivered', attemptCount: 3, nextAttemptAt: null, lastAttemptAt: t2 });
      expect(d.attempts.map((a) => a.statusCode)).toEqual([null, 503, 204]);
    }
    const arrivals = receiver.arrivals('/down');
    expect(
      arrivals
        .filter((a) => a.answer === 503)
        .map((a) => a.webhookId)
        .sort(),
    ).toEqual(ids);
    expect(
      arrivals
        .filter((a) => a.answer === 204)
        .map((a) => a.webhookId)
        .sort(),
    ).toEqual(ids);
    // Same event, same body on every retry (only the timestamp and signature change).
    for (const a of arrivals) expect(a.body).toBe(arrivals.find((b) => b.webhookId === a.webhookId)?.body);
    await client.webhooks.delete.mutate({ id: e.id });
  });

  it('treats a timeout as a failure and backs off, doubling, for over a day, then marks the delivery failed', async () => {
    const { client } = await tenantWithCustomer();
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1' });
    const e = await endpoint(client, '/slow');
    await client.wallets.update.mutate({ id: wallet.id, name: 'renamed' });
    const event = (await listAllEvents(client)).at(-1);
    expect(event).toMatchObject({ type: 'wallet.updated', data: { name: 'renamed' } });
    // A runner of its own with a short timeout, on the same database.
    const runner = new JobRunner({ orm: h.app.orm, databaseUrl: h.app.databaseUrl, webhookTimeoutMs: 200, webhookAllowedNetworks: ['127.0.0.0/8'] });
    try {
      receiver.answer = () => 'hang';
      let asOf = new Date('2026-03-01T00:00:00Z');
      expect(await runner.deliverWebhooks(asOf)).toBe(1);
      let [delivery] = await allDeliveries(client, e.id);
      expect(delivery?.attempts[0]).toMatchObject({ statusCode: null, error: 'timeout' });

      receiver.answer = () => 500;
      while (delivery?.status === 'pending') {
        const due = delivery.nextAttemptAt ?? asOf;
        expect(await runner.deliverWebhooks(new Date(due.getTime() - 1))).toBe(0);
        asOf = due;
        expect(await runner.deliverWebhooks(asOf)).toBe(1);
        [delivery] = await allDeliveries(client, e.id);
      }
      expect(delivery).toMatchObject({ status: 'failed', attemptCount: WEBHOOK_MAX_ATTEMPTS, nextAttemptAt: null });
      const times = delivery?.attempts.map((a) => a.attemptedAt.getTime()) ?? [];
      const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
      expect(gaps.slice(0, 4)).toEqual([30 * second, 60 * second, 120 * second, 240 * second]);
      for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBe(Math.min(2 * (gaps[i - 1] ?? 0), 4 * hour));
      const span = (times[times.length - 1] ?? 0) - (times[0] ?? 0);
      expect(span).toBeGreaterThanOrEqual(24 * hour);
      expect(span).toBeLessThan(30 * hour);
      expect(receiver.arrivals('/slow').map((a) => a.webhookId)).toEqual(Array(WEBHOOK_MAX_ATTEMPTS).fill(event?.id));
      expect(await runner.deliverWebhooks(new Date(asOf.getTime() + 48 * hour))).toBe(0);
    } finally {
      receiver.answer = () => 204;
      await runner.stop();
    }
  });
});
