/**
 * `pnpm --filter @wallets/api bench:finance`: the finance reads against the real server (its own
 * process, bench/support.ts) on a throw-away database seeded with set-based SQL (generate_series,
 * one statement per table, so seeding takes seconds, not hours of API calls):
 *
 * 1. wallets.balanceHistory, a year by day, over one wallet with 100,000 transactions (50,000 lots
 *    and 50,000 invoices, each with its consumption row). Target: under 100 ms.
 * 2. reports.credits for one month over organizations of 1,000 and 10,000 wallets (three months of
 *    history each: per wallet and month a granted and a purchased lot and three invoices). Target:
 *    under 1 s at 10,000, and the ratio between the two sizes at most 11. The calls of the two
 *    sizes alternate, so a change of the machine's load falls on both alike.
 * 3. GET /exports/wallet-transactions.csv of a wallet with 1,000,000 transactions, read to the end;
 *    after two small exports have warmed the server, the growth of its RSS during the export: the
 *    peak during it (Linux: clear_refs, VmHWM) minus the RSS just before. Target: under 50 MB.
 *
 * Each is measured FINANCE_BENCH_ROUNDS times (3); the summary at the end gives every figure's
 * spread over the rounds (min-max) beside its target, with the load average. Sizes:
 * FINANCE_BENCH_HISTORY (100000), FINANCE_BENCH_WALLETS (10000), FINANCE_BENCH_EXPORT_ROWS
 * (1000000). It prints its figures and asserts nothing about time.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import pg from 'pg';
import { ADMIN_TOKEN, benchLog, openBenchDatabase, ServerProcess, trpcCaller } from './support.js';

const HISTORY = Number(process.env.FINANCE_BENCH_HISTORY ?? 100_000);
const WALLETS = Number(process.env.FINANCE_BENCH_WALLETS ?? 10_000);
const EXPORT_ROWS = Number(process.env.FINANCE_BENCH_EXPORT_ROWS ?? 1_000_000);
const ROUNDS = Math.max(1, Number(process.env.FINANCE_BENCH_ROUNDS ?? 3) || 3);
const log = benchLog('finance');
/** FINANCE_BENCH_ONLY=export: the export alone (its seed takes most of the time). */
const ONLY_EXPORT = process.env.FINANCE_BENCH_ONLY === 'export';
/** FINANCE_BENCH_ONLY=reads: balance history and the report, no export. */
const ONLY_READS = process.env.FINANCE_BENCH_ONLY === 'reads';

const TX_COLUMNS = `id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source, credit_amount, amount_cents,
  remaining_credit_amount, remaining_amount_cents, settled_at, created_at`;

async function seedCustomerAndWallets(db: pg.Client, organizationId: string, prefix: string, wallets: number): Promise<void> {
  await db.query(
    `insert into customers (id, organization_id, external_id, currency, timezone, created_at, updated_at)
     select md5($2 || ':customer:' || i)::uuid, $1::uuid, $2 || '-' || i, 'EUR', 'Europe/Paris', '2026-01-01', '2026-01-01'
       from generate_series(1, $3::int) i`,
    [organizationId, prefix, wallets],
  );
  await db.query(
    `insert into wallets (id, organization_id, customer_id, code, currency, rate_amount, created_at, updated_at)
     select md5($2 || ':wallet:' || i)::uuid, $1::uuid, md5($2 || ':customer:' || i)::uuid, 'w', 'EUR', 1, '2026-01-01', '2026-01-01'
       from generate_series(1, $3::int) i`,
    [organizationId, prefix, wallets],
  );
}

