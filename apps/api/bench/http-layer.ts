/**
 * `pnpm bench:http`: the HTTP layer alone, no database work: this process serves (createServer with
 * a real ORM, but the calls below never reach it) while a child process calls it with 32 keep-alive
 * callers. Per path: calls/s and this process's CPU per call. Paths: GET /health (the framework),
 * `wallets.get` without a key (tRPC's adapter, context, middleware, error formatting, superjson)
 * a batch of 2 such calls, and `wallets.get` with a key (auth from the cache, one statement). Knobs: BENCH_HTTP_CALLS [20000], BENCH_CALLERS [32].
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const CALLS = Number(process.env.BENCH_HTTP_CALLS ?? 20_000);
const CALLERS = Number(process.env.BENCH_CALLERS ?? 32);

const PATHS: Record<string, string> = {
  health: '/health',
  'wallets.get (no key)': `/trpc/wallets.get?input=${encodeURIComponent(JSON.stringify({ json: { id: 'wal_x' } }))}`,
  'batch of 2 (no key)': `/trpc/wallets.get,wallets.get?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { json: { id: 'a' } }, 1: { json: { id: 'b' } } }))}`,
};

async function caller(url: string, path: string, calls: number, apiKey: string | null): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CALLERS });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next++ < calls) {
        await new Promise<void>((resolve, reject) => {
          http
            .get(`${url}${path}`, { agent, headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} }, (res) => {
              res.resume();
              res.on('end', resolve);
            })
            .on('error', reject);
        });
      }
    }),
  );
  agent.destroy();
  return performance.now() - started;
}

if (process.argv[2] === 'child') {
  process.on('message', async (message: { url: string; path: string; calls: number; apiKey: string | null }) => {
    const ms = await caller(message.url, message.path, message.calls, message.apiKey);
    process.send?.({ ms });
  });
} else {
  const { startApp } = await import('../src/app.js');
  const { readEnv } = await import('../src/env.js');
  const { openBenchDatabase } = await import('./support.js');
  const database = await openBenchDatabase('wallets_bench_http', () => undefined);
  const app = await startApp(
    readEnv({
      DATABASE_URL: database.url,
      PORT: '0',
      HOST: '127.0.0.1',
      WALLET_WORKER_CONCURRENCY: '0',
      LOG_LEVEL: 'warn',
      WALLET_ADMIN_TOKEN: 'http-layer-admin-token-0123',
    }),
    { log: () => undefined, consoleDir: null },
  );
  // An authenticated wallets.get too (one statement behind it).
  const { createWalletClient } = await import('../src/client/index.js');
  const admin = createWalletClient({ url: app.url, apiKey: 'http-layer-admin-token-0123' });
  const { apiKey } = await admin.admin.createOrganization.mutate({ name: 'http-layer' });
  const client = createWalletClient({ url: app.url, apiKey });
  await client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
  const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '10' });
  PATHS['wallets.get (key)'] = `/trpc/wallets.get?input=${encodeURIComponent(JSON.stringify({ json: { id: wallet.id } }))}`;
  const child = fork(fileURLToPath(import.meta.url), ['child'], { execArgv: ['--import', 'tsx'] });
  const run = (path: string, calls: number) =>
    new Promise<number>((resolve) => {
      child.once('message', (reply: { ms: number }) => resolve(reply.ms));
      child.send({ url: app.url, path, calls, apiKey: path.includes(wallet.id) ? apiKey : null });
    });
  for (const [name, path] of Object.entries(PATHS)) {
    await run(path, Math.min(2000, CALLS));
    const cpu = process.cpuUsage();
    const ms = await run(path, CALLS);
    const used = process.cpuUsage(cpu);
    console.log(
      `${name.padEnd(22)} ${((CALLS / ms) * 1000).toFixed(0).padStart(7)} calls/s, server CPU ${((used.user + used.system) / 1000 / CALLS).toFixed(3)} ms/call`,
    );
  }
  child.kill();
  await app.stop();
  await database.close();
}
