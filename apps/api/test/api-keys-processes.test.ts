/**
 * Key revocation across two real server processes on one database (`node --import tsx
 * src/main.ts`, each with its own key cache and LISTEN connection): a key revoked through one is
 * refused by the other within 5 s, a subscription opened on the other with that key ends with
 * UNAUTHORIZED within 10 s, and a process whose LISTEN connection is killed reconnects and still
 * refuses revoked keys within 5 s. Deadlines are polled, never slept.
 */
import { createMigratedDatabase, dropDatabase } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { errorOf } from './harness.js';
import { pollUntil, type ServerProcess, startServerProcess, stopAll } from './processes.js';

const ADMIN_TOKEN = 'api-keys-processes-admin-token-0123';

let databaseUrl: string;
let pool: pg.Pool;
let serverA: ServerProcess;
let serverB: ServerProcess;
const servers: ServerProcess[] = [];
/** A key of the organization that is never revoked, used on server A to revoke the others. */
let keeper: WalletClient;

beforeAll(async () => {
  databaseUrl = await createMigratedDatabase(inject('serverUrl'), 'wallets_keys_mp');
  pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const started = await Promise.allSettled([
    startServerProcess({ name: 'server A', via: 'node', databaseUrl, adminToken: ADMIN_TOKEN }),
    // B reads its LISTEN connection from WALLET_DIRECT_DATABASE_URL (here the same database).
    startServerProcess({ name: 'server B', via: 'node', databaseUrl, adminToken: ADMIN_TOKEN, env: { WALLET_DIRECT_DATABASE_URL: databaseUrl } }),
  ]);
  for (const result of started) {
    if (result.status === 'rejected') throw result.reason;
    servers.push(result.value);
  }
  [serverA, serverB] = servers as [ServerProcess, ServerProcess];
  const created = await createWalletClient({ url: serverA.url, apiKey: ADMIN_TOKEN }).admin.createOrganization.mutate({ name: 'Rotating' });
  keeper = createWalletClient({ url: serverA.url, apiKey: created.apiKey });
});

afterEach((context) => {
  if (context.task.result?.state === 'fail') {
    for (const server of servers) console.error(`--- output of ${server.name} ---\n${server.output()}`);
  }
});

afterAll(async () => {
  await stopAll();
  await pool?.end();
  if (databaseUrl) await dropDatabase(inject('serverUrl'), databaseUrl);
});

/** A new key of the organization, already used (so cached) on server B. */
async function keyCachedOnB(): Promise<{ id: string; onB: WalletClient }> {
  const { apiKey, secret } = await keeper.apiKeys.create.mutate();
  const onB = createWalletClient({ url: serverB.url, apiKey: secret });
  await onB.customers.list.query({});
  await onB.customers.list.query({});
  return { id: apiKey.id, onB };
}

/** Polls `call` until it is refused with UNAUTHORIZED, failing after `timeoutMs`. */
function refusedWithin(what: string, call: () => Promise<unknown>, timeoutMs: number): Promise<true> {
  return pollUntil(
    what,
    async () => {
      try {
        await call();
        return undefined;
      } catch (error) {
        const code = (error as { data?: { code?: string } }).data?.code;
        if (code === 'UNAUTHORIZED') return true;
        throw error;
      }
    },
    timeoutMs,
  );
}

/** Server B's LISTEN connection, as PostgreSQL sees it. */
async function listenerBackendsOfB(): Promise<number[]> {
  const { rows } = await pool.query<{ pid: number }>(
    `select pid from pg_stat_activity where datname = current_database() and application_name = $1`,
    [`wallets-api-keys-${serverB.pid}-1`],
  );
  return rows.map((r) => r.pid);
}

describe('revocation across processes', () => {
  it('a key revoked through one server is refused by the other within 5 s', async () => {
    const { id, onB } = await keyCachedOnB();
    await keeper.apiKeys.revoke.mutate({ id });
    await refusedWithin('server B to refuse the revoked key', () => onB.customers.list.query({}), 5_000);
    // For good: it stays refused, on both servers.
    expect(await errorOf(onB.customers.list.query({}))).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await errorOf(onB.events.list.query({}))).toMatchObject({ code: 'UNAUTHORIZED' });
    const onA = (await keeper.apiKeys.list.query()).items.find((k) => k.id === id);
    expect(onA?.revokedAt).not.toBeNull();
  });

  it('an open subscription with a revoked key ends with UNAUTHORIZED within 10 s', async () => {
    const { id, onB } = await keyCachedOnB();
    const received: string[] = [];
    const end: { failure: { data?: { code?: string } } | null; completed: boolean } = { failure: null, completed: false };
    const subscription = onB.events.onEvent.subscribe(
      {},
      {
        onData: ({ id: eventId }) => received.push(eventId),
        onError: (error) => {
          end.failure = error as typeof end.failure;
        },
        onComplete: () => {
          end.completed = true;
        },
      },
    );
    try {
      // The subscription is live: it receives an event written through the other server.
      await keeper.customers.upsert.mutate({ externalId: 'cus_sub', currency: 'EUR' });
      await keeper.wallets.create.mutate({ externalCustomerId: 'cus_sub', rateAmount: '1', grantedCredits: '5' });
      await pollUntil('the subscription to receive the wallet events', async () => (received.length > 0 ? true : undefined), 10_000);

      await keeper.apiKeys.revoke.mutate({ id });
      await pollUntil('the subscription to end', async () => (end.failure || end.completed ? true : undefined), 10_000);
      expect(end.failure?.data?.code).toBe('UNAUTHORIZED');
    } finally {
      subscription.unsubscribe();
    }
  });

  it('a server whose LISTEN connection was killed reconnects and still refuses revoked keys within 5 s', async () => {
    const [before] = await listenerBackendsOfB();
    expect(before).toBeDefined();
    await pool.query('select pg_terminate_backend($1)', [before]);
    const after = await pollUntil(
      'server B to listen again',
      async () => {
        const pids = await listenerBackendsOfB();
        return pids.length === 1 && pids[0] !== before ? pids[0] : undefined;
      },
      10_000,
    );
    expect(after).not.toBe(before);
    const { id, onB } = await keyCachedOnB();
    await keeper.apiKeys.revoke.mutate({ id });
    await refusedWithin('server B to refuse the revoked key after reconnecting', () => onB.customers.list.query({}), 5_000);
  });
});
