/**
 * `pnpm --filter @wallets/api bench:load`: a mixed workload over HTTP against
 * the real server (startApp, in a process of its own, see server.ts) from 32 concurrent callers,
 * for a fixed number of requests: grants, paid top-ups and their payments, manual voids, invoice
 * applications and voids, usage syncs, wallet terminations, reads (wallet, transactions, events).
 * Reports throughput, p50/p99 per procedure, errors, and the server process's peak resident memory
 * (VmHWM of /proc/<pid>/status); then runs the ledger audit over the whole database. Writes every
 * figure to bench-results-load.json at the repository root.
 *
 * Database: DATABASE_URL's server when set (a fresh database, dropped at the end), otherwise a
 * throw-away embedded PostgreSQL in a temporary folder (fsync off, as for the tests). Not a test:
 * no time is asserted; the run fails only when a request errs or the audit finds a problem.
 *
 * Knobs (optional): BENCH_LOAD_REQUESTS (default 4000), BENCH_LOAD_SEED, BENCH_POOL_MAX (default 10).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { auditLedger, ledgerSummary, seededRandom } from '@wallets/db/testing';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { repositoryRoot } from '../src/env.js';
import { ADMIN_TOKEN, type BenchDatabase, benchLog, machineFacts, openBenchDatabase, POOL_MAX, ServerProcess } from './support.js';

const REQUESTS = Math.max(64, Number(process.env.BENCH_LOAD_REQUESTS ?? 4000) || 4000);
const SEED = Number(process.env.BENCH_LOAD_SEED ?? 20261125);
const CALLERS = 32;
const CUSTOMERS = 64;
const TERMINABLE = 40;
const CALL_TIMEOUT_MS = 60_000;
const RESULTS_FILE = path.join(repositoryRoot, 'bench-results-load.json');

// ---------------------------------------------------------------------------------------------
// The workload.

interface State {
  client: WalletClient;
  random: () => number;
  customers: { externalId: string; walletId: string }[];
  terminable: string[];
  pendingPurchases: string[];
  appliedInvoices: string[];
  seq: number;
}

type Call = { procedure: string; send: () => Promise<unknown> };

const signal = () => ({ signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });

/** The next request: a procedure drawn by weight, its input from the state so far. */
function nextCall(state: State): Call {
  const { client, random } = state;
  const n = ++state.seq;
  const customer = state.customers[Math.floor(random() * state.customers.length)] as State['customers'][number];
  const credits = String(1 + Math.floor(random() * 50));
  const roll = random();
  if (roll < 0.15) {
    return {
      procedure: 'walletTransactions.create (grant)',
      send: () =>
        client.walletTransactions.create.mutate({ walletId: customer.walletId, grantedCredits: credits, idempotencyKey: `g-${n}` }, signal()),
    };
  }
  if (roll < 0.25 || (roll < 0.33 && state.pendingPurchases.length === 0)) {
    return {
      procedure: 'walletTransactions.create (paid)',
      send: async () => {
        const { transactions } = await client.walletTransactions.create.mutate(
          { walletId: customer.walletId, paidCredits: credits, idempotencyKey: `p-${n}` },
          signal(),
        );
        if (transactions[0]) state.pendingPurchases.push(transactions[0].id);
      },
    };
  }
  if (roll < 0.33) {
    const id = state.pendingPurchases.shift() as string;
    const status = random() < 0.85 ? 'succeeded' : 'failed';
    return {
      procedure: 'walletTransactions.recordPayment',
      send: () => client.walletTransactions.recordPayment.mutate({ id, status, idempotencyKey: `pay-${id}` }, signal()),
    };
  }
  if (roll < 0.38) {
    return {
      procedure: 'walletTransactions.create (void)',
      send: () => client.walletTransactions.create.mutate({ walletId: customer.walletId, voidedCredits: '1', idempotencyKey: `v-${n}` }, signal()),
    };
  }
  if (roll < 0.6 || (roll < 0.64 && state.appliedInvoices.length === 0)) {
    const invoiceId = `inv-${n}`;
    const cents = 100 + Math.floor(random() * 4900);
    return {
      procedure: 'invoices.applyPrepaidCredits',
      send: async () => {
        await client.invoices.applyPrepaidCredits.mutate(
          {
            invoice: {
              id: invoiceId,
              externalCustomerId: customer.externalId,
              currency: 'EUR',
              invoiceType: 'subscription',
              totalAmountCents: cents + Math.floor(cents / 5),
              fees: [{ id: `${invoiceId}-sub`, feeType: 'subscription', amountCents: cents, taxesAmountCents: String(Math.floor(cents / 5)) }],
            },
          },
          signal(),
        );
        state.appliedInvoices.push(invoiceId);
      },
    };
  }
  if (roll < 0.64) {
    const invoiceId = state.appliedInvoices.splice(Math.floor(random() * state.appliedInvoices.length), 1)[0] as string;
    return { procedure: 'invoices.void', send: () => client.invoices.void.mutate({ invoiceId, idempotencyKey: `void-${invoiceId}` }, signal()) };
  }
  if (roll < 0.74) {
    const cents = String(Math.floor(random() * 100_000) / 1000);
    return {
      procedure: 'usage.sync',
      send: () =>
        client.usage.sync.mutate(
          {
            externalCustomerId: customer.externalId,
            currency: 'EUR',
            fees: [{ feeType: 'charge', billableMetricCode: 'api_calls', amountCents: cents }],
          },
          signal(),
        ),
    };
  }
  if (roll < 0.75 && state.terminable.length > 0) {
    const id = state.terminable.pop() as string;
    return { procedure: 'wallets.terminate', send: () => client.wallets.terminate.mutate({ id, idempotencyKey: `t-${id}` }, signal()) };
  }
  if (roll < 0.87) return { procedure: 'wallets.get', send: () => client.wallets.get.query({ id: customer.walletId }, signal()) };
  if (roll < 0.94) {
    return {
      procedure: 'walletTransactions.list',
      send: () => client.walletTransactions.list.query({ walletId: customer.walletId, limit: 20 }, signal()),
    };
  }
  return { procedure: 'events.list', send: () => client.events.list.query({ limit: 50 }, signal()) };
}

