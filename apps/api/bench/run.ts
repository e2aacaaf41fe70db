/**
 * `pnpm --filter @wallets/api bench:invoices`, the statement-replay baseline (`pnpm bench` is
 * compare.ts, against the yardstick): invoices.applyPrepaidCredits over HTTP against the real
 * server (startApp, in a process of its own) with 8, 32 and 64 concurrent callers, for many customers (each caller its
 * own) and for one customer (every caller on it, serialised by its row lock); beside each row, a
 * baseline that replays the same SQL statements through a plain pg.Pool of the same size (see
 * baseline.ts). Prints a table and writes every figure to bench-results.json at the repository root.
 *
 * Database: DATABASE_URL's server when set (a fresh database, dropped at the end), otherwise a
 * throw-away embedded PostgreSQL in a temporary folder (fsync and synchronous_commit off, as for the
 * tests). Every loop has a fixed number of calls; only 127.0.0.1 traffic. Not a test: no time is
 * asserted; the target (real >= half the baseline) is reported, never enforced.
 *
 * Knobs (optional): BENCH_CALLS calls per row and side (default 960, rounded up to a multiple of 192: the
 * sides alternate every 192 calls),
 * BENCH_POOL_MAX the pool size of both the server and the baseline (default 10), BENCH_CPU_PROF a
 * folder where the server process writes a V8 CPU profile (open it in Chrome DevTools).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { auditLedger } from '@wallets/db/testing';
import pg from 'pg';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { repositoryRoot } from '../src/env.js';
import { type BaselineTemplate, buildTemplate, instantiate, replay } from './baseline.js';
import type { CapturedStatement } from './protocol.js';
import { ADMIN_TOKEN, type BenchDatabase, benchLog, machineFacts, mutationCaller, openBenchDatabase, POOL_MAX, ServerProcess } from './support.js';

const CONCURRENCY = [8, 32, 64] as const;
const MAX_CALLERS = 64;
/** Each row alternates real and baseline in rounds of 192 calls, so a noisy neighbour slows both alike. */
const ROUND_CALLS = 192;
const CALLS = Math.ceil(Math.max(ROUND_CALLS, Number(process.env.BENCH_CALLS ?? 960) || 960) / ROUND_CALLS) * ROUND_CALLS;
const CAPTURE_CALLS = 10;
/** Not measured: enough calls for V8 to finish optimizing the hot path (with 64 the first row still paid for compiling). */
const WARM_UP_CALLS = 1024;
const CALL_TIMEOUT_MS = 60_000;
const RESULTS_FILE = path.join(repositoryRoot, 'bench-results.json');

type Scenario = 'many-customers' | 'single-customer';

// ---------------------------------------------------------------------------------------------
// The invoice every call applies: 3 fees across 2 metrics plus a subscription, sub-cent taxes.
// Total 3800 + 760.001 = 4560.001 cents, invoiced as 4560; wallet A (api_calls only) pays the
// api_calls bucket, wallet B (no limits) the rest, so every call writes two outbound transactions.

const EXPECTED_CREDITS_CENTS = 4560;

