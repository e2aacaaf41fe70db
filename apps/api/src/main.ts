/**
 * `pnpm start`: runs the API and its job worker until SIGTERM or SIGINT, then drains: no new
 * connections, every request already received answered (within WALLET_SHUTDOWN_GRACE_MS), running
 * jobs finished, then exit. A second signal exits at once.
 *
 * With WALLET_HTTP_WORKERS above 1 (node:cluster): this first process migrates, creates the first
 * organization (printing its key once), runs the one set of job workers and forks the HTTP
 * processes, which share the port; it sizes their pools so that all of them stay within
 * PostgreSQL's max_connections, restarts one that dies, and on SIGTERM drains them, then its jobs.
 */
import cluster from 'node:cluster';
import { type RunningApp, startApp } from './app.js';
import { type Env, readEnv } from './env.js';

const env = readEnv();

function onSignals(stop: (signal: string) => Promise<{ cut: number }>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) {
        // In an HTTP process of a cluster a terminal's signal and the first process's SIGTERM both arrive: one drain.
        if (cluster.isWorker) return;
        console.log(`${signal} received again, exiting now`);
        process.exit(1);
      }
      stopping = true;
      console.log(`${signal} received, stopping (draining for up to ${env.WALLET_SHUTDOWN_GRACE_MS} ms)`);
      stop(signal).then(
        ({ cut }) => {
          console.log(cut > 0 ? `stopped; ${cut} request(s) unanswered after the grace period were cut` : 'stopped');
          process.exit(0);
        },
        (error) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
}

/** Connections per process: WALLET_DB_POOL_MAX, lowered so that every process's pool and listener fit in max_connections. */
async function poolPerProcess(app: RunningApp, workers: number): Promise<number> {
  const rows: { max: string; used: string; reserved: string }[] = await app.orm.em.getConnection().execute(
    `select current_setting('max_connections') as max, current_setting('superuser_reserved_connections') as reserved,
              (select count(*) from pg_stat_activity)::text as used`,
  );
  const row = rows[0];
  const free = Number(row?.max ?? 100) - Number(row?.reserved ?? 3) - Number(row?.used ?? 0);
  // Each HTTP process: its pool and one LISTEN connection; a margin of 5 for whatever else connects.
  const share = Math.floor((free - 5) / workers) - 1;
  return Math.max(2, Math.min(env.WALLET_DB_POOL_MAX, share));
}

async function runCluster(workers: number): Promise<void> {
  // No HTTP here; a small pool for the jobs and the startup work.
  const app = await startApp({ ...env, WALLET_DB_POOL_MAX: Math.min(env.WALLET_DB_POOL_MAX, env.WALLET_WORKER_CONCURRENCY + 2) } as Env, {
    http: false,
  });
  const pool = await poolPerProcess(app, workers);
  const workerEnv = {
    DATABASE_URL: app.databaseUrl,
    WALLET_WORKER_CONCURRENCY: '0',
    WALLET_DB_POOL_MAX: String(pool),
    WALLET_HTTP_WORKERS: '1',
    ...(app.dataRoot ? { WALLET_CLUSTER_DATA_ROOT: app.dataRoot } : {}),
  };
  let stopping = false;
  const fork = () => cluster.fork(workerEnv);
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    console.error(`HTTP process ${worker.process.pid} exited (${signal ?? code}); starting another`);
    fork();
  });
  for (let i = 0; i < workers; i++) fork();
  console.log(`${workers} HTTP processes, ${pool} database connections each; jobs in this process (${process.pid})`);
  onSignals(async () => {
    stopping = true;
    const running = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(
      running.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGTERM');
          }),
      ),
    );
    return app.drain(env.WALLET_SHUTDOWN_GRACE_MS);
  });
}

if (env.WALLET_HTTP_WORKERS > 1 && cluster.isPrimary) {
  await runCluster(env.WALLET_HTTP_WORKERS);
} else {
  const app = await startApp(env);
  // An HTTP process of a cluster: the first process sends SIGTERM; a terminal's SIGINT reaches the whole group.
  onSignals(() => app.drain(env.WALLET_SHUTDOWN_GRACE_MS));
}
