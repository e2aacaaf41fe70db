/**
 * Scheduled work on a PostgreSQL-backed job queue (graphile-worker). Due times live in our tables;
 * a sweep compares them with the time it is given (the injected clock) and enqueues one job per
 * wallet, keyed by wallet, so several API/worker processes never queue the same wallet twice. Each
 * job is one transaction under the customer lock that re-checks what is due, and records its
 * outcome under an idempotency key (wallet + asOf): a job that runs again after a crash or on
 * another process changes nothing and reports the first outcome.
 */
import {
  type DueIntervalRule,
  type DueWallet,
  type EntityManager,
  type ExpirationOutcome,
  expireDueRules,
  expireWallet,
  findDueIntervalRules,
  findWalletsDueForExpiration,
  type Orm,
  runIntervalRule,
} from '@wallets/db';
import { type Logger, makeWorkerUtils, type Runner, run, runOnce, type TaskList, type WorkerUtils } from 'graphile-worker';

export interface ScheduledJobsResult {
  asOf: Date;
  walletsExpired: number;
  lotsExpired: number;
  ruleExpirations: number;
  intervalTopUps: number;
  webhookDeliveries: number;
  jobsRun: number;
}

interface ExpireWalletPayload extends DueWallet {
  asOf: string;
}

const silentLogger: Logger = {
  // graphile-worker's Logger is a class; a structural stand-in that drops debug chatter.
  scope: () => silentLogger,
  error: (message: string) => console.error(`[jobs] ${message}`),
  warn: (message: string) => console.warn(`[jobs] ${message}`),
  info: () => undefined,
  debug: () => undefined,
} as unknown as Logger;

const expirationKey = (walletId: string, asOf: string) => `${walletId}@${asOf}`;
const intervalKey = (rule: DueIntervalRule) => `${rule.ruleId}@${rule.date}`;

/** The outcomes recorded (in the jobs' own transactions) under these idempotency keys. */
async function recordedOutcomes<T>(em: EntityManager, procedure: string, keys: string[]): Promise<T[]> {
  if (keys.length === 0) return [];
  const rows: { response: { json: T } }[] = await em
    .getConnection()
    .execute(
      'select response from idempotency_records where procedure = ? and response is not null and key in (select jsonb_array_elements_text(?::jsonb))',
      [procedure, JSON.stringify(keys)],
    );
  return rows.map((row) => row.response.json);
}

export interface JobRunnerOptions {
  orm: Orm;
  databaseUrl: string;
  concurrency?: number;
  now?: () => Date;
  /** Called before each expiration job (tests use it to observe or crash a worker mid-batch). */
  beforeJob?: (name: string, payload: unknown) => Promise<void> | void;
}

export class JobRunner {
  private utils: WorkerUtils | null = null;
  private runner: Runner | null = null;
  private timer: NodeJS.Timeout | null = null;
  readonly taskList: TaskList;

  constructor(private readonly options: JobRunnerOptions) {
    const em = () => options.orm.em as EntityManager;
    this.taskList = {
      // The periodic sweep: rule expiry now, then one keyed job per wallet to expire and per rule anniversary.
      'expiration-sweep': async (payload) => {
        const asOf = new Date((payload as { asOf: string }).asOf);
        await expireDueRules(em(), asOf);
        await this.enqueueExpirations(await findWalletsDueForExpiration(em(), asOf), asOf);
        await this.enqueueIntervalRules(await this.newIntervalRules(em(), asOf), asOf);
      },
      'interval-top-up': async (payload) => {
        const job = payload as DueIntervalRule & { asOf: string };
        await options.beforeJob?.('interval-top-up', job);
        await runIntervalRule(em(), job, new Date(job.asOf));
      },
      'expire-wallet': async (payload) => {
        const job = payload as ExpireWalletPayload;
        await options.beforeJob?.('expire-wallet', job);
        await expireWallet(em(), job, new Date(job.asOf), expirationKey(job.walletId, job.asOf));
      },
    };
  }

  private async workerUtils(): Promise<WorkerUtils> {
    if (!this.utils) {
      this.utils = await makeWorkerUtils({ connectionString: this.options.databaseUrl, logger: silentLogger });
      await this.utils.migrate();
    }
    return this.utils;
  }

