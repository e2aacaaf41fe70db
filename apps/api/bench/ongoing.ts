/**
 * `pnpm bench:ongoing`: how fresh ongoing balances are under load, and how wallet expiry scales.
 *
 * Freshness: the real server (startApp in a process of its own, bench/server.ts) over HTTP. 32
 * callers keep a background load going (usage.sync, top-ups, invoice applies, on customers of their
 * own, a quarter of them with a threshold rule) while 4 probes, each on a wallet of its own, again
 * and again re-arm the wallet (usage back to zero), then send a usage.sync that depletes it and
 * measure the time from sending the request until (a) another connection sees the committed ongoing
 * balance (polling the row through pg) and (b) the `wallet.depleted_ongoing_balance` event shows up
 * in events.list (a consumer paging through the organization's events from where it stood). p50/p99
 * of each, and of the usage.sync answer.
 *
 * Expiry: for each size in BENCH_EXPIRY_SIZES (default 10000,100000) an organization of that many
 * customers with one due wallet each (one or two lots, balances, events as the ledger writes them)
 * is seeded with plain SQL, then `admin.runScheduledJobs({ asOf })` is called until every one of
 * them is expired. Seconds, wallets/s and the ratio between the largest and the smallest size
 * (linear scaling gives the ratio of the sizes). After each size the ledger audit runs over the
 * whole database (given BENCH_AUDIT_TIMEOUT_S, default 120; at 100k wallets it needs far longer).
 *
 * Database: DATABASE_URL's server when set (a fresh database, dropped at the end), otherwise a
 * throw-away embedded PostgreSQL (fsync and synchronous_commit off, as for the tests). Fixed call
 * counts (the background load runs for as long as the probes do); no time is asserted. Prints a
 * table and writes every figure to bench-results-ongoing.json at the repository root.
 *
 * Knobs (optional): BENCH_EXPIRY_SIZES, BENCH_PROBES (default 200; 0 skips freshness), BENCH_EVENT_POLL_MS (the
 * consumer's pause between two events.list reads that found nothing, default 5; each read takes the
 * organization's outbox lock exclusively, so back-to-back reads stall the load's writers),
 * BENCH_POOL_MAX (server pool, default 10).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { auditLedger } from '@wallets/db/testing';
import pg from 'pg';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { repositoryRoot } from '../src/env.js';
import { ADMIN_TOKEN, type BenchDatabase, benchLog, type Log, machineFacts, openBenchDatabase, POOL_MAX, ServerProcess } from './support.js';

const LOAD_CALLERS = 32;
const PROBE_WALLETS = 4;
const PROBES = Math.max(0, Number(process.env.BENCH_PROBES ?? 200) || 0);
/** The ledger audit after each expiry size is given this long (at 100k wallets it needs much longer). */
const AUDIT_TIMEOUT_S = Math.max(1, Number(process.env.BENCH_AUDIT_TIMEOUT_S ?? 120) || 120);
const WARM_UP_PROBES = 8;
/** Probes with no background load (the path alone), before the loaded ones. */
const IDLE_PROBES = 40;
const EXPIRY_SIZES = (process.env.BENCH_EXPIRY_SIZES ?? '10000,100000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isSafeInteger(n) && n > 0);
/** Pause between two events.list reads of the probe's consumer that found nothing new (0: back to back). */
const EVENT_POLL_MS = Math.max(0, Number(process.env.BENCH_EVENT_POLL_MS ?? 5) || 0);
const CALL_TIMEOUT_MS = 60_000;
const RESULTS_FILE = path.join(repositoryRoot, 'bench-results-ongoing.json');
/** A probe wallet holds 1000 cents; the depleting usage is 1500 cents, so the ongoing balance lands on -500. */
const PROBE_GRANT_CREDITS = '10';
const PROBE_USAGE_CENTS = 1500;
const PROBE_DEPLETED_CENTS = '-500';

// ---------------------------------------------------------------------------------------------
// Figures.

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function spread(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50Ms: round(percentile(sorted, 0.5), 2),
    p99Ms: round(percentile(sorted, 0.99), 2),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN, 2),
  };
}

// ---------------------------------------------------------------------------------------------
// Freshness under load.

interface Probe {
  externalId: string;
  walletId: string;
}

let invoiceSeq = 0;
let usageClock = Date.now();
/** usage.sync keeps only a newer snapshot: every sync carries a strictly later asOf. */
const nextUsageAsOf = () => new Date((usageClock = Math.max(usageClock + 1, Date.now())));

