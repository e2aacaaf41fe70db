/**
 * Idempotency keys over HTTP (CONTRACT.md "Wire conventions", DESIGN.md "Interfaces"): every
 * mutation takes one; a replay returns the first result and writes nothing; concurrent replays wait
 * for the first; another payload under a used key is IDEMPOTENCY_KEY_REUSED; the scope is
 * organization + procedure.
 */
import { auditLedger } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { WalletClient } from '../src/client/index.js';
import { errorOf, type Harness, rowCounts, startHarness } from './harness.js';

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
beforeEach(() => h.clock.set('2026-04-01T08:00:00.000Z'));

const MINUTE = 60_000;

async function tenant() {
  const t = await h.newTenant();
  await t.client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
  return t;
}

async function walletOf(client: WalletClient, extra: Record<string, unknown> = {}) {
  return client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', ...extra });
}

/** Calls `run` once, then replays it; checks the replay is the identical first result and wrote nothing. */
async function expectReplay<T>(organizationId: string, run: () => Promise<T>, between?: () => Promise<unknown>): Promise<T> {
  const first = await run();
  await between?.();
  const counts = await rowCounts(db, organizationId);
  h.clock.advance(MINUTE);
  const replay = await run();
  expect(replay).toEqual(first);
  expect(await rowCounts(db, organizationId)).toEqual(counts);
  return first;
}

describe('every mutation accepts an idempotency key and replays its first result', () => {
  it('customers.upsert', async () => {
    const { client, organizationId } = await h.newTenant();
    const first = await expectReplay(organizationId, () =>
      client.customers.upsert.mutate({ externalId: 'cus_k', timezone: 'Europe/Paris', idempotencyKey: 'upsert-1' }),
    );
    expect(first.timezone).toBe('Europe/Paris');
    // Even after the customer changed, the replay returns the first result and does not undo the change.
    await client.customers.upsert.mutate({ externalId: 'cus_k', timezone: 'Asia/Tokyo' });
    expect(await client.customers.upsert.mutate({ externalId: 'cus_k', timezone: 'Europe/Paris', idempotencyKey: 'upsert-1' })).toEqual(first);
    expect((await client.customers.get.query({ externalId: 'cus_k' })).timezone).toBe('Asia/Tokyo');
  });

  it('wallets.create (with granted and paid credits and a rule)', async () => {
    const { client, organizationId } = await tenant();
    const input = {
      externalCustomerId: 'cus_1',
      rateAmount: '1.5',
      name: 'Keyed',
      grantedCredits: '10',
      paidCredits: '4',
      expirationAt: new Date('2026-09-01T00:00:00.000Z'),
      recurringTransactionRules: [{ trigger: 'interval' as const, interval: 'weekly' as const, grantedCredits: '1' }],
      idempotencyKey: 'create-1',
    };
    const wallet = await expectReplay(organizationId, () => client.wallets.create.mutate(input));
    expect(wallet.expirationAt).toBeInstanceOf(Date);
    expect(wallet.recurringTransactionRules[0]?.createdAt).toBeInstanceOf(Date);
    expect((await client.wallets.list.query({})).items).toHaveLength(1);
    expect((await client.walletTransactions.list.query({ walletId: wallet.id })).items).toHaveLength(2);
  });

  it('wallets.update: the replay returns the first result even after later changes', async () => {
    const { client, organizationId } = await tenant();
    const wallet = await walletOf(client);
    const first = await expectReplay(organizationId, () =>
      client.wallets.update.mutate({ id: wallet.id, name: 'First', idempotencyKey: 'update-1' }),
    );
    expect(first.name).toBe('First');
    await client.wallets.update.mutate({ id: wallet.id, name: 'Second' });
    const counts = await rowCounts(db, organizationId);
    expect(await client.wallets.update.mutate({ id: wallet.id, name: 'First', idempotencyKey: 'update-1' })).toEqual(first);
    expect(await rowCounts(db, organizationId)).toEqual(counts);
    expect((await client.wallets.get.query({ id: wallet.id })).name).toBe('Second');
  });

  it('wallets.terminate', async () => {
    const { client, organizationId } = await tenant();
    const wallet = await walletOf(client, { grantedCredits: '3' });
    const terminated = await expectReplay(organizationId, () => client.wallets.terminate.mutate({ id: wallet.id, idempotencyKey: 'terminate-1' }));
    expect(terminated.status).toBe('terminated');
  });

  it('walletTransactions.create', async () => {
    const { client, organizationId } = await tenant();
    const wallet = await walletOf(client, { grantedCredits: '10' });
    const result = await expectReplay(organizationId, () =>
      client.walletTransactions.create.mutate({
        walletId: wallet.id,
        paidCredits: '5',
        grantedCredits: '2',
        voidedCredits: '1',
        idempotencyKey: 'tx-1',
      }),
    );
    expect(result.transactions).toHaveLength(3);
    expect((await client.wallets.get.query({ id: wallet.id })).creditsBalance).toBe('11');
  });

  it('walletTransactions.recordPayment: a replayed success after a failure returns the success', async () => {
    const { client, organizationId } = await tenant();
    const wallet = await walletOf(client);
    const { transactions } = await client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '5' });
    const id = transactions[0]?.id ?? '';
    const settled = await expectReplay(organizationId, () =>
      client.walletTransactions.recordPayment.mutate({ id, status: 'succeeded', invoiceId: 'inv_1', idempotencyKey: 'pay-1' }),
    );
    expect(settled.status).toBe('settled');
    // A later claw-back does not change what the keyed report answers.
    await client.walletTransactions.recordPayment.mutate({ id, status: 'failed' });
    expect(await client.walletTransactions.recordPayment.mutate({ id, status: 'succeeded', invoiceId: 'inv_1', idempotencyKey: 'pay-1' })).toEqual(
      settled,
    );
    expect((await client.wallets.get.query({ id: wallet.id })).balanceCents).toBe(0);
  });
});

