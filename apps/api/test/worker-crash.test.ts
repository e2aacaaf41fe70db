/**
 * Expiration survives workers killed with SIGKILL in the middle of a batch. 150 wallets of three
 * organizations fall due at one `asOf`; a real worker process (test/crash-worker.ts) sweeps and
 * works through them, and is killed inside a job's database transaction (customer row locked by
 * the load; the write not sent, as it goes in one round trip with its COMMIT). A second worker is killed after graphile-worker locked its
 * job but before the work. Both leave jobs locked by dead workers (graphile-worker would hold them
 * for 4 hours); a re-sweep must still finish every wallet. Then: each due wallet terminated exactly
 * once (one expiration void holding exactly its balance, one `wallet.terminated` event), pending
 * top-ups failed, nothing else touched, the ledger audit clean, and replays of the orphaned jobs
 * change nothing.
 */
import { auditLedger, createMigratedDatabase, dropDatabase } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningApp, startApp } from '../src/app.js';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { readEnv } from '../src/env.js';
import { TestClock } from './harness.js';
import { apiRoot, type ProcessHandle, pollUntil, spawnProcess, stopAll } from './processes.js';

const ADMIN_TOKEN = 'worker-crash-admin-token-0123456789';
const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
const asOf = new Date('2026-03-03T09:00:00Z');

let databaseUrl: string;
let app: RunningApp | undefined;
let pool: pg.Pool;
const workers: ProcessHandle[] = [];

beforeAll(async () => {
  databaseUrl = await createMigratedDatabase(inject('serverUrl'), 'wallets_crash');
  pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  app = await startApp(
    readEnv({
      DATABASE_URL: databaseUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
      WALLET_WORKER_CONCURRENCY: '0',
      WALLET_DB_POOL_MAX: '20',
    }),
    { clock, log: () => undefined },
  );
});

afterEach((context) => {
  if (context.task.result?.state === 'fail') {
    for (const worker of workers) console.error(`--- output of ${worker.name} ---\n${worker.output()}`);
  }
});

afterAll(async () => {
  await stopAll();
  await app?.stop();
  await pool?.end();
  if (databaseUrl) await dropDatabase(inject('serverUrl'), databaseUrl);
});

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

function startCrashWorker(name: string, holdAt: number, holdMode: 'transaction' | 'before'): ProcessHandle {
  const worker = spawnProcess(name, process.execPath, ['--import', 'tsx', 'test/crash-worker.ts'], {
    cwd: apiRoot,
    env: { DATABASE_URL: databaseUrl, CRASH_AS_OF: asOf.toISOString(), CRASH_HOLD_AT: String(holdAt), CRASH_HOLD_MODE: holdMode },
  });
  workers.push(worker);
  return worker;
}

async function terminatedCount(walletIds: string[]): Promise<number> {
  const [row] = await sql<{ n: string }>(`select count(*)::text as n from wallets where id = any($1::uuid[]) and status = 'terminated'`, [walletIds]);
  return Number(row?.n);
}

