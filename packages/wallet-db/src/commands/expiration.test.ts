import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import { createWallet, createWalletTransactions, expireWallet, findWalletsDueForExpiration, readWallet, upsertCustomer } from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger } from '../testing/index.js';

let orm: Orm;
let org: string;
let pool: pg.Pool;
const now = new Date('2026-07-01T00:00:00Z');
const at = (hours: number) => new Date(now.getTime() + hours * 3_600_000);
const em = () => orm.em.fork() as EntityManager;

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

/** Other test files share the database: only look at this file's organization. */
async function dueHere(asOf: Date): Promise<string[]> {
  return (await findWalletsDueForExpiration(em(), asOf)).filter((d) => d.organizationId === org).map((d) => d.walletId);
}

async function footprint(walletId: string) {
  const rows = await sql<{ transactions: string; events: string; records: string }>(
    `select (select count(*) from wallet_transactions where organization_id = $1 and wallet_id = $2)::text as transactions,
            (select count(*) from events where organization_id = $1)::text as events,
            (select count(*) from idempotency_records where organization_id = $1)::text as records`,
    [org, walletId],
  );
  return rows[0];
}

async function ledger(walletId: string) {
  return sql<{ id: string; transaction_status: string; status: string; source: string; amount_cents: string; voided_transaction_id: string | null }>(
    `select id, transaction_status, status, source, amount_cents::text, voided_transaction_id from wallet_transactions
      where organization_id = $1 and wallet_id = $2 order by created_at, transaction_status, id`,
    [org, walletId],
  );
}

let counter = 0;
async function newWallet(input: { granted?: string; expirationAt?: Date; withRule?: boolean }) {
  const externalId = `exp-${++counter}`;
  await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId, currency: 'EUR' }));
  return mutate(orm, org, now, (w) =>
    createWallet(w, {
      externalCustomerId: externalId,
      rateAmount: cr('1'),
      grantedCredits: input.granted ? cr(input.granted) : undefined,
      expirationAt: input.expirationAt,
      recurringTransactionRules: input.withRule
        ? [{ trigger: 'threshold', method: 'fixed', grantedCredits: cr('1'), thresholdCredits: cr('1') }]
        : undefined,
    }),
  );
}