function invoiceFor(id: string, externalCustomerId: string) {
  return {
    id,
    externalCustomerId,
    currency: 'EUR',
    invoiceType: 'subscription' as const,
    totalAmountCents: 4560,
    fees: [
      { id: `${id}-sub`, feeType: 'subscription' as const, amountCents: 1999, taxesAmountCents: '399.795' },
      { id: `${id}-api`, feeType: 'charge' as const, billableMetricCode: 'api_calls', amountCents: 1234, taxesAmountCents: '246.815' },
      { id: `${id}-gb`, feeType: 'charge' as const, billableMetricCode: 'storage_gb', amountCents: 567, taxesAmountCents: '113.391' },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Seeding: identical customers, so one captured apply maps onto any of them.

interface SeededCustomer {
  externalId: string;
  customerId: string;
  /** [A (priority 1, api_calls only), B (priority 2, no limits)]. */
  walletIds: string[];
  /** Inbound lots, per wallet in order, oldest first: A's grant, A's priority-10 grant, B's grant. */
  lotIds: string[];
}

async function seedCustomer(client: WalletClient, externalId: string): Promise<Omit<SeededCustomer, 'lotIds'>> {
  const customer = await client.customers.upsert.mutate({ externalId, currency: 'EUR' });
  const a = await client.wallets.create.mutate({
    externalCustomerId: externalId,
    name: 'API credits',
    rateAmount: '1',
    priority: 1,
    grantedCredits: '1000000',
    appliesTo: { billableMetricCodes: ['api_calls'] },
  });
  await client.walletTransactions.create.mutate({
    walletId: a.id,
    grantedCredits: '500000',
    priority: 10,
    expirationAt: new Date('2099-01-01T00:00:00Z'),
  });
  const b = await client.wallets.create.mutate({
    externalCustomerId: externalId,
    name: 'General credits',
    rateAmount: '1',
    priority: 2,
    grantedCredits: '1000000',
  });
  return { externalId, customerId: customer.id, walletIds: [a.id, b.id] };
}

async function seedAll(client: WalletClient, databaseUrl: string, externalIds: string[]): Promise<Map<string, SeededCustomer>> {
  const seeded: Omit<SeededCustomer, 'lotIds'>[] = [];
  const queue = [...externalIds];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) seeded.push(await seedCustomer(client, next));
    }),
  );
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ wallet_id: string; id: string }>(
      `select wallet_id, id from wallet_transactions where transaction_type = 'inbound' order by wallet_id, created_at, id`,
    );
    const lots = new Map<string, string[]>();
    for (const row of rows) lots.set(row.wallet_id, [...(lots.get(row.wallet_id) ?? []), row.id]);
    return new Map(seeded.map((c) => [c.externalId, { ...c, lotIds: c.walletIds.flatMap((w) => lots.get(w) ?? []) }]));
  } finally {
    await db.end();
  }
}

function idMap(organizationId: string, from: SeededCustomer, to: SeededCustomer): Map<string, string> {
  const map = new Map<string, string>([
    [organizationId, organizationId],
    [from.customerId, to.customerId],
  ]);
  if (from.lotIds.length !== to.lotIds.length) throw new Error('seeded customers differ in their lots');
  for (const [i, id] of from.walletIds.entries()) map.set(id, to.walletIds[i]!);
  for (const [i, id] of from.lotIds.entries()) map.set(id, to.lotIds[i]!);
  return map;
}

// ---------------------------------------------------------------------------------------------
// Load and figures.

interface LoadResult {
  calls: number;
  errors: number;
  firstError: string | null;
  seconds: number;
  latenciesMs: number[];
  benchCpuMs: number;
  machineBusyPercent: number | null;
  jiffies: { busy: number; total: number } | null;
}

