/**
 * Two real API processes (`pnpm start` and `node --import tsx src/main.ts`) on one fresh database,
 * hammered in parallel on one wallet and on many customers, alternating between the servers, with
 * idempotent replays sent to both servers at once. Afterwards every balance is reconciled with its
 * ledger by this file's own SQL (and by auditLedger), every keyed request is counted once, every
 * purchase settled at most once, and every final balance equals what the successful responses
 * imply. Last, each server is stopped with SIGTERM (the pnpm one under load, with the interrupted
 * requests retried on the other server by idempotency key) and must exit 0 with nothing left behind.
 */
import { withDatabase } from '@wallets/db';
import { auditLedger, dropDatabase } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWalletClient, type RouterOutputs, type WalletClient } from '../src/client/index.js';
import { errorOf } from './harness.js';
import { groupAlive, pollUntil, type ServerProcess, startServerProcess, stopAll } from './processes.js';

const ADMIN_TOKEN = 'multi-process-admin-token-0123456789';

type Transaction = RouterOutputs['walletTransactions']['get'];
type Pair = readonly [WalletClient, WalletClient];

let databaseUrl: string;
let pool: pg.Pool;
let serverA: ServerProcess; // pnpm start
let serverB: ServerProcess; // node --import tsx src/main.ts
const servers: ServerProcess[] = [];