interface Sample {
  procedure: string;
  ms: number;
  error: string | null;
}

async function runLoad(state: State): Promise<{ samples: Sample[]; seconds: number }> {
  const samples: Sample[] = [];
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (issued < REQUESTS) {
        issued++;
        const call = nextCall(state);
        const t0 = performance.now();
        let error: string | null = null;
        try {
          await call.send();
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
        }
        samples.push({ procedure: call.procedure, ms: performance.now() - t0, error });
      }
    }),
  );
  return { samples, seconds: (performance.now() - started) / 1000 };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function summarise(samples: Sample[]) {
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return {
    requests: samples.length,
    errors: samples.filter((s) => s.error !== null).length,
    p50Ms: round(percentile(sorted, 0.5), 2),
    p99Ms: round(percentile(sorted, 0.99), 2),
    maxMs: round(sorted[sorted.length - 1] ?? Number.NaN, 2),
  };
}

async function seed(client: WalletClient): Promise<Pick<State, 'customers' | 'terminable'>> {
  const customers: State['customers'] = [];
  const terminable: string[] = [];
  const ids = Array.from({ length: CUSTOMERS }, (_, i) => i);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = ids.shift(); i !== undefined; i = ids.shift()) {
        const externalId = `load-c${i}`;
        await client.customers.upsert.mutate({ externalId, currency: 'EUR' });
        const wallet = await client.wallets.create.mutate({
          externalCustomerId: externalId,
          rateAmount: '1',
          priority: 1,
          grantedCredits: '100000000',
        });
        customers.push({ externalId, walletId: wallet.id });
        if (i < TERMINABLE) {
          const spare = await client.wallets.create.mutate({
            externalCustomerId: externalId,
            code: 'spare',
            rateAmount: '1',
            priority: 2,
            grantedCredits: '10',
          });
          terminable.push(spare.id);
        }
      }
    }),
  );
  customers.sort((a, b) => a.externalId.localeCompare(b.externalId));
  terminable.sort();
  return { customers, terminable };
}