  private async enqueueExpirations(due: DueWallet[], asOf: Date): Promise<void> {
    const utils = await this.workerUtils();
    for (const wallet of due) {
      await utils.addJob('expire-wallet', { ...wallet, asOf: asOf.toISOString() } satisfies ExpireWalletPayload, {
        jobKey: `expire-wallet:${wallet.walletId}`,
        maxAttempts: 10,
      });
    }
  }

  /** Anniversaries due at `asOf` that have not fired yet (a fired one has its outcome recorded). */
  private async newIntervalRules(em: EntityManager, asOf: Date): Promise<DueIntervalRule[]> {
    const due = await findDueIntervalRules(em, asOf);
    if (due.length === 0) return due;
    const done: { key: string }[] = await em
      .getConnection()
      .execute(
        `select key from idempotency_records where procedure = 'jobs.intervalTopUp' and response is not null and key in (select jsonb_array_elements_text(?::jsonb))`,
        [JSON.stringify(due.map(intervalKey))],
      );
    const fired = new Set(done.map((row) => row.key));
    return due.filter((rule) => !fired.has(intervalKey(rule)));
  }

  private async enqueueIntervalRules(due: DueIntervalRule[], asOf: Date): Promise<void> {
    const utils = await this.workerUtils();
    for (const rule of due) {
      await utils.addJob(
        'interval-top-up',
        { ...rule, asOf: asOf.toISOString() },
        { jobKey: `interval-top-up:${intervalKey(rule)}`, maxAttempts: 10 },
      );
    }
  }

  /** Starts the long-running worker and the periodic sweep (every `intervalSeconds`). */
  async start(intervalSeconds: number): Promise<void> {
    const utils = await this.workerUtils();
    this.runner = await run({
      connectionString: this.options.databaseUrl,
      concurrency: this.options.concurrency ?? 2,
      taskList: this.taskList,
      noHandleSignals: true,
      pollInterval: 1000,
      logger: silentLogger,
    });
    const sweep = () =>
      utils
        .addJob('expiration-sweep', { asOf: (this.options.now?.() ?? new Date()).toISOString() }, { jobKey: 'expiration-sweep', maxAttempts: 3 })
        .catch((error) => console.error('[jobs] could not enqueue the sweep', error));
    void sweep();
    this.timer = setInterval(sweep, intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Sweeps as of `asOf`, drains the queue, waits for work other processes took, sums outcomes. */
  async runScheduledJobs(asOf: Date): Promise<ScheduledJobsResult> {
    const em = this.options.orm.em.fork() as EntityManager;
    const ruleExpirations = await expireDueRules(em, asOf);
    const dueWallets = await findWalletsDueForExpiration(em, asOf);
    await this.enqueueExpirations(dueWallets, asOf);
    const dueRules = await this.newIntervalRules(em, asOf);
    await this.enqueueIntervalRules(dueRules, asOf);
    await runOnce({ connectionString: this.options.databaseUrl, taskList: this.taskList, logger: silentLogger });
    await this.waitForJobs(em, [
      ...dueWallets.map((d) => `expire-wallet:${d.walletId}`),
      ...dueRules.map((r) => `interval-top-up:${intervalKey(r)}`),
    ]);
    const expirations = await recordedOutcomes<ExpirationOutcome>(
      em,
      'jobs.expireWallet',
      dueWallets.map((d) => expirationKey(d.walletId, asOf.toISOString())),
    );
    const topUps = await recordedOutcomes<{ intervalTopUps: number }>(em, 'jobs.intervalTopUp', dueRules.map(intervalKey));
    return {
      asOf,
      walletsExpired: expirations.reduce((total, o) => total + o.walletsExpired, 0),
      lotsExpired: expirations.reduce((total, o) => total + o.lotsExpired, 0),
      ruleExpirations,
      intervalTopUps: topUps.reduce((total, o) => total + o.intervalTopUps, 0),
      webhookDeliveries: 0,
      jobsRun: expirations.length + topUps.length,
    };
  }

  /** Waits (bounded) until jobs with these keys, possibly taken by another process, are done. */
  private async waitForJobs(em: EntityManager, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    for (let i = 0; i < 600; i++) {
      // MikroORM inlines an array parameter as a list: pass the keys as one JSON text.
      const rows: { n: string }[] = await em
        .getConnection()
        .execute('select count(*)::text as n from graphile_worker.jobs where key in (select jsonb_array_elements_text(?::jsonb))', [
          JSON.stringify(keys),
        ]);
      if (rows[0]?.n === '0') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.runner?.stop();
    await this.utils?.release();
    this.runner = null;
    this.utils = null;
  }
}
