/**
 * Boots the service: database (embedded when DATABASE_URL is unset), migrations, the default
 * organization on a fresh embedded database, the job worker and the HTTP server. `main.ts` calls
 * this and handles signals; tests call it to run a real server in-process.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  type ApiKeyRevocationListener,
  countOrganizations,
  createOrganization,
  type EntityManager,
  EventHub,
  listenForApiKeyRevocations,
  migrate,
  type Orm,
  openOrm,
} from '@wallets/db';
import { ApiKeyCache } from './api-key-cache.js';
import { connectDatabase, openSecrets } from './database.js';
import type { Env } from './env.js';
import { repositoryRoot } from './env.js';
import { JobRunner } from './jobs/runner.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { checkReadiness } from './observability/readiness.js';
import { createServer, drainServer, type ServerOptions } from './server.js';
import { type Clock, streamSettings, systemClock } from './trpc.js';

export interface RunningApp {
  url: string;
  databaseUrl: string;
  /** The embedded database's folder (null on DATABASE_URL's server). */
  dataRoot: string | null;
  orm: Orm;
  jobs: JobRunner;
  /** The process's event fan-out (open streams, their caps). */
  events: EventHub;
  /** The LISTEN connection that drops revoked keys from this process's cache and wakes event streams. */
  apiKeyListener: ApiKeyRevocationListener;
  /** Stops at once: open connections are cut (tests). */
  stop(): Promise<void>;
  /**
   * Stops gracefully (SIGTERM): stops accepting, answers every request already received within
   * `graceMs`, ends event streams, lets the job worker finish its running jobs, then closes.
   */
  drain(graceMs: number): Promise<{ cut: number }>;
}

let listenerCount = 0;

/** Where `pnpm start` builds the console (apps/console/dist); served when it exists. */
export function defaultConsoleDir(): string | null {
  const dir = path.join(repositoryRoot, 'apps/console/dist');
  return fs.existsSync(path.join(dir, 'index.html')) ? dir : null;
}

/** `consoleDir`: the built console to serve on the same port (default: apps/console/dist when built; null: none). */
export async function startApp(
  env: Env,
  options: {
    clock?: Clock;
    log?: (line: string) => void;
    logger?: Logger;
    consoleDir?: string | null;
    /** Fastify plugins to serve beside tRPC (see `createServer`). */
    plugins?: ServerOptions['plugins'];
    /** false: no HTTP server and no key listener (the cluster's first process: migrations, first organization, jobs). */
    http?: boolean;
  } = {},
): Promise<RunningApp> {
  const log = options.log ?? ((line: string) => console.log(line));
  const clock = options.clock ?? systemClock;
  const { databaseUrl, embedded, dataRoot } = await connectDatabase(env, log);
  const orm = await openOrm({ databaseUrl, poolMax: env.WALLET_DB_POOL_MAX });
  await migrate(orm);
  const secrets = await openSecrets(env, dataRoot ?? env.WALLET_CLUSTER_DATA_ROOT ?? null, orm, log);
  if (embedded && (await countOrganizations(orm.em.fork() as EntityManager)) === 0) {
    const { organization, apiKey } = await createOrganization(orm.em as EntityManager, 'Default organization');
    log(`Created organization "${organization.name}" (${organization.id}).`);
    log(`Its API key, shown once: ${apiKey}`);
  }
  const logger = options.logger ?? createLogger({ level: env.LOG_LEVEL });
  const jobs = new JobRunner({
    orm,
    databaseUrl,
    concurrency: env.WALLET_WORKER_CONCURRENCY,
    now: () => clock.now(),
    webhookTimeoutMs: env.WALLET_WEBHOOK_TIMEOUT_MS,
    webhookIntervalMs: env.WALLET_WEBHOOK_INTERVAL_SECONDS * 1000,
    webhookAllowedNetworks: env.WALLET_WEBHOOK_ALLOWED_NETWORKS,
    secrets,
    logger,
  });
  if (env.WALLET_WORKER_CONCURRENCY > 0) await jobs.start(env.WALLET_JOBS_INTERVAL_SECONDS);
  if (options.http === false) {
    const stopJobsOnly = async () => {
      await jobs.stop();
      await orm.close(true);
      await embedded?.stop();
    };
    return {
      url: '',
      databaseUrl,
      dataRoot,
      orm,
      jobs,
      events: new EventHub(),
      apiKeyListener: null as unknown as RunningApp['apiKeyListener'],
      stop: stopJobsOnly,
      drain: async () => {
        await stopJobsOnly();
        return { cut: 0 };
      },
    };
  }
  const apiKeys = new ApiKeyCache();
  const events = new EventHub({ perProcess: env.WALLET_STREAMS_PER_PROCESS, perOrganization: env.WALLET_STREAMS_PER_ORGANIZATION });
  streamSettings.maxDurationMs = env.WALLET_STREAM_MAX_SECONDS * 1000;
  listenerCount += 1;
  const apiKeyListener = listenForApiKeyRevocations({
    databaseUrl: env.WALLET_DIRECT_DATABASE_URL ?? databaseUrl,
    applicationName: `wallets-api-keys-${process.pid}-${listenerCount}`,
    onRevoked: (keyId) => apiKeys.revoked(keyId),
    onEvents: (organizationId) => events.notify(organizationId),
    onLiveChange: (live) => {
      apiKeys.setLive(live);
      // Notifications sent while it was not listening are lost: every stream reads once.
      if (live) events.wakeAll();
    },
    log,
  });
  // Until it listens, keys are cached for a few seconds only; it keeps trying if this attempt failed.
  await apiKeyListener.firstAttempt;
  const consoleDir = options.consoleDir === undefined ? defaultConsoleDir() : options.consoleDir;
  const server = createServer(
    {
      orm,
      clock,
      adminToken: env.WALLET_ADMIN_TOKEN,
      jobs,
      logger,
      secrets,
      apiKeys,
      events,
      webhookAllowedNetworks: env.WALLET_WEBHOOK_ALLOWED_NETWORKS,
    },
    { staticDir: consoleDir, metrics: createMetrics(orm), readiness: () => checkReadiness(orm), plugins: options.plugins ?? [] },
  );
  await server.listen({ port: env.PORT, host: env.HOST });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const url = `http://${env.HOST}:${port}`;
  log(`Wallets API listening on ${url} (tRPC at ${url}/trpc)`);
  if (consoleDir) log(`Console at ${url}/`);
  const closeRest = async () => {
    await apiKeyListener.stop();
    await jobs.stop();
    await orm.close(true);
    await embedded?.stop();
  };
  return {
    url,
    databaseUrl,
    dataRoot,
    orm,
    jobs,
    events,
    apiKeyListener,
    async stop() {
      server.server.closeAllConnections();
      await server.close();
      await closeRest();
    },
    async drain(graceMs) {
      const result = await drainServer(server, graceMs);
      await closeRest();
      return result;
    },
  };
}