const usageSync = (client: WalletClient, externalCustomerId: string, cents: number) =>
  client.usage.sync.mutate(
    {
      externalCustomerId,
      currency: 'EUR',
      asOf: nextUsageAsOf(),
      fees: cents > 0 ? [{ feeType: 'charge', billableMetricCode: 'api_calls', amountCents: cents }] : [],
    },
    { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) },
  );

async function seedCustomer(client: WalletClient, externalId: string, credits: string, withRule: boolean): Promise<string> {
  await client.customers.upsert.mutate({ externalId, currency: 'EUR' });
  const wallet = await client.wallets.create.mutate({
    externalCustomerId: externalId,
    rateAmount: '1',
    grantedCredits: credits,
    ...(withRule
      ? { recurringTransactionRules: [{ trigger: 'threshold' as const, method: 'fixed' as const, grantedCredits: '20', thresholdCredits: '999990' }] }
      : {}),
  });
  return wallet.id;
}

/** One background caller: its own customer, cycling usage.sync, top-up, invoice apply until told to stop. */
async function loadCaller(client: WalletClient, externalId: string, walletId: string, stop: () => boolean, latencies: number[], errors: string[]) {
  for (let n = 0; !stop(); n++) {
    const t0 = performance.now();
    try {
      switch (n % 3) {
        case 0:
          await usageSync(client, externalId, 1000 + ((n * 37) % 5000));
          break;
        case 1:
          await client.walletTransactions.create.mutate({ walletId, grantedCredits: '5' }, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
          break;
        default: {
          const id = `load-${++invoiceSeq}`;
          await client.invoices.applyPrepaidCredits.mutate(
            {
              invoice: {
                id,
                externalCustomerId: externalId,
                currency: 'EUR',
                invoiceType: 'subscription',
                totalAmountCents: 500,
                fees: [{ id: `${id}-fee`, feeType: 'charge', billableMetricCode: 'api_calls', amountCents: 500 }],
              },
            },
            { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) },
          );
        }
      }
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
    }
    latencies.push(performance.now() - t0);
  }
}

/** Reads events.list from a cursor onwards, as a consumer does. */
class EventReader {
  private cursor: string | undefined;

  constructor(private readonly client: WalletClient) {}