/** One wallet, `n` transactions over 2025: lot i (100 cents, purchased or granted), then invoice i taking 50 from it. */
async function seedHistory(db: pg.Client, organizationId: string, n: number): Promise<string> {
  await seedCustomerAndWallets(db, organizationId, 'history', 1);
  const wallet = 'history:wallet:1';
  const customer = 'history:customer:1';
  const half = Math.floor(n / 2);
  const step = `(interval '365 days' / ${n})`;
  await db.query(
    `insert into wallet_transactions (${TX_COLUMNS})
     select md5($2 || ':lot:' || i)::uuid, $1::uuid, md5($2)::uuid, md5($3)::uuid, 'inbound', 'settled', case when i % 2 = 0 then 'purchased' else 'granted' end,
            'manual', 1, 100, 0.5, 50, t, t
       from generate_series(1, $4::int) i, lateral (select timestamptz '2025-01-01' + (2 * i - 1) * ${step} as t) x`,
    [organizationId, wallet, customer, half],
  );
  await db.query(
    `insert into wallet_transactions (${TX_COLUMNS})
     select md5($2 || ':out:' || i)::uuid, $1::uuid, md5($2)::uuid, md5($3)::uuid, 'outbound', 'settled', 'invoiced', 'manual', 0.5, 50, null, null, t, t
       from generate_series(1, $4::int) i, lateral (select timestamptz '2025-01-01' + (2 * i) * ${step} as t) x`,
    [organizationId, wallet, customer, half],
  );
  await db.query(
    `insert into wallet_transaction_consumptions (id, organization_id, inbound_wallet_transaction_id, outbound_wallet_transaction_id, credit_amount, amount_cents, created_at)
     select md5($2 || ':c:' || i)::uuid, $1::uuid, md5($2 || ':lot:' || i)::uuid, md5($2 || ':out:' || i)::uuid, 0.5, 50,
            timestamptz '2025-01-01' + (2 * i) * ${step}
       from generate_series(1, $3::int) i`,
    [organizationId, wallet, half],
  );
  await db.query(
    `update wallets set balance_cents = $2::bigint * 50, credits_balance = $2::bigint * 0.5, consumed_amount_cents = $2::bigint * 50,
            consumed_credits = $2::bigint * 0.5 where id = md5($1)::uuid`,
    [wallet, half],
  );
  return (await db.query<{ id: string }>('select md5($1)::uuid as id', [wallet])).rows[0]?.id ?? '';
}

/**
 * `wallets` wallets, three months (Oct-Dec 2026) each: a granted lot of 1,000 and a purchased lot
 * of 2,000 on the 1st, invoices of 500 and 500 (from the granted lot) and 700 (from the purchased).
 */
async function seedReport(db: pg.Client, organizationId: string, prefix: string, wallets: number): Promise<void> {
  await seedCustomerAndWallets(db, organizationId, prefix, wallets);
  const months = `generate_series(1, $3::int) w, generate_series(0, 2) m,
    lateral (select timestamptz '2026-10-01 08:00:00+00' + make_interval(months => m) + make_interval(secs => w % 86400) as t) x`;
  const key = (what: string) => `md5($2 || ':${what}:' || w || ':' || m)::uuid`;
  const wallet = `md5($2 || ':wallet:' || w)::uuid`;
  const customer = `md5($2 || ':customer:' || w)::uuid`;
  await db.query(
    `insert into wallet_transactions (${TX_COLUMNS})
     select ${key('g')}, $1::uuid, ${wallet}, ${customer}, 'inbound', 'settled', 'granted', 'manual', 10, 1000, 0, 0, t, t from ${months}
     union all
     select ${key('p')}, $1::uuid, ${wallet}, ${customer}, 'inbound', 'settled', 'purchased', 'manual', 20, 2000, 13, 1300, t, t from ${months}
     union all
     select ${key(`o${1}`)}, $1::uuid, ${wallet}, ${customer}, 'outbound', 'settled', 'invoiced', 'manual', 5, 500, null::numeric, null::bigint, null::timestamptz, t + interval '9 days' from ${months}
     union all
     select ${key(`o${2}`)}, $1::uuid, ${wallet}, ${customer}, 'outbound', 'settled', 'invoiced', 'manual', 5, 500, null::numeric, null::bigint, null::timestamptz, t + interval '14 days' from ${months}
     union all
     select ${key(`o${3}`)}, $1::uuid, ${wallet}, ${customer}, 'outbound', 'settled', 'invoiced', 'manual', 7, 700, null::numeric, null::bigint, null::timestamptz, t + interval '19 days' from ${months}`,
    [organizationId, prefix, wallets],
  );
  await db.query(
    `insert into wallet_transaction_consumptions (id, organization_id, inbound_wallet_transaction_id, outbound_wallet_transaction_id, credit_amount, amount_cents, created_at)
     select ${key('c1')}, $1::uuid, ${key('g')}, ${key('o1')}, 5, 500, t + interval '9 days' from ${months}
     union all select ${key('c2')}, $1::uuid, ${key('g')}, ${key('o2')}, 5, 500, t + interval '14 days' from ${months}
     union all select ${key('c3')}, $1::uuid, ${key('p')}, ${key('o3')}, 7, 700, t + interval '19 days' from ${months}`,
    [organizationId, prefix, wallets],
  );
  await db.query(
    `update wallets set balance_cents = 3900, credits_balance = 39, consumed_amount_cents = 5100, consumed_credits = 51
      where organization_id = $1`,
    [organizationId],
  );
}

