/**
 * Database errors are mapped once, by SQLSTATE and constraint, on both paths: the door's raw
 * statements and the ORM's. A CHECK breach is an InvariantViolation (and the door writes nothing),
 * a known unique breach its domain code, anything else stays what it was.
 */
import { InvariantViolation, WalletError } from '@wallets/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mutate, newOrganization, openTestOrm } from '../test/helpers.js';
import { translateDbError } from './db-errors.js';
import { groupDbOf, runGroupMutation } from './group-mutation.js';
import { EMPTY_DELTA } from './group-writer.js';
import { createWallet, upsertCustomer } from './index.js';
import type { Orm } from './orm.js';

let orm: Orm;
let pool: pg.Pool;
let org: string;
let walletId: string;
const now = new Date('2026-06-01T00:00:00Z');

beforeAll(async () => {
  orm = await openTestOrm();
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
  org = await newOrganization(orm);
  await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'c1', currency: 'EUR' }));
  walletId = (await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'c1', rateAmount: 100_000n, currency: 'EUR', code: 'main' })))
    .id;
});

afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

const balance = async () => (await pool.query('select balance_cents from wallets where id = $1', [walletId])).rows[0].balance_cents;

describe('database errors', () => {
  it('a delta that breaks a CHECK is an InvariantViolation naming the constraint, and nothing is written', async () => {
    const door = { db: groupDbOf(orm), scope: { organizationId: org, procedure: 'test', idempotencyKey: 'k-check', request: {}, now } };
    const attempt = runGroupMutation(door, { customer: { externalId: 'c1' }, scope: { currency: 'EUR' } }, ({ records }) => {
      const wallet = { ...records!.wallets[0]!, balanceCents: -1n };
      return { answer: null, delta: { ...EMPTY_DELTA, wallets: [wallet] } };
    });
    await expect(attempt).rejects.toBeInstanceOf(InvariantViolation);
    await expect(attempt).rejects.toThrow(/wallets_balances_non_negative/);
    expect(await balance()).toBe('0');
    const claims = await pool.query('select count(*)::int as n from idempotency_records where organization_id = $1 and key = $2', [org, 'k-check']);
    expect(claims.rows[0].n).toBe(0);
  });

  it('a known unique breach is its domain code, from raw SQL and from the ORM alike', async () => {
    const raw = await pool
      .query(
        `insert into wallets (id, organization_id, customer_id, code, currency, rate_amount, created_at, updated_at)
         select gen_random_uuid(), organization_id, customer_id, code, currency, rate_amount, now(), now() from wallets where id = $1`,
        [walletId],
      )
      .catch((error: unknown) => error);
    expect(translateDbError(raw)).toMatchObject({ code: 'CODE_ALREADY_EXISTS' });
    await expect(
      mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'c1', rateAmount: 100_000n, currency: 'EUR', code: 'main' })),
    ).rejects.toMatchObject({ code: 'CODE_ALREADY_EXISTS' });
  });

  it("every connection asks for UTF-8: the door's (from the ORM's pool) and a plain client's", async () => {
    const { client, release } = await groupDbOf(orm).acquire();
    try {
      expect((client as unknown as { connectionParameters: { client_encoding: string } }).connectionParameters.client_encoding).toBe('UTF8');
    } finally {
      release();
    }
    const plain = new pg.Client({ connectionString: inject('databaseUrl') });
    expect((plain as unknown as { connectionParameters: { client_encoding: string } }).connectionParameters.client_encoding).toBe('UTF8');
  });

  it('leaves other errors as they are (they answer as internal errors)', async () => {
    const error = await pool.query('select 1 / 0').catch((e: unknown) => e);
    expect(translateDbError(error)).toBe(error);
    const domain = new WalletError('WALLET_NOT_FOUND', 'x', {});
    expect(translateDbError(domain)).toBe(domain);
  });
});
