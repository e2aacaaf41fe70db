/**
 * The two ways a host reaches the plugin, for tests: a real HTTP server (`startApp` on a random
 * port against the run's fresh database) or the router in-process (`createInProcessWalletClient`
 * on an ORM of that database). Both share a settable clock and an admin token to create tenants.
 */
import { type Clock, createInProcessWalletClient, createWalletClient, readEnv, startApp, type WalletClient } from '@wallets/api';
import { isWalletError, type WalletErrorCode } from '@wallets/api/client';
import { openOrm } from '@wallets/db';
import { inject } from 'vitest';

export const ADMIN_TOKEN = 'example-host-admin-token-0123456789';

export class TestClock implements Clock {
  constructor(public current = new Date('2026-03-01T09:00:00Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  set(date: Date | string): void {
    this.current = new Date(date);
  }
}

export interface Transport {
  name: 'http' | 'in-process';
  clock: TestClock;
  /** A new organization of the plugin and a client holding its key. */
  newTenant(): Promise<WalletClient>;
  stop(): Promise<void>;
}

let tenants = 0;
const tenantName = () => `host-tenant-${process.pid}-${++tenants}`;

export async function startHttpTransport(): Promise<Transport> {
  const clock = new TestClock();
  const env = readEnv({
    DATABASE_URL: inject('databaseUrl'),
    PORT: '0',
    HOST: '127.0.0.1',
    WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
    WALLET_WORKER_CONCURRENCY: '0',
  });
  const app = await startApp(env, { clock, log: () => undefined });
  const admin = createWalletClient({ url: app.url, apiKey: ADMIN_TOKEN });
  return {
    name: 'http',
    clock,
    async newTenant() {
      const { apiKey } = await admin.admin.createOrganization.mutate({ name: tenantName() });
      return createWalletClient({ url: app.url, apiKey });
    },
    stop: () => app.stop(),
  };
}

export async function startInProcessTransport(): Promise<Transport> {
  const clock = new TestClock();
  const orm = await openOrm({ databaseUrl: inject('databaseUrl'), poolMax: 10 });
  const services = { orm, clock, adminToken: ADMIN_TOKEN };
  const admin = createInProcessWalletClient(services, ADMIN_TOKEN);
  return {
    name: 'in-process',
    clock,
    async newTenant() {
      const { apiKey } = await admin.admin.createOrganization.mutate({ name: tenantName() });
      return createInProcessWalletClient(services, apiKey);
    },
    stop: () => orm.close(true),
  };
}

/** The wallet error code of a failed call (null for an error without one), narrowed by the client's own guard. */
export async function walletErrorCodeOf(promise: Promise<unknown>): Promise<WalletErrorCode | null> {
  try {
    await promise;
  } catch (error) {
    return isWalletError(error) ? error.data.walletErrorCode : null;
  }
  throw new Error('expected the call to fail');
}