/** One wallet of `n` granted lots of 1.00, one a second from 2024-01-01. */
async function seedExport(db: pg.Client, organizationId: string, n: number): Promise<string> {
  await seedCustomerAndWallets(db, organizationId, 'export', 1);
  await db.query(
    `insert into wallet_transactions (${TX_COLUMNS}, name, metadata)
     select gen_random_uuid(), $1::uuid, md5('export:wallet:1')::uuid, md5('export:customer:1')::uuid, 'inbound', 'settled', 'granted', 'manual',
            1, 100, 1, 100, t, t, 'Bonus, "welcome" ' || i, '[{"key": "batch", "value": "seed"}]'::jsonb
       from generate_series(1, $2::int) i, lateral (select timestamptz '2024-01-01' + make_interval(secs => i) as t) x`,
    [organizationId, n],
  );
  await db.query(
    `update wallets set balance_cents = $2::bigint * 100, credits_balance = $2 where id = md5('export:wallet:1')::uuid and organization_id = $1`,
    [organizationId, n],
  );
  return (await db.query<{ id: string }>(`select md5('export:wallet:1')::uuid as id`)).rows[0]?.id ?? '';
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function summary(samples: number[]): string {
  return `median ${quantile(samples, 0.5).toFixed(1)} ms, p90 ${quantile(samples, 0.9).toFixed(1)} ms, min ${quantile(samples, 0).toFixed(1)} ms (${samples.length} calls)`;
}

/** "12.3-45.6" over the rounds (or one figure). */
function spread(values: readonly number[], digits = 1): string {
  const low = Math.min(...values).toFixed(digits);
  const high = Math.max(...values).toFixed(digits);
  return low === high ? low : `${low}-${high}`;
}

async function warm(fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 2; i++) await fn(); // plans prepared, pages cached
}

async function repeat(times: number, fn: () => Promise<unknown>): Promise<number[]> {
  await warm(fn);
  const samples: number[] = [];
  for (let i = 0; i < times; i++) samples.push((await timed(fn)).ms);
  return samples;
}

/** Linux /proc/<pid>/status field in MiB. */
function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1]) / 1024;
}

/** Reads a response to its end, slowly enough that the server meets backpressure; counts CRLFs. */
function download(url: string, apiKey: string): Promise<{ status: number; bytes: number; records: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { authorization: `Bearer ${apiKey}` } }, (response) => {
        let bytes = 0;
        let records = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) records++;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, bytes, records }));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

