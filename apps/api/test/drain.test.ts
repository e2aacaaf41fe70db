/**
 * SIGTERM drains (issue 16): a real server process gets 200 grant calls at once and SIGTERM while
 * they are in flight. Every call whose request the server received (its request id is in the
 * server's request log) gets a complete HTTP answer, none is logged as aborted, and exactly the
 * calls answered 200 committed. Calls the server never received failed to connect and wrote nothing.
 */
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createWalletClient } from '../src/client/index.js';
import { pollUntil, type ServerProcess, startServerProcess, stopAll } from './processes.js';

const ADMIN_TOKEN = 'drain-admin-token-0123456789';
const CALLS = 200;
const WALLETS = 10;

let server: ServerProcess | null = null;
const db = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
afterAll(async () => {
  await stopAll();
  await db.end();
});

interface Outcome {
  id: string;
  status: number | null;
  body: string | null;
  error: string | null;
}

describe('SIGTERM', () => {
  it(`answers every received request of ${CALLS} in flight, then exits 0`, async () => {
    server = await startServerProcess({
      name: 'draining server',
      via: 'node',
      databaseUrl: inject('databaseUrl'),
      adminToken: ADMIN_TOKEN,
      env: { LOG_LEVEL: 'info', WALLET_SHUTDOWN_GRACE_MS: '10000' },
    });
    const admin = createWalletClient({ url: server.url, apiKey: ADMIN_TOKEN });
    const { apiKey } = await admin.admin.createOrganization.mutate({ name: 'drain' });
    const client = createWalletClient({ url: server.url, apiKey });
    const walletIds: string[] = [];
    for (let i = 0; i < WALLETS; i++) {
      await client.customers.upsert.mutate({ externalId: `cus_drain_${i}`, currency: 'EUR' });
      walletIds.push((await client.wallets.create.mutate({ externalCustomerId: `cus_drain_${i}`, rateAmount: '1' })).id);
    }
    const runId = Math.random().toString(36).slice(2, 8);

    const call = async (i: number): Promise<Outcome> => {
      const id = `drain-${runId}-${i}`;
      try {
        const response = await fetch(`${server?.url}/trpc/walletTransactions.create`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-request-id': id },
          body: JSON.stringify({ json: { walletId: walletIds[i % WALLETS], grantedCredits: '1', idempotencyKey: id } }),
        });
        return { id, status: response.status, body: await response.text(), error: null };
      } catch (error) {
        return { id, status: null, body: null, error: String((error as Error).cause ?? error) };
      }
    };
    const outcomes = Array.from({ length: CALLS }, (_, i) => call(i));
    // SIGTERM once some grants have committed, with most of the calls still in flight.
    await pollUntil('some grants to commit', async () => {
      const { rows } = await db.query<{ n: number }>('select count(*)::int as n from wallet_transactions where wallet_id = any($1)', [walletIds]);
      return (rows[0]?.n ?? 0) >= 5 ? true : undefined;
    });
    server.signal('SIGTERM');
    const results = await Promise.all(outcomes);
    expect(await server.exited, server.output()).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('SIGTERM received, stopping');

    const logged = new Map<string, Record<string, unknown>>();
    for (const line of server.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg === 'request' && typeof entry.requestId === 'string' && entry.requestId.startsWith(`drain-${runId}-`)) {
        logged.set(entry.requestId, entry);
      }
    }
    const problems: string[] = [];
    for (const result of results) {
      const entry = logged.get(result.id);
      if (entry) {
        // Received: a complete answer, never cut.
        if (entry.aborted) problems.push(`${result.id}: logged as aborted`);
        if (result.status === null) problems.push(`${result.id}: received, but the caller got no answer (${result.error})`);
        else if (result.status !== 200) problems.push(`${result.id}: status ${result.status} ${result.body}`);
        else JSON.parse(result.body ?? '');
      } else if (result.status !== null) {
        problems.push(`${result.id}: answered ${result.status} but not in the server's log`);
      }
    }
    expect(problems).toEqual([]);
    const answered = results.filter((r) => r.status === 200).map((r) => r.id);
    expect(answered.length).toBeGreaterThan(5);
    // Exactly the calls answered 200 committed (each once); nothing else did.
    const { rows } = await db.query<{ key: string }>(`select key from idempotency_records where key like $1 order by 1`, [`drain-${runId}-%`]);
    expect(rows.map((r) => r.key)).toEqual([...answered].sort((a, b) => (a < b ? -1 : 1)));
    const { rows: grants } = await db.query<{ n: number }>('select count(*)::int as n from wallet_transactions where wallet_id = any($1)', [
      walletIds,
    ]);
    expect(grants[0]?.n).toBe(answered.length);
    console.log(`drain: ${answered.length} answered 200, ${results.filter((r) => r.status === null).length} never received (connection refused)`);
  }, 120_000);
});