describe('concurrent replays over HTTP', () => {
  it('20 concurrent walletTransactions.create with one key: one effect, 20 identical answers', async () => {
    const { client, organizationId } = await tenant();
    const wallet = await walletOf(client);
    const before = await rowCounts(db, organizationId);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '10', idempotencyKey: 'burst' }),
      ),
    );
    for (const result of results) expect(result).toEqual(results[0]);
    const after = await rowCounts(db, organizationId);
    expect(Number(after?.transactions) - Number(before?.transactions)).toBe(1);
    expect(Number(after?.keys) - Number(before?.keys)).toBe(1);
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ balanceCents: 1000, creditsBalance: '10' });
    expect((await auditLedger(inject('databaseUrl'))).filter((p) => p.walletId === wallet.id)).toEqual([]);
  });

  it('20 concurrent wallets.create with one key: one wallet', async () => {
    const { client, organizationId } = await tenant();
    const before = await rowCounts(db, organizationId);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '7', idempotencyKey: 'w' }),
      ),
    );
    for (const result of results) expect(result).toEqual(results[0]);
    const after = await rowCounts(db, organizationId);
    expect(Number(after?.wallets) - Number(before?.wallets)).toBe(1);
    expect(Number(after?.transactions) - Number(before?.transactions)).toBe(1);
    expect((await client.wallets.list.query({})).items.map((w) => w.id)).toEqual([results[0]?.id]);
  });

  it('20 concurrent recordPayment with one key and 20 without: settled once', async () => {
    const { client, organizationId } = await tenant();
    const wallet = await walletOf(client);
    const { transactions } = await client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '12' });
    const id = transactions[0]?.id ?? '';
    const before = await rowCounts(db, organizationId);
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        client.walletTransactions.recordPayment.mutate({ id, status: 'succeeded', ...(i % 2 ? { idempotencyKey: 'pay' } : {}) }),
      ),
    );
    for (const result of results) expect(result).toEqual(results[0]);
    expect((await rowCounts(db, organizationId))?.transactions).toBe(before?.transactions);
    expect((await client.wallets.get.query({ id: wallet.id })).balanceCents).toBe(1200);
  });
});

