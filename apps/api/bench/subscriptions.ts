/**
 * `pnpm bench:subscriptions`: what idle live-event streams cost. The real server in its own process
 * (bench/server.ts) on a fresh database; three organizations open BENCH_STREAMS_PER_ORG [500]
 * `events.onEvent` streams each (EventSource over SSE, the typed client's link), then nothing
 * happens for BENCH_IDLE_SECONDS [10]: the database's committed and rolled-back transactions per
 * second over that window (pg_stat_database of the bench database, so other databases' work does
 * not count) and the server's RSS. Then one grant per organization: how long until every stream
 * has its events (the fan-out). Prints the figures; no assertion.
 */
import fs from 'node:fs';
import pg from 'pg';
import { createWalletClient } from '../src/client/index.js';
import { ADMIN_TOKEN, benchLog, openBenchDatabase, ServerProcess } from './support.js';

const PER_ORG = Number(process.env.BENCH_STREAMS_PER_ORG ?? 500);
const ORGS = 3;
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10);

function rssMiB(pid: number | undefined): { rss: number | null; hwm: number | null } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => {
      const kib = Number(
        status
          .split('\n')
          .find((l) => l.startsWith(`${name}:`))
          ?.split(/\s+/)[1],
      );
      return Number.isFinite(kib) ? Math.round((kib / 1024) * 10) / 10 : null;
    };
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return { rss: null, hwm: null };
  }
}

async function transactions(pool: pg.Pool, name: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('select (xact_commit + xact_rollback)::text as n from pg_stat_database where datname = $1', [
    name,
  ]);
  return Number(rows[0]?.n ?? 0);
}

async function main(): Promise<void> {
  const log = benchLog('subs');
  const database = await openBenchDatabase('wallets_bench_subs', log);
  const server = await ServerProcess.start(database.url);
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  const streams: { unsubscribe(): void }[] = [];
  try {
    const admin = createWalletClient({ url: server.url, apiKey: ADMIN_TOKEN });
    const orgs: { walletId: string; client: ReturnType<typeof createWalletClient> }[] = [];
    const counts: number[] = [];
    for (let o = 0; o < ORGS; o++) {
      const { apiKey } = await admin.admin.createOrganization.mutate({ name: `subs-${o}` });
      const client = createWalletClient({ url: server.url, apiKey });
      await client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
      const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1' });
      orgs.push({ walletId: wallet.id, client });
    }
    const rssBefore = rssMiB(server.child.pid);
    const memoryBefore = (await server.stats()).memory;
    for (const [o, org] of orgs.entries()) {
      for (let i = 0; i < PER_ORG; i++) {
        const index = counts.length;
        counts.push(0);
        streams.push(org.client.events.onEvent.subscribe({ startAt: 'now' }, { onData: () => counts[index]!++, onError: () => undefined }));
        if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      log(`organization ${o}: ${PER_ORG} streams opening`);
    }
    // Let them all connect (each one's first read), then measure an idle window.
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const start = await transactions(pool, database.name);
    const statementsBefore = (await server.stats()).statements;
    await server.request<'ok'>('capture-start');
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
    const end = await transactions(pool, database.name);
    const captured = (await server.request<'captured'>('capture-stop')).statements;
    const statements = (await server.stats()).statements - statementsBefore;
    const texts = new Map<string, number>();
    for (const s of captured) texts.set(s.text.slice(0, 80), (texts.get(s.text.slice(0, 80)) ?? 0) + 1);
    const seconds = (performance.now() - started) / 1000;
    const idleRate = (end - start - 1) / seconds;
    const rss = rssMiB(server.child.pid);
    const memory = (await server.stats()).memory;
    // The fan-out: one grant per organization, every stream gets its events.
    const fanStarted = performance.now();
    for (const org of orgs) await org.client.walletTransactions.create.mutate({ walletId: org.walletId, grantedCredits: '1' });
    for (;;) {
      if (counts.every((n) => n >= 1)) break;
      if (performance.now() - fanStarted > 30_000) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const fanMs = Math.round(performance.now() - fanStarted);
    console.log('');
    console.log(`${ORGS * PER_ORG} idle event streams (${ORGS} organizations of ${PER_ORG}), ${IDLE_SECONDS} s idle window:`);
    console.log(`  database transactions/s while idle: ${idleRate.toFixed(1)}; the server's statements: ${statements}`);
    for (const [text, n] of [...texts].sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`    ${n} x ${text}`);
    console.log(`  server RSS: ${rssBefore.rss} MiB before the streams, ${rss.rss} MiB with them (peak ${rss.hwm} MiB)`);
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    for (const field of ['heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const) {
      console.log(`    ${field}: ${mib(memoryBefore[field])} MiB before, ${mib(memory[field])} MiB with them`);
    }
    console.log(
      `  one grant per organization reached ${counts.filter((n) => n >= 1).length} of ${counts.length} streams in ${fanMs} ms (writes included)`,
    );
  } finally {
    for (const stream of streams) stream.unsubscribe();
    await pool.end();
    await server.stop().catch(() => undefined);
    await database.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