async function main(): Promise<void> {
  const log = benchLog('bench:load');
  let database: BenchDatabase | null = null;
  let server: ServerProcess | null = null;
  let failed = false;
  try {
    database = await openBenchDatabase('wallets_bench_load', log);
    const databaseUrl = database.url;
    server = await ServerProcess.start(databaseUrl);
    log(`server (pid ${server.child.pid}) at ${server.url}, WALLET_DB_POOL_MAX=${POOL_MAX}`);
    const admin = createWalletClient({ url: server.url, apiKey: ADMIN_TOKEN });
    const { apiKey } = await admin.admin.createOrganization.mutate({ name: 'bench load' });
    const client = createWalletClient({ url: server.url, apiKey });
    const seeded = await seed(client);
    const rssAfterSeed = server.peakRssMiB();
    log(
      `seeded ${seeded.customers.length} customers (${seeded.terminable.length} with a spare wallet to terminate); server peak RSS ${rssAfterSeed} MiB`,
    );

    const state: State = { client, random: seededRandom(SEED), ...seeded, pendingPurchases: [], appliedInvoices: [], seq: 0 };
    const loadBefore = os.loadavg();
    const { samples, seconds } = await runLoad(state);
    const peakRss = server.peakRssMiB();
    const loadAfter = os.loadavg();
    const procedures = [...new Set(samples.map((s) => s.procedure))].sort();
    const perProcedure = Object.fromEntries(procedures.map((p) => [p, summarise(samples.filter((s) => s.procedure === p))]));
    const total = { ...summarise(samples), seconds: round(seconds, 2), requestsPerSecond: round(samples.length / seconds) };
    const firstError = samples.find((s) => s.error !== null);
    const problems = await auditLedger(databaseUrl);
    const summary = await ledgerSummary(databaseUrl);

    const pad = (value: string | number, width: number) => String(value).padStart(width);
    console.log('');
    console.log(
      `Mixed load: ${samples.length} requests from ${CALLERS} callers over ${CUSTOMERS} customers, seed ${SEED}, pool ${POOL_MAX}, ` +
        `${os.cpus().length} cores, Node ${process.version}, PostgreSQL ${database.source === 'DATABASE_URL' ? 'of DATABASE_URL' : 'embedded (fsync off)'}`,
    );
    console.log(`Machine load average (1 min) at start ${loadBefore[0]?.toFixed(1)}, at end ${loadAfter[0]?.toFixed(1)}.`);
    console.log('');
    console.log(`${'procedure'.padEnd(36)}${pad('requests', 9)}${pad('errors', 8)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}`);
    for (const [procedure, f] of [...Object.entries(perProcedure), ['all', total] as const]) {
      console.log(`${procedure.padEnd(36)}${pad(f.requests, 9)}${pad(f.errors, 8)}${pad(f.p50Ms, 9)}${pad(f.p99Ms, 9)}${pad(f.maxMs, 9)}`);
    }
    console.log('');
    console.log(
      `Throughput: ${total.requestsPerSecond} requests/s (${total.seconds} s). Server peak RSS: ${peakRss ?? '?'} MiB (after seeding ${rssAfterSeed ?? '?'} MiB).`,
    );
    console.log(
      `Ledger audit afterwards: ${problems.length === 0 ? 'clean' : `${problems.length} problems`} (${summary.wallets} wallets, ${summary.transactions} transactions, ${summary.events} events).`,
    );
    if (firstError) console.log(`First error (${firstError.procedure}): ${firstError.error}`);
    for (const problem of problems.slice(0, 20)) console.log(`  wallet ${problem.walletId}: ${problem.problem}`);

    const results = {
      generatedAt: new Date().toISOString(),
      command: 'pnpm --filter @wallets/api bench:load',
      machine: machineFacts(loadBefore, loadAfter),
      database: database.source,
      config: { requests: REQUESTS, callers: CALLERS, customers: CUSTOMERS, seed: SEED, poolMax: POOL_MAX },
      total,
      perProcedure,
      serverPeakRssMiB: peakRss,
      serverPeakRssAfterSeedMiB: rssAfterSeed,
      audit: { problems: problems.length, firstProblems: problems.slice(0, 20), summary },
      firstError: firstError ? { procedure: firstError.procedure, error: firstError.error } : null,
    };
    fs.writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${RESULTS_FILE}`);
    failed = problems.length > 0 || total.errors > 0;
  } finally {
    await server?.stop().catch((error) => console.error('stopping the bench server failed', error));
    await database?.close();
  }
  if (failed) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
