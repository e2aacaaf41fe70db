/**
 * Webhook delivery survives a worker killed with SIGKILL in the middle of a send. Two
 * organizations with two endpoints each have their events owed to a real receiver (verifying every
 * POST with `standardwebhooks`). A real worker process (test/webhook-worker.ts, one lane) delivers
 * them one at a time; the receiver never answers its 15th POST, and the worker is killed while it
 * waits, holding that delivery's lease (no transaction is open during a send). Then two workers start
 * at once. Afterwards: every event arrived at every endpoint of its organization with a valid
 * signature, exactly once, except the one in flight at the kill, which arrived twice (at least once,
 * same `webhook-id`), the second time only after the killed worker's lease ended; no event was ever
 * sent to one endpoint by two workers at the same time; every delivery is delivered with one
 * recorded attempt (the killed one recorded nothing), and the workers keep delivering new events.
 */
import { createMigratedDatabase, dropDatabase } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningApp, startApp } from '../src/app.js';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { readEnv } from '../src/env.js';
import { TestClock } from './harness.js';
import { apiRoot, type ProcessHandle, pollUntil, spawnProcess, stopAll } from './processes.js';
import { WebhookReceiver } from './webhook-receiver.js';

const ADMIN_TOKEN = 'webhook-crash-admin-token-0123456789';
const HOLD_AT = 15;

let databaseUrl: string;
let app: RunningApp | undefined;
let pool: pg.Pool;
const receiver = new WebhookReceiver();
const workers: ProcessHandle[] = [];

beforeAll(async () => {
  databaseUrl = await createMigratedDatabase(inject('serverUrl'), 'wallets_webhook_crash');
  pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  app = await startApp(
    readEnv({
      DATABASE_URL: databaseUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
      WALLET_WORKER_CONCURRENCY: '0',
      WALLET_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8',
    }),
    { clock: new TestClock(), log: () => undefined },
  );
  await receiver.start();
});

afterEach((context) => {
  if (context.task.result?.state === 'fail') {
    for (const worker of workers) console.error(`--- output of ${worker.name} ---\n${worker.output()}`);
  }
});

afterAll(async () => {
  await stopAll();
  await receiver.stop();
  await app?.stop();
  await pool?.end();
  if (databaseUrl) await dropDatabase(inject('serverUrl'), databaseUrl);
});

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

function startWorker(name: string, lanes: number): ProcessHandle {
  const worker = spawnProcess(name, process.execPath, ['--import', 'tsx', 'test/webhook-worker.ts'], {
    cwd: apiRoot,
    env: { DATABASE_URL: databaseUrl, WEBHOOK_LANES: String(lanes) },
  });
  workers.push(worker);
  return worker;
}

async function deliveryCounts(): Promise<Record<string, number>> {
  const rows = await sql<{ status: string; n: string }>('select status, count(*)::text as n from webhook_deliveries group by status');
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
}

/** "<path> <event id>" for every event owed: each event of an organization to each of its endpoints (created first). */
async function owed(paths: Map<string, string>): Promise<string[]> {
  const rows = await sql<{ endpoint_id: string; event_id: string }>(
    'select p.id as endpoint_id, ev.id as event_id from webhook_endpoints p join events ev on ev.organization_id = p.organization_id',
  );
  return rows.map((row) => `${paths.get(row.endpoint_id)} ${row.event_id}`).sort();
}