/** Whether another session holds the customer's row lock (taken by every wallet mutation). */
async function customerLocked(walletId: string): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select c.id from customers c join wallets w on w.customer_id = c.id where w.id = $1 for update of c nowait`, [walletId]);
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === '55P03') return true;
    throw error;
  } finally {
    await client.query('rollback');
    client.release();
  }
}

async function jobOf(
  walletId: string,
): Promise<{ id: string; key: string | null; locked_by: string | null; attempts: number; max_attempts: number }[]> {
  return sql(
    `select j.id::text, j.key, j.locked_by, j.attempts, j.max_attempts
       from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
      where t.identifier = 'expire-wallet' and j.payload ->> 'walletId' = $1 order by j.id`,
    [walletId],
  );
}

interface Snapshot {
  walletId: string;
  status: string;
  cents: string;
  units: string;
  pending: string;
}

async function snapshot(walletIds: string[]): Promise<Map<string, Snapshot>> {
  const rows = await sql<Snapshot>(
    `select w.id as "walletId", w.status, w.balance_cents::text as cents, (w.credits_balance * 100000)::bigint::text as units,
            (select count(*) from wallet_transactions t where t.wallet_id = w.id and t.status = 'pending')::text as pending
       from wallets w where w.id = any($1::uuid[])`,
    [walletIds],
  );
  return new Map(rows.map((row) => [row.walletId, row]));
}

async function ledgerCounts(): Promise<{ transactions: string; events: string; idempotency: string; consumptions: string }> {
  const [row] = await sql<{ transactions: string; events: string; idempotency: string; consumptions: string }>(
    `select (select count(*) from wallet_transactions)::text as transactions, (select count(*) from events)::text as events,
            (select count(*) from idempotency_records)::text as idempotency,
            (select count(*) from wallet_transaction_consumptions)::text as consumptions`,
  );
  if (!row) throw new Error('no counts');
  return row;
}

describe('expiration with workers killed mid-batch', () => {
  it('terminates every due wallet exactly once although two workers die with jobs locked', async () => {
    if (!app) throw new Error('app not started');
    const url = app.url;
    const admin = createWalletClient({ url, apiKey: ADMIN_TOKEN });
    const hour = 3_600_000;

    // 3 organizations x 10 customers x (5 wallets due at asOf + 1 not due).
    const due: string[] = [];
    const notDue: string[] = [];
    const pendingPurchases: string[] = [];
    await Promise.all(
      [0, 1, 2].map(async (t) => {
        const { apiKey } = await admin.admin.createOrganization.mutate({ name: `crash ${t}` });
        const client: WalletClient = createWalletClient({ url, apiKey });
        await Promise.all(
          Array.from({ length: 10 }, async (_, c) => {
            const externalCustomerId = `cus_${c}`;
            await client.customers.upsert.mutate({ externalId: externalCustomerId, currency: 'EUR' });
            for (let j = 0; j < 5; j++) {
              const g = t * 50 + c * 5 + j;
              const expirationAt = new Date(clock.now().getTime() + (1 + (g % 5)) * hour);
              const base = { externalCustomerId, currency: 'EUR', code: `due_${j}`, expirationAt };
              switch (j) {
                case 0: {
                  // Granted credits and a pending paid top-up, which expiry marks failed.
                  const wallet = await client.wallets.create.mutate({ ...base, rateAmount: '1', grantedCredits: '10', paidCredits: '5' });
                  const pending = await client.walletTransactions.list.query({ walletId: wallet.id, status: 'pending' });
                  pendingPurchases.push(...pending.items.map((tx) => tx.id));
                  due.push(wallet.id);
                  break;
                }
                case 1: {
                  const wallet = await client.wallets.create.mutate({ ...base, rateAmount: '0.7', grantedCredits: `${12 + c}` });
                  due.push(wallet.id);
                  break;
                }
                case 2: {
                  // A settled purchase and a grant: two lots, one void for both.
                  const wallet = await client.wallets.create.mutate({ ...base, rateAmount: '1.5', grantedCredits: '1' });
                  const { transactions } = await client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '8' });
                  await client.walletTransactions.recordPayment.mutate({ id: transactions[0]?.id ?? '', status: 'succeeded' });
                  due.push(wallet.id);
                  break;
                }
                case 3: {
                  // Nothing to void: terminated without a ledger entry.
                  const wallet = await client.wallets.create.mutate({ ...base, rateAmount: '1' });
                  due.push(wallet.id);
                  break;
                }
                default: {
                  // Partly voided by hand first.
                  const wallet = await client.wallets.create.mutate({ ...base, rateAmount: '2', grantedCredits: '20' });
                  await client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '5.5' });
                  due.push(wallet.id);
                }
              }
            }
            const later = c % 2 === 0 ? { expirationAt: new Date(asOf.getTime() + 30 * 24 * hour) } : {};
            const keep = await client.wallets.create.mutate({
              externalCustomerId,
              currency: 'EUR',
              code: 'kept',
              rateAmount: '1',
              grantedCredits: '4',
              ...later,
            });
            notDue.push(keep.id);
          }),
        );
      }),
    );
    expect(due).toHaveLength(150);
    expect(notDue).toHaveLength(30);
    expect(pendingPurchases).toHaveLength(30);
    const before = await snapshot([...due, ...notDue]);
    const countsBefore = await ledgerCounts();

    // Worker 1: sweeps as of asOf, and freezes inside the transaction of its 40th job.
    const worker1 = startCrashWorker('crash worker 1', 40, 'transaction');
    const [, held1 = ''] = await worker1.waitForOutput(/HOLDING (\S+)/, 120_000);
    expect(await terminatedCount(due)).toBe(39);
    expect(await customerLocked(held1)).toBe(true);
    const [orphan1] = await jobOf(held1);
    expect(orphan1).toMatchObject({ key: `expire-wallet:${held1}` });
    expect(orphan1?.locked_by).toBeTruthy();
    await worker1.kill();
    expect(worker1.exitStatus()).toEqual({ code: null, signal: 'SIGKILL' });
    // PostgreSQL rolls the open transaction back: the wallet is untouched and the lock released.
    await pollUntil('the killed worker to lose its lock', async () => ((await customerLocked(held1)) ? undefined : true));
    expect((await snapshot([held1])).get(held1)).toEqual(before.get(held1));
    expect(await terminatedCount(due)).toBe(39);

    // Worker 2: picks up where the queue stands, and is killed with its 30th job locked.
    const worker2 = startCrashWorker('crash worker 2', 30, 'before');
    const [, held2 = ''] = await worker2.waitForOutput(/HOLDING (\S+)/, 120_000);
    expect(await terminatedCount(due)).toBe(39 + 29);
    const [orphan2] = (await jobOf(held2)).filter((job) => job.locked_by !== null);
    expect(orphan2?.key).toBe(`expire-wallet:${held2}`);
    await worker2.kill();
    expect(worker2.exitStatus()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await terminatedCount(due)).toBe(68);

    // A sweep by another process finishes the batch, despite the jobs the dead workers still lock.
    const result = await admin.admin.runScheduledJobs.mutate({ asOf });
    expect(result).toMatchObject({ walletsExpired: 150 - 68, jobsRun: 150 - 68 });
    expect(await terminatedCount(due)).toBe(150);

    // graphile-worker gave the locked keys up to new jobs: the orphans keep their lock, lose their
    // key and are never retried (attempts = max); no keyed expiration job is left.
    const orphans = await sql<{ id: string; key: string | null; payload: { walletId: string }; attempts: number; max_attempts: number }>(
      `select id::text, key, payload, attempts, max_attempts from graphile_worker._private_jobs where locked_by is not null order by id`,
    );
    expect(orphans.map((o) => o.payload.walletId).sort()).toEqual([held1, held2].sort());
    for (const orphan of orphans) expect(orphan).toMatchObject({ key: null, attempts: orphan.max_attempts });
    expect(await sql(`select id from graphile_worker.jobs where key like 'expire-wallet:%'`)).toEqual([]);

    // Every due wallet: terminated at asOf, empty, its pending top-ups failed, exactly one
    // expiration void holding exactly its balance (none when it had nothing).
    const after = await snapshot([...due, ...notDue]);
    for (const walletId of due) {
      expect(after.get(walletId)).toEqual({ walletId, status: 'terminated', cents: '0', units: '0', pending: '0' });
    }
    for (const walletId of notDue) expect(after.get(walletId)).toEqual(before.get(walletId));
    const terminatedAt = await sql<{ at: Date; n: string }>(
      `select terminated_at as at, count(*)::text as n from wallets where id = any($1::uuid[]) group by 1`,
      [due],
    );
    expect(terminatedAt.map((row) => [row.at.toISOString(), row.n])).toEqual([[asOf.toISOString(), '150']]);
    const voids = await sql<{ wallet_id: string; n: string; cents: string; units: string; ids: string[] }>(
      `select wallet_id::text, count(*)::text as n, sum(amount_cents)::text as cents, (sum(credit_amount) * 100000)::bigint::text as units,
              array_agg(id::text) as ids
         from wallet_transactions where source = 'expiration' group by wallet_id`,
    );
    const voidByWallet = new Map(voids.map((v) => [v.wallet_id, v]));
    for (const walletId of due) {
      const start = before.get(walletId);
      const hadBalance = start && (start.cents !== '0' || start.units !== '0');
      const v = voidByWallet.get(walletId);
      expect({ walletId, n: v?.n ?? '0', cents: v?.cents ?? '0', units: v?.units ?? '0' }).toEqual({
        walletId,
        n: hadBalance ? '1' : '0',
        cents: start?.cents,
        units: start?.units,
      });
    }
    expect(voids.every((v) => due.includes(v.wallet_id))).toBe(true);
    const voidIds = voids.flatMap((v) => v.ids);
    expect(voidIds).toHaveLength(150 - 30); // the 30 wallets without credits need no void
    const failed = await sql<{ id: string }>(`select id::text from wallet_transactions where id = any($1::uuid[]) and status = 'failed'`, [
      pendingPurchases,
    ]);
    expect(failed).toHaveLength(30);
    // Nothing but those voids was written to the ledger.
    const countsAfter = await ledgerCounts();
    expect(Number(countsAfter.transactions)).toBe(Number(countsBefore.transactions) + voidIds.length);

    // Events: one wallet.terminated per due wallet (none for the others), one creation event per
    // void, one update per failed top-up.
    const terminatedEvents = await sql<{ id: string; n: string }>(
      `select data ->> 'id' as id, count(*)::text as n from events where type = 'wallet.terminated' group by 1`,
    );
    expect(terminatedEvents.map((e) => e.id).sort()).toEqual([...due].sort());
    expect(terminatedEvents.every((e) => e.n === '1')).toBe(true);
    const voidEvents = await sql<{ id: string; n: string }>(
      `select data ->> 'id' as id, count(*)::text as n from events
        where type = 'wallet_transaction.created' and data ->> 'source' = 'expiration' group by 1`,
    );
    expect(voidEvents.map((e) => e.id).sort()).toEqual([...voidIds].sort());
    expect(voidEvents.every((e) => e.n === '1')).toBe(true);
    const failedEvents = await sql<{ id: string; n: string }>(
      `select data ->> 'id' as id, count(*)::text as n from events
        where type = 'wallet_transaction.updated' and data ->> 'status' = 'failed' group by 1`,
    );
    expect(failedEvents.map((e) => e.id).sort()).toEqual([...pendingPurchases].sort());
    expect(failedEvents.every((e) => e.n === '1')).toBe(true);

    // One recorded outcome per wallet for this asOf.
    const outcomes = await sql<{ key: string }>(`select key from idempotency_records where procedure = 'jobs.expireWallet'`);
    expect(outcomes.map((o) => o.key).sort()).toEqual(due.map((id) => `${id}@${asOf.toISOString()}`).sort());

    // The ledger, recomputed here and by the audit.
    const mismatches = await sql<{ id: string }>(
      `select w.id::text from wallets w left join wallet_transactions t on t.wallet_id = w.id
        group by w.id
       having w.balance_cents <> coalesce(sum(case t.transaction_type when 'inbound' then t.amount_cents else -t.amount_cents end)
                                          filter (where t.status = 'settled'), 0)
           or w.credits_balance <> coalesce(sum(case t.transaction_type when 'inbound' then t.credit_amount else -t.credit_amount end)
                                            filter (where t.status = 'settled'), 0)
           or w.balance_cents <> coalesce(sum(t.remaining_amount_cents) filter (where t.status = 'settled' and t.transaction_type = 'inbound'), 0)
           or coalesce(min(t.remaining_amount_cents), 0) < 0 or coalesce(min(t.remaining_credit_amount), 0) < 0`,
    );
    expect(mismatches).toEqual([]);
    expect(await auditLedger(databaseUrl)).toEqual([]);

    // Replays change nothing: the orphaned jobs run after all (as after graphile-worker's 4-hour
    // lock expiry, were they retried), and a later sweep finds nothing due.
    const task = app.jobs.taskList['expire-wallet'];
    if (!task) throw new Error('no expire-wallet task');
    for (const orphan of orphans) await task(orphan.payload, {} as never);
    const later = await admin.admin.runScheduledJobs.mutate({ asOf: new Date(asOf.getTime() + 24 * hour) });
    expect(later).toMatchObject({ walletsExpired: 0, jobsRun: 0 });
    expect(await ledgerCounts()).toEqual(countsAfter);
    expect(await snapshot([...due, ...notDue])).toEqual(after);
    expect(await auditLedger(databaseUrl)).toEqual([]);
  }, 300_000);
});
