/**
 * Batched wallet expiry through the real job runner and queue (graphile-worker), on a database of
 * this file's own (the sweep is global). With batches of 5: single-wallet customers go in
 * `expire-wallets` jobs, a customer with two due wallets and a wallet with only a due lot get a
 * job each. Two runners sweeping the same time at once (as two worker processes do) expire every
 * wallet exactly once, and replaying the batch jobs afterwards (a retry after a crash) changes
 * nothing.
 */
import { parseDecimal } from '@wallets/core';
import {
  createOrganization,
  createWallet,
  createWalletTransactions,
  type Door,
  type EntityManager,
  findWalletsDueForBatchExpiration,
  groupDbOf,
  type Orm,
  openOrm,
  toExpirationBatches,
  upsertCustomer,
} from '@wallets/db';
import { auditLedger, createMigratedDatabase, dropDatabase } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { JobRunner } from '../src/jobs/runner.js';

const T0 = new Date('2026-05-01T00:00:00Z');
const HOUR = 3_600_000;
const at = (hours: number) => new Date(T0.getTime() + hours * HOUR);
const BATCH = 5;

let databaseUrl: string;
let orm: Orm;
let pool: pg.Pool;
const runners: JobRunner[] = [];

beforeAll(async () => {
  databaseUrl = await createMigratedDatabase(inject('serverUrl'), 'wallets_batches');
  orm = await openOrm({ databaseUrl, poolMax: 12 });
  pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
});
afterAll(async () => {
  for (const runner of runners) await runner.stop();
  await pool?.end();
  await orm?.close(true);
  if (databaseUrl) await dropDatabase(inject('serverUrl'), databaseUrl);
});

function runner(): JobRunner {
  const created = new JobRunner({ orm, databaseUrl, concurrency: 1, expirationBatchSize: BATCH });
  runners.push(created);
  return created;
}

const cr = (text: string) => {
  const parsed = parseDecimal(text, { excess: 'reject' });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
};

/** Runs a command through its door, as a procedure does. */
function mutate<T>(organizationId: string, now: Date, fn: (work: { door: Door }) => Promise<T>): Promise<T> {
  return fn({ door: { db: groupDbOf(orm), scope: { organizationId, procedure: 'test', request: {}, now } } });
}

interface Seeded {
  organizationId: string;
  /** Wallets past their expiry at `due`. */
  dueWallets: string[];
  /** A lot past its expiry at `due`, in a wallet that stays. */
  dueLot: string;
}

