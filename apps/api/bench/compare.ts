/**
 * `pnpm bench`: our server beside the yardstick (bench/yardstick/, a hand-written node:http + pg
 * server doing the same logical work per procedure) on the same machine, the same PostgreSQL
 * server and in the same run, real and yardstick alternating in rounds so that noise hits both.
 *
 * - Real side: the project's server (startApp) in a process of its own (bench/server.ts), called
 *   over HTTP with keep-alive the way the real client speaks (tRPC + superjson). Yardstick side: its
 *   process (bench/yardstick/main.ts), the same pool size, plain JSON over the same caller
 *   machinery (support.ts).
 * - Procedures: invoices.applyPrepaidCredits (a 3-fee invoice over 2 metrics and a subscription,
 *   paid by two wallets: two outbound rows), usage.sync (a two-fee snapshot), a grant top-up
 *   (walletTransactions.create with grantedCredits only) and wallets.get; and the mix 40%
 *   usage.sync / 30% wallets.get / 20% apply / 10% grant top-ups. Every customer has the same two
 *   wallets and three granted lots on both sides. Outside the mix: a payment report that settles a
 *   pending 10-credit top-up (walletTransactions.recordPayment), and wallets.terminate of a wallet
 *   holding one granted lot (a customer of its own per wallet, so not on one customer); what these
 *   calls take is made before each round on both sides, not measured.
 * - Closed loops: BENCH_CALLERS callers, each call on a random one of BENCH_CUSTOMERS customers,
 *   or all on one customer; per procedure and for the mix. Each row sends the same number of calls
 *   to each side, in BENCH_ROUNDS rounds of BENCH_ROUND_CALLS, which side goes first alternating.
 * - Open loop: the mix offered at BENCH_OPEN_RATE calls/s for BENCH_OPEN_SECONDS to each side in
 *   turn (the same planned calls; the yardstick first, so a backlog the real server is still
 *   working through slows nothing measured), each call sent at its due time whatever is still
 *   outstanding; latency counted from the due time; a call sent more than 10 ms after its due
 *   time is late (the bench itself fell behind); a call without an answer within
 *   BENCH_OPEN_TIMEOUT_SECONDS of its due time failed (its latency counts as that long).
 * - Stepped rates: the mix offered from BENCH_STEP_START calls/s up in steps of BENCH_STEP_RATE,
 *   BENCH_STEP_SECONDS each, to both sides at each rate (who goes first alternating, each step's
 *   calls measured as in the open loop), until a side's p99 passes BENCH_STEP_P99_MS or one of its
 *   calls fails; printed: the last rate that held on each side.
 * - Costs: server CPU per call (process.cpuUsage of each server process), PostgreSQL CPU per call
 *   (its processes under /proc; embedded PostgreSQL only), round trips per call (the real server's
 *   driver calls counted in bench/server.ts; the yardstick counts its own), peak RSS (VmHWM) summed
 *   over each side's server processes.
 * - Checks after the run: the real side's ledger audit (auditLedger) is clean, the yardstick's
 *   balances equal the sums of its own rows, both answered the same allocation for one invoice,
 *   and every apply answered the expected amounts (a wrong answer counts as an error).
 *
 * Prints a table and writes every figure to bench-results-yardstick.json at the repository root.
 * Database: DATABASE_URL's server when set (a fresh database, dropped at the end), otherwise a
 * throw-away embedded PostgreSQL with fsync off. Not a test: no time is asserted; it exits 1 only
 * when a check above fails or a call errs (an open-loop call past its deadline is a measurement).
 *
 * Knobs (optional, defaults in brackets): BENCH_CALLERS [32], BENCH_CUSTOMERS [64],
 * BENCH_ROUNDS [3], BENCH_ROUND_CALLS [192] calls per round and side, BENCH_WARM_UP_CALLS [1024]
 * per side, BENCH_OPEN_RATE [300], BENCH_OPEN_SECONDS [20], BENCH_OPEN_TIMEOUT_SECONDS [30],
 * BENCH_SEED, BENCH_POOL_MAX [10] (both servers' pools), BENCH_SKIP_OPEN=1 (no open loop at one rate),
 * BENCH_STEP_START [100], BENCH_STEP_RATE [50], BENCH_STEP_SECONDS [10], BENCH_STEP_P99_MS [100],
 * BENCH_STEP_MAX_RATE [2000], BENCH_SKIP_STEPS=1 (no stepped rates), BENCH_LOG_LEVEL [warn] (our
 * server's LOG_LEVEL: no line per request by default).
 * The run time is mostly the real server's: the same number of calls goes to each side.
 */
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditLedger, ledgerSummary, seededRandom } from '@wallets/db/testing';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { repositoryRoot } from '../src/env.js';
import type { Probe } from './protocol.js';
import {
  ADMIN_TOKEN,
  type BenchDatabase,
  benchLog,
  jsonCaller,
  machineFacts,
  openBenchDatabase,
  POOL_MAX,
  peakRssMiB,
  ServerProcess,
  trpcCaller,
} from './support.js';
import type { YardstickReply, YardstickRequest } from './yardstick/main.js';
import { auditYardstick, seedPendingPurchases, seedTerminableWallets, seedYardstick } from './yardstick/seed.js';
import type { YardstickStats } from './yardstick/server.js';

