/**
 * API keys over HTTP (CONTRACT.md "Second round", API keys): several keys per organization, the
 * secret shown once and never listed, revocation (refused at once by the process that revoked),
 * the last active key kept, another organization's key ids NOT_FOUND, operator-made keys,
 * `lastUsedAt` at most once a minute, and the key read from `?connectionParams=` for
 * subscriptions only. Across processes: api-keys-processes.test.ts.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createInProcessWalletClient } from '../src/in-process.js';
import { transformer } from '../src/transformer.js';
import { ADMIN_TOKEN, errorOf, type Harness, startHarness } from './harness.js';

let h: Harness;
let db: pg.Pool;
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
});
afterAll(async () => {
  await db.end();
  await h.stop();
});

describe('apiKeys', () => {
  it('creates working keys whose secret is shown once, and lists them without secret or hash', async () => {
    const t = await h.newTenant();
    const created = await t.client.apiKeys.create.mutate({ name: '  deploy 2026-12  ' });
    expect(Object.keys(created).sort()).toEqual(['apiKey', 'secret']);
    expect(created.apiKey).toEqual({
      id: expect.any(String),
      name: 'deploy 2026-12',
      prefix: created.secret.slice(0, 8),
      createdAt: h.clock.now(),
      lastUsedAt: null,
      revokedAt: null,
    });
    const unnamed = await t.client.apiKeys.create.mutate();
    expect(unnamed.apiKey.name).toBeNull();

    const viaNewKey = h.client(created.secret);
    await viaNewKey.customers.upsert.mutate({ externalId: 'cus_1' });
    expect((await t.client.customers.get.query({ externalId: 'cus_1' })).externalId).toBe('cus_1');

    const { items } = await viaNewKey.apiKeys.list.query();
    expect(items.map((k) => k.id)).toEqual(expect.arrayContaining([created.apiKey.id, unnamed.apiKey.id]));
    expect(items).toHaveLength(3);
    for (const item of items) expect(Object.keys(item).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt']);
    const { rows } = await db.query<{ key_hash: string }>('select key_hash from api_keys where organization_id = $1', [t.organizationId]);
    const listed = JSON.stringify(items);
    for (const secret of [t.apiKey, created.secret, unnamed.secret]) expect(listed).not.toContain(secret.slice(8));
    for (const { key_hash } of rows) expect(listed).not.toContain(key_hash);
  });

  it('rotates: a revoked key is refused at once by the process that revoked it, the new one works', async () => {
    const t = await h.newTenant();
    await t.client.customers.upsert.mutate({ externalId: 'cus_1' }); // the old key is cached now
    const [old] = (await t.client.apiKeys.list.query()).items;
    const { secret } = await t.client.apiKeys.create.mutate({ name: 'new' });
    const fresh = h.client(secret);
    const revoked = await fresh.apiKeys.revoke.mutate({ id: old!.id });
    expect(revoked).toMatchObject({ id: old!.id, revokedAt: h.clock.now() });
    expect(await errorOf(t.client.customers.get.query({ externalId: 'cus_1' }))).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await fresh.customers.get.query({ externalId: 'cus_1' })).externalId).toBe('cus_1');
    // Revoking again changes nothing; the revoked key stays listed.
    h.clock.advance(1000);
    expect(await fresh.apiKeys.revoke.mutate({ id: old!.id })).toEqual(revoked);
    expect((await fresh.apiKeys.list.query()).items.find((k) => k.id === old!.id)?.revokedAt).toEqual(revoked.revokedAt);
  });

  it('keeps the last active key', async () => {
    const t = await h.newTenant();
    const [only] = (await t.client.apiKeys.list.query()).items;
    expect(await errorOf(t.client.apiKeys.revoke.mutate({ id: only!.id }))).toMatchObject({
      code: 'CONFLICT',
      walletErrorCode: 'LAST_ACTIVE_API_KEY',
    });
    // With a revoked second key, the first is still the last active one.
    const second = await t.client.apiKeys.create.mutate();
    await t.client.apiKeys.revoke.mutate({ id: second.apiKey.id });
    expect(await errorOf(t.client.apiKeys.revoke.mutate({ id: only!.id }))).toMatchObject({ walletErrorCode: 'LAST_ACTIVE_API_KEY' });
    expect((await t.client.apiKeys.list.query()).items.find((k) => k.id === only!.id)?.revokedAt).toBeNull();
  });

  it("answers NOT_FOUND for another organization's key ids and never lists them", async () => {
    const a = await h.newTenant();
    const b = await h.newTenant();
    await b.client.apiKeys.create.mutate();
    const bKeys = (await b.client.apiKeys.list.query()).items;
    for (const key of bKeys) {
      expect(await errorOf(a.client.apiKeys.revoke.mutate({ id: key.id }))).toMatchObject({
        code: 'NOT_FOUND',
        walletErrorCode: 'API_KEY_NOT_FOUND',
      });
    }
    expect(await errorOf(a.client.apiKeys.revoke.mutate({ id: 'not-an-id' }))).toMatchObject({ walletErrorCode: 'API_KEY_NOT_FOUND' });
    const aIds = (await a.client.apiKeys.list.query()).items.map((k) => k.id);
    expect(aIds.some((id) => bKeys.some((k) => k.id === id))).toBe(false);
    expect((await b.client.apiKeys.list.query()).items.every((k) => k.revokedAt === null)).toBe(true);
  });

  it('refuses bad names', async () => {
    const t = await h.newTenant();
    for (const name of ['', '   ', 'x'.repeat(256)]) {
      expect(await errorOf(t.client.apiKeys.create.mutate({ name }))).toMatchObject({ walletErrorCode: 'VALIDATION_FAILED' });
    }
    expect((await t.client.apiKeys.list.query()).items).toHaveLength(1);
  });

  it('records lastUsedAt at most once a minute per key', async () => {
    const t = await h.newTenant();
    const used = await t.client.apiKeys.create.mutate({ name: 'used' });
    const lastUsed = async () => (await t.client.apiKeys.list.query()).items.find((k) => k.id === used.apiKey.id)?.lastUsedAt;
    expect(await lastUsed()).toBeNull();
    const start = h.clock.now();
    await h.client(used.secret).customers.list.query();
    expect(await lastUsed()).toEqual(start);
    h.clock.advance(59_000);
    await h.client(used.secret).customers.list.query();
    expect(await lastUsed()).toEqual(start);
    h.clock.advance(1_000);
    await h.client(used.secret).customers.list.query();
    expect(await lastUsed()).toEqual(h.clock.now());
  });
});

describe('admin.createApiKey', () => {
  it("makes a key for any organization, refuses unknown organizations and organizations' own keys", async () => {
    const t = await h.newTenant();
    const made = await h.admin.admin.createApiKey.mutate({ organizationId: t.organizationId, name: 'replacement' });
    expect(made.apiKey).toMatchObject({ name: 'replacement', revokedAt: null });
    await h.client(made.secret).customers.upsert.mutate({ externalId: 'cus_admin' });
    expect((await t.client.customers.get.query({ externalId: 'cus_admin' })).externalId).toBe('cus_admin');

    expect(await errorOf(h.admin.admin.createApiKey.mutate({ organizationId: '00000000-0000-4000-8000-000000000000' }))).toMatchObject({
      code: 'NOT_FOUND',
      walletErrorCode: 'ORGANIZATION_NOT_FOUND',
    });
    expect(await errorOf(t.client.admin.createApiKey.mutate({ organizationId: t.organizationId }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await errorOf(h.client(ADMIN_TOKEN).apiKeys.list.query())).toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('where the key may travel', () => {
  const params = (apiKey: string) => `connectionParams=${encodeURIComponent(JSON.stringify({ apiKey }))}`;

  it('refuses a query or mutation whose key is only in ?connectionParams=', async () => {
    const t = await h.newTenant();
    const input = encodeURIComponent(JSON.stringify(transformer.serialize({})));
    const query = await fetch(`${h.app.url}/trpc/customers.list?input=${input}&${params(t.apiKey)}`);
    expect(query.status).toBe(401);
    expect(await query.text()).toContain('UNAUTHORIZED');
    const mutation = await fetch(`${h.app.url}/trpc/apiKeys.create?${params(t.apiKey)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(transformer.serialize({})),
    });
    expect(mutation.status).toBe(401);
    expect((await t.client.apiKeys.list.query()).items).toHaveLength(1);
    // The same query with the header passes.
    const withHeader = await fetch(`${h.app.url}/trpc/customers.list?input=${input}`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(withHeader.status).toBe(200);
  });

  it('accepts the key in connectionParams for a subscription', async () => {
    const t = await h.newTenant();
    const controller = new AbortController();
    const response = await fetch(
      `${h.app.url}/trpc/events.onEvent?input=${encodeURIComponent(JSON.stringify(transformer.serialize({})))}&${params(t.apiKey)}`,
      {
        signal: controller.signal,
      },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    controller.abort();
  });
});

describe('in-process clients', () => {
  it('refuse a key revoked through them at once', async () => {
    const t = await h.newTenant();
    const other = await t.client.apiKeys.create.mutate();
    const services = { orm: h.app.orm, clock: h.clock };
    const viaOld = createInProcessWalletClient(services, t.apiKey);
    await viaOld.customers.list.query();
    const [old] = (await viaOld.apiKeys.list.query()).items.filter((k) => k.id !== other.apiKey.id);
    await createInProcessWalletClient(services, other.secret).apiKeys.revoke.mutate({ id: old!.id });
    expect(await errorOf(viaOld.customers.list.query())).toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