/** 12 single-wallet customers, one customer with two wallets, one wallet with a lot, all due at `due`. */
async function seed(name: string, due: Date): Promise<Seeded> {
  const { organization } = await createOrganization(orm.em.fork() as EntityManager, name);
  const organizationId = organization.id;
  const dueWallets: string[] = [];
  const customer = (externalId: string) => mutate(organizationId, T0, (w) => upsertCustomer(w, { externalId, currency: 'EUR' }));
  for (let i = 0; i < 12; i++) {
    await customer(`single-${i}`);
    const wallet = await mutate(organizationId, T0, (w) =>
      createWallet(w, {
        externalCustomerId: `single-${i}`,
        rateAmount: cr(i % 3 === 0 ? '0.5' : '1'),
        grantedCredits: i % 4 === 3 ? undefined : cr(`${i + 1}`),
        paidCredits: i % 2 === 0 ? cr('2') : undefined,
        expirationAt: due,
      }),
    );
    dueWallets.push(wallet.id);
  }
  await customer('pair');
  for (const code of ['a', 'b']) {
    const wallet = await mutate(organizationId, T0, (w) =>
      createWallet(w, { externalCustomerId: 'pair', code, rateAmount: cr('1'), grantedCredits: cr('3'), expirationAt: due }),
    );
    dueWallets.push(wallet.id);
  }
  await customer('lot');
  const kept = await mutate(organizationId, T0, (w) => createWallet(w, { externalCustomerId: 'lot', rateAmount: cr('1'), grantedCredits: cr('1') }));
  const { transactions } = await mutate(organizationId, T0, (w) =>
    createWalletTransactions(w, { walletId: kept.id, grantedCredits: cr('4'), expirationAt: due }),
  );
  return { organizationId, dueWallets, dueLot: transactions[0]?.id ?? '' };
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

/** Per due wallet: status, expiration voids and wallet.terminated events; and the due lot's voids. */
async function outcome(seeded: Seeded) {
  const wallets = await sql<{ id: string; status: string; balance: string; voids: string; terminated: string }>(
    `select w.id, w.status, w.balance_cents::text as balance,
            (select count(*) from wallet_transactions t where t.wallet_id = w.id and t.source = 'expiration')::text as voids,
            (select count(*) from events e where e.organization_id = w.organization_id and e.type = 'wallet.terminated'
                                             and e.data ->> 'id' = w.id::text)::text as terminated
       from wallets w where w.id = any($1::uuid[]) order by w.id`,
    [seeded.dueWallets],
  );
  const lotVoids = await sql<{ n: string }>(`select count(*)::text as n from wallet_transactions where voided_transaction_id = $1`, [seeded.dueLot]);
  return { wallets, lotVoids: lotVoids[0]?.n };
}

async function footprint() {
  const [row] = await sql(
    `select (select count(*) from wallet_transactions)::text as transactions, (select count(*) from events)::text as events,
            (select count(*) from wallet_transaction_consumptions)::text as consumptions,
            (select string_agg(id::text || status || balance_cents, ',' order by id) from wallets) as wallets`,
  );
  return row;
}

describe('batched expiry in the job runner', () => {
  it('expires single-wallet customers in batches and the rest one by one, each wallet once', async () => {
    const a = await seed('batches-a', at(10));
    const job = runner();
    expect(await job.runScheduledJobs(at(9))).toMatchObject({ walletsExpired: 0, lotsExpired: 0, jobsRun: 0 });

    const result = await job.runScheduledJobs(at(10));
    // 12 wallets in 3 batches of at most 5; the pair and the lot's wallet one job each.
    expect(result).toMatchObject({ walletsExpired: 14, lotsExpired: 1, jobsRun: 3 + 3 });
    const after = await outcome(a);
    for (const wallet of after.wallets) expect(wallet).toMatchObject({ status: 'terminated', balance: '0', terminated: '1' });
    // One void per wallet that held credits (3 of the 12 singles had neither grant nor a settled purchase).
    expect(after.wallets.filter((w) => w.voids === '1')).toHaveLength(14 - 3);
    expect(after.wallets.every((w) => w.voids === '0' || w.voids === '1')).toBe(true);
    expect(after.lotVoids).toBe('1');
    expect(await job.runScheduledJobs(at(10))).toMatchObject({ walletsExpired: 0, lotsExpired: 0, jobsRun: 0 });
    expect(await auditLedger(databaseUrl)).toEqual([]);
  });

  it('two runners sweeping at once expire each wallet once; replayed batch jobs change nothing', async () => {
    const b = await seed('batches-b', at(20));
    const c = await seed('batches-c', at(20));
    const batches = toExpirationBatches(await findWalletsDueForBatchExpiration(orm.em.fork() as EntityManager, at(20)), BATCH);
    expect(batches).toHaveLength(6);

    const [first, second] = await Promise.all([runner().runScheduledJobs(at(20)), runner().runScheduledJobs(at(20))]);
    // Each runner reports what the jobs of its own sweep recorded; together they cover every wallet.
    expect(first.walletsExpired + second.walletsExpired).toBeGreaterThanOrEqual(28);
    for (const seeded of [b, c]) {
      const after = await outcome(seeded);
      for (const wallet of after.wallets) expect(wallet).toMatchObject({ status: 'terminated', balance: '0', terminated: '1' });
      expect(after.wallets.every((w) => w.voids === '0' || w.voids === '1')).toBe(true);
      expect(after.lotVoids).toBe('1');
    }

    // A batch job that runs again (its worker died after the commit, graphile-worker retries it).
    const before = await footprint();
    const task = runner().taskList['expire-wallets'];
    if (!task) throw new Error('no expire-wallets task');
    for (const batch of batches) await task({ ...batch, asOf: at(20).toISOString() }, {} as never);
    expect(await footprint()).toEqual(before);
    expect(await auditLedger(databaseUrl)).toEqual([]);
  });
});
