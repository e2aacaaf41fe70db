/**
 * Scheduled work on a PostgreSQL-backed job queue (graphile-worker). Due times live in our tables;
 * a sweep compares them with the time it is given (the injected clock) and enqueues one job per
 * wallet, keyed by wallet, so several API/worker processes never queue the same wallet twice. Each
 * job is one transaction under the customer lock that re-checks what is due, and records its
 * outcome under an idempotency key (wallet + asOf): a job that runs again after a crash or on
 * another process changes nothing and reports the first outcome. Wallets past their expiry that
 * share their ongoing balance with no other wallet (the common case) are expired in batches
 * instead (`expire-wallets`, a few hundred per job and transaction, keyed by the batch's contents),
 * with the same guarantees.
 *
 * Webhooks: a keyed `webhook-deliveries` job, queued every few seconds, starts a drain of the
 * webhook dispatcher in the background (webhook-dispatcher.ts) and returns at once, so slow
 * receivers never hold the job worker's slots: the drain fans new events out to delivery rows and
 * sends whatever is due, fairly across organizations, each delivery claimed with a lease, so any
 * number of processes can run it at once.
 */

import { EventEmitter } from 'node:events';
import type { LookupFunction } from 'node:net';
import {
  type DueIntervalRule,
  type DueWallet,
  type EntityManager,
  type ExpirationBatch,
  type ExpirationOutcome,
  expirationBatchId,
  expireDueRules,
  expireWallet,
  expireWalletBatch,
  findDueIntervalRules,
  findWalletsDueForBatchExpiration,
  findWalletsDueOneByOne,
  type Orm,
  runIntervalRule,
  SecretBox,
  toExpirationBatches,
} from '@wallets/db';
import { type Logger, makeWorkerUtils, type Runner, run, runOnce, type TaskList, type WorkerEvents, type WorkerUtils } from 'graphile-worker';
import { createLogger, type Logger as PinoLogger } from '../observability/logger.js';
import type { AllowedNetworks } from '../webhook-targets.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import { createWebhookSender } from './webhook-sender.js';

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

interface ExpireBatchPayload extends ExpirationBatch {
  asOf: string;
}

/** What is due for expiry at one `asOf`: batches, and wallets that need a job each. */
interface DueExpirations {
  batches: ExpirationBatch[];
  wallets: DueWallet[];
}

/** graphile-worker's Logger is a class; a structural stand-in that writes its errors and warnings to ours. */
function workerLogger(log: PinoLogger): Logger {
  const logger = {
    scope: () => logger,
    error: (message: string) => log.error({ component: 'job-queue' }, message),
    warn: (message: string) => log.warn({ component: 'job-queue' }, message),
    info: () => undefined,
    debug: () => undefined,
  };
  return logger as unknown as Logger;
}

const expirationKey = (walletId: string, asOf: string) => `${walletId}@${asOf}`;
const batchKey = (batch: ExpirationBatch, asOf: string) => `${expirationBatchId(batch)}@${asOf}`;
const batchJobKey = (batch: ExpirationBatch) => `expire-wallets:${expirationBatchId(batch)}`;
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
  /** Wallets per batched expiration job (default EXPIRATION_BATCH_SIZE). */
  expirationBatchSize?: number;
  /** Called before each expiration job (tests use it to observe or crash a worker mid-batch). */
  beforeJob?: (name: string, payload: unknown) => Promise<void> | void;
  /** Per webhook POST (default 10 s); a timeout is a failed attempt, retried later. */
  webhookTimeoutMs?: number;
  /** How often the worker looks for webhook deliveries (default 5 s). */
  webhookIntervalMs?: number;
  /** Webhook POSTs in flight at once in this process (default 16); none holds a database connection. */
  webhookLanes?: number;
  /** Webhook POSTs of one organization in flight at once, across processes (default 4). */
  webhookLanesPerOrganization?: number;
  /** How long a sender's claim on a delivery lasts (default the timeout + 30 s; must exceed the timeout). */
  webhookLeaseMs?: number;
  /** Private networks webhooks may reach on purpose (`WALLET_WEBHOOK_ALLOWED_NETWORKS`; default none). */
  webhookAllowedNetworks?: AllowedNetworks;
  /** The resolver webhook sends use (default the system's); tests inject one. */
  webhookLookup?: LookupFunction;
  /** Opens webhook secrets sealed at rest (default: secrets are plain). */
  secrets?: SecretBox;
  /** Job runs and webhook attempts, one JSON line each (default: the service's logger). */
  logger?: PinoLogger;
}