async function main(): Promise<void> {
  log(
    `load average at start: ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(', ')}`,
  );
  const database = await openBenchDatabase('wallets_bench_finance', log);
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  const server = await ServerProcess.start(database.url);
  const admin = trpcCaller(server.url, ADMIN_TOKEN, { maxSockets: 2, timeoutMs: 600_000 });
  const tenant = async (name: string) => admin.mutate<{ organization: { id: string }; apiKey: string }>('admin.createOrganization', { name });
  try {
    const history = await tenant('history');
    const small = await tenant('report-small');
    const large = await tenant('report-large');
    const exporter = await tenant('export');
    const seeded = await timed(async () => {
      if (ONLY_EXPORT) return '';
      const walletId = await seedHistory(db, history.organization.id, HISTORY);
      await seedReport(db, small.organization.id, 'small', Math.round(WALLETS / 10));
      await seedReport(db, large.organization.id, 'large', WALLETS);
      return walletId;
    });
    const historyWallet = seeded.value;
    log(`seeded ${HISTORY} transactions in one wallet and ${WALLETS / 10} + ${WALLETS} wallets in ${(seeded.ms / 1000).toFixed(1)} s`);
    const exportSeed = await timed(() => seedExport(db, exporter.organization.id, ONLY_READS ? 1 : EXPORT_ROWS));
    log(`seeded ${EXPORT_ROWS} transactions for the export in ${(exportSeed.ms / 1000).toFixed(1)} s`);
    await db.query('vacuum analyze'); // as autovacuum would have: visibility maps let index-only scans skip the heap

    const figures = {
      history: [] as number[],
      historyP90: [] as number[],
      small: [] as number[],
      large: [] as number[],
      ratio: [] as number[],
      growth: [] as number[],
      load: [] as number[],
    };
    if (!ONLY_EXPORT) {
      const historyCaller = trpcCaller(server.url, history.apiKey, { maxSockets: 1, timeoutMs: 60_000 });
      const year = { id: historyWallet, from: new Date('2024-12-31T23:00:00Z'), to: new Date('2025-12-31T23:00:00Z'), interval: 'day' };
      const points = await historyCaller.query<{ points: { balanceCents: number }[] }>('wallets.balanceHistory', year);
      log(`wallets.balanceHistory, a year by day: ${points.points.length} points, last ${points.points.at(-1)?.balanceCents} cents`);
      const december = { currency: 'EUR', from: new Date('2026-11-30T23:00:00Z'), to: new Date('2026-12-31T23:00:00Z') };
      const sizes = [
        { label: `${WALLETS / 10} wallets`, caller: trpcCaller(server.url, small.apiKey, { maxSockets: 1, timeoutMs: 120_000 }) },
        { label: `${WALLETS} wallets`, caller: trpcCaller(server.url, large.apiKey, { maxSockets: 1, timeoutMs: 120_000 }) },
      ];
      for (const { label, caller } of sizes) {
        const report = await caller.query<{ closing: unknown; consumed: unknown }>('reports.credits', december);
        log(`reports.credits, December over ${label}: closing ${JSON.stringify(report.closing)}, consumed ${JSON.stringify(report.consumed)}`);
      }
      for (let round = 1; round <= ROUNDS; round++) {
        figures.load.push(os.loadavg()[0] ?? 0);
        // 1. A year by day over 100,000 transactions.
        const historySamples = await repeat(20, () => historyCaller.query('wallets.balanceHistory', year));
        figures.history.push(quantile(historySamples, 0.5));
        figures.historyP90.push(quantile(historySamples, 0.9));
        log(`round ${round}: wallets.balanceHistory, a year by day over ${HISTORY} transactions: ${summary(historySamples)}`);
        // The floor on this machine, now: one plain statement that only reads the wallet's rows once.
        const floor = await repeat(20, () =>
          db.query('select count(*), sum(amount_cents) from wallet_transactions where organization_id = $1 and wallet_id = $2', [
            history.organization.id,
            historyWallet,
          ]),
        );
        log(`round ${round}: floor, one plain scan of the wallet's ${HISTORY} rows (psql-like, no HTTP): ${summary(floor)}`);

        // 2. A month over 1,000 and 10,000 wallets, their calls alternating.
        const samples: number[][] = sizes.map(() => []);
        for (const { caller } of sizes) await warm(() => caller.query('reports.credits', december));
        for (let i = 0; i < 10; i++) {
          for (const [index, { caller }] of sizes.entries()) samples[index]?.push((await timed(() => caller.query('reports.credits', december))).ms);
        }
        const [smallSamples = [], largeSamples = []] = samples;
        figures.small.push(quantile(smallSamples, 0.5));
        figures.large.push(quantile(largeSamples, 0.5));
        figures.ratio.push(quantile(largeSamples, 0.5) / (quantile(smallSamples, 0.5) || 1));
        for (const [index, { label }] of sizes.entries())
          log(`round ${round}: reports.credits, December over ${label}: ${summary(samples[index] ?? [])}`);
        log(`round ${round}: reports.credits growth ratio (10x the wallets, medians): ${figures.ratio.at(-1)?.toFixed(2)}`);
      }
      for (const { caller } of sizes) caller.close();
      historyCaller.close();
    }

    // 3. Exports: after two small ones have warmed the server (code compiled, pools and buffers at
    // their working size), 100,000 rows once and all the rows ROUNDS times, each measured from the
    // RSS just before it: constant memory means the growth does not follow the number of rows.
    const pid = server.child.pid as number;
    const exportUrl = (rows: number) =>
      `${server.url}/exports/wallet-transactions.csv?walletId=${exportSeed.value}&to=${encodeURIComponent(new Date(Date.parse('2024-01-01T00:00:00Z') + rows * 1_000).toISOString())}`;
    if (!ONLY_READS) {
      for (let i = 0; i < 2; i++) await download(exportUrl(20_000), exporter.apiKey);
      const sizes = [100_000, ...Array.from({ length: ROUNDS }, () => EXPORT_ROWS)];
      for (const [index, rows] of sizes.entries()) {
        const rssBefore = statusMiB(pid, 'VmRSS');
        fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
        const exported = await timed(() => download(exportUrl(rows), exporter.apiKey));
        const peak = statusMiB(pid, 'VmHWM');
        if (index > 0) figures.growth.push(peak - rssBefore);
        log(
          `export of ${exported.value.records - 1} rows (${(exported.value.bytes / 1024 / 1024).toFixed(1)} MiB, HTTP ${exported.value.status}) in ` +
            `${(exported.ms / 1000).toFixed(1)} s (${Math.round((exported.value.records - 1) / (exported.ms / 1000))} rows/s); server RSS before ${rssBefore.toFixed(1)} MiB, ` +
            `peak during ${peak.toFixed(1)} MiB: growth ${(peak - rssBefore).toFixed(1)} MiB`,
        );
      }
    }

    const verdict = (ok: boolean) => (ok ? 'meets' : 'MISSES');
    log(`summary over ${ROUNDS} rounds (min-max; load average ${spread(figures.load, 2)}):`);
    if (figures.history.length > 0) {
      log(
        `  wallets.balanceHistory, a year by day, ${HISTORY} transactions: median ${spread(figures.history)} ms, p90 ${spread(figures.historyP90)} ms ` +
          `(target < 100 ms: ${verdict(Math.max(...figures.historyP90) < 100)} at p90)`,
      );
      log(
        `  reports.credits, a month: ${WALLETS / 10} wallets median ${spread(figures.small)} ms, ${WALLETS} wallets median ${spread(figures.large)} ms ` +
          `(target < 1000 ms: ${verdict(Math.max(...figures.large) < 1000)})`,
      );
      log(
        `  reports.credits growth ratio (10x the wallets): ${spread(figures.ratio, 2)} (target <= 11: ${verdict(Math.max(...figures.ratio) <= 11)})`,
      );
    }
    if (figures.growth.length > 0) {
      log(
        `  export of ${EXPORT_ROWS} rows, server RSS growth: ${spread(figures.growth)} MiB ` +
          `(target < 50 MB = 47.7 MiB: ${verdict(Math.max(...figures.growth) < 50e6 / 2 ** 20)})`,
      );
    }
  } finally {
    admin.close();
    await server.stop();
    await db.end();
    if (process.env.FINANCE_BENCH_KEEP) log(`kept ${database.url}`);
    else await database.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
