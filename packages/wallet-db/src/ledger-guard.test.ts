import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mutate, newOrganization, openTestOrm } from '../test/helpers.js';
import { createWallet, createWalletTransactions, recordPayment, upsertCustomer } from './index.js';
import type { Orm } from './orm.js';
import { auditLedger } from './testing/index.js';

let orm: Orm;
let org: string;
let pool: pg.Pool;
const now = new Date('2026-10-01T00:00:00Z');

let walletId: string;
let lotId: string; // granted 10, 3 consumed: remaining 7
let settledPurchaseId: string;
let pendingPurchaseId: string;
let failedPurchaseId: string;
let voidId: string;

/** Runs a statement in a transaction that is always rolled back; returns the error, if any. */
async function attempt(text: string, params: unknown[] = []): Promise<(Error & { code?: string; constraint?: string }) | null> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    try {
      await client.query(text, params);
      return null;
    } catch (error) {
      return error as Error & { code?: string };
    }
  } finally {
    await client.query('rollback');
    client.release();
  }
}

async function snapshot() {
  const { rows } = await pool.query(
    `select t.*, (select json_agg(c order by c.id) from wallet_transaction_consumptions c where c.organization_id = t.organization_id) as consumptions,
            (select row_to_json(w) from wallets w where w.id = t.wallet_id) as wallet
       from wallet_transactions t where t.organization_id = $1 order by t.id`,
    [org],
  );
  return rows;
}

beforeAll(async () => {
  orm = await openTestOrm();
  org = await newOrganization(orm);
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 3 });
  await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'guard', currency: 'EUR' }));
  const wallet = await mutate(orm, org, now, (w) =>
    createWallet(w, { externalCustomerId: 'guard', rateAmount: 100_000n, grantedCredits: 1_000_000n }),
  );
  walletId = wallet.id;
  const purchases = await mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId, paidCredits: 500_000n }));
  settledPurchaseId = purchases.transactions[0]?.id ?? '';
  await mutate(orm, org, now, (w) => recordPayment(w, { id: settledPurchaseId, status: 'succeeded' }));
  const pending = await mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId, paidCredits: 200_000n }));
  pendingPurchaseId = pending.transactions[0]?.id ?? '';
  const failed = await mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId, paidCredits: 200_000n }));
  failedPurchaseId = failed.transactions[0]?.id ?? '';
  await mutate(orm, org, now, (w) => recordPayment(w, { id: failedPurchaseId, status: 'failed' }));
  const voided = await mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId, voidedCredits: 300_000n }));
  voidId = voided.transactions[0]?.id ?? '';
  const lots = await pool.query<{ id: string }>(
    `select id from wallet_transactions where organization_id = $1 and wallet_id = $2 and transaction_status = 'granted'`,
    [org, walletId],
  );
  lotId = lots.rows[0]?.id ?? '';
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

