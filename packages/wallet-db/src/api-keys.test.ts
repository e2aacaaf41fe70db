/**
 * API keys at the data layer: keys made before the rotation migration keep working after it;
 * create, list and revoke keep to their organization; the last active key stays; two racing
 * revocations of an organization's last two keys cannot both win; `lastUsedAt` moves at most once
 * a minute; and a revocation reaches a listener by NOTIFY, also after its connection was killed.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { newOrganization, openTestOrm } from '../test/helpers.js';
import { type ApiKeyRevocationListener, listenForApiKeyRevocations } from './api-key-revocations.js';
import { API_KEY_REVOKED_CHANNEL, createApiKey, findActiveApiKey, hashApiKey, listApiKeys, revokeApiKey, touchApiKey } from './commands/api-keys.js';
import { createOrganization, findOrganizationByApiKey } from './commands/organizations.js';
import { withDatabase } from './embedded-postgres.js';
import { migrate, type Orm, openOrm } from './orm.js';
import { dropDatabase } from './testing/index.js';

let orm: Orm;
let pool: pg.Pool;
const em = () => orm.em.fork() as EntityManager;
const now = new Date('2026-03-01T12:00:00Z');
const later = new Date('2026-03-01T12:00:01Z');

beforeAll(async () => {
  orm = await openTestOrm();
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 4 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WalletError) return error.code;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** Polls until `check` holds, failing after `timeoutMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the rotation migration', () => {
  it('keeps the keys made before it working, active and unnamed', async () => {
    const serverUrl = inject('serverUrl');
    const name = `wallets_keys_migration_${process.pid}_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`).finally(() => admin.end());
    const url = withDatabase(serverUrl, name);
    const old = await openOrm({ databaseUrl: url, poolMax: 2 });
    try {
      await old.getMigrator().up({ to: 'migration-20261125200746-webhooks' });
      const secret = 'wk_made-before-the-rotation-migration';
      await old.em.getConnection().execute(
        `insert into organizations (id, name, created_at) values ('6f1c3a52-4c1e-4d7e-9a51-0d6f3b1d2a01', 'Old org', now());
           insert into api_keys (id, organization_id, key_hash, prefix, created_at)
             values ('6f1c3a52-4c1e-4d7e-9a51-0d6f3b1d2a02', '6f1c3a52-4c1e-4d7e-9a51-0d6f3b1d2a01', '${hashApiKey(secret)}', 'wk_made-', now());`,
      );
      await migrate(old);
      const fork = old.em.fork() as EntityManager;
      expect(await findOrganizationByApiKey(fork, secret)).toEqual({ id: '6f1c3a52-4c1e-4d7e-9a51-0d6f3b1d2a01', name: 'Old org' });
      const { items } = await listApiKeys(fork, '6f1c3a52-4c1e-4d7e-9a51-0d6f3b1d2a01');
      expect(items).toEqual([
        {
          id: '6f1c3a52-4c1e-4d7e-9a51-0d6f3b1d2a02',
          name: null,
          prefix: 'wk_made-',
          createdAt: expect.any(Date),
          lastUsedAt: null,
          revokedAt: null,
        },
      ]);
    } finally {
      await old.close(true);
      await dropDatabase(serverUrl, url);
    }
  });
});

describe('create, list, revoke', () => {
  it('gives a working secret once and lists keys newest first without it', async () => {
    const { organization, apiKey: firstSecret } = await createOrganization(em(), 'keys', now);
    const created = await createApiKey(em(), organization.id, { name: 'deploy 2' }, later);
    expect(created.secret).toMatch(/^wk_[A-Za-z0-9_-]{32}$/);
    expect(created.apiKey).toEqual({
      id: expect.any(String),
      name: 'deploy 2',
      prefix: created.secret.slice(0, 8),
      createdAt: later,
      lastUsedAt: null,
      revokedAt: null,
    });
    expect((await findActiveApiKey(em(), hashApiKey(created.secret)))?.organization.id).toBe(organization.id);
    const { items } = await listApiKeys(em(), organization.id);
    expect(items.map((k) => k.id)[0]).toBe(created.apiKey.id);
    expect(items).toHaveLength(2);
    expect(JSON.stringify(items)).not.toContain(created.secret.slice(8));
    expect(JSON.stringify(items)).not.toContain(hashApiKey(created.secret));
    expect(JSON.stringify(items)).not.toContain(firstSecret.slice(8));
  });

  it('refuses a key for an organization that does not exist', async () => {
    expect(await codeOf(createApiKey(em(), '00000000-0000-4000-8000-000000000000', {}, now))).toBe('ORGANIZATION_NOT_FOUND');
    expect(await codeOf(createApiKey(em(), 'not-a-uuid', {}, now))).toBe('ORGANIZATION_NOT_FOUND');
  });

  it('revokes once, keeps the last active key, and treats another organization’s key as not found', async () => {
    const a = (await createOrganization(em(), 'a', now)).organization.id;
    const b = await newOrganization(orm);
    const [first] = (await listApiKeys(em(), a)).items;
    const second = await createApiKey(em(), a, {}, later);
    const [bKey] = (await listApiKeys(em(), b)).items;

    expect(await codeOf(revokeApiKey(em(), a, bKey!.id, now))).toBe('API_KEY_NOT_FOUND');
    expect(await codeOf(revokeApiKey(em(), a, 'nope', now))).toBe('API_KEY_NOT_FOUND');
    expect((await listApiKeys(em(), b)).items[0]?.revokedAt).toBeNull();

    const revoked = await revokeApiKey(em(), a, first!.id, now);
    expect(revoked.revokedAt).toEqual(now);
    expect(await revokeApiKey(em(), a, first!.id, later)).toEqual(revoked);

    expect(await codeOf(revokeApiKey(em(), a, second.apiKey.id, now))).toBe('LAST_ACTIVE_API_KEY');
    expect(await findActiveApiKey(em(), hashApiKey(second.secret))).not.toBeNull();
    expect((await listApiKeys(em(), a)).items.map((k) => [k.id, k.revokedAt])).toEqual([
      [second.apiKey.id, null],
      [first!.id, now],
    ]);
  });

  it('lets only one of two racing revocations of the last two keys win', async () => {
    for (let round = 0; round < 5; round += 1) {
      const organizationId = await newOrganization(orm);
      await createApiKey(em(), organizationId, {}, now);
      const ids = (await listApiKeys(em(), organizationId)).items.map((k) => k.id);
      const outcomes = await Promise.allSettled(ids.map((id) => revokeApiKey(em(), organizationId, id, now)));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      const failure = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect((failure.reason as WalletError).code).toBe('LAST_ACTIVE_API_KEY');
      const { rows } = await pool.query('select count(*)::int as active from api_keys where organization_id = $1 and revoked_at is null', [
        organizationId,
      ]);
      expect(rows[0].active).toBe(1);
    }
  });

  it('writes lastUsedAt at most once a minute', async () => {
    const organizationId = await newOrganization(orm);
    const { apiKey } = await createApiKey(em(), organizationId, {}, now);
    const at = (s: number) => new Date(now.getTime() + s * 1000);
    expect(await touchApiKey(em(), apiKey.id, at(0))).toBe(true);
    expect(await touchApiKey(em(), apiKey.id, at(59))).toBe(false);
    expect((await listApiKeys(em(), organizationId)).items.find((k) => k.id === apiKey.id)?.lastUsedAt).toEqual(at(0));
    expect(await touchApiKey(em(), apiKey.id, at(60))).toBe(true);
    expect((await listApiKeys(em(), organizationId)).items.find((k) => k.id === apiKey.id)?.lastUsedAt).toEqual(at(60));
  });
});

describe('the revocation listener', () => {
  let listener: ApiKeyRevocationListener;
  const heard: string[] = [];
  const states: boolean[] = [];

  beforeAll(async () => {
    listener = listenForApiKeyRevocations({
      databaseUrl: inject('databaseUrl'),
      applicationName: `wallets-keys-test-${process.pid}`,
      onRevoked: (id) => heard.push(id),
      onLiveChange: (live) => states.push(live),
      log: () => undefined,
      minReconnectMs: 20,
    });
    await listener.firstAttempt;
  });
  afterAll(() => listener.stop());

  async function revokeOne(): Promise<string> {
    const organizationId = await newOrganization(orm);
    const { apiKey } = await createApiKey(em(), organizationId, {}, now);
    await revokeApiKey(em(), organizationId, apiKey.id, now);
    return apiKey.id;
  }

  it('hears a revocation once it commits', async () => {
    expect(listener.isLive()).toBe(true);
    const id = await revokeOne();
    await until('the notification', () => heard.includes(id));
  });

  it('does not notify when a revocation is refused or rolled back', async () => {
    const organizationId = await newOrganization(orm);
    const [only] = (await listApiKeys(em(), organizationId)).items;
    expect(await codeOf(revokeApiKey(em(), organizationId, only!.id, now))).toBe('LAST_ACTIVE_API_KEY');
    // A marker sent after the refusal: once it arrives, anything the refusal sent would have too.
    await pool.query('select pg_notify($1, $2)', [API_KEY_REVOKED_CHANNEL, `marker-${organizationId}`]);
    await until('the marker', () => heard.includes(`marker-${organizationId}`));
    expect(heard).not.toContain(only!.id);
  });

  it('reconnects after its connection is killed, and hears revocations again', async () => {
    const before = states.length;
    const { rows } = await pool.query('select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = $1', [
      listener.applicationName,
    ]);
    expect(rows.map((r) => r.killed)).toEqual([true]);
    await until('the listener to come back', () => states.slice(before).join() === 'false,true');
    expect(listener.isLive()).toBe(true);
    const id = await revokeOne();
    await until('the notification after reconnecting', () => heard.includes(id));
  });
});
