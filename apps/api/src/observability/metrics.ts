/**
 * `GET /metrics` (Prometheus text, admin token): requests and their latency per procedure and
 * outcome, the database pool, the job queue, webhook deliveries, the outbox position, and Node's
 * process metrics. Database figures are read when scraped (one statement); if the database does not
 * answer, they are left out and the rest is still served.
 */
import type { Orm } from '@wallets/db';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type Outcome = 'ok' | 'client_error' | 'server_error';

export interface Metrics {
  registry: Registry;
  observeRequest(procedure: string, status: number, seconds: number): void;
}

interface KnexPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

function knexPool(orm: Orm): KnexPool | null {
  try {
    const knex = (orm.em.getConnection() as unknown as { getKnex(): { client: { pool?: KnexPool } } }).getKnex();
    return knex.client.pool ?? null;
  } catch {
    return null;
  }
}

const outcomeOf = (status: number): Outcome => (status >= 500 ? 'server_error' : status >= 400 ? 'client_error' : 'ok');

export function createMetrics(orm: Orm): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'wallets_' });
  const requests = new Counter({
    name: 'wallets_http_requests_total',
    help: 'HTTP requests answered, by procedure (or route) and outcome',
    labelNames: ['procedure', 'outcome'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'wallets_http_request_duration_seconds',
    help: 'Time from a request received to its answer sent, by procedure (or route) and outcome',
    labelNames: ['procedure', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'wallets_db_pool_connections',
    help: 'Database connections of this process: in use, idle, and callers waiting for one',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = knexPool(orm);
      if (!pool) return;
      this.set({ state: 'in_use' }, pool.numUsed());
      this.set({ state: 'idle' }, pool.numFree());
      this.set({ state: 'waiting' }, pool.numPendingAcquires());
    },
  });

  // Figures read from the database, once per scrape, shared by the gauges below.
  let pending: Promise<DatabaseFigures | null> | null = null;
  const figures = () => {
    pending ??= readDatabaseFigures(orm).finally(() => setTimeout(() => (pending = null), 0));
    return pending;
  };
  const databaseGauge = (name: string, help: string, pick: (f: DatabaseFigures) => [Record<string, string>, number][]) =>
    new Gauge({
      name,
      help,
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        const f = await figures();
        if (!f) return;
        for (const [labels, value] of pick(f)) this.set(labels, value);
      },
    });
  databaseGauge('wallets_jobs_due', 'Jobs of the queue due now and not running', (f) => [[{}, f.jobsDue]]);
  databaseGauge('wallets_jobs_oldest_due_age_seconds', 'How long the oldest due job has waited (0 when none)', (f) => [[{}, f.oldestDueAgeSeconds]]);
  databaseGauge('wallets_webhook_deliveries', 'Webhook deliveries by status (pending: not yet delivered; failed: given up)', (f) => [
    [{ status: 'pending' }, f.webhooksPending],
    [{ status: 'failed' }, f.webhooksFailed],
  ]);
  databaseGauge('wallets_outbox_last_position', "The outbox's last event position", (f) => [[{}, f.outboxPosition]]);

  return {
    registry,
    observeRequest(procedure, status, seconds) {
      const labels = { procedure, outcome: outcomeOf(status) };
      requests.inc(labels);
      latency.observe(labels, seconds);
    },
  };
}

interface DatabaseFigures {
  jobsDue: number;
  oldestDueAgeSeconds: number;
  webhooksPending: number;
  webhooksFailed: number;
  outboxPosition: number;
}

const JOBS_SQL = `select count(*)::float8 as jobs_due, coalesce(extract(epoch from now() - min(run_at)), 0)::float8 as oldest_due
  from graphile_worker.jobs where run_at <= now() and locked_at is null`;
const OURS_SQL = `select
  (select count(*) from webhook_deliveries where status = 'pending')::float8 as webhooks_pending,
  (select count(*) from webhook_deliveries where status = 'failed')::float8 as webhooks_failed,
  coalesce((select max(position) from events), 0)::float8 as outbox_position`;

/** Null when the database does not answer; the job figures are 0 until the queue's schema exists. */
async function readDatabaseFigures(orm: Orm): Promise<DatabaseFigures | null> {
  const connection = orm.em.getConnection();
  try {
    const [ours] = await withTimeout(connection.execute<Record<string, number>[]>(OURS_SQL), 2000);
    const [jobs] = await withTimeout(connection.execute<Record<string, number>[]>(JOBS_SQL), 2000).catch(() => [undefined]);
    return {
      jobsDue: Number(jobs?.jobs_due ?? 0),
      oldestDueAgeSeconds: Number(jobs?.oldest_due ?? 0),
      webhooksPending: Number(ours?.webhooks_pending ?? 0),
      webhooksFailed: Number(ours?.webhooks_failed ?? 0),
      outboxPosition: Number(ours?.outbox_position ?? 0),
    };
  } catch {
    return null;
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