describe('key scope and reuse', () => {
  it('the same key with another payload is IDEMPOTENCY_KEY_REUSED (CONFLICT) and writes nothing', async () => {
    const { client, organizationId } = await tenant();
    const wallet = await walletOf(client);
    await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '10', idempotencyKey: 'k' });
    const counts = await rowCounts(db, organizationId);
    for (const other of [
      { walletId: wallet.id, grantedCredits: '11', idempotencyKey: 'k' },
      { walletId: wallet.id, grantedCredits: '10', name: 'renamed', idempotencyKey: 'k' },
      { walletId: wallet.id, paidCredits: '10', idempotencyKey: 'k' },
    ]) {
      const error = await errorOf(client.walletTransactions.create.mutate(other));
      expect(error).toMatchObject({ code: 'CONFLICT', walletErrorCode: 'IDEMPOTENCY_KEY_REUSED' });
    }
    const update = await client.wallets.update.mutate({ id: wallet.id, priority: 5, idempotencyKey: 'u' });
    expect(await errorOf(client.wallets.update.mutate({ id: wallet.id, priority: 6, idempotencyKey: 'u' }))).toMatchObject({
      code: 'CONFLICT',
      walletErrorCode: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect((await client.wallets.get.query({ id: wallet.id })).priority).toBe(update.priority);
    const afterCounts = await rowCounts(db, organizationId);
    expect({ ...afterCounts, events: undefined, keys: undefined }).toEqual({ ...counts, events: undefined, keys: undefined });
    expect(Number(afterCounts?.keys)).toBe(Number(counts?.keys) + 1);
    expect((await client.wallets.get.query({ id: wallet.id })).balanceCents).toBe(1000);
  });

  it('the same key on two procedures is two keys', async () => {
    const { client } = await tenant();
    const wallet = await walletOf(client, { idempotencyKey: 'shared' });
    const topUp = await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '4', idempotencyKey: 'shared' });
    expect(topUp.transactions).toHaveLength(1);
    const updated = await client.wallets.update.mutate({ id: wallet.id, name: 'Shared', idempotencyKey: 'shared' });
    expect(updated).toMatchObject({ name: 'Shared', balanceCents: 400 });
    await client.customers.upsert.mutate({ externalId: 'cus_2', idempotencyKey: 'shared' });
    const terminated = await client.wallets.terminate.mutate({ id: wallet.id, idempotencyKey: 'shared' });
    expect(terminated.status).toBe('terminated');
    expect((await client.customers.list.query({})).items).toHaveLength(2);
  });

  it('keys are per organization: two organizations may use the same key for their own requests', async () => {
    const a = await tenant();
    const b = await tenant();
    const walletA = await walletOf(a.client, { idempotencyKey: 'same' });
    const walletB = await walletOf(b.client, { idempotencyKey: 'same' });
    expect(walletB.id).not.toBe(walletA.id);
    const topA = await a.client.walletTransactions.create.mutate({ walletId: walletA.id, grantedCredits: '1', idempotencyKey: 'same-tx' });
    // Another payload under the same key is fine in another organization.
    const topB = await b.client.walletTransactions.create.mutate({ walletId: walletB.id, grantedCredits: '2', idempotencyKey: 'same-tx' });
    expect(topB.transactions[0]?.walletId).toBe(walletB.id);
    expect(topB.transactions[0]?.id).not.toBe(topA.transactions[0]?.id);
    expect((await a.client.wallets.get.query({ id: walletA.id })).creditsBalance).toBe('1');
    expect((await b.client.wallets.get.query({ id: walletB.id })).creditsBalance).toBe('2');
    // B replaying A's exact request under A's key is B's own request: A's wallet is not found in B.
    const cross = await errorOf(b.client.walletTransactions.create.mutate({ walletId: walletA.id, grantedCredits: '1', idempotencyKey: 'same-tx' }));
    expect(cross.walletErrorCode).toBe('IDEMPOTENCY_KEY_REUSED');
    const fresh = await errorOf(b.client.walletTransactions.create.mutate({ walletId: walletA.id, grantedCredits: '1', idempotencyKey: 'b-only' }));
    expect(fresh).toMatchObject({ code: 'NOT_FOUND', walletErrorCode: 'WALLET_NOT_FOUND' });
  });

  it('a key whose first request failed is free: the retry runs as a first attempt', async () => {
    const { client, organizationId } = await h.newTenant();
    const missing = await errorOf(
      client.wallets.create.mutate({ externalCustomerId: 'cus_late', rateAmount: '1', currency: 'EUR', idempotencyKey: 'retry' }),
    );
    expect(missing.walletErrorCode).toBe('CUSTOMER_NOT_FOUND');
    expect((await rowCounts(db, organizationId))?.keys).toBe('0');
    await client.customers.upsert.mutate({ externalId: 'cus_late' });
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_late', rateAmount: '1', currency: 'EUR', idempotencyKey: 'retry' });
    expect(wallet.externalCustomerId).toBe('cus_late');
  });

  it('a key is refused when empty or longer than 255 characters', async () => {
    const { client } = await tenant();
    for (const idempotencyKey of ['', 'k'.repeat(256)]) {
      const error = await errorOf(walletOf(client, { idempotencyKey }));
      expect(error.walletErrorCode).toBe('VALIDATION_FAILED');
      expect(error.issues?.map((i) => i.path.join('.'))).toEqual(['idempotencyKey']);
    }
    expect((await walletOf(client, { idempotencyKey: 'k'.repeat(255) })).status).toBe('active');
  });
});
