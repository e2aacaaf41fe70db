import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import {
  createWallet,
  createWalletTransactions,
  expireWallet,
  expireWalletBatch,
  findWalletsDueForBatchExpiration,
  findWalletsDueOneByOne,
  recordPayment,
  syncUsage,
  toExpirationBatches,
  upsertCustomer,
} from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger } from '../testing/index.js';

let orm: Orm;
let pool: pg.Pool;
const t0 = new Date('2026-09-01T00:00:00Z');
const at = (hours: number) => new Date(t0.getTime() + hours * 3_600_000);
const asOf = at(10);
const em = () => orm.em.fork() as EntityManager;

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

beforeAll(async () => {
  orm = await openTestOrm();
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 4 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

const SHAPES = ['rules-pending-usage', 'odd-rate-four-lots', 'empty-two-pending', 'depleted-by-usage', 'spent'] as const;

/** One customer per shape, each with one wallet due at `asOf` (the same calls, at the same times, in any organization). */
async function seedShapes(org: string): Promise<Map<string, string>> {
  const walletIds = new Map<string, string>();
  for (const shape of SHAPES) {
    const externalCustomerId = `batch-${shape}`;
    await mutate(orm, org, at(0), (w) => upsertCustomer(w, { externalId: externalCustomerId, currency: 'EUR' }));
    const base = { externalCustomerId, expirationAt: asOf };
    const topUp = (hour: number, input: Omit<Parameters<typeof createWalletTransactions>[1], 'walletId'>) =>
      mutate(orm, org, at(hour), (w) => createWalletTransactions(w, { walletId, ...input }));
    const settle = async (hour: number, id: string | undefined) =>
      mutate(orm, org, at(hour), (w) => recordPayment(w, { id: id ?? '', status: 'succeeded' }));
    const usage = (hour: number, cents: string) =>
      mutate(orm, org, at(hour), (w) =>
        syncUsage(w, { externalCustomerId, currency: 'EUR', fees: [{ feeType: 'charge', amount: cr(cents), coupons: 0n, taxes: 0n }] }),
      );
    let walletId = '';
    switch (shape) {
      case 'rules-pending-usage': {
        walletId = (
          await mutate(orm, org, at(0), (w) =>
            createWallet(w, {
              ...base,
              rateAmount: cr('1'),
              grantedCredits: cr('10'),
              paidCredits: cr('5'),
              recurringTransactionRules: [{ trigger: 'threshold', method: 'fixed', grantedCredits: cr('1'), thresholdCredits: cr('1') }],
            }),
          )
        ).id;
        await usage(1, '300');
        break;
      }
      case 'odd-rate-four-lots': {
        walletId = (
          await mutate(orm, org, at(0), (w) =>
            createWallet(w, {
              ...base,
              rateAmount: cr('0.7'),
              grantedCredits: cr('12.34567'),
              recurringTransactionRules: [{ trigger: 'interval', interval: 'monthly', method: 'fixed', grantedCredits: cr('2') }],
            }),
          )
        ).id;
        await topUp(1, { grantedCredits: cr('4.5'), priority: 10, expirationAt: asOf, name: 'promo' });
        const paid = await topUp(2, { paidCredits: cr('8') });
        await settle(3, paid.transactions[0]?.id);
        await topUp(4, { grantedCredits: cr('1.00001') });
        await topUp(5, { voidedCredits: cr('3') });
        break;
      }
      case 'empty-two-pending': {
        walletId = (await mutate(orm, org, at(0), (w) => createWallet(w, { ...base, rateAmount: cr('2'), invoiceRequiresSuccessfulPayment: true })))
          .id;
        await topUp(1, { paidCredits: cr('3') });
        await topUp(2, { paidCredits: cr('4'), name: 'second' });
        break;
      }
      case 'depleted-by-usage': {
        walletId = (
          await mutate(orm, org, at(0), (w) =>
            createWallet(w, { ...base, rateAmount: cr('1'), grantedCredits: cr('3'), invoiceRequiresSuccessfulPayment: true }),
          )
        ).id;
        await usage(1, '450');
        break;
      }
      case 'spent': {
        walletId = (await mutate(orm, org, at(0), (w) => createWallet(w, { ...base, rateAmount: cr('1'), grantedCredits: cr('2') }))).id;
        await topUp(1, { voidedCredits: cr('2') });
        break;
      }
    }
    walletIds.set(shape, walletId);
  }
  return walletIds;
}

/** Every row and expiry event of one wallet, with ids replaced by labels in order of appearance (so two organizations compare). */
async function footprint(org: string, walletId: string) {
  const wallet = await sql('select * from wallets where id = $1', [walletId]);
  const transactions = await sql(
    `select * from wallet_transactions where wallet_id = $1
      order by created_at, transaction_type, transaction_status, amount_cents, credit_amount`,
    [walletId],
  );
  const consumptions = await sql(
    `select c.* from wallet_transaction_consumptions c join wallet_transactions t on t.id = c.inbound_wallet_transaction_id
      where t.wallet_id = $1 order by t.created_at, c.created_at, c.amount_cents`,
    [walletId],
  );
  const rules = await sql('select * from recurring_transaction_rules where wallet_id = $1 order by created_at, trigger', [walletId]);
  const events = await sql(
    `select type, data, created_at from events
      where organization_id = $1 and created_at = $2 and (data ->> 'id' = $3 or data ->> 'walletId' = $3) order by position`,
    [org, asOf, walletId],
  );
  const labels = new Map<string, string>();
  const text = JSON.stringify({ wallet, transactions, consumptions, rules, events }).replace(
    /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g,
    (id) => {
      if (!labels.has(id)) labels.set(id, `id${labels.size}`);
      return labels.get(id)!;
    },
  );
  return JSON.parse(text);
}

async function stateBefore(walletId: string) {
  const lots = await sql<{ id: string; cents: string; units: string }>(
    `select id, remaining_amount_cents::text as cents, (remaining_credit_amount * 100000)::bigint::text as units from wallet_transactions
      where wallet_id = $1 and transaction_type = 'inbound' and status = 'settled' and (remaining_amount_cents > 0 or remaining_credit_amount > 0)`,
    [walletId],
  );
  const pending = await sql<{ id: string }>(
    `select id from wallet_transactions where wallet_id = $1 and status = 'pending' order by created_at, id`,
    [walletId],
  );
  const [wallet] = await sql<{ cents: string; units: string; consumed_cents: string; consumed_units: string }>(
    `select balance_cents::text as cents, (credits_balance * 100000)::bigint::text as units, consumed_amount_cents::text as consumed_cents,
            (consumed_credits * 100000)::bigint::text as consumed_units from wallets where id = $1`,
    [walletId],
  );
  return { lots, pending: pending.map((p) => p.id), wallet: wallet! };
}

describe('batched wallet expiry', () => {
  it('writes exactly what the per-wallet path writes: ledger rows, balances, rules and events', async () => {
    const one = await newOrganization(orm);
    const batched = await newOrganization(orm);
    const oneIds = await seedShapes(one);
    const batchIds = await seedShapes(batched);

    // The sweep routes them: wallet expiry batched, nothing left for the per-wallet jobs.
    const dueBatched = (await findWalletsDueForBatchExpiration(em(), asOf)).filter((d) => d.organizationId === batched);
    expect(dueBatched.map((d) => d.walletId).sort()).toEqual([...batchIds.values()].sort());
    expect((await findWalletsDueOneByOne(em(), asOf)).filter((d) => d.organizationId === batched)).toEqual([]);
    expect(await findWalletsDueForBatchExpiration(em(), at(9.99))).not.toContainEqual(dueBatched[0]);

    const expected = new Map(await Promise.all(SHAPES.map(async (shape) => [shape, await stateBefore(batchIds.get(shape)!)] as const)));

    for (const walletId of oneIds.values()) {
      expect(await expireWallet(em(), { organizationId: one, walletId }, asOf)).toEqual({ walletsExpired: 1, lotsExpired: 0 });
    }
    const batches = toExpirationBatches(dueBatched, 3);
    expect(batches.map((b) => b.walletIds.length)).toEqual([3, 2]);
    let expired = 0;
    for (const batch of batches) {
      const outcome = await expireWalletBatch(em(), batch, asOf);
      expired += outcome.walletsExpired;
    }
    expect(expired).toBe(SHAPES.length);

    for (const shape of SHAPES) {
      const walletId = batchIds.get(shape)!;
      // Identical to the per-wallet path, column for column and event for event.
      expect({ shape, ...(await footprint(batched, walletId)) }).toEqual({ shape, ...(await footprint(one, oneIds.get(shape)!)) });

      // And what it must be, from the state before.
      const start = expected.get(shape)!;
      const voids = await sql<{ id: string; cents: string; units: string; source: string; status: string }>(
        `select id, amount_cents::text as cents, (credit_amount * 100000)::bigint::text as units, source, status from wallet_transactions
          where wallet_id = $1 and transaction_status = 'voided' and created_at = $2`,
        [walletId, asOf],
      );
      const hadCredits = start.lots.length > 0;
      const total = (key: 'cents' | 'units') => String(start.lots.reduce((sum, lot) => sum + BigInt(lot[key]), 0n));
      expect(voids.map(({ cents, units, source, status }) => ({ cents, units, source, status }))).toEqual(
        hadCredits ? [{ cents: total('cents'), units: total('units'), source: 'expiration', status: 'settled' }] : [],
      );
      expect(total('cents')).toBe(start.wallet.cents);
      expect(total('units')).toBe(start.wallet.units);
      const consumed = await sql<{ lot: string; cents: string; units: string }>(
        `select inbound_wallet_transaction_id as lot, amount_cents::text as cents, (credit_amount * 100000)::bigint::text as units
           from wallet_transaction_consumptions where outbound_wallet_transaction_id = $1 order by 1`,
        [voids[0]?.id ?? '00000000-0000-0000-0000-000000000000'],
      );
      expect(consumed).toEqual(
        [...start.lots].map((lot) => ({ lot: lot.id, cents: lot.cents, units: lot.units })).sort((a, b) => (a.lot < b.lot ? -1 : 1)),
      );
      const lots = await sql<{ n: string }>(
        `select count(*)::text as n from wallet_transactions where wallet_id = $1 and (remaining_amount_cents > 0 or remaining_credit_amount > 0)`,
        [walletId],
      );
      expect(lots[0]?.n).toBe('0');
      const [wallet] = await sql(
        `select status, terminated_at, balance_cents::text, credits_balance::text, ongoing_balance_cents::text, ongoing_usage_balance_cents::text,
                consumed_amount_cents::text, (consumed_credits * 100000)::bigint::text as consumed_units
           from wallets where id = $1`,
        [walletId],
      );
      expect(wallet).toEqual({
        status: 'terminated',
        terminated_at: asOf,
        balance_cents: '0',
        credits_balance: '0.00000',
        ongoing_balance_cents: '0',
        ongoing_usage_balance_cents: '0',
        consumed_amount_cents: String(BigInt(start.wallet.consumed_cents) + BigInt(total('cents'))),
        consumed_units: String(BigInt(start.wallet.consumed_units) + BigInt(total('units'))),
      });
      const failed = await sql<{ id: string; status: string; failed_at: Date }>(
        'select id, status, failed_at from wallet_transactions where id = any($1::uuid[]) order by created_at, id',
        [start.pending],
      );
      expect(failed).toEqual(start.pending.map((id) => ({ id, status: 'failed', failed_at: asOf })));
      const rules = await sql<{ status: string }>(`select status from recurring_transaction_rules where wallet_id = $1 and status = 'active'`, [
        walletId,
      ]);
      expect(rules).toEqual([]);
      const events = await sql<{ type: string; id: string }>(
        `select type, data ->> 'id' as id from events where organization_id = $1 and created_at = $2
          and (data ->> 'id' = $3 or data ->> 'walletId' = $3) order by position`,
        [batched, asOf, walletId],
      );
      expect(events).toEqual([
        ...voids.map((v) => ({ type: 'wallet_transaction.created', id: v.id })),
        ...start.pending.map((id) => ({ type: 'wallet_transaction.updated', id })),
        { type: 'wallet.terminated', id: walletId },
      ]);
    }
    // The shapes cover what matters: several lots, pending purchases, rules, usage, nothing left.
    expect(expected.get('odd-rate-four-lots')?.lots.length).toBe(4);
    expect(expected.get('empty-two-pending')).toMatchObject({ lots: [], pending: [expect.any(String), expect.any(String)] });
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });

  it('replays with its idempotency key change nothing; without one the re-check finds nothing', async () => {
    const org = await newOrganization(orm);
    const ids = await seedShapes(org);
    const batch = { organizationId: org, walletIds: [...ids.values()].sort() };
    const count = async () =>
      sql(
        `select (select count(*) from wallet_transactions where organization_id = $1)::text as transactions,
                (select count(*) from events where organization_id = $1)::text as events,
                (select count(*) from wallet_transaction_consumptions where organization_id = $1)::text as consumptions`,
        [org],
      );
    const first = await expireWalletBatch(em(), batch, asOf, 'batch-key');
    expect(first).toEqual({ walletsExpired: SHAPES.length, lotsExpired: 0 });
    const after = await count();
    expect(await expireWalletBatch(em(), batch, asOf, 'batch-key')).toEqual(first);
    expect(await expireWalletBatch(em(), batch, at(11))).toEqual({ walletsExpired: 0, lotsExpired: 0 });
    expect(await count()).toEqual(after);
    await expect(expireWalletBatch(em(), { ...batch, walletIds: batch.walletIds.slice(1) }, asOf, 'batch-key')).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
  });

  it('a request holding a customer lock goes first; the batch re-plans under the lock: skips an ended wallet, expires one that gained a sibling', async () => {
    const org = await newOrganization(orm);
    const ids = await seedShapes(org);
    const batch = { organizationId: org, walletIds: [...ids.values()].sort() };
    const raced = ids.get('rules-pending-usage')!; // its pending payment arrives while the batch waits
    const joined = ids.get('spent')!; // its customer opens a second wallet while the batch waits
    const [pendingId] = (await stateBefore(raced)).pending;

    // A session holds both customers' locks, as a request in flight does; the requests and the batch queue behind it, requests first.
    const holder = await pool.connect();
    /** Waits until `n` sessions queue (directly or behind another waiter) for the holder's locks. */
    const [{ pid: holderPid } = { pid: 0 }] = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows;
    const waiting = async (n: number) => {
      for (;;) {
        const rows = await sql<{ pid: number; blockers: number[] }>(
          'select pid, pg_blocking_pids(pid) as blockers from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0',
        );
        const behind = new Set([holderPid]);
        for (let grew = true; grew; ) {
          grew = false;
          for (const row of rows) {
            if (!behind.has(row.pid) && row.blockers.some((b) => behind.has(b))) {
              behind.add(row.pid);
              grew = true;
            }
          }
        }
        if (behind.size - 1 >= n) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    let batchOutcome: Awaited<ReturnType<typeof expireWalletBatch>> | undefined;
    try {
      await holder.query('begin');
      await holder.query(
        `select id from customers where organization_id = $1 and external_id in ('batch-rules-pending-usage', 'batch-spent') for update`,
        [org],
      );
      const payment = mutate(orm, org, at(10.5), (w) => recordPayment(w, { id: pendingId ?? '', status: 'succeeded' }));
      // Stamped before the expiry (a request that started just before it), committed after the sweep.
      const sibling = mutate(orm, org, at(9.9), (w) =>
        createWallet(w, { externalCustomerId: 'batch-spent', rateAmount: cr('1'), code: 'second', grantedCredits: cr('1') }),
      );
      await waiting(2);
      const running = expireWalletBatch(em(), batch, at(10.5), 'race').then((outcome) => {
        batchOutcome = outcome;
      });
      await waiting(3);
      await holder.query('commit');
      await Promise.all([payment, sibling, running]);
    } finally {
      holder.release();
    }
    // The payment's request expired its wallet itself (and voided the late payment); the batch skipped it.
    // The payment's request expired its wallet itself (and voided the late payment); the batch skipped it.
    expect(batchOutcome).toEqual({ walletsExpired: SHAPES.length - 1, lotsExpired: 0 });
    const terminated = await sql<{ id: string; n: string }>(
      `select data ->> 'id' as id, count(*)::text as n from events where organization_id = $1 and type = 'wallet.terminated' group by 1`,
      [org],
    );
    expect(terminated.map((t) => t.id).sort()).toEqual([...batch.walletIds].sort());
    expect(terminated.every((t) => t.n === '1')).toBe(true);
    const racedVoids = await sql<{ cents: string }>(
      `select amount_cents::text as cents from wallet_transactions where wallet_id = $1 and source = 'expiration' order by amount_cents`,
      [raced],
    );
    expect(racedVoids).toEqual([{ cents: '500' }, { cents: '1000' }]);
    // The wallet that gained a sibling is expired in the batch too (its group recomputed); the sibling stays.
    const joinedGroup = await sql<{ code: string; status: string }>(
      `select w.code, w.status from wallets w join wallets j on j.customer_id = w.customer_id where j.id = $1 order by w.code`,
      [joined],
    );
    expect(joinedGroup).toEqual([
      { code: 'default', status: 'terminated' },
      { code: 'second', status: 'active' },
    ]);
    expect((await findWalletsDueOneByOne(em(), at(10.5))).map((d) => d.walletId)).not.toContain(joined);
    expect(await expireWallet(em(), { organizationId: org, walletId: joined }, at(10.5))).toEqual({ walletsExpired: 0, lotsExpired: 0 });
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
