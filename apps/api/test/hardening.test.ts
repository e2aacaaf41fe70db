/**
 * What an attacker sees: an internal error answers with a request id and nothing else (its detail
 * goes to the log under that id), and every response carries the security headers (console files,
 * tRPC answers, health, unknown paths).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../src/observability/logger.js';
import { errorOf, type Harness, startHarness } from './harness.js';

let harness: Harness;
let pool: pg.Pool;
let consoleDir: string;
const { logger, lines: logged } = memoryLogger();

beforeAll(async () => {
  consoleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hardening-console-'));
  fs.mkdirSync(path.join(consoleDir, 'assets'));
  fs.writeFileSync(
    path.join(consoleDir, 'index.html'),
    '<!doctype html><title>console</title><script type="module" src="/assets/app-1.js"></script>',
  );
  fs.writeFileSync(path.join(consoleDir, 'assets', 'app-1.js'), 'console.log(1)');
  harness = await startHarness({ ownDatabase: true, consoleDir, logger });
  pool = new pg.Pool({ connectionString: harness.app.databaseUrl, max: 1 });
});

afterAll(async () => {
  await pool?.query('drop trigger if exists hardening_boom on customers');
  await pool?.end();
  await harness?.stop();
  fs.rmSync(consoleDir, { recursive: true, force: true });
});

describe('internal errors', () => {
  it('answer "internal error (request <id>)" with no SQL, values or stack; the log holds the detail under that id', async () => {
    const { client } = await harness.newTenant();
    // A database error whose message would carry the statement and its values.
    await pool.query(`create or replace function hardening_boom() returns trigger language plpgsql as $$
      begin raise exception 'boom for %', new.external_id; end $$`);
    await pool.query('create trigger hardening_boom before insert on customers for each row execute function hardening_boom()');
    const error = await errorOf(client.customers.upsert.mutate({ externalId: 'cus_secret_value', currency: 'EUR' }));
    await pool.query('drop trigger hardening_boom on customers');

    expect(error.code).toBe('INTERNAL_SERVER_ERROR');
    const match = /^internal error \(request ([0-9a-f-]{36})\)$/.exec(error.message);
    expect(match, error.message).not.toBeNull();
    expect(error.walletErrorCode).toBeNull();
    const requestId = match?.[1];
    const errors = logged.filter((line) => line.requestId === requestId && line.level === 50);
    expect(errors).toHaveLength(1);
    const err = errors[0]?.err as { message: string; stack: string } | undefined;
    expect(err?.message).toContain('boom for cus_secret_value');
    expect(err?.stack).toContain('at ');

    // Over raw HTTP too: the whole body names neither the statement, the value nor the database.
    const response = await fetch(`${harness.app.url}/trpc/customers.upsert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${(await harness.newTenant()).apiKey}` },
      body: JSON.stringify({ json: { externalId: 'cus_ok', currency: 'EUR' } }),
    });
    expect(response.status).toBe(200);
    await pool.query('create trigger hardening_boom before insert on customers for each row execute function hardening_boom()');
    const raw = await fetch(`${harness.app.url}/trpc/customers.upsert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${(await harness.newTenant()).apiKey}` },
      body: JSON.stringify({ json: { externalId: 'cus_secret_value', currency: 'EUR' } }),
    });
    await pool.query('drop trigger hardening_boom on customers');
    const body = await raw.text();
    expect(raw.status).toBe(500);
    const database = new URL(harness.app.databaseUrl).pathname.slice(1);
    for (const leak of ['insert into', 'cus_secret_value', 'boom', database, 'at ', '.ts:']) expect(body).not.toContain(leak);
    expect(body).toMatch(/internal error \(request [0-9a-f-]{36}\)/);
  });
});

describe('security headers', () => {
  const expected = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };

  it.each([
    ['the console', '/'],
    ['a client route of the console', '/customers/cus_1'],
    ['a console asset', '/assets/app-1.js'],
    ['a tRPC answer', '/trpc/wallets.list'],
    ['health', '/health'],
    ['an unknown file', '/missing.png'],
  ])('on %s (%s)', async (_what, pathname) => {
    const response = await fetch(`${harness.app.url}${pathname}`);
    await response.arrayBuffer();
    for (const [name, value] of Object.entries(expected)) expect(response.headers.get(name), name).toBe(value);
    const policy = response.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain('unsafe');
  });
});
