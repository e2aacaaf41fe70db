/**
 * `pnpm bench:processes`: one against two HTTP processes (WALLET_HTTP_WORKERS) of the real server
 * (`node src/main.ts`, jobs off) on the same fresh database, side by side: BENCH_CALLERS [32]
 * keep-alive callers for BENCH_SECONDS [10] per side, calling `wallets.get` and a grant top-up
 * (walletTransactions.create; BENCH_GRANT_SHARE [0.5] of the calls) on 32 customers' wallets, from a child process.
 * Prints calls/s, p50/p99 and the resident memory of the server's processes (summed) per side. No assertion.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { createWalletClient } from '../src/client/index.js';
import { ADMIN_TOKEN, benchLog, openBenchDatabase } from './support.js';

const CALLERS = Number(process.env.BENCH_CALLERS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** Share of grant top-ups among the calls, 0 to 1 [0.5]; the rest are wallets.get. */
const GRANTS = Number(process.env.BENCH_GRANT_SHARE ?? 0.5);
const apiRoot = fileURLToPath(new URL('..', import.meta.url));

interface Job {
  url: string;
  apiKey: string;
  walletIds: string[];
  seconds: number;
}

async function drive(job: Job): Promise<{ calls: number; errors: number; latencies: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CALLERS });
  const deadline = performance.now() + job.seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const call = (i: number) =>
    new Promise<void>((resolve) => {
      const walletId = job.walletIds[i % job.walletIds.length];
      const grant = (i * 0.618034) % 1 < GRANTS;
      const body = JSON.stringify({ json: { walletId, grantedCredits: '1' } });
      const path = grant
        ? '/trpc/walletTransactions.create'
        : `/trpc/wallets.get?input=${encodeURIComponent(JSON.stringify({ json: { id: walletId } }))}`;
      const started = performance.now();
      const req = http.request(
        `${job.url}${path}`,
        {
          agent,
          method: grant ? 'POST' : 'GET',
          headers: { authorization: `Bearer ${job.apiKey}`, ...(grant ? { 'content-type': 'application/json' } : {}) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) errors++;
            latencies.push(performance.now() - started);
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(grant ? body : undefined);
    });
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < deadline) await call(n++);
    }),
  );
  agent.destroy();
  return { calls: latencies.length, errors, latencies };
}

/** Linux: resident memory (VmRSS) of a process and its children, summed, in MiB; null where /proc is missing. */
function treeRssMiB(root: number | undefined): number | null {
  try {
    const children = fs
      .readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === root;
        } catch {
          return false;
        }
      });
    const kib = [String(root), ...children].reduce((sum, pid) => {
      const line = fs
        .readFileSync(`/proc/${pid}/status`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('VmRSS:'));
      return sum + Number(line?.split(/\s+/)[1] ?? 0);
    }, 0);
    return Math.round(kib / 102.4) / 10;
  } catch {
    return null;
  }
}

if (process.argv[2] === 'child') {
  process.on('message', async (job: Job) => {
    process.send?.(await drive(job));
  });
} else {
  const log = benchLog('procs');
  const database = await openBenchDatabase('wallets_bench_procs', log);
  const rows: string[] = [];
  try {
    for (const workers of [1, 2]) {
      const port = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = s.address() as net.AddressInfo;
          s.close(() => resolve(port));
        });
      });
      const server: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: apiRoot,
        env: {
          ...process.env,
          DATABASE_URL: database.url,
          PORT: String(port),
          HOST: '127.0.0.1',
          WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
          WALLET_WORKER_CONCURRENCY: '0',
          WALLET_HTTP_WORKERS: String(workers),
          LOG_LEVEL: 'warn',
        },
        stdio: 'ignore',
      });
      const url = `http://127.0.0.1:${port}`;
      for (;;) {
        try {
          if ((await fetch(`${url}/health`)).ok) break;
        } catch {
          // not yet
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // Both HTTP processes up: a few more health checks reach each.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const admin = createWalletClient({ url, apiKey: ADMIN_TOKEN });
      const { apiKey } = await admin.admin.createOrganization.mutate({ name: `procs-${workers}` });
      const client = createWalletClient({ url, apiKey });
      const walletIds: string[] = [];
      for (let i = 0; i < 32; i++) {
        await client.customers.upsert.mutate({ externalId: `cus_${i}`, currency: 'EUR' });
        walletIds.push((await client.wallets.create.mutate({ externalCustomerId: `cus_${i}`, rateAmount: '1' })).id);
      }
      const child = fork(fileURLToPath(import.meta.url), ['child'], { execArgv: ['--import', 'tsx'] });
      const run = (seconds: number) =>
        new Promise<{ calls: number; errors: number; latencies: number[] }>((resolve) => {
          child.once('message', resolve);
          child.send({ url, apiKey, walletIds, seconds } satisfies Job);
        });
      await run(2);
      const result = await run(SECONDS);
      child.kill();
      const sorted = result.latencies.sort((a, b) => a - b);
      const pct = (p: number) => (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(1);
      rows.push(
        `${workers} HTTP process${workers > 1 ? 'es' : ''}: ${(result.calls / SECONDS).toFixed(0)} calls/s, p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, errors ${result.errors}; ` +
          `RSS of the server's processes after the run ${treeRssMiB(server.pid) ?? '?'} MiB`,
      );
      log(rows.at(-1) as string);
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
  } finally {
    await database.close();
  }
  console.log(`\nwallets.get and grant top-ups (${GRANTS * 100}% grants), ${CALLERS} callers, ${SECONDS} s per side:`);
  for (const row of rows) console.log(`  ${row}`);
}