beforeAll(async () => {
  // An empty database: both servers start at once and race to migrate it (they must take turns).
  const name = `wallets_mp_${process.pid}_${Date.now().toString(36)}`;
  databaseUrl = withDatabase(inject('serverUrl'), name);
  const admin = new pg.Client({ connectionString: inject('serverUrl') });
  await admin.connect();
  await admin.query(`create database ${name}`).finally(() => admin.end());
  pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  const started = await Promise.allSettled([
    startServerProcess({ name: 'server A (pnpm start)', via: 'pnpm', databaseUrl, adminToken: ADMIN_TOKEN }),
    startServerProcess({ name: 'server B (node)', via: 'node', databaseUrl, adminToken: ADMIN_TOKEN }),
  ]);
  for (const result of started) {
    if (result.status === 'rejected') throw result.reason;
    servers.push(result.value);
  }
  [serverA, serverB] = servers as [ServerProcess, ServerProcess];
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

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

/** A decimal string as an integer number of 1e-5 credits. */
function units(decimal: string): bigint {
  const negative = decimal.startsWith('-');
  const [whole = '0', fraction = ''] = decimal.replace('-', '').split('.');
  const value = BigInt(whole) * 100_000n + BigInt(fraction.padEnd(5, '0').slice(0, 5));
  return negative ? -value : value;
}

async function tenant(name: string): Promise<{ a: WalletClient; b: WalletClient; organizationId: string }> {
  const admin = createWalletClient({ url: serverA.url, apiKey: ADMIN_TOKEN });
  const { organization, apiKey } = await admin.admin.createOrganization.mutate({ name });
  return {
    a: createWalletClient({ url: serverA.url, apiKey }),
    b: createWalletClient({ url: serverB.url, apiKey }),
    organizationId: organization.id,
  };
}

// ---------------------------------------------------------------------------------------------
// Operations and what their responses imply.

type Payment = 'succeed' | 'fail' | 'fail-then-succeed' | 'succeed-then-fail';

type OpSpec =
  | { kind: 'top-up'; op: string; walletId: string; credits: string; payment: Payment }
  | { kind: 'grant'; op: string; walletId: string; credits: string; keyed: boolean }
  | { kind: 'void'; op: string; walletId: string; credits: string; keyed: boolean };

interface OpResult {
  spec: OpSpec;
  /** Distinct transaction ids the responses named (the keyed replays must all name the same). */
  transactionIds: string[];
  /** What the successful responses add to the balance (claw-backs excluded: the system sizes them). */
  deltaCents: bigint;
  deltaUnits: bigint;
  refused: boolean;
  purchase?: { id: string; finalStatus: 'settled' | 'failed'; clawedBack: boolean; failureReports: number };
}

/** Sends one request, or the same keyed request to both servers at once. */
async function both<T>(send: (client: WalletClient) => Promise<T>, clients: Pair, keyed: boolean): Promise<PromiseSettledResult<T>[]> {
  return Promise.allSettled(keyed ? [send(clients[0]), send(clients[1])] : [send(clients[0])]);
}

async function walletCodeOf(reason: unknown): Promise<string | null> {
  return (await errorOf(Promise.reject(reason))).walletErrorCode;
}

async function fire(spec: OpSpec, clients: Pair): Promise<OpResult> {
  const metadata = [{ key: 'op', value: spec.op }];
  if (spec.kind === 'top-up') {
    const input = { walletId: spec.walletId, paidCredits: spec.credits, metadata, idempotencyKey: spec.op };
    const [first, second] = await Promise.all([
      clients[0].walletTransactions.create.mutate(input),
      clients[1].walletTransactions.create.mutate(input),
    ]);
    expect(second, `${spec.op}: a replay on the other server returns the first result`).toEqual(first);
    expect(first.transactions).toHaveLength(1);
    const purchase = first.transactions[0] as Transaction;
    expect(purchase).toMatchObject({ status: 'pending', transactionStatus: 'purchased', amountCents: Number(units(spec.credits) / 1000n) });
    const report = (client: WalletClient, status: 'succeeded' | 'failed', extra: { idempotencyKey?: string; invoiceId?: string } = {}) =>
      client.walletTransactions.recordPayment.mutate({ id: purchase.id, status, ...extra });
    const bothAtOnce = async (status: 'succeeded' | 'failed', extra: { idempotencyKey?: string; invoiceId?: string } = {}) => {
      const results = await Promise.all([report(clients[0], status, extra), report(clients[1], status, extra)]);
      expect(results[1].status).toBe(results[0].status);
      return results[0];
    };
    let final: Transaction;
    let failureReports = 0;
    switch (spec.payment) {
      case 'succeed':
        final = await bothAtOnce('succeeded', { idempotencyKey: `${spec.op}-paid`, invoiceId: `inv-${spec.op}` });
        break;
      case 'fail':
        final = await bothAtOnce('failed');
        failureReports = 1;
        break;
      case 'fail-then-succeed':
        expect((await report(clients[0], 'failed')).status).toBe('failed');
        final = await bothAtOnce('succeeded', { invoiceId: `inv-${spec.op}` });
        failureReports = 1;
        break;
      case 'succeed-then-fail':
        expect((await report(clients[1], 'succeeded')).status).toBe('settled');
        final = await bothAtOnce('failed');
        failureReports = 1;
        break;
    }
    const finalStatus = spec.payment === 'fail' ? 'failed' : 'settled';
    expect(final.status, `${spec.op}: final status`).toBe(finalStatus);
    const settled = finalStatus === 'settled';
    return {
      spec,
      transactionIds: [purchase.id],
      deltaCents: settled ? BigInt(purchase.amountCents) : 0n,
      deltaUnits: settled ? units(purchase.creditAmount) : 0n,
      refused: false,
      purchase: { id: purchase.id, finalStatus, clawedBack: spec.payment === 'succeed-then-fail', failureReports },
    };
  }
  const input =
    spec.kind === 'grant'
      ? { walletId: spec.walletId, grantedCredits: spec.credits, metadata, ...(spec.keyed ? { idempotencyKey: spec.op } : {}) }
      : { walletId: spec.walletId, voidedCredits: spec.credits, metadata, ...(spec.keyed ? { idempotencyKey: spec.op } : {}) };
  const settledResults = await both((client) => client.walletTransactions.create.mutate(input), clients, spec.keyed);
  const ok: { transactions: Transaction[] }[] = [];
  for (const result of settledResults) {
    if (result.status === 'fulfilled') {
      ok.push(result.value);
    } else {
      const code = await walletCodeOf(result.reason);
      // A grant never fails; a void is refused only for want of credits.
      expect(spec.kind === 'void' ? code : `grant failed: ${String(result.reason)}`, `${spec.op} refused`).toBe('INSUFFICIENT_CREDITS');
    }
  }
  for (const response of ok.slice(1)) expect(response, `${spec.op}: replays return the first result`).toEqual(ok[0]);
  const tx = ok[0]?.transactions[0];
  if (tx) {
    expect(ok[0]?.transactions).toHaveLength(1);
    expect(tx).toMatchObject({
      status: 'settled',
      transactionType: spec.kind === 'grant' ? 'inbound' : 'outbound',
      transactionStatus: spec.kind === 'grant' ? 'granted' : 'voided',
      creditAmount: String(Number(spec.credits)),
      amountCents: Number(units(spec.credits) / 1000n),
    });
  }
  const sign = spec.kind === 'grant' ? 1n : -1n;
  return {
    spec,
    transactionIds: tx ? [tx.id] : [],
    deltaCents: tx ? sign * BigInt(tx.amountCents) : 0n,
    deltaUnits: tx ? sign * units(tx.creditAmount) : 0n,
    refused: !tx,
  };
}

// ---------------------------------------------------------------------------------------------
// Checks written here in SQL, independent of the code under test.

interface LedgerRow {
  wallet_id: string;
  balance_cents: string;
  credits_units: string;
  ledger_cents: string;
  ledger_units: string;
  lots_cents: string;
  lots_units: string;
  min_remaining_cents: string | null;
  min_remaining_units: string | null;
}

/** Every wallet of the organizations: stored balances against the sums of its settled ledger rows. */
async function ledgerOf(organizationIds: string[]): Promise<Map<string, LedgerRow>> {
  const rows = await sql<LedgerRow>(
    `select w.id as wallet_id,
            w.balance_cents::text as balance_cents,
            (w.credits_balance * 100000)::bigint::text as credits_units,
            coalesce(sum(case t.transaction_type when 'inbound' then t.amount_cents else -t.amount_cents end)
                       filter (where t.status = 'settled'), 0)::text as ledger_cents,
            (coalesce(sum(case t.transaction_type when 'inbound' then t.credit_amount else -t.credit_amount end)
                       filter (where t.status = 'settled'), 0) * 100000)::bigint::text as ledger_units,
            coalesce(sum(t.remaining_amount_cents) filter (where t.status = 'settled' and t.transaction_type = 'inbound'), 0)::text as lots_cents,
            (coalesce(sum(t.remaining_credit_amount) filter (where t.status = 'settled' and t.transaction_type = 'inbound'), 0) * 100000)::bigint::text as lots_units,
            min(t.remaining_amount_cents)::text as min_remaining_cents,
            (min(t.remaining_credit_amount) * 100000)::bigint::text as min_remaining_units
       from wallets w
       left join wallet_transactions t on t.organization_id = w.organization_id and t.wallet_id = w.id
      where w.organization_id = any($1::uuid[])
      group by w.id`,
    [organizationIds],
  );
  return new Map(rows.map((row) => [row.wallet_id, row]));
}

/** Consumption rows against lot remainders and outbound amounts: the list of disagreeing rows. */
async function consumptionMismatches(organizationIds: string[]): Promise<string[]> {
  const rows = await sql<{ id: string; problem: string }>(
    `select t.id, 'lot remainder' as problem
       from wallet_transactions t
       left join wallet_transaction_consumptions c on c.organization_id = t.organization_id and c.inbound_wallet_transaction_id = t.id
      where t.organization_id = any($1::uuid[]) and t.transaction_type = 'inbound' and t.status = 'settled'
      group by t.id
     having t.remaining_amount_cents <> t.amount_cents - coalesce(sum(c.amount_cents), 0)
         or t.remaining_credit_amount <> t.credit_amount - coalesce(sum(c.credit_amount), 0)
     union all
     select t.id, 'outbound amount'
       from wallet_transactions t
       left join wallet_transaction_consumptions c on c.organization_id = t.organization_id and c.outbound_wallet_transaction_id = t.id
      where t.organization_id = any($1::uuid[]) and t.transaction_type = 'outbound'
      group by t.id
     having t.amount_cents <> coalesce(sum(c.amount_cents), 0) or t.credit_amount <> coalesce(sum(c.credit_amount), 0)
     union all
     select c.id, 'consumption of a lot of another wallet'
       from wallet_transaction_consumptions c
       join wallet_transactions i on i.id = c.inbound_wallet_transaction_id
       join wallet_transactions o on o.id = c.outbound_wallet_transaction_id
      where c.organization_id = any($1::uuid[]) and (i.wallet_id <> o.wallet_id or i.status <> 'settled')`,
    [organizationIds],
  );
  return rows.map((row) => `${row.problem}: ${row.id}`);
}

/** Everything the reconciliation asserts for a set of wallets and the operations fired at them. */
async function reconcile(organizationIds: string[], initial: Map<string, { cents: bigint; units: bigint }>, results: OpResult[]): Promise<void> {
  const ledger = await ledgerOf(organizationIds);
  expect(await consumptionMismatches(organizationIds)).toEqual([]);
  expect((await auditLedger(databaseUrl)).filter((m) => ledger.has(m.walletId))).toEqual([]);

  // Every keyed or unkeyed request is in the ledger exactly as many times as it succeeded: once.
  const perOp = await sql<{ op: string; n: string; ids: string[] }>(
    `select metadata -> 0 ->> 'value' as op, count(*)::text as n, array_agg(id::text) as ids
       from wallet_transactions
      where organization_id = any($1::uuid[]) and metadata @> '[{"key":"op"}]'
      group by 1`,
    [organizationIds],
  );
  const ledgerByOp = new Map(perOp.map((row) => [row.op, row]));
  for (const result of results) {
    const row = ledgerByOp.get(result.spec.op);
    expect({ op: result.spec.op, ids: row?.ids ?? [] }).toEqual({ op: result.spec.op, ids: result.transactionIds });
  }
  expect(perOp.length).toBe(results.filter((r) => r.transactionIds.length > 0).length);

  // One idempotency record per keyed request that succeeded, none for refused ones.
  const keys = await sql<{ key: string; n: string }>(
    `select key, count(*)::text as n from idempotency_records
      where organization_id = any($1::uuid[]) and procedure = 'walletTransactions.create' group by key`,
    [organizationIds],
  );
  const keyedOk = results.filter((r) => (r.spec.kind === 'top-up' || r.spec.keyed) && r.transactionIds.length > 0).map((r) => r.spec.op);
  expect(keys.map((k) => k.key).sort()).toEqual([...keyedOk].sort());
  expect(keys.every((k) => k.n === '1')).toBe(true);
  const paymentKeys = await sql<{ key: string }>(
    `select key from idempotency_records where organization_id = any($1::uuid[]) and procedure = 'walletTransactions.recordPayment'`,
    [organizationIds],
  );
  const paidOps = results.filter((r) => r.spec.kind === 'top-up' && r.spec.payment === 'succeed').map((r) => `${r.spec.op}-paid`);
  expect(paymentKeys.map((k) => k.key).sort()).toEqual([...paidOps].sort());

  // Purchases: the final status; a settlement at most once; a claw-back exactly once where asked.
  const purchases = results.flatMap((r) => (r.purchase ? [r.purchase] : []));
  const purchaseIds = purchases.map((p) => p.id);
  const stored = await sql<{ id: string; status: string; clawed: boolean }>(
    `select id::text, status, clawed_back_at is not null as clawed from wallet_transactions where id = any($1::uuid[])`,
    [purchaseIds],
  );
  const events = await sql<{ id: string; settled: string; failed: string; payment_failures: string }>(
    `select data ->> 'id' as id,
            count(*) filter (where type = 'wallet_transaction.updated' and data ->> 'status' = 'settled')::text as settled,
            count(*) filter (where type = 'wallet_transaction.updated' and data ->> 'status' = 'failed')::text as failed,
            count(*) filter (where type = 'wallet_transaction.payment_failure')::text as payment_failures
       from events where organization_id = any($1::uuid[]) and data ->> 'id' = any($2::text[])
      group by 1`,
    [organizationIds, purchaseIds],
  );
  const clawBacks = await sql<{ purchase_id: string; wallet_id: string; n: string; cents: string; units: string }>(
    `select voided_transaction_id::text as purchase_id, wallet_id::text, count(*)::text as n, sum(amount_cents)::text as cents,
            (sum(credit_amount) * 100000)::bigint::text as units
       from wallet_transactions
      where organization_id = any($1::uuid[]) and source = 'payment_failure'
      group by 1, 2`,
    [organizationIds],
  );
  const storedById = new Map(stored.map((row) => [row.id, row]));
  const eventsById = new Map(events.map((row) => [row.id, row]));
  const clawBackById = new Map(clawBacks.map((row) => [row.purchase_id, row]));
  for (const purchase of purchases) {
    const settledOnce = purchase.finalStatus === 'settled' ? '1' : '0';
    expect({ id: purchase.id, status: storedById.get(purchase.id)?.status, clawed: storedById.get(purchase.id)?.clawed }).toEqual({
      id: purchase.id,
      status: purchase.finalStatus,
      clawed: purchase.clawedBack,
    });
    const e = eventsById.get(purchase.id);
    expect({ id: purchase.id, settled: e?.settled, paymentFailures: e?.payment_failures }).toEqual({
      id: purchase.id,
      settled: settledOnce,
      paymentFailures: String(purchase.failureReports),
    });
    // A claw-back voids what is left of the lot (possibly nothing, when voids consumed it all).
    const clawBack = clawBackById.get(purchase.id);
    if (!purchase.clawedBack) expect(clawBack, `${purchase.id} was never clawed back`).toBeUndefined();
    else if (clawBack) expect(clawBack.n).toBe('1');
  }
  expect(clawBacks.every((row) => purchaseIds.includes(row.purchase_id))).toBe(true);

  // Each wallet: stored balance = ledger = lots = initial + what the successful responses imply.
  for (const [walletId, start] of initial) {
    const row = ledger.get(walletId);
    expect(row, `wallet ${walletId} is in the database`).toBeDefined();
    if (!row) continue;
    const mine = results.filter((r) => r.spec.walletId === walletId);
    const clawed = clawBacks.filter((c) => c.wallet_id === walletId);
    const expectedCents = start.cents + mine.reduce((sum, r) => sum + r.deltaCents, 0n) - clawed.reduce((sum, c) => sum + BigInt(c.cents), 0n);
    const expectedUnits = start.units + mine.reduce((sum, r) => sum + r.deltaUnits, 0n) - clawed.reduce((sum, c) => sum + BigInt(c.units), 0n);
    expect({
      walletId,
      balanceCents: row.balance_cents,
      creditsUnits: row.credits_units,
      ledgerCents: row.ledger_cents,
      ledgerUnits: row.ledger_units,
      lotsCents: row.lots_cents,
      lotsUnits: row.lots_units,
    }).toEqual({
      walletId,
      balanceCents: String(expectedCents),
      creditsUnits: String(expectedUnits),
      ledgerCents: String(expectedCents),
      ledgerUnits: String(expectedUnits),
      lotsCents: String(expectedCents),
      lotsUnits: String(expectedUnits),
    });
    expect(BigInt(row.min_remaining_cents ?? '0')).toBeGreaterThanOrEqual(0n);
    expect(BigInt(row.min_remaining_units ?? '0')).toBeGreaterThanOrEqual(0n);
  }
}

// ---------------------------------------------------------------------------------------------

describe('two API processes on one database', () => {
  it('migrated the empty database once although both servers started on it at the same moment', async () => {
    const rows = await sql<{ name: string; n: string }>(`select name, count(*)::text as n from mikro_orm_migrations group by name`);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((row) => row.n !== '1')).toEqual([]);
    const [wallets] = await sql<{ n: string }>(`select count(*)::text as n from information_schema.tables where table_name = 'wallet_transactions'`);
    expect(wallets?.n).toBe('1');
  });

  it('keeps one hot wallet exact under 200 parallel operations alternating between the servers', async () => {
    const { a, b, organizationId } = await tenant('hot wallet');
    await a.customers.upsert.mutate({ externalId: 'cus_hot', currency: 'EUR' });
    const wallet = await b.wallets.create.mutate({ externalCustomerId: 'cus_hot', rateAmount: '1', currency: 'EUR', grantedCredits: '100' });
    expect(wallet.balanceCents).toBe(10_000);

    const payments: Payment[] = ['succeed', 'fail', 'fail-then-succeed', 'succeed-then-fail'];
    const specs: OpSpec[] = Array.from({ length: 200 }, (_, i): OpSpec => {
      const op = `hot-${i}`;
      const walletId = wallet.id;
      switch (i % 10) {
        case 0:
        case 1:
        case 2:
          return { kind: 'top-up', op, walletId, credits: `${(i % 4) + 1}`, payment: payments[(Math.floor(i / 10) + i) % 4] as Payment };
        case 3:
        case 4:
          return { kind: 'grant', op, walletId, credits: `${(i % 3) + 1}.5`, keyed: true };
        case 5:
          return { kind: 'grant', op, walletId, credits: '0.25', keyed: false };
        case 9:
          return { kind: 'void', op, walletId, credits: `${(i % 15) + 1}.5`, keyed: true };
        default:
          return { kind: 'void', op, walletId, credits: `${(i % 25) + 1}`, keyed: false };
      }
    });
    const results = await Promise.all(specs.map((spec, i) => fire(spec, i % 2 === 0 ? [a, b] : [b, a])));

    const voids = results.filter((r) => r.spec.kind === 'void');
    // The voids ask for far more than ever came in: some must be refused, and the first one in
    // line always finds the initial 100 credits.
    expect(voids.some((r) => r.refused)).toBe(true);
    expect(voids.some((r) => !r.refused)).toBe(true);
    await reconcile([organizationId], new Map([[wallet.id, { cents: 10_000n, units: units('100') }]]), results);

    // Both servers read the same state.
    const [viaA, viaB] = await Promise.all([a.wallets.get.query({ id: wallet.id }), b.wallets.get.query({ id: wallet.id })]);
    expect(viaB).toEqual(viaA);
    const [row] = await sql<{ balance_cents: string }>('select balance_cents::text from wallets where id = $1', [wallet.id]);
    expect(String(viaA.balanceCents)).toBe(row?.balance_cents);
  }, 300_000);

  it('keeps many customers of two organizations exact when all of them are hit at once', async () => {
    const tenants = await Promise.all([tenant('many customers 1'), tenant('many customers 2')]);
    const initial = new Map<string, { cents: bigint; units: bigint }>();
    const specs: { spec: OpSpec; clients: Pair }[] = [];
    let n = 0;
    await Promise.all(
      tenants.flatMap(({ a, b }, t) =>
        Array.from({ length: 15 }, async (_, c) => {
          // The same external ids in both organizations: tenancy keeps them apart.
          const externalId = `cus_${String(c).padStart(2, '0')}`;
          const client = (c + t) % 2 === 0 ? a : b;
          await client.customers.upsert.mutate({ externalId });
          const wallet = await client.wallets.create.mutate({
            externalCustomerId: externalId,
            rateAmount: '1',
            currency: 'EUR',
            grantedCredits: '20',
          });
          initial.set(wallet.id, { cents: 2_000n, units: units('20') });
          const walletId = wallet.id;
          const op = (name: string) => `t${t}-${externalId}-${name}`;
          const customerSpecs: OpSpec[] = [
            { kind: 'grant', op: op('grant-keyed'), walletId, credits: '3', keyed: true },
            { kind: 'grant', op: op('grant'), walletId, credits: '1.25', keyed: false },
            { kind: 'top-up', op: op('top-up-paid'), walletId, credits: '7', payment: 'succeed' },
            { kind: 'top-up', op: op('top-up-failed'), walletId, credits: '2', payment: 'fail' },
            { kind: 'top-up', op: op('top-up-retried'), walletId, credits: '4', payment: 'fail-then-succeed' },
            { kind: 'top-up', op: op('top-up-clawed'), walletId, credits: '5', payment: 'succeed-then-fail' },
            { kind: 'void', op: op('void-small'), walletId, credits: '4', keyed: false },
            { kind: 'void', op: op('void-keyed'), walletId, credits: '15.5', keyed: true },
            { kind: 'void', op: op('void-too-much'), walletId, credits: '60', keyed: false },
          ];
          for (const spec of customerSpecs) {
            specs.push({ spec, clients: n % 2 === 0 ? [a, b] : [b, a] });
            n++;
          }
        }),
      ),
    );
    expect(initial.size).toBe(30);
    const results = await Promise.all(specs.map(({ spec, clients }) => fire(spec, clients)));

    // 60 credits is more than a wallet can ever hold here (20 + 3 + 1.25 + 7 + 4 + 5): always refused.
    expect(results.filter((r) => r.spec.op.endsWith('void-too-much')).every((r) => r.refused)).toBe(true);
    // 4 credits always fit (the initial 20 are only ever reduced by the other 15.5-credit void).
    expect(results.filter((r) => r.spec.op.endsWith('void-small')).every((r) => !r.refused)).toBe(true);
    await reconcile(
      tenants.map((x) => x.organizationId),
      initial,
      results,
    );
    // Each organization sees only its own 15 customers.
    for (const { a } of tenants) {
      const page = await a.customers.list.query({ limit: 100 });
      expect(page.items.map((c) => c.externalId).sort()).toEqual(Array.from({ length: 15 }, (_, c) => `cus_${String(c).padStart(2, '0')}`));
    }
  }, 300_000);

  it('stops `pnpm start` cleanly on SIGTERM under load, and the interrupted requests retried on the other server apply once', async () => {
    const { a, b, organizationId } = await tenant('sigterm');
    await a.customers.upsert.mutate({ externalId: 'cus_term' });
    const wallet = await a.wallets.create.mutate({ externalCustomerId: 'cus_term', rateAmount: '1', currency: 'EUR' });

    // Keep server A busy with keyed grants, and send SIGTERM to the pnpm process (only to it, as a
    // container runtime does) once some have landed.
    const grants = Array.from({ length: 60 }, (_, i) => ({
      walletId: wallet.id,
      grantedCredits: '1',
      metadata: [{ key: 'op', value: `term-${i}` }],
      idempotencyKey: `term-${i}`,
    }));
    let sent = 0;
    const inFlight: Promise<unknown>[] = [];
    const landed = pollUntil('some grants to land on server A', async () => {
      const [row] = await sql<{ n: string }>(`select count(*)::text as n from wallet_transactions where wallet_id = $1`, [wallet.id]);
      return Number(row?.n) >= 5 ? true : undefined;
    });
    for (const input of grants.slice(0, 40)) {
      inFlight.push(a.walletTransactions.create.mutate(input).catch((error: unknown) => error));
      sent++;
    }
    await landed;
    serverA.signal('SIGTERM');
    for (const input of grants.slice(40)) {
      inFlight.push(a.walletTransactions.create.mutate(input).catch((error: unknown) => error));
      sent++;
    }
    const status = await serverA.exited;
    expect(status, serverA.output()).toEqual({ code: 0, signal: null });
    expect(serverA.output()).toContain('SIGTERM received, stopping');
    await pollUntil('every process of `pnpm start` to be gone', async () => (groupAlive(serverA.pid) ? undefined : true), 10_000);
    await expect(fetch(`${serverA.url}/health`)).rejects.toThrow();
    await Promise.all(inFlight);
    expect(sent).toBe(60);

    // The host retries everything on server B with the same keys: each grant lands exactly once.
    const retried = await Promise.all(grants.map((input) => b.walletTransactions.create.mutate(input)));
    const [row] = await sql<{ n: string; distinct_ops: string; cents: string }>(
      `select count(*)::text as n, count(distinct metadata -> 0 ->> 'value')::text as distinct_ops, sum(amount_cents)::text as cents
         from wallet_transactions where wallet_id = $1`,
      [wallet.id],
    );
    expect(row).toEqual({ n: '60', distinct_ops: '60', cents: '6000' });
    expect(new Set(retried.map((r) => r.transactions[0]?.id)).size).toBe(60);
    const after = await b.wallets.get.query({ id: wallet.id });
    expect(after.balanceCents).toBe(6000);
    const ledger = await ledgerOf([organizationId]);
    expect(ledger.get(wallet.id)).toMatchObject({ balance_cents: '6000', ledger_cents: '6000', lots_cents: '6000' });
    expect(await auditLedger(databaseUrl)).toEqual([]);

    // The node server stops cleanly too.
    serverB.signal('SIGTERM');
    expect(await serverB.exited).toEqual({ code: 0, signal: null });
    await pollUntil('server B to be gone', async () => (groupAlive(serverB.pid) ? undefined : true), 10_000);
  }, 120_000);
});