/** Each job run is one log line: its name and id, the attempt, how long it took, and its error if it failed. */
function jobRunLog(log: PinoLogger): WorkerEvents {
  const events: WorkerEvents = new EventEmitter();
  const started = new Map<string, number>();
  const fields = (job: { id: string; task_identifier: string; attempts: number }) => {
    const since = started.get(job.id);
    started.delete(job.id);
    return {
      job: job.task_identifier,
      jobId: job.id,
      attempt: job.attempts,
      durationMs: since === undefined ? null : Math.round(performance.now() - since),
    };
  };
  events.on('job:start', ({ job }) => started.set(job.id, performance.now()));
  events.on('job:success', ({ job }) => log.info(fields(job), 'job run'));
  events.on('job:error', ({ job, error }) => log.error({ ...fields(job), err: error }, 'job failed'));
  return events;
}

export class JobRunner {
  private utils: WorkerUtils | null = null;
  private runner: Runner | null = null;
  private timer: NodeJS.Timeout | null = null;
  private webhookTimer: NodeJS.Timeout | null = null;
  private readonly webhooks: WebhookDispatcher;
  private readonly log: PinoLogger;
  /** graphile-worker's events for the worker and for runOnce: each job run becomes one log line. */
  private readonly jobEvents: WorkerEvents;
  readonly taskList: TaskList;

  constructor(private readonly options: JobRunnerOptions) {
    const em = () => options.orm.em as EntityManager;
    const timeoutMs = options.webhookTimeoutMs ?? 10_000;
    const leaseMs = options.webhookLeaseMs ?? timeoutMs + 30_000;
    if (leaseMs <= timeoutMs) throw new Error('webhookLeaseMs must exceed webhookTimeoutMs, or a live send could be sent again alongside');
    const log = (this.log = options.logger ?? createLogger());
    const secrets = options.secrets ?? new SecretBox(null);
    const send = createWebhookSender({ timeoutMs, allowedNetworks: options.webhookAllowedNetworks ?? [], lookup: options.webhookLookup });
    this.webhooks = new WebhookDispatcher({
      em,
      send: async (request) => {
        const result = await send({ ...request, secret: secrets.open(request.secret) });
        log.info({ eventId: request.event.id, eventType: request.event.type, attemptNumber: request.attemptNumber, ...result }, 'webhook attempt');
        return result;
      },
      lanes: options.webhookLanes ?? 16,
      lanesPerOrganization: options.webhookLanesPerOrganization ?? 4,
      leaseMs,
      onError: (error) => log.error({ err: error }, 'webhook delivery failed'),
    });
    this.taskList = {
      // The periodic sweep: rule expiry now, then keyed jobs for the wallets to expire (batched or one each) and per rule anniversary.
      'expiration-sweep': async (payload) => {
        const asOf = new Date((payload as { asOf: string }).asOf);
        await expireDueRules(em(), asOf);
        await this.enqueueExpirations(await findDueExpirations(em(), asOf, options.expirationBatchSize), asOf);
        await this.enqueueIntervalRules(await this.newIntervalRules(em(), asOf), asOf);
      },
      'interval-top-up': async (payload) => {
        const job = payload as DueIntervalRule & { asOf: string };
        await options.beforeJob?.('interval-top-up', job);
        await runIntervalRule(em(), job, new Date(job.asOf));
      },
      // Starts a background drain when a lane is free; other drains, processes and
      // runScheduledJobs may run alongside: deliveries are claimed with leases.
      'webhook-deliveries': async () => {
        this.webhooks.kick(options.now?.() ?? new Date());
      },
      'expire-wallet': async (payload) => {
        const job = payload as ExpireWalletPayload;
        await options.beforeJob?.('expire-wallet', job);
        await expireWallet(em(), job, new Date(job.asOf), expirationKey(job.walletId, job.asOf));
      },
      'expire-wallets': async (payload) => {
        const job = payload as ExpireBatchPayload;
        await options.beforeJob?.('expire-wallets', job);
        const batch = { organizationId: job.organizationId, walletIds: job.walletIds };
        await expireWalletBatch(em(), batch, new Date(job.asOf), batchKey(batch, job.asOf));
      },
    };
    this.jobEvents = jobRunLog(log);
  }

  private async workerUtils(): Promise<WorkerUtils> {
    if (!this.utils) {
      this.utils = await makeWorkerUtils({ connectionString: this.options.databaseUrl, logger: workerLogger(this.log) });
      await this.utils.migrate();
    }
    return this.utils;
  }