describe('webhook worker killed mid-delivery', () => {
  it('delivers every event to every endpoint after a restart, never sending one attempt twice at once', async () => {
    const url = app?.url ?? '';
    const admin = createWalletClient({ url, apiKey: ADMIN_TOKEN });
    const paths = new Map<string, string>();
    const clients: WalletClient[] = [];
    for (const t of [0, 1]) {
      const { apiKey } = await admin.admin.createOrganization.mutate({ name: `webhook crash ${t}` });
      const client = createWalletClient({ url, apiKey });
      clients.push(client);
      for (const e of [0, 1]) {
        const path = `/org${t}/endpoint${e}`;
        const endpoint = await client.webhooks.createEndpoint.mutate({ url: receiver.url(path) });
        receiver.expect(path, endpoint.secret);
        paths.set(endpoint.id, path);
      }
      await client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
      for (let w = 0; w < 4; w++) {
        await client.wallets.create.mutate({ externalCustomerId: 'cus_1', code: `w${w}`, rateAmount: '1', grantedCredits: `${w + 1}` });
      }
    }
    const expected = await owed(paths);
    expect(expected.length).toBeGreaterThan(2 * HOLD_AT);

    // Worker 1 delivers one at a time; the receiver never answers its 15th POST.
    receiver.answer = () => (receiver.received.length + 1 === HOLD_AT ? 'hang' : 204);
    const worker1 = startWorker('webhook worker 1', 1);
    await receiver.waitUntil(() => receiver.received.length === HOLD_AT);
    const last = receiver.received[HOLD_AT - 1];
    expect(last?.answer).toBe('hung');
    const held = `${last?.path} ${last?.webhookId}`;
    expect(await deliveryCounts()).toEqual({ delivered: HOLD_AT - 1, pending: expected.length - (HOLD_AT - 1) });
    await worker1.kill();
    expect(worker1.exitStatus()).toEqual({ code: null, signal: 'SIGKILL' });
    // The held delivery is pending under the dead worker's lease, with no attempt recorded.
    const [endpointOfHeld, eventOfHeld] = held.split(' ');
    const heldRow = await sql<{ status: string; attempts: number; recorded: string; lease_until: Date | null; leased: boolean }>(
      `select d.status, d.attempts, (select count(*)::text from webhook_attempts a where a.delivery_id = d.id) as recorded,
              d.lease_until, d.lease_until > now() as leased
         from webhook_deliveries d where d.event_id = $1 and d.endpoint_id = (select id from webhook_endpoints where url like '%' || $2)`,
      [eventOfHeld, endpointOfHeld],
    );
    expect(heldRow).toEqual([{ status: 'pending', attempts: 0, recorded: '0', lease_until: expect.any(Date), leased: true }]);
    const leaseEndMs = heldRow[0]?.lease_until?.getTime() ?? 0;

    // Two workers at once finish the job.
    receiver.answer = () => 204;
    startWorker('webhook worker 2', 2);
    startWorker('webhook worker 3', 2);
    await pollUntil('every delivery to be delivered', async () => ((await deliveryCounts()).delivered === expected.length ? true : undefined));

    expect(receiver.rejected).toEqual([]);
    expect(receiver.overlaps).toEqual([]);
    const arrivals = receiver.received.map((r) => `${r.path} ${r.webhookId}`);
    expect([...new Set(arrivals)].sort()).toEqual(expected);
    const twice = arrivals.filter((key, i) => arrivals.indexOf(key) !== i);
    expect(twice).toEqual([held]);
    // Sent again only once the lease had ended (same clock: database and test run on this machine;
    // the lease end is stored to the millisecond).
    const resent = receiver.received.filter((r) => `${r.path} ${r.webhookId}` === held)[1];
    expect(resent?.receivedAtMs).toBeGreaterThanOrEqual(leaseEndMs - 1);
    for (const r of receiver.received) expect(r.event.id).toBe(r.webhookId);
    expect(await deliveryCounts()).toEqual({ delivered: expected.length });
    const attempts = await sql<{ n: string; ok: string }>(
      `select count(*)::text as n, count(*) filter (where status_code = 204)::text as ok from webhook_attempts`,
    );
    expect(attempts).toEqual([{ n: String(expected.length), ok: String(expected.length) }]);

    // The workers keep going: a new event reaches both endpoints of its organization.
    await clients[0]?.wallets.create.mutate({ externalCustomerId: 'cus_1', code: 'later', rateAmount: '1' });
    const more = await owed(paths);
    expect(more.length).toBeGreaterThan(expected.length);
    await pollUntil('the new events to be delivered', async () => ((await deliveryCounts()).delivered === more.length ? true : undefined));
    expect([...new Set(receiver.received.map((r) => `${r.path} ${r.webhookId}`))].sort()).toEqual(more);
  }, 180_000);
});