/** Busy and total jiffies of the whole machine (Linux), to show how loaded the 2 cores were. */
function machineJiffies(): { busy: number; total: number } | null {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((s, n) => s + n, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** `callers` loops, each making `calls / callers` calls one after another; every loop ends by itself. */
async function runLoad(callers: number, calls: number, call: (caller: number, n: number) => Promise<void>): Promise<LoadResult> {
  const perCaller = calls / callers;
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const cpuBefore = process.cpuUsage();
  const jiffiesBefore = machineJiffies();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      for (let n = 0; n < perCaller; n++) {
        const t0 = performance.now();
        try {
          await call(caller, n);
        } catch (error) {
          errors++;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const jiffiesAfter = machineJiffies();
  const machineBusyPercent =
    jiffiesBefore && jiffiesAfter && jiffiesAfter.total > jiffiesBefore.total
      ? (100 * (jiffiesAfter.busy - jiffiesBefore.busy)) / (jiffiesAfter.total - jiffiesBefore.total)
      : null;
  return {
    calls,
    errors,
    firstError,
    seconds,
    latenciesMs,
    benchCpuMs: (cpu.user + cpu.system) / 1000,
    machineBusyPercent,
    jiffies: jiffiesBefore && jiffiesAfter ? { busy: jiffiesAfter.busy - jiffiesBefore.busy, total: jiffiesAfter.total - jiffiesBefore.total } : null,
  };
}

/** Rounds of one side as one load: calls, time, CPU and jiffies summed, latencies pooled. */
function mergeLoads(loads: LoadResult[]): LoadResult {
  const jiffies = loads.every((l) => l.jiffies)
    ? loads.reduce((sum, l) => ({ busy: sum.busy + l.jiffies!.busy, total: sum.total + l.jiffies!.total }), { busy: 0, total: 0 })
    : null;
  return {
    calls: loads.reduce((sum, l) => sum + l.calls, 0),
    errors: loads.reduce((sum, l) => sum + l.errors, 0),
    firstError: loads.find((l) => l.firstError)?.firstError ?? null,
    seconds: loads.reduce((sum, l) => sum + l.seconds, 0),
    latenciesMs: loads.flatMap((l) => l.latenciesMs),
    benchCpuMs: loads.reduce((sum, l) => sum + l.benchCpuMs, 0),
    machineBusyPercent: jiffies && jiffies.total > 0 ? (100 * jiffies.busy) / jiffies.total : null,
    jiffies,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function figures(load: LoadResult) {
  const sorted = [...load.latenciesMs].sort((a, b) => a - b);
  return {
    calls: load.calls,
    errors: load.errors,
    seconds: round(load.seconds, 2),
    callsPerSecond: round(load.calls / load.seconds),
    p50Ms: round(percentile(sorted, 0.5), 2),
    p99Ms: round(percentile(sorted, 0.99), 2),
    meanMs: round(sorted.reduce((s, n) => s + n, 0) / Math.max(1, sorted.length), 2),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN, 2),
    benchProcessCpuMsPerCall: round(load.benchCpuMs / load.calls, 3),
    machineBusyPercent: load.machineBusyPercent === null ? null : round(load.machineBusyPercent),
  };
}

const oneLine = (sql: string) => sql.replace(/\s+/g, ' ').trim();

/** "select wallets", "insert events", "begin": the verb and the first table a statement names. */
/** A round trip of several statements (joined by `;` and a newline) is described statement by statement. */
function kindOf(sql: string): string {
  const parts = sql.split(/;\n/);
  if (parts.length > 1) return `[${parts.map(kindOfOne).join(' + ')}]`;
  return kindOfOne(sql);
}

function kindOfOne(sql: string): string {
  const text = oneLine(sql).toLowerCase();
  const verb = text.split(/[\s;(]/)[0] ?? '';
  const table = /\b(?:from|into|update)\s+"?([a-z_]+)"?/.exec(text)?.[1];
  if (verb === 'select' && !table) return `select ${/^select\s+([a-z_0-9]+)/.exec(text)?.[1] ?? '?'}()`;
  return table ? `${verb} ${table}${/for update/.test(text) ? ' for update' : ''}` : verb;
}

function describeStatements(statements: CapturedStatement[]) {
  return statements.map((s, i) => ({ n: i + 1, connection: s.connection, ms: round(s.ms, 3), kind: kindOf(s.text), sql: oneLine(s.text) }));
}

function summariseKinds(list: { kind: string }[]): string {
  const counts = new Map<string, number>();
  for (const { kind } of list) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => (n > 1 ? `${kind} x${n}` : kind)).join(', ');
}

/** BEGIN..COMMIT span of one captured call, split into time waiting on PostgreSQL and time in the app between statements. */
function transactionSpan(statements: CapturedStatement[]) {
  const begin = statements.findIndex((s) => /^\s*begin\b/i.test(s.text));
  const commit = statements.findIndex((s, i) => i > begin && /^\s*commit\b/i.test(s.text));
  if (begin < 0 || commit < 0) return null;
  const inside = statements.slice(begin, commit + 1);
  const spanMs = statements[commit]!.atMs + statements[commit]!.ms - statements[begin]!.atMs;
  const dbMs = inside.reduce((s, st) => s + st.ms, 0);
  const lock = statements.findIndex((s) => /for update/i.test(s.text));
  const lockHeldMs = lock >= 0 ? statements[commit]!.atMs + statements[commit]!.ms - statements[lock]!.atMs : null;
  return { statements: inside.length, spanMs, dbMs, appMs: spanMs - dbMs, lockHeldMs };
}

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const log = benchLog('bench');
  let database: BenchDatabase | null = null;
  let server: ServerProcess | null = null;
  let basePool: pg.Pool | null = null;
  try {
    database = await openBenchDatabase('wallets_bench', log);
    const { url: databaseUrl, settings } = database;
    server = await ServerProcess.start(databaseUrl, { cpuProfileDir: process.env.BENCH_CPU_PROF });
    log(`server (pid ${server.child.pid}) at ${server.url}, WALLET_DB_POOL_MAX=${POOL_MAX}`);
    const admin = createWalletClient({ url: server.url, apiKey: ADMIN_TOKEN });
    const { organization, apiKey } = await admin.admin.createOrganization.mutate({ name: 'bench' });
    const client = createWalletClient({ url: server.url, apiKey });

    const realMany = Array.from({ length: MAX_CALLERS }, (_, i) => `real-c${i}`);
    const baseMany = Array.from({ length: MAX_CALLERS }, (_, i) => `base-c${i}`);
    const seeded = await seedAll(client, databaseUrl, [...realMany, 'real-single', ...baseMany, 'base-single']);
    const customer = (externalId: string) => seeded.get(externalId)!;
    log(`seeded ${seeded.size} customers (2 wallets, 3 lots each)`);

    let invoiceSeq = 0;
    const mutate = mutationCaller(server.url, apiKey, { maxSockets: MAX_CALLERS, timeoutMs: CALL_TIMEOUT_MS });
    const realCall = async (externalId: string, prefix: string) => {
      const result = await mutate<{ prepaidCreditAmountCents: number; wallets: unknown[] }>('invoices.applyPrepaidCredits', {
        invoice: invoiceFor(`${prefix}-${++invoiceSeq}`, externalId),
      });
      if (result.prepaidCreditAmountCents !== EXPECTED_CREDITS_CENTS || result.wallets.length !== 2) {
        throw new Error(`unexpected allocation ${JSON.stringify(result)}`);
      }
    };

    // Warm-up (not measured): JIT, both pools filled, caches loaded.
    await runLoad(16, WARM_UP_CALLS, (caller) => realCall(realMany[caller]!, 'warm'));

    // Capture: sequential applies on one customer, nothing else running.
    const captures: CapturedStatement[][] = [];
    const statsBeforeCapture = await server.stats();
    for (let i = 0; i < CAPTURE_CALLS; i++) {
      await server.request<'ok'>('capture-start');
      const invoiceId = `capture-template-invoice-${i}`;
      await client.invoices.applyPrepaidCredits.mutate({ invoice: invoiceFor(invoiceId, 'real-c0') });
      captures.push((await server.request<'captured'>('capture-stop')).statements);
    }
    const statsAfterCapture = await server.stats();
    const captured = captures[captures.length - 1]!;
    const templateInvoiceId = `capture-template-invoice-${CAPTURE_CALLS - 1}`;
    const capturedCounts = [...new Set(captures.map((c) => c.length))];
    const spans = captures.map(transactionSpan).filter((s) => s !== null);
    const sequential = {
      statementsPerCall: capturedCounts,
      serverCpuMsPerCall: round(
        (statsAfterCapture.cpu.user + statsAfterCapture.cpu.system - statsBeforeCapture.cpu.user - statsBeforeCapture.cpu.system) /
          1000 /
          CAPTURE_CALLS,
        2,
      ),
      medianTransactionMs: round(median(spans.map((s) => s.spanMs)), 2),
      medianTransactionDbMs: round(median(spans.map((s) => s.dbMs)), 2),
      medianTransactionAppMs: round(median(spans.map((s) => s.appMs)), 2),
      medianLockHeldMs: round(median(spans.map((s) => s.lockHeldMs ?? Number.NaN)), 2),
    };
    const template: BaselineTemplate = buildTemplate(captured, { invoiceId: templateInvoiceId, externalId: 'real-c0' });
    const statementList = describeStatements(captured);
    log(`captured ${CAPTURE_CALLS} sequential applies: ${capturedCounts.join('/')} statements each`);

    // Baseline pool: the server's pool size, the same callers.
    basePool = new pg.Pool({
      connectionString: databaseUrl,
      max: POOL_MAX,
      query_timeout: CALL_TIMEOUT_MS,
      connectionTimeoutMillis: CALL_TIMEOUT_MS,
    });
    const templateCustomer = customer('real-c0');
    const baseMaps = new Map<string, Map<string, string>>(
      [...baseMany, 'base-single'].map((id) => [id, idMap(organization.id, templateCustomer, customer(id))]),
    );
    const baseCall = (externalId: string, prefix: string) =>
      replay(basePool!, instantiate(template, baseMaps.get(externalId)!, { invoiceId: `${prefix}-${++invoiceSeq}`, externalId }));
    await runLoad(16, WARM_UP_CALLS, (caller) => baseCall(baseMany[caller]!, 'warm-base'));
    const baselineStatementsPerCall = template.steps.length;

    // The measured rows.
    const rows = [];
    for (const scenario of ['many-customers', 'single-customer'] as Scenario[]) {
      for (const callers of CONCURRENCY) {
        const realCustomer = (caller: number) => (scenario === 'many-customers' ? realMany[caller]! : 'real-single');
        const baseCustomer = (caller: number) => (scenario === 'many-customers' ? baseMany[caller]! : 'base-single');
        const realRounds: LoadResult[] = [];
        const baseRounds: LoadResult[] = [];
        const serverUse = { statements: 0, cpuMs: 0, systemMs: 0, queryMs: 0 };
        const databaseUse = { real: 0, baseline: 0, known: true };
        const databaseCpu = () => {
          const ms = database!.cpuMs();
          if (ms === null) databaseUse.known = false;
          return ms ?? 0;
        };
        for (let round = 0; round < CALLS / ROUND_CALLS; round++) {
          const before = await server.stats();
          const dbBefore = databaseCpu();
          realRounds.push(await runLoad(callers, ROUND_CALLS, (caller) => realCall(realCustomer(caller), `${scenario}-${callers}-real`)));
          const dbMiddle = databaseCpu();
          const after = await server.stats();
          serverUse.statements += after.statements - before.statements;
          serverUse.cpuMs += (after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / 1000;
          serverUse.systemMs += (after.cpu.system - before.cpu.system) / 1000;
          serverUse.queryMs += after.queryMs - before.queryMs;
          baseRounds.push(await runLoad(callers, ROUND_CALLS, (caller) => baseCall(baseCustomer(caller), `${scenario}-${callers}-base`)));
          databaseUse.real += dbMiddle - dbBefore;
          databaseUse.baseline += databaseCpu() - dbMiddle;
        }
        const real = mergeLoads(realRounds);
        const baseline = mergeLoads(baseRounds);
        const realFigures = {
          ...figures(real),
          statementsPerCall: round(serverUse.statements / CALLS, 2),
          serverCpuMsPerCall: round(serverUse.cpuMs / CALLS, 2),
          // The kernel's share (socket reads and writes): the rest is JavaScript, parsing and GC.
          serverSystemCpuMsPerCall: round(serverUse.systemMs / CALLS, 2),
          // Send-to-answer time of the server's statements, summed: includes the server's own event-loop delay.
          serverStatementWaitMsPerCall: round(serverUse.queryMs / CALLS, 2),
          databaseCpuMsPerCall: databaseUse.known ? round(databaseUse.real / CALLS, 2) : null,
        };
        const baselineFigures = {
          ...figures(baseline),
          statementsPerCall: baselineStatementsPerCall,
          databaseCpuMsPerCall: databaseUse.known ? round(databaseUse.baseline / CALLS, 2) : null,
        };
        const ratio = round(realFigures.callsPerSecond / baselineFigures.callsPerSecond, 2);
        rows.push({ scenario, callers, real: realFigures, baseline: baselineFigures, ratio, targetMet: ratio >= 0.5 });
        log(
          `${scenario} x${callers}: real ${realFigures.callsPerSecond}/s (${real.errors} errors), baseline ${baselineFigures.callsPerSecond}/s (${baseline.errors} errors)`,
        );
        if (real.firstError) log(`  first real error: ${real.firstError}`);
        if (baseline.firstError) log(`  first baseline error: ${baseline.firstError}`);
      }
    }

    // The real path's customers must still reconcile with their ledgers after the load.
    const realWallets = new Set([...realMany, 'real-single'].flatMap((id) => customer(id).walletIds));
    const ledgerMismatches = (await auditLedger(databaseUrl)).filter((m) => realWallets.has(m.walletId));
    // Both sides really wrote their claims (the baseline is checked by its rows, not by a ledger audit).
    const claims = async (externalIds: string[]) => {
      const { rows } = await basePool!.query<{ n: string }>('select count(*) as n from invoice_applications where customer_id = any($1::uuid[])', [
        externalIds.map((id) => customer(id).customerId),
      ]);
      return Number(rows[0]?.n ?? 0);
    };
    const claimsWritten = {
      real: { rows: await claims([...realMany, 'real-single']), calls: WARM_UP_CALLS + CAPTURE_CALLS + rows.length * CALLS },
      baseline: { rows: await claims([...baseMany, 'base-single']), calls: WARM_UP_CALLS + rows.length * CALLS },
    };

    // Output.
    const pad = (value: string | number, width: number) => String(value).padStart(width);
    const header =
      `${'scenario'.padEnd(16)}${pad('callers', 8)} |${pad('real calls/s', 13)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('stmts', 7)} |` +
      `${pad('base calls/s', 13)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('stmts', 7)} |${pad('real/base', 10)}${pad('>= 0.5', 8)}`;
    const table = [
      header,
      '-'.repeat(header.length),
      ...rows.map(
        (r) =>
          `${r.scenario.padEnd(16)}${pad(r.callers, 8)} |${pad(r.real.callsPerSecond, 13)}${pad(r.real.p50Ms, 9)}${pad(r.real.p99Ms, 9)}${pad(r.real.statementsPerCall, 7)} |` +
          `${pad(r.baseline.callsPerSecond, 13)}${pad(r.baseline.p50Ms, 9)}${pad(r.baseline.p99Ms, 9)}${pad(r.baseline.statementsPerCall, 7)} |` +
          `${pad(r.ratio.toFixed(2), 10)}${pad(r.targetMet ? 'yes' : 'NO', 8)}`,
      ),
    ].join('\n');
    const costs = [
      `${'scenario'.padEnd(16)}${pad('callers', 8)} |${pad('server cpu ms/call (of it system)', 34)}${pad('bench cpu ms/call (real/base)', 31)}${pad('database cpu ms/call (real/base)', 34)}${pad('machine busy % (real/base)', 28)}`,
      ...rows.map(
        (r) =>
          `${r.scenario.padEnd(16)}${pad(r.callers, 8)} |${pad(`${r.real.serverCpuMsPerCall} (${r.real.serverSystemCpuMsPerCall})`, 34)}` +
          `${pad(`${r.real.benchProcessCpuMsPerCall} / ${r.baseline.benchProcessCpuMsPerCall}`, 31)}` +
          `${pad(`${r.real.databaseCpuMsPerCall ?? '?'} / ${r.baseline.databaseCpuMsPerCall ?? '?'}`, 34)}${pad(`${r.real.machineBusyPercent ?? '?'} / ${r.baseline.machineBusyPercent ?? '?'}`, 28)}`,
      ),
    ].join('\n');
    console.log('');
    console.log(
      `applyPrepaidCredits: ${CALLS} calls per row and side (alternating every ${ROUND_CALLS}), pool ${POOL_MAX} (server and baseline), ${os.cpus().length} cores, Node ${process.version}`,
    );
    const loadAfter = os.loadavg();
    console.log(
      `PostgreSQL ${settings.server_version} (${database.source === 'DATABASE_URL' ? 'DATABASE_URL server' : 'embedded, fsync off, synchronous_commit off'})`,
    );
    console.log(
      `Machine load average (1 min) at start ${loadBefore[0]!.toFixed(1)}, at end ${loadAfter[0]!.toFixed(1)} on ${os.cpus().length} cores.`,
    );
    console.log('');
    console.log(table);
    console.log('');
    console.log(costs);
    console.log('');
    console.log(
      `Statements per apply: real path ${capturedCounts.join('/')} (captured from the server's driver), baseline ${baselineStatementsPerCall} (the same, replayed through pg).`,
    );
    console.log(
      `One apply alone: server CPU ${sequential.serverCpuMsPerCall} ms; transaction ${sequential.medianTransactionMs} ms ` +
        `(${sequential.medianTransactionDbMs} ms waiting on PostgreSQL, ${sequential.medianTransactionAppMs} ms in the app between statements), ` +
        `customer lock held ${sequential.medianLockHeldMs} ms (medians of ${CAPTURE_CALLS}).`,
    );
    console.log(`By kind: ${summariseKinds(statementList)}.`);
    console.log('Statements of one apply (connection, ms as seen by the server, SQL):');
    for (const s of statementList)
      console.log(`  ${pad(s.n, 3)}. c${s.connection} ${pad(s.ms.toFixed(2), 6)}  ${s.sql.length > 130 ? `${s.sql.slice(0, 127)}...` : s.sql}`);
    const met = rows.filter((r) => r.targetMet).length;
    console.log('');
    console.log(`Target (real >= 0.5 x baseline throughput): met in ${met} of ${rows.length} rows.`);
    console.log(
      `Ledger audit of the real path's wallets after the load: ${ledgerMismatches.length === 0 ? 'clean' : `${ledgerMismatches.length} mismatches`}.`,
    );
    console.log(
      `Invoice claims written: real ${claimsWritten.real.rows} for ${claimsWritten.real.calls} calls, baseline ${claimsWritten.baseline.rows} for ${claimsWritten.baseline.calls} calls.`,
    );

    const results = {
      generatedAt: new Date().toISOString(),
      command: 'pnpm --filter @wallets/api bench:invoices',
      machine: machineFacts(loadBefore, loadAfter),
      database: { source: database.source, ...settings },
      config: {
        callsPerRow: CALLS,
        concurrency: CONCURRENCY,
        poolMax: POOL_MAX,
        invoice: invoiceFor('example', 'customer'),
        expectedCreditsCents: EXPECTED_CREDITS_CENTS,
      },
      statements: {
        realPerCall: capturedCounts,
        baselinePerCall: baselineStatementsPerCall,
        byKind: summariseKinds(statementList),
        list: statementList,
      },
      sequential,
      rows,
      target: { rule: 'real calls/s >= 0.5 x baseline calls/s', metInRows: met, rows: rows.length },
      ledgerMismatches,
      claimsWritten,
    };
    fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${RESULTS_FILE}`);
  } finally {
    await basePool?.end().catch(() => undefined);
    await server?.stop().catch((error) => console.error('stopping the bench server failed', error));
    await database?.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
