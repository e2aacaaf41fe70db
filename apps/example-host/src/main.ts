/**
 * `pnpm --filter @wallets/example-host start`: bills one customer for one month through the wallets
 * plugin and prints the result.
 *
 * - `WALLETS_URL` and `WALLETS_API_KEY` set: talks to a running plugin over HTTP.
 * - Otherwise: starts the plugin inside this process (`startApp` on `DATABASE_URL`, or the embedded
 *   PostgreSQL when unset), creates an organization for this run and calls the router in-process.
 */
import { randomBytes } from 'node:crypto';
import { createInProcessWalletClient, createWalletClient, type RunningApp, readEnv, startApp, systemClock, type WalletClient } from '@wallets/api';
import { runDemoMonth } from './demo-month.js';

const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
let app: RunningApp | null = null;
let client: WalletClient;

const { WALLETS_URL, WALLETS_API_KEY } = process.env;
if (WALLETS_URL && WALLETS_API_KEY) {
  console.log(`Host: calling the wallets plugin at ${WALLETS_URL}`);
  client = createWalletClient({ url: WALLETS_URL, apiKey: WALLETS_API_KEY });
} else {
  const adminToken = process.env.WALLET_ADMIN_TOKEN ?? `example-host-${randomBytes(16).toString('hex')}`;
  app = await startApp(
    readEnv({ ...process.env, PORT: '0', WALLET_ADMIN_TOKEN: adminToken, WALLET_WORKER_CONCURRENCY: process.env.WALLET_WORKER_CONCURRENCY ?? '0' }),
    { log: (line) => console.log(`[wallets] ${line}`) },
  );
  const services = { orm: app.orm, clock: systemClock, adminToken };
  const admin = createInProcessWalletClient(services, adminToken);
  const { organization, apiKey } = await admin.admin.createOrganization.mutate({ name: `Example host ${runId}` });
  console.log(`Host: wallets plugin in-process, organization ${organization.id}`);
  client = createInProcessWalletClient(services, apiKey);
}

try {
  const result = await runDemoMonth(client, { runId });
  for (const line of result.lines) console.log(line);
} finally {
  await app?.stop();
}