describe('ledger guard', () => {
  it('starts from the expected ledger', async () => {
    const { rows } = await pool.query<{ id: string; status: string; remaining: string | null }>(
      'select id, status, remaining_amount_cents::text as remaining from wallet_transactions where organization_id = $1',
      [org],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(lotId)).toMatchObject({ status: 'settled', remaining: '700' });
    expect(byId.get(settledPurchaseId)).toMatchObject({ status: 'settled', remaining: '500' });
    expect(byId.get(pendingPurchaseId)).toMatchObject({ status: 'pending', remaining: null });
    expect(byId.get(failedPurchaseId)).toMatchObject({ status: 'failed', remaining: null });
  });

  it('refuses to delete ledger rows or consumptions', async () => {
    const before = await snapshot();
    expect((await attempt('delete from wallet_transactions where id = $1', [voidId]))?.message).toMatch(/never deleted/);
    expect((await attempt('delete from wallet_transactions where id = $1', [pendingPurchaseId]))?.message).toMatch(/never deleted/);
    expect((await attempt('delete from wallet_transaction_consumptions where outbound_wallet_transaction_id = $1', [voidId]))?.message).toMatch(
      /never changed or deleted/,
    );
    expect(
      (await attempt('update wallet_transaction_consumptions set amount_cents = 1 where outbound_wallet_transaction_id = $1', [voidId]))?.message,
    ).toMatch(/never changed or deleted/);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses to change amounts or kinds', async () => {
    const before = await snapshot();
    for (const [column, value] of [
      ['amount_cents', '1'],
      ['credit_amount', '0.01'],
      ['transaction_type', 'outbound'],
      ['transaction_status', 'granted'],
    ] as const) {
      const error = await attempt(`update wallet_transactions set ${column} = $2 where id = $1`, [settledPurchaseId, value]);
      expect(error?.message, column).toMatch(/never change/);
    }
    expect((await attempt('update wallet_transactions set amount_cents = amount_cents + 100 where id = $1', [voidId]))?.message).toMatch(
      /never change/,
    );
    expect(await snapshot()).toEqual(before);
  });

  it('allows only pending -> settled|failed and failed -> settled', async () => {
    const before = await snapshot();
    expect((await attempt(`update wallet_transactions set status = 'pending' where id = $1`, [settledPurchaseId]))?.message).toMatch(
      /settled cannot become pending/,
    );
    expect((await attempt(`update wallet_transactions set status = 'failed' where id = $1`, [settledPurchaseId]))?.message).toMatch(
      /settled cannot become failed/,
    );
    expect((await attempt(`update wallet_transactions set status = 'pending' where id = $1`, [failedPurchaseId]))?.message).toMatch(
      /failed cannot become pending/,
    );
    // The legal moves pass the guard (rolled back all the same).
    expect(await attempt(`update wallet_transactions set status = 'failed' where id = $1`, [pendingPurchaseId])).toBeNull();
    expect(
      await attempt(
        `update wallet_transactions set status = 'settled', remaining_amount_cents = amount_cents, remaining_credit_amount = credit_amount where id = $1`,
        [failedPurchaseId],
      ),
    ).toBeNull();
    expect(await snapshot()).toEqual(before);
  });

  it('lets a lot remainder go down only', async () => {
    const before = await snapshot();
    expect(
      (await attempt('update wallet_transactions set remaining_amount_cents = remaining_amount_cents + 1 where id = $1', [lotId]))?.message,
    ).toMatch(/only goes down/);
    expect(
      (await attempt('update wallet_transactions set remaining_credit_amount = remaining_credit_amount + 0.00001 where id = $1', [lotId]))?.message,
    ).toMatch(/only goes down/);
    expect(await attempt('update wallet_transactions set remaining_amount_cents = remaining_amount_cents - 1 where id = $1', [lotId])).toBeNull();
    // Below zero is refused by the CHECK.
    expect(await attempt('update wallet_transactions set remaining_amount_cents = -1 where id = $1', [lotId])).toMatchObject({
      code: '23514',
      constraint: 'wallet_transactions_remaining_valid',
    });
    expect(await snapshot()).toEqual(before);
  });

  it('refuses negative balances and empty amounts with CHECK constraints', async () => {
    const before = await snapshot();
    expect(await attempt('update wallets set balance_cents = -1 where id = $1', [walletId])).toMatchObject({
      code: '23514',
      constraint: 'wallets_balances_non_negative',
    });
    expect(await attempt('update wallets set credits_balance = -0.00001 where id = $1', [walletId])).toMatchObject({
      code: '23514',
      constraint: 'wallets_balances_non_negative',
    });
    expect(
      await attempt(
        `insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, credit_amount, amount_cents, created_at)
         select gen_random_uuid(), organization_id, id, customer_id, 'outbound', 'settled', 'voided', 0, 0, now() from wallets where id = $1`,
        [walletId],
      ),
    ).toMatchObject({ code: '23514', constraint: 'wallet_transactions_amounts_valid' });
    expect(await snapshot()).toEqual(before);
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
