/**
 * A real server for api tests: the app started in-process on a random port against the run's
 * fresh database, with a settable clock, an admin token and typed clients over HTTP.
 */
import { createMigratedDatabase } from '@wallets/db/testing';
import type pg from 'pg';
import { inject } from 'vitest';
import { type RunningApp, startApp } from '../src/app.js';
import { createWalletClient, type RouterOutputs, type WalletClient } from '../src/client/index.js';
import { readEnv } from '../src/env.js';
import { createLogger, type Logger } from '../src/observability/logger.js';
import type { Clock } from '../src/trpc.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export class TestClock implements Clock {
  constructor(public current = new Date('2026-01-15T10:00:00Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  set(date: Date | string): void {
    this.current = new Date(date);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

export interface Harness {
  app: RunningApp;
  clock: TestClock;
  admin: WalletClient;
  /** A new organization and a client holding its key. */
  newTenant(name?: string): Promise<{ client: WalletClient; apiKey: string; organizationId: string }>;
  client(apiKey: string): WalletClient;
  stop(): Promise<void>;
}

/**
 * `ownDatabase`: a fresh database for this file alone, for tests of global sweeps
 * (`admin.runScheduledJobs` sees every organization of its database).
 */
export async function startHarness(
  options: { workerConcurrency?: number; ownDatabase?: boolean; webhookAllowedNetworks?: string; logger?: Logger; consoleDir?: string | null } = {},
): Promise<Harness> {
  const clock = new TestClock();
  const env = readEnv({
    DATABASE_URL: options.ownDatabase ? await createMigratedDatabase(inject('serverUrl'), 'wallets_own') : inject('databaseUrl'),
    PORT: '0',
    HOST: '127.0.0.1',
    WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
    WALLET_WORKER_CONCURRENCY: String(options.workerConcurrency ?? 0),
    WALLET_DB_POOL_MAX: '20',
    // Test receivers listen on this machine: let loopback through on purpose.
    WALLET_WEBHOOK_ALLOWED_NETWORKS: options.webhookAllowedNetworks ?? '127.0.0.0/8,::1/128',
  });
  const app = await startApp(env, {
    clock,
    log: () => undefined,
    logger: options.logger ?? createLogger({ level: 'error' }),
    ...(options.consoleDir !== undefined ? { consoleDir: options.consoleDir } : {}),
  });
  const client = (apiKey: string) => createWalletClient({ url: app.url, apiKey });
  const admin = client(ADMIN_TOKEN);
  return {
    app,
    clock,
    admin,
    client,
    async newTenant(name = `tenant-${Math.random().toString(36).slice(2, 8)}`) {
      const { organization, apiKey } = await admin.admin.createOrganization.mutate({ name });
      return { client: client(apiKey), apiKey, organizationId: organization.id };
    },
    stop: () => app.stop(),
  };
}

/** The tRPC error data of a failed call, for asserting codes. */
export async function errorOf(
  promise: Promise<unknown>,
): Promise<{ code: string; walletErrorCode: string | null; message: string; issues: { path: (string | number)[]; message: string }[] | null }> {
  try {
    await promise;
  } catch (error) {
    const e = error as {
      message: string;
      data?: { code: string; walletErrorCode: string | null; issues: { path: (string | number)[]; message: string }[] | null };
    };
    return { code: e.data?.code ?? 'UNKNOWN', walletErrorCode: e.data?.walletErrorCode ?? null, message: e.message, issues: e.data?.issues ?? null };
  }
  throw new Error('expected the call to fail');
}

export type EventItem = RouterOutputs['events']['list']['items'][number];

/** Every event of the client's organization, oldest first (events are readable as soon as they commit). */
export async function listAllEvents(client: WalletClient): Promise<EventItem[]> {
  const items: EventItem[] = [];
  let after: string | null = null;
  do {
    const page: RouterOutputs['events']['list'] = await client.events.list.query({ after, limit: 100 });
    items.push(...page.items);
    after = page.nextCursor;
  } while (after);
  return items;
}

/** Everything an organization has written, counted with SQL of the test's own. */
export async function rowCounts(db: pg.Pool, organizationId: string): Promise<Record<string, string> | undefined> {
  const { rows } = await db.query<Record<string, string>>(
    `select (select count(*) from customers where organization_id = $1) as customers,
            (select count(*) from wallets where organization_id = $1) as wallets,
            (select count(*) from wallet_transactions where organization_id = $1) as transactions,
            (select count(*) from recurring_transaction_rules where organization_id = $1) as rules,
            (select count(*) from events where organization_id = $1) as events,
            (select count(*) from idempotency_records where organization_id = $1) as keys`,
    [organizationId],
  );
  return rows[0];
}
