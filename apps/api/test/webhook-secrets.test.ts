/**
 * Webhook secrets at rest: unreadable in the database once a key is configured, and deliveries still
 * signed with the secret the endpoint's owner was given. One database, three starts of the service:
 * no key (secrets plain, the start says so), a key given later (existing secrets sealed at start),
 * a rotation (sealed again under the new key, the old one still read meanwhile).
 */
import { newSecretKey } from '@wallets/db';
import { createMigratedDatabase } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningApp, startApp } from '../src/app.js';
import { createWalletClient } from '../src/client/index.js';
import { readEnv } from '../src/env.js';
import { createLogger } from '../src/observability/logger.js';
import { ADMIN_TOKEN, TestClock } from './harness.js';
import { WebhookReceiver } from './webhook-receiver.js';

let databaseUrl: string;
let db: pg.Pool;
const receiver = new WebhookReceiver();
const clock = new TestClock();

beforeAll(async () => {
  databaseUrl = await createMigratedDatabase(inject('serverUrl'), 'wallets_secrets');
  db = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  await receiver.start();
});

afterAll(async () => {
  await receiver.stop();
  await db?.end();
});

async function start(keys: { key?: string; previous?: string }, log: string[] = []): Promise<RunningApp> {
  const env = readEnv({
    DATABASE_URL: databaseUrl,
    PORT: '0',
    WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
    WALLET_WORKER_CONCURRENCY: '0',
    WALLET_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8',
    ...(keys.key ? { WALLET_SECRET_KEY: keys.key } : {}),
    ...(keys.previous ? { WALLET_SECRET_KEY_PREVIOUS: keys.previous } : {}),
  });
  return startApp(env, { clock, log: (line) => log.push(line), logger: createLogger({ level: 'error' }), consoleDir: null });
}

const storedSecrets = async () =>
  (await db.query<{ secret: string }>('select secret from webhook_endpoints order by created_at, id')).rows.map((r) => r.secret);

/** New events (a wallet created with credits), delivered to every endpoint; returns how many deliveries went out. */
async function deliverNew(app: RunningApp, apiKey: string): Promise<number> {
  const client = createWalletClient({ url: app.url, apiKey });
  clock.advance(60_000);
  await client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '1' });
  const admin = createWalletClient({ url: app.url, apiKey: ADMIN_TOKEN });
  return (await admin.admin.runScheduledJobs.mutate({ asOf: clock.now() })).webhookDeliveries;
}

describe('webhook secrets at rest', () => {
  it('are stored plain without a key, sealed at the next start with one, resealed on rotation; deliveries verify throughout', async () => {
    const firstKey = newSecretKey();
    const secondKey = newSecretKey();

    // 1. No key: stored as given, and the start says so.
    const plainLog: string[] = [];
    let app = await start({}, plainLog);
    const admin = createWalletClient({ url: app.url, apiKey: ADMIN_TOKEN });
    const { apiKey } = await admin.admin.createOrganization.mutate({ name: 'secrets' });
    const client = createWalletClient({ url: app.url, apiKey });
    await client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
    const endpoint = await client.webhooks.createEndpoint.mutate({ url: receiver.url('/secrets') });
    receiver.expect('/secrets', endpoint.secret);
    expect(await storedSecrets()).toEqual([endpoint.secret]);
    expect(plainLog.join('\n')).toContain('Webhook secrets are stored unencrypted (0 now)');
    expect(await deliverNew(app, apiKey)).toBeGreaterThan(0);
    const afterPlain = receiver.arrivals('/secrets').length;
    expect(afterPlain).toBeGreaterThan(0);
    await app.stop();

    // 2. A key given later: the existing secret is sealed at start; new ones are sealed when created.
    const sealLog: string[] = [];
    app = await start({ key: firstKey }, sealLog);
    expect(sealLog.join('\n')).toContain('Sealed 1 webhook secret(s) under the current key.');
    const second = await createWalletClient({ url: app.url, apiKey }).webhooks.createEndpoint.mutate({ url: receiver.url('/secrets-2') });
    receiver.expect('/secrets-2', second.secret);
    const sealedOnce = await storedSecrets();
    expect(sealedOnce).toHaveLength(2);
    for (const [i, stored] of sealedOnce.entries()) {
      expect(stored).toMatch(/^sealed1\.[0-9a-f]{8}\./);
      const secret = [endpoint.secret, second.secret][i] as string;
      expect(stored).not.toContain(secret.slice('whsec_'.length, 'whsec_'.length + 12));
    }
    expect(await deliverNew(app, apiKey)).toBeGreaterThan(0);
    const afterSealed = receiver.arrivals('/secrets').length;
    expect(afterSealed).toBeGreaterThan(afterPlain);
    expect(receiver.arrivals('/secrets-2').length).toBeGreaterThan(0);
    await app.stop();

    // 3. Rotation: the new key seals, the previous one is still read until every secret is resealed.
    const rotateLog: string[] = [];
    app = await start({ key: secondKey, previous: firstKey }, rotateLog);
    expect(rotateLog.join('\n')).toContain('Sealed 2 webhook secret(s) under the current key.');
    const sealedTwice = await storedSecrets();
    expect(new Set(sealedTwice.map((s) => s.split('.')[1])).size).toBe(1);
    expect(sealedTwice[0]?.split('.')[1]).not.toBe(sealedOnce[0]?.split('.')[1]);
    expect(await deliverNew(app, apiKey)).toBeGreaterThan(0);
    expect(receiver.arrivals('/secrets').length).toBeGreaterThan(afterSealed);
    await app.stop();

    // Every arrival verified with the secret its owner was given (the receiver checks each signature).
    expect(receiver.rejected).toEqual([]);
  });
});