  /** Reads up to the current end; returns whether an event matching `wanted` was among them. */
  async read(wanted?: (item: { type: string; data: Record<string, unknown> }) => boolean): Promise<boolean> {
    let found = false;
    for (;;) {
      const page = await this.client.events.list.query({ after: this.cursor, limit: 100 }, { signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
      for (const item of page.items) {
        this.cursor = item.cursor;
        if (wanted?.(item as { type: string; data: Record<string, unknown> })) found = true;
      }
      if (page.items.length === 0 || page.nextCursor === null) return found;
    }
  }
}

async function measureProbe(client: WalletClient, reader: EventReader, watcher: pg.Client, probe: Probe) {
  await usageSync(client, probe.externalId, 0); // re-arm: ongoing balance back above zero
  await reader.read(); // the consumer is up to date
  const t0 = performance.now();
  let committedMs = Number.NaN;
  let eventMs = Number.NaN;
  let answerMs = Number.NaN;
  const sent = usageSync(client, probe.externalId, PROBE_USAGE_CENTS).then(() => {
    answerMs = performance.now() - t0;
  });
  const committed = (async () => {
    for (;;) {
      const { rows } = await watcher.query<{ cents: string }>('select ongoing_balance_cents::text as cents from wallets where id = $1', [
        probe.walletId,
      ]);
      if (rows[0]?.cents === PROBE_DEPLETED_CENTS) return void (committedMs = performance.now() - t0);
      await new Promise((resolve) => setTimeout(resolve, 1)); // about 1 ms resolution, without spinning a core
    }
  })();
  const event = (async () => {
    const depleted = (item: { type: string; data: Record<string, unknown> }) =>
      item.type === 'wallet.depleted_ongoing_balance' && item.data.id === probe.walletId;
    while (!(await reader.read(depleted))) {
      if (EVENT_POLL_MS > 0) await new Promise((resolve) => setTimeout(resolve, EVENT_POLL_MS));
    }
    eventMs = performance.now() - t0;
  })();
  await Promise.all([sent, committed, event]);
  return { committedMs, eventMs, answerMs };
}

/** `count` measured probes (after a warm-up), spread over the probe wallets, one loop per wallet. */
async function runProbes(client: WalletClient, databaseUrl: string, probes: Probe[], count: number) {
  const samples: { committedMs: number; eventMs: number; answerMs: number }[] = [];
  const total = WARM_UP_PROBES + count;
  await Promise.all(
    probes.map(async (probe, p) => {
      // Each loop has its own watcher connection and its own event consumer.
      const watcher = new pg.Client({ connectionString: databaseUrl });
      await watcher.connect();
      const reader = new EventReader(client);
      try {
        for (let n = p; n < total; n += probes.length) {
          const sample = await measureProbe(client, reader, watcher, probe);
          if (n >= WARM_UP_PROBES) samples.push(sample);
        }
      } finally {
        await watcher.end();
      }
    }),
  );
  return {
    committedBalance: spread(samples.map((s) => s.committedMs)),
    depletionEvent: spread(samples.map((s) => s.eventMs)),
    usageSyncAnswer: spread(samples.map((s) => s.answerMs)),
    commitToEvent: spread(samples.map((s) => s.eventMs - s.committedMs)),
  };
}

async function freshness(server: ServerProcess, databaseUrl: string, log: Log) {
  const admin = createWalletClient({ url: server.url, apiKey: ADMIN_TOKEN });
  const { apiKey } = await admin.admin.createOrganization.mutate({ name: 'bench freshness' });
  const client = createWalletClient({ url: server.url, apiKey });
  const loadCustomers = await Promise.all(
    Array.from({ length: LOAD_CALLERS }, async (_, i) => {
      const externalId = `load-${i}`;
      return { externalId, walletId: await seedCustomer(client, externalId, '1000000', i % 4 === 0) };
    }),
  );
  const probes: Probe[] = [];
  for (let i = 0; i < PROBE_WALLETS; i++) {
    const externalId = `probe-${i}`;
    probes.push({ externalId, walletId: await seedCustomer(client, externalId, PROBE_GRANT_CREDITS, false) });
  }
  log(`seeded ${LOAD_CALLERS} load customers (${LOAD_CALLERS / 4} with a threshold rule) and ${PROBE_WALLETS} probe wallets`);

  // Without load first (the path alone), then under load.
  const idle = await runProbes(client, databaseUrl, probes, IDLE_PROBES);
  log(`freshness without load: committed p50 ${idle.committedBalance.p50Ms} ms, event p50 ${idle.depletionEvent.p50Ms} ms`);
  let stopLoad = false;
  const loadLatencies: number[] = [];
  const loadErrors: string[] = [];
  const serverCpuBefore = await server.cpuMs();
  const started = performance.now();
  const load = Promise.all(loadCustomers.map((c) => loadCaller(client, c.externalId, c.walletId, () => stopLoad, loadLatencies, loadErrors)));
  let loaded: Awaited<ReturnType<typeof runProbes>>;
  try {
    loaded = await runProbes(client, databaseUrl, probes, PROBES);
  } finally {
    stopLoad = true;
    await load;
  }
  const seconds = (performance.now() - started) / 1000;
  const serverCpuMs = (await server.cpuMs()) - serverCpuBefore;
  const result = {
    probes: PROBES,
    loadCallers: LOAD_CALLERS,
    ...loaded,
    withoutLoad: idle,
    load: {
      calls: loadLatencies.length,
      errors: loadErrors.length,
      firstError: loadErrors[0] ?? null,
      seconds: round(seconds, 2),
      callsPerSecond: round(loadLatencies.length / seconds),
      ...spread(loadLatencies),
    },
    serverCpuPercentOfOneCore: round((100 * serverCpuMs) / 1000 / seconds),
  };
  log(
    `freshness: committed p50 ${result.committedBalance.p50Ms} ms / p99 ${result.committedBalance.p99Ms} ms, ` +
      `event p50 ${result.depletionEvent.p50Ms} ms / p99 ${result.depletionEvent.p99Ms} ms, load ${result.load.callsPerSecond} calls/s (${result.load.errors} errors)`,
  );
  if (result.load.firstError) log(`  first load error: ${result.load.firstError}`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Expiry at scale.

const SEEDED_AT = new Date('2026-01-01T00:00:00Z');
const EXPIRES_AT = new Date('2026-06-01T00:00:00Z');

/**
 * `size` customers of one organization, each with one wallet due at EXPIRES_AT: a granted lot of 10
 * credits, and on every second wallet a settled purchased lot of 5 more; balances equal the lots,
 * and the outbox holds what the ledger would have written (wallet.created, a
 * wallet_transaction.created per lot, a wallet_transaction.updated for each settled purchase).
 */
async function seedDueWallets(db: pg.Client, organizationId: string, size: number): Promise<void> {
  await db.query('begin');
  await db.query(
    `create temp table seed on commit drop as
       select n, gen_random_uuid() as customer_id, gen_random_uuid() as wallet_id, gen_random_uuid() as granted_id,
              case when n % 2 = 0 then gen_random_uuid() end as purchased_id,
              case when n % 2 = 0 then 1500 else 1000 end as cents
         from generate_series(1, $1::int) as n`,
    [size],
  );
  const at = SEEDED_AT;
  await db.query(
    `insert into customers (id, organization_id, external_id, currency, timezone, created_at, updated_at)
     select customer_id, $1::uuid, 'due-' || n, 'EUR', 'UTC', $2::timestamptz, $2::timestamptz from seed`,
    [organizationId, at],
  );
  await db.query(
    `insert into wallets (id, organization_id, customer_id, name, code, status, currency, rate_amount, priority, balance_cents, credits_balance,
       ongoing_balance_cents, credits_ongoing_balance, ongoing_usage_balance_cents, credits_ongoing_usage_balance, consumed_credits,
       consumed_amount_cents, depleted_ongoing_balance, expiration_at, invoice_requires_successful_payment, created_at, updated_at)
     select wallet_id, $1::uuid, customer_id, 'expiring', 'default', 'active', 'EUR', 1, 50, cents, cents / 100.0, cents, cents / 100.0, 0, 0, 0, 0,
            false, $3::timestamptz, false, $2::timestamptz, $2::timestamptz
       from seed`,
    [organizationId, at, EXPIRES_AT],
  );
  await db.query(
    `insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
       credit_amount, amount_cents, remaining_credit_amount, remaining_amount_cents, priority, metadata, settled_at, created_at)
     select granted_id, $1::uuid, wallet_id, customer_id, 'inbound', 'settled', 'granted', 'manual', 10, 1000, 10, 1000, 50, '[]'::jsonb,
            $2::timestamptz, $2::timestamptz
       from seed
     union all
     select purchased_id, $1::uuid, wallet_id, customer_id, 'inbound', 'settled', 'purchased', 'manual', 5, 500, 5, 500, 50, '[]'::jsonb,
            $2::timestamptz, $2::timestamptz
       from seed where purchased_id is not null`,
    [organizationId, at],
  );
  await db.query(
    `insert into events (id, organization_id, type, data, created_at)
     select gen_random_uuid(), $1::uuid, e.type, e.data, $2::timestamptz from (
       select n, 1 as k, 'wallet.created' as type,
              jsonb_build_object('id', wallet_id, 'status', 'active', 'currency', 'EUR', 'balanceCents', cents, 'externalCustomerId', 'due-' || n) as data
         from seed
       union all
       select n, 2, 'wallet_transaction.created',
              jsonb_build_object('id', granted_id, 'walletId', wallet_id, 'status', 'settled', 'transactionStatus', 'granted', 'amountCents', 1000)
         from seed
       union all
       select n, 3, 'wallet_transaction.created',
              jsonb_build_object('id', purchased_id, 'walletId', wallet_id, 'status', 'pending', 'transactionStatus', 'purchased', 'amountCents', 500)
         from seed where purchased_id is not null
       union all
       select n, 4, 'wallet_transaction.updated',
              jsonb_build_object('id', purchased_id, 'walletId', wallet_id, 'status', 'settled', 'transactionStatus', 'purchased', 'amountCents', 500)
         from seed where purchased_id is not null
     ) as e order by e.n, e.k`,
    [organizationId, at],
  );
  await db.query('commit');
  await db.query('analyze customers, wallets, wallet_transactions, events');
}

async function countWallets(db: pg.Client, organizationId: string) {
  const { rows } = await db.query<{ active: string; terminated: string; voids: string; voided_cents: string }>(
    `select (select count(*) from wallets where organization_id = $1 and status = 'active')::text as active,
            (select count(*) from wallets where organization_id = $1 and status = 'terminated')::text as terminated,
            (select count(*) from wallet_transactions where organization_id = $1 and source = 'expiration')::text as voids,
            (select coalesce(sum(amount_cents), 0) from wallet_transactions where organization_id = $1 and source = 'expiration')::text as voided_cents`,
    [organizationId],
  );
  const row = rows[0]!;
  return { active: Number(row.active), terminated: Number(row.terminated), voids: Number(row.voids), voidedCents: row.voided_cents };
}

/** The ledger audit of the whole database, given AUDIT_TIMEOUT_S (null mismatches: not finished). */
async function timedAudit(databaseUrl: string, log: Log) {
  const started = performance.now();
  const audit = auditLedger(databaseUrl);
  audit.catch(() => undefined); // given up on: its connection dies with the database
  const mismatches = await Promise.race([audit, new Promise<null>((resolve) => setTimeout(() => resolve(null), AUDIT_TIMEOUT_S * 1000).unref())]);
  const seconds = round((performance.now() - started) / 1000, 1);
  if (mismatches === null) {
    // Stop it, so it does not weigh on what is measured next (the audit's statements all have `union all select`).
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await db
      .query(
        `select pg_cancel_backend(pid) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and state = 'active' and query like '%union all select%'`,
      )
      .finally(() => db.end());
  }
  const text =
    mismatches === null ? `NOT FINISHED within ${AUDIT_TIMEOUT_S} s` : mismatches.length === 0 ? 'clean' : `${mismatches.length} mismatches`;
  log(`ledger audit of the whole database: ${text} (${seconds} s)`);
  return { finished: mismatches !== null, mismatches: mismatches?.length ?? null, first: mismatches?.slice(0, 20) ?? [], seconds, text };
}

async function expiry(server: ServerProcess, databaseUrl: string, size: number, log: Log) {
  const admin = createWalletClient({ url: server.url, apiKey: ADMIN_TOKEN });
  const { organization } = await admin.admin.createOrganization.mutate({ name: `bench expiry ${size}` });
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const seedStarted = performance.now();
    await seedDueWallets(db, organization.id, size);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    log(`expiry ${size}: seeded ${size} due wallets in ${round(seedSeconds, 1)} s`);
    const asOf = new Date(EXPIRES_AT.getTime() + 3_600_000);
    const cpuBefore = await server.cpuMs();
    const started = performance.now();
    let runs = 0;
    let walletsExpired = 0;
    let jobsRun = 0;
    // Each run sweeps and drains the queue; more than one is needed only if a sweep was capped.
    while (runs < 10) {
      const result = await admin.admin.runScheduledJobs.mutate({ asOf });
      runs++;
      walletsExpired += result.walletsExpired;
      jobsRun += result.jobsRun;
      if ((await countWallets(db, organization.id)).active === 0) break;
    }
    const seconds = (performance.now() - started) / 1000;
    const serverCpuSeconds = ((await server.cpuMs()) - cpuBefore) / 1000;
    const counts = await countWallets(db, organization.id);
    const expected = { active: 0, terminated: size, voids: size, voidedCents: String(1250n * BigInt(size)) }; // cents as exact text
    const consistent = JSON.stringify(counts) === JSON.stringify(expected);
    log(
      `expiry ${size}: ${round(seconds, 2)} s (${round(size / seconds)} wallets/s) in ${runs} run(s), ${jobsRun} jobs; ${consistent ? 'all expired' : `UNEXPECTED ${JSON.stringify(counts)}`}`,
    );
    const audit = await timedAudit(databaseUrl, log);
    return {
      wallets: size,
      audit,
      seedSeconds: round(seedSeconds, 2),
      seconds: round(seconds, 2),
      walletsPerSecond: round(size / seconds),
      runs,
      jobsRun,
      walletsExpiredReported: walletsExpired,
      serverCpuSeconds: round(serverCpuSeconds, 2),
      counts,
      expected,
      consistent,
    };
  } finally {
    await db.end();
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const log = benchLog('bench:ongoing');
  let database: BenchDatabase | null = null;
  let server: ServerProcess | null = null;
  try {
    database = await openBenchDatabase('wallets_bench_ongoing', log);
    const { url: databaseUrl, settings } = database;
    server = await ServerProcess.start(databaseUrl);
    log(`server (pid ${server.child.pid}) at ${server.url}, WALLET_DB_POOL_MAX=${POOL_MAX}`);

    const fresh = PROBES > 0 ? await freshness(server, databaseUrl, log) : null;
    const expiries = [];
    for (const size of EXPIRY_SIZES) expiries.push(await expiry(server, databaseUrl, size, log));
    const smallest = expiries[0];
    const largest = expiries[expiries.length - 1];
    const scaling =
      smallest && largest && largest !== smallest
        ? {
            from: smallest.wallets,
            to: largest.wallets,
            sizeRatio: round(largest.wallets / smallest.wallets, 2),
            timeRatio: round(largest.seconds / smallest.seconds, 2),
          }
        : null;

    const pad = (value: string | number, width: number) => String(value).padStart(width);
    const loadAfter = os.loadavg();
    console.log('');
    console.log(`Ongoing balances and expiry: ${os.cpus().length} cores, Node ${process.version}, server pool ${POOL_MAX}`);
    console.log(
      `PostgreSQL ${settings.server_version} (${database.source === 'DATABASE_URL' ? 'DATABASE_URL server' : 'embedded, fsync off, synchronous_commit off'})`,
    );
    console.log(`Machine load average (1 min) at start ${loadBefore[0]!.toFixed(1)}, at end ${loadAfter[0]!.toFixed(1)}.`);
    console.log('');
    if (fresh) {
      console.log(
        `Freshness: ${fresh.probes} depleting usage.sync probes under ${fresh.loadCallers} background callers ` +
          `(${fresh.load.calls} calls, ${fresh.load.callsPerSecond}/s, p50 ${fresh.load.p50Ms} ms, p99 ${fresh.load.p99Ms} ms, ${fresh.load.errors} errors)`,
      );
      const header = `${'from sending usage.sync to'.padEnd(48)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}   |${pad('no load p50', 12)}${pad('p99', 9)}`;
      console.log(header);
      console.log('-'.repeat(header.length));
      for (const [label, key] of [
        ['the committed ongoing balance (pg)', 'committedBalance'],
        ['wallet.depleted_ongoing_balance in events.list', 'depletionEvent'],
        ['the usage.sync answer', 'usageSyncAnswer'],
        ['(from the commit to the event)', 'commitToEvent'],
      ] as const) {
        const s = fresh[key];
        const q = fresh.withoutLoad[key];
        console.log(`${label.padEnd(48)}${pad(s.p50Ms, 9)}${pad(s.p99Ms, 9)}${pad(s.maxMs, 9)}   |${pad(q.p50Ms, 12)}${pad(q.p99Ms, 9)}`);
      }
      console.log('');
    }
    const expiryHeader = `${'wallets'.padStart(9)}${pad('seconds', 10)}${pad('wallets/s', 11)}${pad('jobs', 7)}${pad('runs', 6)}${pad('server cpu s', 14)}  result`;
    console.log('Expiry: admin.runScheduledJobs({ asOf }) until every seeded wallet is expired');
    console.log(expiryHeader);
    console.log('-'.repeat(expiryHeader.length));
    for (const e of expiries) {
      console.log(
        `${pad(e.wallets, 9)}${pad(e.seconds, 10)}${pad(e.walletsPerSecond, 11)}${pad(e.jobsRun, 7)}${pad(e.runs, 6)}${pad(e.serverCpuSeconds, 14)}  ${e.consistent ? 'all expired once' : 'UNEXPECTED'}`,
      );
    }
    if (scaling) {
      console.log(
        `Time ratio ${scaling.to}/${scaling.from} wallets: ${scaling.timeRatio} (sizes differ ${scaling.sizeRatio}x; linear scaling gives ${scaling.sizeRatio}).`,
      );
    }
    for (const e of expiries) {
      console.log(`Ledger audit of the whole database after expiring ${e.wallets}: ${e.audit.text} (${e.audit.seconds} s).`);
      for (const m of e.audit.first.slice(0, 5)) console.log(`  ${m.walletId}: ${m.problem}`);
    }

    const results = {
      generatedAt: new Date().toISOString(),
      command: 'pnpm --filter @wallets/api bench:ongoing',
      machine: machineFacts(loadBefore, loadAfter),
      database: { source: database.source, ...settings },
      config: {
        loadCallers: LOAD_CALLERS,
        probes: PROBES,
        warmUpProbes: WARM_UP_PROBES,
        eventPollMs: EVENT_POLL_MS,
        poolMax: POOL_MAX,
        expirySizes: EXPIRY_SIZES,
      },
      freshness: fresh,
      expiry: expiries,
      expiryScaling: scaling,
    };
    fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${RESULTS_FILE}`);
  } finally {
    await server?.stop().catch((error) => console.error('stopping the bench server failed', error));
    await database?.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