const knob = (name: string, fallback: number, min = 1) => Math.max(min, Number(process.env[name] ?? fallback) || fallback);
const CALLERS = knob('BENCH_CALLERS', 32);
const CUSTOMERS = knob('BENCH_CUSTOMERS', 64);
const ROUNDS = knob('BENCH_ROUNDS', 3);
const ROUND_CALLS = knob('BENCH_ROUND_CALLS', 192);
const WARM_UP_CALLS = knob('BENCH_WARM_UP_CALLS', 1024, 0);
const OPEN_RATE = knob('BENCH_OPEN_RATE', 300);
const OPEN_SECONDS = knob('BENCH_OPEN_SECONDS', 20);
const SEED = knob('BENCH_SEED', 20261207);
const SKIP_OPEN = process.env.BENCH_SKIP_OPEN === '1';
const STEP_START = knob('BENCH_STEP_START', 100);
const STEP_RATE = knob('BENCH_STEP_RATE', 50);
const STEP_SECONDS = knob('BENCH_STEP_SECONDS', 10);
const STEP_P99_MS = knob('BENCH_STEP_P99_MS', 100);
const STEP_MAX_RATE = knob('BENCH_STEP_MAX_RATE', 2000);
const SKIP_STEPS = process.env.BENCH_SKIP_STEPS === '1';
const CALL_TIMEOUT_MS = 60_000;
const OPEN_TIMEOUT_MS = knob('BENCH_OPEN_TIMEOUT_SECONDS', 30) * 1000;
/** Keep-alive connections per side: the callers' in closed loops, more in the open loop (an answer may be late, the next call is not). */
const SOCKETS = Math.max(CALLERS, 256);
const LATE_MS = 10;
const RESULTS_FILE = path.join(repositoryRoot, 'bench-results-yardstick.json');

/** The mix's procedures. */
const PROCEDURES = ['apply', 'usage.sync', 'grant', 'wallets.get'] as const;
/** Rows of their own, each call on a row made for it beforehand (not measured): a pending top-up to settle, a wallet to end. */
const LIFECYCLE = ['payment', 'terminate'] as const;
type Lifecycle = (typeof LIFECYCLE)[number];
type Procedure = (typeof PROCEDURES)[number] | Lifecycle;
type Workload = Procedure | 'mix';
const ALL_WORKLOADS: Workload[] = [...PROCEDURES, ...LIFECYCLE, 'mix'];
const isLifecycle = (workload: Workload): workload is Lifecycle => (LIFECYCLE as readonly string[]).includes(workload);
/** BENCH_WORKLOADS (comma-separated, e.g. `wallets.get,mix`): only these rows; default all. */
const WORKLOADS: Workload[] = process.env.BENCH_WORKLOADS
  ? ALL_WORKLOADS.filter((w) => process.env.BENCH_WORKLOADS!.split(',').includes(w))
  : ALL_WORKLOADS;
type Scenario = 'many' | 'one';
const SCENARIO_LABEL: Record<Scenario, string> = { many: `${CUSTOMERS} customers`, one: '1 customer' };

/** 40% usage.sync / 30% wallets.get / 20% apply / 10% grant top-ups. */
function mixPick(roll: number): (typeof PROCEDURES)[number] {
  if (roll < 0.4) return 'usage.sync';
  if (roll < 0.7) return 'wallets.get';
  if (roll < 0.9) return 'apply';
  return 'grant';
}

// ---------------------------------------------------------------------------------------------
// What every call sends, the same on both sides.

/** 1999 + 399.795 (subscription), 1234 + 246.815 (api_calls), 567 + 113.391 (storage_gb) = 4560.001 cents. */
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
const EXPECTED_CENTS = 4560;

function usageFor(externalCustomerId: string, n: number) {
  return {
    externalCustomerId,
    currency: 'EUR',
    fees: [
      { feeType: 'charge' as const, billableMetricCode: 'api_calls', amountCents: String(((n * 7919) % 100_000) / 1000) },
      { feeType: 'subscription' as const, amountCents: '1999', taxesAmountCents: '399.795' },
    ],
  };
}

const GRANT_CREDITS = '10';
/** A payment row's pending top-ups (the yardstick's seed makes them of the same 10 credits). */
const PAID_CREDITS = '10';

interface Allocation {
  prepaidCreditAmountCents: number;
  prepaidGrantedCreditAmountCents: number;
  prepaidPurchasedCreditAmountCents: number;
  wallets: { walletId: string; amountCents: number; creditAmount: string }[];
}