beforeAll(async () => {
  orm = await openTestOrm();
  org = await newOrganization(orm);
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 3 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

describe('wallet expiration', () => {
  it('terminates a wallet past its expiry: remainder voided, pending top-ups failed, rules ended', async () => {
    const wallet = await newWallet({ granted: '5', expirationAt: at(10), withRule: true });
    expect(wallet.recurringTransactionRules).toHaveLength(1);
    await mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, paidCredits: cr('3') }));

    expect(await dueHere(at(9))).not.toContain(wallet.id);
    expect(await dueHere(at(10))).toContain(wallet.id);
    const outcome = await expireWallet(em(), { organizationId: org, walletId: wallet.id }, at(10));
    expect(outcome).toEqual({ walletsExpired: 1, lotsExpired: 0 });

    expect(await readWallet(em(), org, wallet.id)).toMatchObject({
      status: 'terminated',
      terminatedAt: at(10),
      balanceCents: 0,
      creditsBalance: '0',
      consumedAmountCents: 500,
      recurringTransactionRules: [],
    });
    expect((await ledger(wallet.id)).map((t) => [t.transaction_status, t.status, t.source, t.amount_cents])).toEqual([
      ['granted', 'settled', 'manual', '500'],
      ['purchased', 'failed', 'manual', '300'],
      ['voided', 'settled', 'expiration', '500'],
    ]);
    const rules = await sql<{ status: string; terminated_at: Date }>(
      'select status, terminated_at from recurring_transaction_rules where organization_id = $1 and wallet_id = $2',
      [org, wallet.id],
    );
    expect(rules).toEqual([{ status: 'terminated', terminated_at: at(10) }]);
    const terminatedEvents = await sql<{ n: string }>(
      `select count(*)::text as n from events where organization_id = $1 and type = 'wallet.terminated' and data->>'id' = $2`,
      [org, wallet.id],
    );
    expect(terminatedEvents[0]?.n).toBe('1');

    // Running it again (a second worker, a retry) changes nothing.
    expect(await dueHere(at(11))).not.toContain(wallet.id);
    const before = await footprint(wallet.id);
    expect(await expireWallet(em(), { organizationId: org, walletId: wallet.id }, at(11))).toEqual({ walletsExpired: 0, lotsExpired: 0 });
    expect(await footprint(wallet.id)).toEqual(before);
  });

  it('voids what is left of a lot past its own expiry, pointing at the lot', async () => {
    const wallet = await newWallet({});
    const { transactions } = await mutate(orm, org, at(0), (w) =>
      createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('4'), expirationAt: at(5) }),
    );
    const lotId = transactions[0]?.id;
    await mutate(orm, org, at(0), (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('2') }));
    // The expiring lot is consumed first, leaving 3 of its 4 credits.
    await mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr('1') }));

    expect(await dueHere(at(4))).not.toContain(wallet.id);
    expect(await dueHere(at(5))).toContain(wallet.id);
    expect(await expireWallet(em(), { organizationId: org, walletId: wallet.id }, at(5))).toEqual({ walletsExpired: 0, lotsExpired: 1 });
    const expired = (await ledger(wallet.id)).filter((t) => t.source === 'expiration');
    expect(expired.map((t) => [t.transaction_status, t.amount_cents, t.voided_transaction_id])).toEqual([['voided', '300', lotId]]);
    const lot = await sql<{ remaining: string }>('select remaining_amount_cents::text as remaining from wallet_transactions where id = $1', [lotId]);
    expect(lot).toEqual([{ remaining: '0' }]);
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ status: 'active', balanceCents: 200, consumedAmountCents: 400 });

    expect(await dueHere(at(6))).not.toContain(wallet.id);
    const before = await footprint(wallet.id);
    expect(await expireWallet(em(), { organizationId: org, walletId: wallet.id }, at(6))).toEqual({ walletsExpired: 0, lotsExpired: 0 });
    expect(await footprint(wallet.id)).toEqual(before);
  });

  it('with an idempotency key, a replay returns the first outcome and writes nothing', async () => {
    const wallet = await newWallet({ granted: '8', expirationAt: at(2) });
    const due = { organizationId: org, walletId: wallet.id };
    const key = `${wallet.id}@${at(3).toISOString()}`;
    expect(await expireWallet(em(), due, at(3), key)).toEqual({ walletsExpired: 1, lotsExpired: 0 });
    const before = await footprint(wallet.id);
    expect(await expireWallet(em(), due, at(3), key)).toEqual({ walletsExpired: 1, lotsExpired: 0 });
    expect(await footprint(wallet.id)).toEqual(before);
    // Without the key the work is re-checked and finds nothing to do.
    expect(await expireWallet(em(), due, at(3))).toEqual({ walletsExpired: 0, lotsExpired: 0 });
    // The key belongs to that wallet's request.
    const other = await newWallet({});
    const beforeReuse = await footprint(wallet.id);
    await expect(expireWallet(em(), { organizationId: org, walletId: other.id }, at(3), key)).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect(await footprint(wallet.id)).toEqual(beforeReuse);
  });

  it('concurrent runs on one wallet expire it once', async () => {
    const wallet = await newWallet({ granted: '6', expirationAt: at(1) });
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => expireWallet(em(), { organizationId: org, walletId: wallet.id }, at(2))));
    expect(outcomes.reduce((sum, o) => sum + o.walletsExpired, 0)).toBe(1);
    const voids = (await ledger(wallet.id)).filter((t) => t.transaction_status === 'voided');
    expect(voids.map((t) => [t.source, t.amount_cents])).toEqual([['expiration', '600']]);
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
