/**
 * Fair webhook delivery: an organization whose 20 endpoints never answer cannot delay another's.
 * A real worker (the JobRunner's periodic job, 16 lanes, 4 per organization, 30 s timeout) is busy
 * with the dead endpoints' POSTs when the other organization's event is created; that event still
 * arrives within 5 s (polled to a deadline). While the POSTs hang, no database transaction stays
 * open (sends hold none), and the dead organization has exactly 4 POSTs in flight, to 4
 * different endpoints. Own database: the worker sends for every organization of it.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner } from '../src/jobs/runner.js';
import { type Harness, listAllEvents, startHarness } from './harness.js';
import { pollUntil } from './processes.js';
import { WebhookReceiver } from './webhook-receiver.js';

const DEAD_ENDPOINTS = 20;
const LANES_PER_ORGANIZATION = 4;

let h: Harness;
let pool: pg.Pool;
let runner: JobRunner | undefined;
const receiver = new WebhookReceiver();
beforeAll(async () => {
  h = await startHarness({ ownDatabase: true });
  pool = new pg.Pool({ connectionString: h.app.databaseUrl, max: 2 });
  await receiver.start();
});
afterAll(async () => {
  // Closing the receiver ends the hung POSTs at once, so the worker stops without waiting them out.
  await receiver.stop();
  await runner?.stop();
  await pool?.end();
  await h?.stop();
});

const dead = (path: string) => path.startsWith('/dead/');

describe('webhook delivery across organizations', () => {
  it("delivers one organization's event within 5 s while another's 20 endpoints never answer", async () => {
    receiver.answer = (path) => (dead(path) ? 'hang' : 204);
    const a = await h.newTenant();
    const b = await h.newTenant();
    for (const t of [a, b]) await t.client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
    for (let i = 0; i < DEAD_ENDPOINTS; i++) {
      const path = `/dead/${i}`;
      receiver.expect(path, (await a.client.webhooks.createEndpoint.mutate({ url: receiver.url(path) })).secret);
    }
    receiver.expect('/alive', (await b.client.webhooks.createEndpoint.mutate({ url: receiver.url('/alive') })).secret);
    await a.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '5' });
    expect((await listAllEvents(a.client)).length).toBeGreaterThan(0);

    runner = new JobRunner({
      orm: h.app.orm,
      databaseUrl: h.app.databaseUrl,
      concurrency: 1,
      webhookIntervalMs: 100,
      webhookTimeoutMs: 30_000,
      webhookLanes: 16,
      webhookLanesPerOrganization: LANES_PER_ORGANIZATION,
      webhookAllowedNetworks: ['127.0.0.0/8'],
    });
    await runner.start(3600);
    // The dead organization takes its share of lanes, and those POSTs hang.
    await pollUntil('the dead endpoints to hold their lanes', async () =>
      receiver.received.filter((r) => dead(r.path)).length >= LANES_PER_ORGANIZATION ? true : undefined,
    );

    // Now the other organization's event.
    await b.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '3' });
    const expected = (await listAllEvents(b.client)).map((e) => e.id).sort();
    expect(expected.length).toBeGreaterThan(0);
    await pollUntil(
      "the other organization's events to arrive",
      async () => (receiver.arrivals('/alive').length >= expected.length ? true : undefined),
      5_000,
    );
    expect(
      receiver
        .arrivals('/alive')
        .map((r) => r.webhookId)
        .sort(),
    ).toEqual(expected);
    expect(receiver.rejected).toEqual([]);

    // Meanwhile: the dead organization has 4 POSTs in flight, to 4 endpoints, and no transaction
    // stays open for them.
    const hung = receiver.received.filter((r) => dead(r.path));
    expect(hung.map((r) => r.answer)).toEqual(Array(LANES_PER_ORGANIZATION).fill('hung'));
    expect(new Set(hung.map((r) => r.path)).size).toBe(LANES_PER_ORGANIZATION);
    // A transaction held across a hung POST began before the POST arrived and is still open now.
    const hungSinceMs = Math.max(...hung.map((r) => r.receivedAtMs));
    const { rows } = await pool.query<{ n: string }>(
      `select count(*)::text as n from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and xact_start <= to_timestamp($1::float8 / 1000)`,
      [hungSinceMs],
    );
    expect(rows).toEqual([{ n: '0' }]);
    const { rows: leased } = await pool.query<{ n: string }>(
      `select count(*)::text as n from webhook_deliveries where organization_id = $1 and status = 'pending' and lease_until > now()`,
      [a.organizationId],
    );
    expect(leased).toEqual([{ n: String(LANES_PER_ORGANIZATION) }]);
  });
});