  private async enqueueExpirations(due: DueExpirations, asOf: Date): Promise<void> {
    const utils = await this.workerUtils();
    for (const batch of due.batches) {
      await utils.addJob('expire-wallets', { ...batch, asOf: asOf.toISOString() } satisfies ExpireBatchPayload, {
        jobKey: batchJobKey(batch),
        maxAttempts: 10,
      });
    }
    for (const wallet of due.wallets) {
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
      logger: workerLogger(this.log),
      events: this.jobEvents,
    });
    const sweep = () =>
      utils
        .addJob('expiration-sweep', { asOf: (this.options.now?.() ?? new Date()).toISOString() }, { jobKey: 'expiration-sweep', maxAttempts: 3 })
        .catch((error) => this.log.error({ err: error }, 'could not enqueue the sweep'));
    void sweep();
    this.timer = setInterval(sweep, intervalSeconds * 1000);
    this.timer.unref();
    const webhooks = () =>
      utils
        .addJob('webhook-deliveries', {}, { jobKey: 'webhook-deliveries', maxAttempts: 1 })
        .catch((error) => this.log.error({ err: error }, 'could not enqueue webhook deliveries'));
    void webhooks();
    this.webhookTimer = setInterval(webhooks, this.options.webhookIntervalMs ?? 5000);
    this.webhookTimer.unref();
  }

  /**
   * Fans new events out to delivery rows, then sends every delivery due at `asOf` that this process
   * can claim, until none is left. Returns the number of attempts recorded.
   */
  async deliverWebhooks(asOf: Date): Promise<number> {
    // Under load a pass was seen to end with a delivery of a busy endpoint still due (cause not
    // found yet); passes repeat until one sends nothing, so everything due at `asOf` is sent.
    let attempts = 0;
    for (;;) {
      const sent = await this.webhooks.drain(asOf);
      attempts += sent;
      if (sent === 0) return attempts;
    }
  }

  /** Sweeps as of `asOf`, drains the queue, waits for work other processes took, sums outcomes. */
  async runScheduledJobs(asOf: Date): Promise<ScheduledJobsResult> {
    const em = this.options.orm.em.fork() as EntityManager;
    const ruleExpirations = await expireDueRules(em, asOf);
    const due = await findDueExpirations(em, asOf, this.options.expirationBatchSize);
    await this.enqueueExpirations(due, asOf);
    const dueRules = await this.newIntervalRules(em, asOf);
    await this.enqueueIntervalRules(dueRules, asOf);
    await runOnce({ connectionString: this.options.databaseUrl, taskList: this.taskList, logger: workerLogger(this.log), events: this.jobEvents });
    await this.waitForJobs(em, [
      ...due.batches.map(batchJobKey),
      ...due.wallets.map((d) => `expire-wallet:${d.walletId}`),
      ...dueRules.map((r) => `interval-top-up:${intervalKey(r)}`),
    ]);
    const batches = await recordedOutcomes<ExpirationOutcome>(
      em,
      'jobs.expireWallets',
      due.batches.map((batch) => batchKey(batch, asOf.toISOString())),
    );
    const singles = await recordedOutcomes<ExpirationOutcome>(
      em,
      'jobs.expireWallet',
      due.wallets.map((d) => expirationKey(d.walletId, asOf.toISOString())),
    );
    const expirations = [...batches, ...singles];
    const topUps = await recordedOutcomes<{ intervalTopUps: number }>(em, 'jobs.intervalTopUp', dueRules.map(intervalKey));
    // After the sweeps, so events they wrote go out in this run too.
    const webhookDeliveries = await this.deliverWebhooks(asOf);
    return {
      asOf,
      walletsExpired: expirations.reduce((total, o) => total + o.walletsExpired, 0),
      lotsExpired: expirations.reduce((total, o) => total + o.lotsExpired, 0),
      ruleExpirations,
      intervalTopUps: topUps.reduce((total, o) => total + o.intervalTopUps, 0),
      webhookDeliveries,
      jobsRun: batches.length + singles.length + topUps.length,
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
    if (this.webhookTimer) clearInterval(this.webhookTimer);
    await this.runner?.stop();
    await this.webhooks.stop();
    await this.utils?.release();
    this.runner = null;
    this.utils = null;
  }
}

/** Batches of wallets whose expiry only ends them, and the wallets to expire one by one. */
async function findDueExpirations(em: EntityManager, asOf: Date, batchSize?: number): Promise<DueExpirations> {
  const batches = toExpirationBatches(await findWalletsDueForBatchExpiration(em, asOf), batchSize);
  return { batches, wallets: await findWalletsDueOneByOne(em, asOf) };
}
