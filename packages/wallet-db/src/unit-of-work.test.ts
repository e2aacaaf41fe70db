import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mutate, newOrganization, openTestOrm } from '../test/helpers.js';
import {
  type CreateWalletInput,
  createWallet,
  createWalletTransactions,
  getCustomer,
  groupDbOf,
  runMutation,
  upsertCustomer,
  type Work,
} from './index.js';
import type { Orm } from './orm.js';
import { auditLedger } from './testing/index.js';

let orm: Orm;
let org: string;
let pool: pg.Pool;
const now = new Date('2026-08-01T00:00:00Z');
const em = () => orm.em.fork() as EntityManager;

/** Runs a command the way the api does: the request (without its key) is what a replay must match. */
function call<T>(
  organizationId: string,
  procedure: string,
  input: { idempotencyKey?: string } & Record<string, unknown>,
  fn: (work: Work) => Promise<T>,
) {
  const { idempotencyKey, ...request } = input;
  return runMutation(orm.em as EntityManager, { organizationId, procedure, idempotencyKey, request, now }, fn);
}

/** wallets.create as the api runs it: through the door, idempotent under the input's key. */
function create(input: CreateWalletInput & { idempotencyKey?: string }, organizationId = org, procedure = 'wallets.create') {
  const { idempotencyKey, ...request } = input;
  return createWallet({ door: { db: groupDbOf(orm), scope: { organizationId, procedure, idempotencyKey, request, now } } }, input);
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

async function footprint(organizationId = org) {
  const rows = await sql<{ wallets: string; transactions: string; events: string; records: string }>(
    `select (select count(*) from wallets where organization_id = $1)::text as wallets,
            (select count(*) from wallet_transactions where organization_id = $1)::text as transactions,
            (select count(*) from events where organization_id = $1)::text as events,
            (select count(*) from idempotency_records where organization_id = $1)::text as records`,
    [organizationId],
  );
  return rows[0];
}

beforeAll(async () => {
  orm = await openTestOrm();
  org = await newOrganization(orm);
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 3 });
  for (const externalId of ['u1', 'u2', 'u3', 'u4']) {
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId, currency: 'EUR' }));
  }
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

describe('runMutation idempotency', () => {
  it('returns the first result for a replay of the same request and writes nothing more', async () => {
    const input = { externalCustomerId: 'u1', rateAmount: 100_000n, grantedCredits: 500_000n, paidCredits: 100_000n, idempotencyKey: 'k-1' };
    const first = await create(input);
    expect(first.balanceCents).toBe(500);
    const before = await footprint();
    expect(before).toMatchObject({ wallets: '1', transactions: '2', records: '1' });
    const replay = await create(input);
    expect(replay).toEqual(first);
    expect(replay.createdAt).toBeInstanceOf(Date);
    expect(await footprint()).toEqual(before);
  });

  it('refuses the same key with another request, writing nothing', async () => {
    await create({ externalCustomerId: 'u2', rateAmount: 100_000n, grantedCredits: 100_000n, idempotencyKey: 'k-2' });
    const before = await footprint();
    await expect(create({ externalCustomerId: 'u2', rateAmount: 100_000n, grantedCredits: 200_000n, idempotencyKey: 'k-2' })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect(await footprint()).toEqual(before);
  });

  it('scopes keys by organization and procedure', async () => {
    const input = { externalCustomerId: 'u3', rateAmount: 100_000n, idempotencyKey: 'k-3' };
    const a = await create(input, org, 'wallets.create');
    const b = await create(input, org, 'wallets.create.other');
    expect(b.id).not.toBe(a.id);
    const otherOrg = await newOrganization(orm);
    await mutate(orm, otherOrg, now, (w) => upsertCustomer(w, { externalId: 'u3', currency: 'EUR' }));
    const c = await create(input, otherOrg);
    expect(c.id).not.toBe(a.id);
    expect(await footprint(otherOrg)).toMatchObject({ wallets: '1', records: '1' });
  });

  it('lets 10 concurrent replays of one key produce one effect and one result', async () => {
    const input = { externalCustomerId: 'u4', rateAmount: 100_000n, grantedCredits: 300_000n, idempotencyKey: 'k-4' };
    const before = await footprint();
    const results = await Promise.all(Array.from({ length: 10 }, () => create(input)));
    for (const result of results) expect(result).toEqual(results[0]);
    const after = await footprint();
    expect(Number(after?.wallets)).toBe(Number(before?.wallets) + 1);
    expect(Number(after?.transactions)).toBe(Number(before?.transactions) + 1);
    expect(Number(after?.records)).toBe(Number(before?.records) + 1);
    const created = await sql<{ n: string }>(
      `select count(*)::text as n from events where organization_id = $1 and type = 'wallet.created' and data->>'id' = $2`,
      [org, results[0]?.id],
    );
    expect(created[0]?.n).toBe('1');
  });

  it('writes nothing when the mutation fails: no record, no events, no rows', async () => {
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'fails' }));
    const before = await footprint();
    // The customer's currency is set before the failure: all of it rolls back, the key's record too.
    const failing = (work: Work) =>
      upsertCustomer(work, { externalId: 'fails', currency: 'USD' }).then(() => {
        throw new WalletError('VALIDATION_FAILED', 'failed after writing');
      });
    await expect(call(org, 'wallets.create', { idempotencyKey: 'k-5', attempt: 1 }, failing)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await footprint()).toEqual(before);
    expect((await getCustomer(em(), org, 'fails')).currency).toBeNull();

    // A command's own refusal rolls back the same way.
    await expect(
      create({
        externalCustomerId: 'fails',
        rateAmount: 100_000n,
        currency: 'USD',
        paidCredits: 100_000n,
        paidTopUpMinAmountCents: 500n,
        idempotencyKey: 'k-5',
      }),
    ).rejects.toMatchObject({ code: 'AMOUNT_BELOW_MINIMUM' });
    expect(await footprint()).toEqual(before);

    // The key was not used up: a later attempt (even with another request) runs as a first attempt.
    const wallet = await create({ externalCustomerId: 'fails', rateAmount: 100_000n, currency: 'USD', idempotencyKey: 'k-5' });
    expect(wallet.currency).toBe('USD');
    expect(Number((await footprint())?.records)).toBe(Number(before?.records) + 1);
  });

  it('keeps a failed ledger mutation from leaving partial rows (the door rolls back its claim too)', async () => {
    const wallet = await create({ externalCustomerId: 'u1', rateAmount: 100_000n, grantedCredits: 100_000n });
    const before = await footprint();
    const request = { walletId: wallet.id, grantedCredits: 200_000n, voidedCredits: 900_000n };
    const door = {
      db: groupDbOf(orm),
      scope: { organizationId: org, procedure: 'walletTransactions.create', idempotencyKey: 'k-6', request, now: new Date() },
    };
    await expect(createWalletTransactions({ door }, request)).rejects.toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    expect(await footprint()).toEqual(before);
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
