/**
 * What an operator sees: readiness that follows the database, one JSON log line per request with
 * its id (also on the response), Prometheus metrics behind the admin token, and 404s for paths
 * nobody serves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { memoryLogger } from '../src/observability/logger.js';
import { ADMIN_TOKEN, errorOf, type Harness, startHarness } from './harness.js';

let harness: Harness;
let consoleDir: string;
const { logger, lines } = memoryLogger();

beforeAll(async () => {
  consoleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'observability-console-'));
  fs.writeFileSync(path.join(consoleDir, 'index.html'), '<!doctype html><title>console</title>');
  harness = await startHarness({ ownDatabase: true, consoleDir, logger });
});

afterAll(async () => {
  await harness?.stop();
  fs.rmSync(consoleDir, { recursive: true, force: true });
});

/** Polls until `check` holds, up to `ms`; returns whether it did. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

const get = (pathname: string, headers: Record<string, string> = {}) => fetch(`${harness.app.url}${pathname}`, { headers });

describe('request ids and request logs', () => {
  it('answers every response with an x-request-id, keeping a well-formed one the caller sent', async () => {
    for (const pathname of ['/health', '/ready', '/metrics', '/trpc/wallets.list', '/', '/nowhere.png']) {
      const response = await get(pathname);
      await response.arrayBuffer();
      expect(response.headers.get('x-request-id'), pathname).toMatch(/^[0-9a-f-]{36}$/);
    }
    const echoed = await get('/health', { 'x-request-id': 'lb-7f3a.42' });
    expect(echoed.headers.get('x-request-id')).toBe('lb-7f3a.42');
    const replaced = await get('/health', { 'x-request-id': 'x'.repeat(200) });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs one line per request: id, procedure, organization, status, walletErrorCode, duration; never the key or the query', async () => {
    const tenant = await harness.newTenant();
    const missing = '00000000-0000-0000-0000-000000000042';
    const input = encodeURIComponent(JSON.stringify({ json: { id: missing } }));
    const response = await get(`/trpc/wallets.get?input=${input}`, { authorization: `Bearer ${tenant.apiKey}`, 'x-request-id': 'req-wallet-get-1' });
    expect(response.status).toBe(404);
    await response.arrayBuffer();
    expect(await errorOf(tenant.client.wallets.get.query({ id: missing }))).toMatchObject({ walletErrorCode: 'WALLET_NOT_FOUND' });

    let line: Record<string, unknown> | undefined;
    await eventually(async () => {
      line = lines.find((l) => l.requestId === 'req-wallet-get-1' && l.msg === 'request');
      return line !== undefined;
    }, 2000);
    expect(line).toMatchObject({
      requestId: 'req-wallet-get-1',
      method: 'GET',
      procedure: 'wallets.get',
      organizationId: tenant.organizationId,
      status: 404,
      walletErrorCode: 'WALLET_NOT_FOUND',
    });
    expect(typeof line?.durationMs).toBe('number');
    const text = JSON.stringify(lines);
    expect(text).not.toContain(tenant.apiKey);
    expect(text).not.toContain(ADMIN_TOKEN);
    expect(text).not.toContain(missing); // the query string (the input) is never logged
    expect(lines.filter((l) => l.requestId === 'req-wallet-get-1')).toHaveLength(1);
  });
});

describe('GET /metrics', () => {
  it('is refused without the admin token, and holds a latency histogram for a procedure just called', async () => {
    const tenant = await harness.newTenant();
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/metrics', { authorization: `Bearer ${tenant.apiKey}` })).status).toBe(401);
    await tenant.client.customers.upsert.mutate({ externalId: 'cus_metrics', currency: 'EUR' });
    await tenant.client.customers.get.query({ externalId: 'cus_metrics' });
    await tenant.client.wallets.create.mutate({ externalCustomerId: 'cus_metrics', rateAmount: '1', grantedCredits: '5' });
    const response = await get('/metrics', { authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/wallets_http_request_duration_seconds_bucket\{le="[^"]+",procedure="customers\.get",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/wallets_http_requests_total\{procedure="customers\.upsert",outcome="ok"\} [1-9]/);
    expect(text).toMatch(/wallets_http_requests_total\{procedure="metrics",outcome="client_error"\} [1-9]/);
    for (const name of [
      'wallets_db_pool_connections{state="in_use"}',
      'wallets_db_pool_connections{state="waiting"}',
      'wallets_jobs_due',
      'wallets_jobs_oldest_due_age_seconds',
      'wallets_webhook_deliveries{status="pending"}',
      'wallets_webhook_deliveries{status="failed"}',
      'wallets_outbox_last_position',
      'wallets_process_resident_memory_bytes',
    ]) {
      expect(text, name).toContain(`${name} `);
    }
    expect(Number(/wallets_outbox_last_position (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
  });
});

describe('paths nobody serves', () => {
  it.each(['/ready2', '/metricsx', '/api/v1/nothing', '/api', '/whatever.png', '/wallets', '/customers/a/b', '/trpc/wallets.drop'])(
    '%s is a 404 with JSON, not the console',
    async (pathname) => {
      const response = await get(pathname);
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toContain('application/json');
      expect(await response.text()).not.toContain('<title>console</title>');
    },
  );

  it.each(['/', '/customers', '/customers/cus_1', '/wallets/0b5a1c9e-8f43-4d2b-9a7e-1f2e3d4c5b6a', '/reports', '/operations'])(
    '%s is a console route',
    async (pathname) => {
      const response = await get(pathname);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('<title>console</title>');
    },
  );
});

describe('GET /ready', () => {
  it('turns 503 within 5 s when the database refuses connections, and 200 again once it accepts them', async () => {
    const ready = async () => (await get('/ready')).status;
    expect(await ready()).toBe(200);
    expect(await (await get('/ready')).json()).toEqual({ status: 'ready' });
    expect((await get('/health')).status).toBe(200);

    const database = new URL(harness.app.databaseUrl).pathname.slice(1);
    const admin = new pg.Client({ connectionString: inject('serverUrl') });
    await admin.connect();
    try {
      await admin.query(`alter database "${database}" allow_connections false`);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database]);
      expect(await eventually(async () => (await ready()) === 503, 5000)).toBe(true);
      const body = (await (await get('/ready')).json()) as { status: string; reason: string };
      expect(body.status).toBe('not ready');
      expect(body.reason).not.toContain(database);
      expect((await get('/health')).status).toBe(200);
    } finally {
      await admin.query(`alter database "${database}" allow_connections true`);
      await admin.end();
    }
    expect(await eventually(async () => (await ready()) === 200, 10_000)).toBe(true);
  });
});