function checkAllocation(side: string, allocation: Allocation): void {
  if (allocation.prepaidCreditAmountCents !== EXPECTED_CENTS || allocation.wallets.length !== 2) {
    throw new Error(`${side}: unexpected allocation ${JSON.stringify(allocation)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The two sides.

interface Customer {
  externalId: string;
  /** [A (priority 1, api_calls only, two lots), B (priority 2, no limits)]. */
  walletIds: [string, string];
}

interface Side {
  name: 'real' | 'yardstick';
  customers: Map<string, Customer>;
  /**
   * Before a lifecycle row's loop (not measured): a pending 10-credit top-up on wallet B of each
   * customer in `picks` (one per call that picks it), or one wallet to end per call (each of a
   * customer of its own, holding one granted lot).
   */
  prepare(workload: Lifecycle, picks: Customer[]): Promise<void>;
  call(procedure: Procedure, customer: Customer, n: number): Promise<void>;
  apply(invoiceId: string, customer: Customer): Promise<Allocation>;
  /** CPU time of the server process so far (ms) and the round trips it has made. */
  usage(): Promise<{ cpuMs: number; roundTrips: number }>;
  peakRssMiB(): number | null;
  /** Drops the caller's connections and the calls still queued for one. */
  close(): void;
  /** The real server only: where its time went (event-loop delay, GC pauses, pool waits) between start and stop. */
  probe?: { start(): Promise<void>; stop(): Promise<Probe> };
}

class YardstickProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: YardstickReply) => void>();
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.on('message', (reply: YardstickReply) => {
      if ('id' in reply) {
        this.waiting.get(reply.id)?.(reply);
        this.waiting.delete(reply.id);
      }
    });
  }

  static async start(databaseUrl: string): Promise<YardstickProcess> {
    const child = fork(fileURLToPath(new URL('./yardstick/main.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, DATABASE_URL: databaseUrl, YARDSTICK_POOL_MAX: String(POOL_MAX), PORT: '0', HOST: '127.0.0.1' },
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`yardstick exited during start (${code})`)));
      child.on('message', (reply: YardstickReply) => {
        if (reply.type === 'ready') resolve(reply.url);
      });
    });
    child.removeAllListeners('exit');
    child.removeAllListeners('message');
    return new YardstickProcess(child, url);
  }

  private request(type: YardstickRequest['type']): Promise<YardstickReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`yardstick did not answer ${type}`)), 30_000);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.child.send({ type, id } satisfies YardstickRequest);
    });
  }

  async stats(): Promise<YardstickStats> {
    const reply = await this.request('stats');
    if (reply.type !== 'stats') throw new Error('yardstick: no stats');
    return reply.stats;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    await this.request('stop').catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function seedReal(client: WalletClient, externalIds: string[]): Promise<Map<string, Customer>> {
  const customers = new Map<string, Customer>();
  const queue = [...externalIds];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let externalId = queue.shift(); externalId; externalId = queue.shift()) {
        await client.customers.upsert.mutate({ externalId, currency: 'EUR' });
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
        customers.set(externalId, { externalId, walletIds: [a.id, b.id] });
      }
    }),
  );
  return customers;
}

/** What a lifecycle row's calls take, made by `prepare`: pending top-ups per customer, wallets to end. */
class Prepared {
  readonly pending = new Map<string, string[]>();
  readonly wallets: string[] = [];

  takePending(customer: Customer): string {
    const id = this.pending.get(customer.externalId)?.shift();
    if (!id) throw new Error(`no pending top-up prepared for ${customer.externalId}`);
    return id;
  }

  takeWallet(): string {
    const id = this.wallets.shift();
    if (!id) throw new Error('no wallet prepared to end');
    return id;
  }

  addPending(customer: Customer, id: string): void {
    this.pending.set(customer.externalId, [...(this.pending.get(customer.externalId) ?? []), id]);
  }
}

/** Runs `work` over `items` with 8 workers. */
async function inParallel<T>(items: T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < items.length; i = next++) await work(items[i]!, i);
    }),
  );
}

function realSide(server: ServerProcess, apiKey: string, customers: Map<string, Customer>, prefix: string, timeoutMs: number): Side {
  const trpc = trpcCaller(server.url, apiKey, { maxSockets: SOCKETS, timeoutMs });
  const prepared = new Prepared();
  let seq = 0;
  const apply = (invoiceId: string, customer: Customer) =>
    trpc.mutate<Allocation>('invoices.applyPrepaidCredits', { invoice: invoiceFor(invoiceId, customer.externalId) });
  return {
    name: 'real',
    customers,
    apply,
    async call(procedure, customer, n) {
      switch (procedure) {
        case 'apply':
          checkAllocation('real', await apply(`${prefix}-${++seq}`, customer));
          return;
        case 'usage.sync':
          await trpc.mutate('usage.sync', usageFor(customer.externalId, n));
          return;
        case 'grant':
          await trpc.mutate('walletTransactions.create', { walletId: customer.walletIds[1], grantedCredits: GRANT_CREDITS });
          return;
        case 'wallets.get':
          await trpc.query('wallets.get', { id: customer.walletIds[0] });
          return;
        case 'payment':
          await trpc.mutate('walletTransactions.recordPayment', { id: prepared.takePending(customer), status: 'succeeded' });
          return;
        case 'terminate':
          await trpc.mutate('wallets.terminate', { id: prepared.takeWallet() });
          return;
      }
    },
    async prepare(workload, picks) {
      if (workload === 'payment') {
        await inParallel(picks, async (customer) => {
          const { transactions } = await trpc.mutate<{ transactions: { id: string }[] }>('walletTransactions.create', {
            walletId: customer.walletIds[1],
            paidCredits: PAID_CREDITS,
          });
          prepared.addPending(customer, transactions[0]!.id);
        });
      } else {
        const ids: string[] = [];
        await inParallel(picks, async (_, i) => {
          const externalId = `${prefix}-ended-${++seq}-${i}`;
          await trpc.mutate('customers.upsert', { externalId, currency: 'EUR' });
          ids[i] = (
            await trpc.mutate<{ id: string }>('wallets.create', { externalCustomerId: externalId, rateAmount: '1', grantedCredits: '100' })
          ).id;
        });
        prepared.wallets.push(...ids);
      }
    },
    async usage() {
      const stats = await server.stats();
      return { cpuMs: (stats.cpu.user + stats.cpu.system) / 1000, roundTrips: stats.statements };
    },
    peakRssMiB: () => server.peakRssMiB(),
    close: () => trpc.close(),
    probe: {
      start: async () => void (await server.request<'ok'>('probe-start')),
      stop: async () => (await server.request<'probed'>('probe-stop')).probe,
    },
  };
}

function yardstickSide(
  child: YardstickProcess,
  seed: { databaseUrl: string; organizationId: string; apiKey: string },
  customers: Map<string, Customer>,
  prefix: string,
  timeoutMs: number,
): Side {
  const json = jsonCaller(child.url, seed.apiKey, { maxSockets: SOCKETS, timeoutMs });
  const prepared = new Prepared();
  let seq = 0;
  const apply = (invoiceId: string, customer: Customer) =>
    json.post<Allocation>('/v1/invoices/apply', { invoice: invoiceFor(invoiceId, customer.externalId) });
  return {
    name: 'yardstick',
    customers,
    apply,
    async call(procedure, customer, n) {
      switch (procedure) {
        case 'apply':
          checkAllocation('yardstick', await apply(`${prefix}-${++seq}`, customer));
          return;
        case 'usage.sync':
          await json.post('/v1/usage/sync', usageFor(customer.externalId, n));
          return;
        case 'grant':
          await json.post('/v1/wallet-transactions', { walletId: customer.walletIds[1], grantedCredits: GRANT_CREDITS });
          return;
        case 'wallets.get':
          await json.get(`/v1/wallets/${customer.walletIds[0]}`);
          return;
        case 'payment':
          await json.post(`/v1/wallet-transactions/${prepared.takePending(customer)}/payment`, { status: 'succeeded' });
          return;
        case 'terminate':
          await json.delete(`/v1/wallets/${prepared.takeWallet()}`);
          return;
      }
    },
    async prepare(workload, picks) {
      if (workload === 'payment') {
        const ids = await seedPendingPurchases(
          seed.databaseUrl,
          seed.organizationId,
          picks.map((c) => c.walletIds[1]),
        );
        for (const [i, customer] of picks.entries()) prepared.addPending(customer, ids[i]!);
      } else {
        prepared.wallets.push(...(await seedTerminableWallets(seed.databaseUrl, seed.organizationId, picks.length)));
      }
    },
    async usage() {
      const stats = await child.stats();
      const trips = Object.values(stats.roundTrips).reduce((a, b) => a + b, 0) + stats.authRoundTrips;
      return { cpuMs: (stats.cpu.user + stats.cpu.system) / 1000, roundTrips: trips };
    },
    peakRssMiB: () => peakRssMiB(child.child.pid),
    close: () => json.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Loops and figures.

interface Sample {
  procedure: Procedure;
  ms: number;
  error: string | null;
  late?: boolean;
}

interface Measured {
  samples: Sample[];
  seconds: number;
  serverCpuMs: number;
  databaseCpuMs: number | null;
  roundTrips: number;
}

const externalIds = (scenario: Scenario) => (scenario === 'many' ? Array.from({ length: CUSTOMERS }, (_, i) => `c${i}`) : ['single']);

/** The customers a closed loop of a single procedure will call, in order (the draws `closedLoop` makes with the same `random`). */
function closedLoopPicks(side: Side, scenario: Scenario, calls: number, random: () => number): Customer[] {
  const ids = externalIds(scenario);
  return Array.from({ length: calls }, () => side.customers.get(ids[Math.floor(random() * ids.length)]!)!);
}

/** `calls` calls from CALLERS closed loops (each sends its next call when the last one answered). */
async function closedLoop(
  side: Side,
  database: BenchDatabase,
  scenario: Scenario,
  workload: Workload,
  calls: number,
  random: () => number,
): Promise<Measured> {
  const ids = externalIds(scenario);
  const before = await side.usage();
  const databaseBefore = database.cpuMs();
  const samples: Sample[] = [];
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (issued < calls) {
        const n = issued++;
        const procedure = workload === 'mix' ? mixPick(random()) : workload;
        const customer = side.customers.get(ids[Math.floor(random() * ids.length)]!)!;
        const t0 = performance.now();
        let error: string | null = null;
        try {
          await side.call(procedure, customer, n);
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        }
        samples.push({ procedure, ms: performance.now() - t0, error });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const databaseAfter = database.cpuMs();
  const after = await side.usage();
  return {
    samples,
    seconds,
    serverCpuMs: after.cpuMs - before.cpuMs,
    databaseCpuMs: databaseBefore === null || databaseAfter === null ? null : databaseAfter - databaseBefore,
    roundTrips: after.roundTrips - before.roundTrips,
  };
}

interface PlannedCall {
  dueMs: number;
  procedure: Procedure;
  externalId: string;
}

/** `rate` calls/s of the mix for `seconds`, on the many-customer scenario's customers. */
function openPlan(rate: number, seconds: number, seed: number): PlannedCall[] {
  const random = seededRandom(seed);
  const ids = externalIds('many');
  return Array.from({ length: rate * seconds }, (_, i) => ({
    dueMs: (i * 1000) / rate,
    procedure: mixPick(random()),
    externalId: ids[Math.floor(random() * ids.length)]!,
  }));
}

/** The planned calls, each sent at its due time whatever is outstanding; latency from the due time. */
async function openLoop(side: Side, database: BenchDatabase, plan: PlannedCall[]): Promise<Measured> {
  const before = await side.usage();
  const databaseBefore = database.cpuMs();
  const samples: Sample[] = [];
  const outstanding: Promise<void>[] = [];
  const started = performance.now() + 20;
  await new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < plan.length && started + plan[next]!.dueMs <= now) {
        const planned = plan[next]!;
        const due = started + planned.dueMs;
        const late = performance.now() - due > LATE_MS;
        const n = next++;
        // Counted as failed once OPEN_TIMEOUT_MS have passed since its due time, even while it still
        // waits for a connection in the caller's queue (the server may answer it later, unmeasured).
        let expire: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          expire = setTimeout(() => reject(new Error(`no answer ${OPEN_TIMEOUT_MS / 1000} s after its due time`)), OPEN_TIMEOUT_MS);
        });
        outstanding.push(
          Promise.race([side.call(planned.procedure, side.customers.get(planned.externalId)!, n), deadline])
            .finally(() => clearTimeout(expire))
            .then(
              () => void samples.push({ procedure: planned.procedure, ms: performance.now() - due, error: null, late }),
              (e: unknown) =>
                void samples.push({
                  procedure: planned.procedure,
                  ms: performance.now() - due,
                  error: e instanceof Error ? e.message : String(e),
                  late,
                }),
            ),
        );
      }
      if (next >= plan.length) resolve();
      else setTimeout(tick, Math.max(0, Math.min(2, started + plan[next]!.dueMs - performance.now())));
    };
    setTimeout(tick, 20);
  });
  await Promise.all(outstanding);
  const seconds = (performance.now() - started) / 1000;
  const databaseAfter = database.cpuMs();
  const after = await side.usage();
  return {
    samples,
    seconds,
    serverCpuMs: after.cpuMs - before.cpuMs,
    databaseCpuMs: databaseBefore === null || databaseAfter === null ? null : databaseAfter - databaseBefore,
    roundTrips: after.roundTrips - before.roundTrips,
  };
}

/** Waits (at most a minute) until the side's server has made no round trip for a second. */
async function quiet(side: Side): Promise<void> {
  const until = performance.now() + 60_000;
  let last = (await side.usage()).roundTrips;
  while (performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const now = (await side.usage()).roundTrips;
    if (now === last) return;
    last = now;
  }
}

type OpenFigures = ReturnType<typeof figures> & {
  perProcedure: ReturnType<typeof perProcedure>;
  late: number;
  broken: number;
  probe: Probe | null;
};

/** One open loop on a side, then its caller dropped and its server left to go quiet; its figures. */
async function openRun(side: Side, database: BenchDatabase, plan: PlannedCall[]): Promise<OpenFigures> {
  await side.probe?.start();
  const measured = await openLoop(side, database, plan);
  const probe = (await side.probe?.stop()) ?? null;
  // Calls past their deadline may still be queued in the caller or running in the server:
  // drop the first, let the server finish the second before anything else is measured.
  side.close();
  await quiet(side);
  return {
    ...figures(measured),
    perProcedure: perProcedure(measured.samples),
    late: measured.samples.filter((s) => s.late).length,
    broken: measured.samples.filter(brokenCall).length,
    probe,
  };
}

/** One line on a probe: event-loop delay, GC pauses, pool waits. */
function describeProbe(p: Probe): string {
  const gc = Object.entries(p.gc)
    .map(([kind, k]) => `${kind} ${k.count} (${k.totalMs} ms, longest ${k.maxMs})`)
    .join(', ');
  return (
    `event-loop delay p50 ${p.loopDelay.p50} / p99 ${p.loopDelay.p99} / max ${p.loopDelay.max} ms; GC pauses: ${gc || 'none'}; ` +
    `waits for a pool connection (${p.poolWait.count}) p50 ${p.poolWait.p50} / p99 ${p.poolWait.p99} / max ${p.poolWait.max} ms`
  );
}

interface StepFigures {
  rate: number;
  side: 'real' | 'yardstick';
  p50Ms: number;
  p99Ms: number;
  failed: number;
  broken: number;
  late: number;
  held: boolean;
  probe: Probe | null;
}

interface SteppedSearch {
  steps: StepFigures[];
  /** The highest offered rate whose p99 stayed within STEP_P99_MS (null: not even the first). */
  lastHeld: Record<'real' | 'yardstick', number | null>;
  /** Whether the search stopped at BENCH_STEP_MAX_RATE with the side still holding. */
  cappedAt: Record<'real' | 'yardstick', boolean>;
}

/**
 * Offered rates from STEP_START up in steps of STEP_RATE, STEP_SECONDS each, the mix on both sides
 * at each rate (who goes first alternating), until a side's p99 passes STEP_P99_MS or a call of it
 * fails: that side stops; the search ends when both have stopped or at STEP_MAX_RATE. `sidesAt`
 * makes fresh callers for one rate (each step's callers are dropped after it).
 */
async function steppedSearch(sidesAt: (rate: number) => Side[], database: BenchDatabase, log: (line: string) => void): Promise<SteppedSearch> {
  const steps: StepFigures[] = [];
  const lastHeld: SteppedSearch['lastHeld'] = { real: null, yardstick: null };
  const holding = new Set<'real' | 'yardstick'>(['real', 'yardstick']);
  let turn = 0;
  for (let rate = STEP_START; rate <= STEP_MAX_RATE && holding.size > 0; rate += STEP_RATE) {
    const plan = openPlan(rate, STEP_SECONDS, SEED + rate);
    const sides = sidesAt(rate).filter((side) => holding.has(side.name));
    for (const side of turn++ % 2 === 0 ? sides : sides.reverse()) {
      const f = await openRun(side, database, plan);
      const held = f.p99Ms <= STEP_P99_MS && f.errors === 0;
      steps.push({ rate, side: side.name, p50Ms: f.p50Ms, p99Ms: f.p99Ms, failed: f.errors, broken: f.broken, late: f.late, held, probe: f.probe });
      log(
        `step ${rate}/s, ${side.name}: p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms, failed ${f.errors}, sent late ${f.late}${held ? '' : ' (stops here)'}` +
          (f.probe ? `; ${describeProbe(f.probe)}` : ''),
      );
      if (held) lastHeld[side.name] = rate;
      else holding.delete(side.name);
    }
  }
  return { steps, lastHeld, cappedAt: { real: holding.has('real'), yardstick: holding.has('yardstick') } };
}

/** A call that failed for another reason than its deadline (a refusal, a wrong answer, a broken connection). */
const brokenCall = (s: Sample) => s.error !== null && !s.error.startsWith('no answer');

function merge(parts: Measured[]): Measured {
  const databaseKnown = parts.every((p) => p.databaseCpuMs !== null);
  return {
    samples: parts.flatMap((p) => p.samples),
    seconds: parts.reduce((s, p) => s + p.seconds, 0),
    serverCpuMs: parts.reduce((s, p) => s + p.serverCpuMs, 0),
    databaseCpuMs: databaseKnown ? parts.reduce((s, p) => s + p.databaseCpuMs!, 0) : null,
    roundTrips: parts.reduce((s, p) => s + p.roundTrips, 0),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function latencies(samples: Sample[]) {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    calls: samples.length,
    errors: samples.filter((s) => s.error !== null).length,
    p50Ms: round(percentile(sorted, 0.5), 2),
    p99Ms: round(percentile(sorted, 0.99), 2),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN, 2),
  };
}

function figures(m: Measured) {
  const calls = m.samples.length;
  return {
    ...latencies(m.samples),
    seconds: round(m.seconds, 2),
    callsPerSecond: round(calls / m.seconds),
    roundTripsPerCall: round(m.roundTrips / calls, 2),
    serverCpuMsPerCall: round(m.serverCpuMs / calls, 2),
    databaseCpuMsPerCall: m.databaseCpuMs === null ? null : round(m.databaseCpuMs / calls, 2),
    firstError: m.samples.find((s) => s.error !== null)?.error ?? null,
  };
}

function perProcedure(samples: Sample[]) {
  return Object.fromEntries(
    PROCEDURES.map((procedure) => {
      const mine = samples.filter((s) => s.procedure === procedure);
      return [procedure, { ...latencies(mine), late: mine.filter((s) => s.late).length }];
    }),
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const log = benchLog('bench');
  let database: BenchDatabase | null = null;
  let server: ServerProcess | null = null;
  let yardstick: YardstickProcess | null = null;
  let failed = false;
  try {
    database = await openBenchDatabase('wallets_bench_yardstick', log);
    const db = database;
    const ids = [...externalIds('many'), ...externalIds('one')];
    server = await ServerProcess.start(db.url, { cpuProfileDir: process.env.BENCH_CPU_PROFILE_DIR });
    const admin = createWalletClient({ url: server.url, apiKey: ADMIN_TOKEN });
    const { apiKey } = await admin.admin.createOrganization.mutate({ name: 'bench' });
    const realCustomers = await seedReal(createWalletClient({ url: server.url, apiKey }), ids);
    const seeded = await seedYardstick(db.url, ids);
    yardstick = await YardstickProcess.start(db.url);
    log(
      `real server pid ${server.child.pid}, yardstick pid ${yardstick.child.pid}, pools of ${POOL_MAX}; seeded ${ids.length} customers on each side`,
    );
    const ysCustomers = new Map([...seeded.customers].map(([id, c]) => [id, { externalId: id, walletIds: c.walletIds }]));
    const ysSeed = { databaseUrl: db.url, organizationId: seeded.organizationId, apiKey: seeded.apiKey };
    const real = realSide(server, apiKey, realCustomers, 'closed', CALL_TIMEOUT_MS);
    const ys = yardstickSide(yardstick, ysSeed, ysCustomers, 'closed', CALL_TIMEOUT_MS);

    // Same answer for the same invoice on both sides (their customers are seeded alike).
    const [realFirst, ysFirst] = [await real.apply('same-answer', realCustomers.get('c0')!), await ys.apply('same-answer', ysCustomers.get('c0')!)];
    const shape = (a: Allocation) => ({
      total: a.prepaidCreditAmountCents,
      granted: a.prepaidGrantedCreditAmountCents,
      purchased: a.prepaidPurchasedCreditAmountCents,
      wallets: a.wallets.map((w) => [w.amountCents, w.creditAmount]),
    });
    const sameAnswer = JSON.stringify(shape(realFirst)) === JSON.stringify(shape(ysFirst));
    log(
      `same allocation for one invoice: ${sameAnswer ? 'yes' : 'NO'} (real ${JSON.stringify(shape(realFirst))}, yardstick ${JSON.stringify(shape(ysFirst))})`,
    );

    // Warm-up (not measured): JIT, pools, plans.
    for (const side of [real, ys]) await closedLoop(side, db, 'many', 'mix', WARM_UP_CALLS, seededRandom(SEED - 1));
    log(`warmed up with ${WARM_UP_CALLS} mixed calls per side`);

    const rows: {
      scenario: Scenario;
      workload: Workload;
      real: ReturnType<typeof figures>;
      yardstick: ReturnType<typeof figures>;
      ratio: number;
      perProcedure: { real: ReturnType<typeof perProcedure>; yardstick: ReturnType<typeof perProcedure> };
    }[] = [];
    const scenarios = (['many', 'one'] as Scenario[]).filter(
      (s) => !process.env.BENCH_SCENARIOS || process.env.BENCH_SCENARIOS.split(',').includes(s),
    );
    for (const scenario of scenarios) {
      for (const workload of WORKLOADS) {
        // Each termination ends a wallet of a customer of its own: one customer would be the same row.
        if (workload === 'terminate' && scenario === 'one') continue;
        const parts: Record<'real' | 'yardstick', Measured[]> = { real: [], yardstick: [] };
        for (let r = 0; r < ROUNDS; r++) {
          // The same draws on both sides within a round; who goes first alternates.
          for (const side of r % 2 === 0 ? [real, ys] : [ys, real]) {
            if (isLifecycle(workload)) await side.prepare(workload, closedLoopPicks(side, scenario, ROUND_CALLS, seededRandom(SEED + r)));
            parts[side.name].push(await closedLoop(side, db, scenario, workload, ROUND_CALLS, seededRandom(SEED + r)));
          }
        }
        const realMerged = merge(parts.real);
        const ysMerged = merge(parts.yardstick);
        const row = {
          scenario,
          workload,
          real: figures(realMerged),
          yardstick: figures(ysMerged),
          ratio: 0,
          perProcedure: { real: perProcedure(realMerged.samples), yardstick: perProcedure(ysMerged.samples) },
        };
        row.ratio = round(row.real.callsPerSecond / row.yardstick.callsPerSecond, 2);
        rows.push(row);
        log(
          `${SCENARIO_LABEL[scenario]}, ${workload}: real ${row.real.callsPerSecond}/s, yardstick ${row.yardstick.callsPerSecond}/s, ratio ${row.ratio}` +
            (row.real.errors + row.yardstick.errors > 0 ? ` (errors: real ${row.real.errors}, yardstick ${row.yardstick.errors})` : ''),
        );
        if (row.real.firstError) log(`  first real error: ${row.real.firstError}`);
        if (row.yardstick.firstError) log(`  first yardstick error: ${row.yardstick.firstError}`);
      }
    }

    let open: Record<'real' | 'yardstick', OpenFigures> | null = null;
    if (!SKIP_OPEN) {
      const plan = openPlan(OPEN_RATE, OPEN_SECONDS, SEED + 1);
      const result = {} as Record<'real' | 'yardstick', OpenFigures>;
      // The yardstick first: a backlog the real server may still be working through afterwards
      // then slows nothing that is measured.
      for (const side of [
        yardstickSide(yardstick, ysSeed, ysCustomers, 'open', OPEN_TIMEOUT_MS),
        realSide(server, apiKey, realCustomers, 'open', OPEN_TIMEOUT_MS),
      ]) {
        result[side.name] = await openRun(side, db, plan);
        log(
          `open loop ${OPEN_RATE}/s for ${OPEN_SECONDS} s, ${side.name}: done in ${result[side.name].seconds} s, p99 ${result[side.name].p99Ms} ms`,
        );
      }
      open = result;
    }

    let steps: SteppedSearch | null = null;
    if (!SKIP_STEPS) {
      steps = await steppedSearch(
        (rate) => [
          yardstickSide(yardstick!, ysSeed, ysCustomers, `step${rate}`, OPEN_TIMEOUT_MS),
          realSide(server!, apiKey, realCustomers, `step${rate}`, OPEN_TIMEOUT_MS),
        ],
        db,
        log,
      );
    }

    const peakRss = { real: real.peakRssMiB(), yardstick: ys.peakRssMiB() };
    const realAudit = await auditLedger(db.url);
    const realSummary = await ledgerSummary(db.url);
    const ysAudit = await auditYardstick(db.url);
    const loadAfter = os.loadavg();

    // Output.
    const pad = (value: string | number | null, width: number) => String(value ?? '?').padStart(width);
    const side = (f: ReturnType<typeof figures>) =>
      `${pad(f.callsPerSecond, 8)}${pad(f.p50Ms, 8)}${pad(f.p99Ms, 9)}${pad(f.roundTripsPerCall, 6)}${pad(f.serverCpuMsPerCall, 7)}${pad(f.databaseCpuMsPerCall, 7)}`;
    const sideHeader = `${pad('calls/s', 8)}${pad('p50 ms', 8)}${pad('p99 ms', 9)}${pad('rt', 6)}${pad('cpu', 7)}${pad('pg', 7)}`;
    const header = `${'scenario'.padEnd(14)}${'workload'.padEnd(12)}|${sideHeader} |${sideHeader} |${pad('real/ys', 8)}`;
    console.log('');
    console.log(
      `Real server against the yardstick: ${CALLERS} callers, ${ROUNDS} rounds of ${ROUND_CALLS} calls per row and side (alternating), pools of ${POOL_MAX}, ` +
        `${os.cpus().length} cores, Node ${process.version}, PostgreSQL ${db.settings.server_version} ` +
        `(${db.source === 'DATABASE_URL' ? 'DATABASE_URL server' : 'embedded'}, fsync=${db.settings.fsync}, synchronous_commit=${db.settings.synchronous_commit}).`,
    );
    console.log(`Machine load average (1 min) at start ${loadBefore[0]!.toFixed(1)}, at end ${loadAfter[0]!.toFixed(1)}.`);
    console.log('rt: round trips to PostgreSQL per call; cpu: server process CPU ms per call; pg: PostgreSQL CPU ms per call.');
    console.log('');
    console.log(`${''.padEnd(26)}|${'real (tRPC + superjson)'.padStart(45)} |${'yardstick (plain JSON)'.padStart(45)} |`);
    console.log(header);
    console.log('-'.repeat(header.length));
    for (const r of rows) {
      console.log(
        `${SCENARIO_LABEL[r.scenario].padEnd(14)}${r.workload.padEnd(12)}|${side(r.real)} |${side(r.yardstick)} |${pad(r.ratio.toFixed(2), 8)}`,
      );
    }
    if (open) {
      console.log('');
      console.log(
        `Open loop: the mix offered at ${OPEN_RATE} calls/s for ${OPEN_SECONDS} s (${OPEN_RATE * OPEN_SECONDS} calls per side), latency from each call's due time:`,
      );
      const openHeader = `${'procedure'.padEnd(14)}|${pad('real p50', 10)}${pad('p99 ms', 10)}${pad('failed', 8)} |${pad('ys p50', 10)}${pad('p99 ms', 10)}${pad('failed', 8)}`;
      console.log(openHeader);
      console.log('-'.repeat(openHeader.length));
      for (const procedure of [...PROCEDURES, 'all'] as const) {
        const a = procedure === 'all' ? open.real : open.real.perProcedure[procedure]!;
        const b = procedure === 'all' ? open.yardstick : open.yardstick.perProcedure[procedure]!;
        console.log(
          `${procedure.padEnd(14)}|${pad(a.p50Ms, 10)}${pad(a.p99Ms, 10)}${pad(a.errors, 8)} |${pad(b.p50Ms, 10)}${pad(b.p99Ms, 10)}${pad(b.errors, 8)}`,
        );
      }
      console.log(
        `Failed: past the ${OPEN_TIMEOUT_MS / 1000} s deadline, or otherwise (real ${open.real.broken}, yardstick ${open.yardstick.broken}). ` +
          `Sent late (> ${LATE_MS} ms after due): real ${open.real.late}, yardstick ${open.yardstick.late}. Last answer after ${open.real.seconds} s (real) and ${open.yardstick.seconds} s (yardstick). ` +
          `Server CPU per call ${open.real.serverCpuMsPerCall} / ${open.yardstick.serverCpuMsPerCall} ms, PostgreSQL ${open.real.databaseCpuMsPerCall ?? '?'} / ${open.yardstick.databaseCpuMsPerCall ?? '?'} ms.`,
      );
      if (open.real.probe) console.log(`Real server meanwhile: ${describeProbe(open.real.probe)}.`);
    }
    if (steps) {
      console.log('');
      console.log(
        `Stepped rates: the mix offered from ${STEP_START} calls/s up in steps of ${STEP_RATE}, ${STEP_SECONDS} s each, until p99 passes ${STEP_P99_MS} ms or a call fails:`,
      );
      const stepHeader = `${'calls/s'.padEnd(9)}|${pad('real p50', 10)}${pad('p99 ms', 10)}${pad('failed', 8)}${pad('late', 6)} |${pad('ys p50', 10)}${pad('p99 ms', 10)}${pad('failed', 8)}${pad('late', 6)}`;
      console.log(stepHeader);
      console.log('-'.repeat(stepHeader.length));
      const cells = (f: StepFigures | undefined) =>
        f
          ? `${pad(f.p50Ms, 10)}${pad(f.p99Ms, 10)}${pad(f.failed, 8)}${pad(f.late, 6)}`
          : `${pad('-', 10)}${pad('-', 10)}${pad('-', 8)}${pad('-', 6)}`;
      for (const rate of [...new Set(steps.steps.map((f) => f.rate))]) {
        const at = (name: 'real' | 'yardstick') => steps!.steps.find((f) => f.rate === rate && f.side === name);
        console.log(`${String(rate).padEnd(9)}|${cells(at('real'))} |${cells(at('yardstick'))}`);
      }
      const held = (name: 'real' | 'yardstick') =>
        `${steps!.lastHeld[name] ?? `none (not even ${STEP_START})`}${steps!.cappedAt[name] ? ` (still holding at the cap, BENCH_STEP_MAX_RATE ${STEP_MAX_RATE})` : ''}`;
      console.log(
        `Last rate that held (p99 <= ${STEP_P99_MS} ms, no call failed): real ${held('real')} calls/s, yardstick ${held('yardstick')} calls/s.`,
      );
    }
    console.log('');
    console.log(`Peak RSS of the server processes (VmHWM): real ${peakRss.real ?? '?'} MiB, yardstick ${peakRss.yardstick ?? '?'} MiB.`);
    console.log(
      `Same allocation for one invoice on both sides: ${sameAnswer ? 'yes' : 'NO'}. ` +
        `Real ledger audit: ${realAudit.length === 0 ? 'clean' : `${realAudit.length} problems`} (${realSummary.wallets} wallets, ${realSummary.transactions} transactions). ` +
        `Yardstick balances against its rows: ${ysAudit.problems.length === 0 ? 'clean' : `${ysAudit.problems.length} problems`} (${ysAudit.wallets} wallets, ${ysAudit.transactions} transactions).`,
    );
    for (const problem of realAudit.slice(0, 10)) console.log(`  real wallet ${problem.walletId}: ${problem.problem}`);
    for (const problem of ysAudit.problems.slice(0, 10)) console.log(`  yardstick ${problem}`);

    // Open-loop calls past their deadline measure a server that fell behind; any other failure is an error.
    const errors =
      rows.reduce((s, r) => s + r.real.errors + r.yardstick.errors, 0) +
      (open ? open.real.broken + open.yardstick.broken : 0) +
      (steps ? steps.steps.reduce((s, f) => s + f.broken, 0) : 0);
    failed = !sameAnswer || realAudit.length > 0 || ysAudit.problems.length > 0 || errors > 0;
    const results = {
      generatedAt: new Date().toISOString(),
      command: 'pnpm bench',
      machine: machineFacts(loadBefore, loadAfter),
      database: { source: db.source, ...db.settings },
      config: {
        callers: CALLERS,
        customers: CUSTOMERS,
        rounds: ROUNDS,
        roundCalls: ROUND_CALLS,
        warmUpCalls: WARM_UP_CALLS,
        openRate: OPEN_RATE,
        openSeconds: SKIP_OPEN ? null : OPEN_SECONDS,
        steps: SKIP_STEPS ? null : { start: STEP_START, step: STEP_RATE, seconds: STEP_SECONDS, p99LimitMs: STEP_P99_MS, maxRate: STEP_MAX_RATE },
        poolMax: POOL_MAX,
        seed: SEED,
        mix: { 'usage.sync': 0.4, 'wallets.get': 0.3, apply: 0.2, grant: 0.1 },
        invoice: invoiceFor('example', 'customer'),
        usage: usageFor('customer', 1),
        grantedCredits: GRANT_CREDITS,
      },
      rows,
      open,
      steps,
      peakRssMiB: peakRss,
      checks: {
        sameAllocation: { same: sameAnswer, real: shape(realFirst), yardstick: shape(ysFirst) },
        realLedgerAudit: { problems: realAudit.length, first: realAudit.slice(0, 20), summary: realSummary },
        yardstickAudit: { ...ysAudit, problems: ysAudit.problems.length, first: ysAudit.problems.slice(0, 20) },
        errors,
      },
    };
    fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${RESULTS_FILE}`);
  } finally {
    await yardstick?.stop().catch((error) => console.error('stopping the yardstick failed', error));
    await server?.stop().catch((error) => console.error('stopping the bench server failed', error));
    await database?.close();
  }
  if (failed) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
