import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import { createWallet, createWalletTransactions, readTransactions, readWallet, recordPayment, terminateWallet, upsertCustomer } from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger } from '../testing/index.js';

let orm: Orm;
let org: string;
let pool: pg.Pool;
const now = new Date('2026-05-01T00:00:00Z');
const at = (hours: number) => new Date(now.getTime() + hours * 3_600_000);
const em = () => orm.em.fork() as EntityManager;

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

async function countTransactions(walletId: string): Promise<number> {
  const rows = await sql<{ n: string }>('select count(*)::text as n from wallet_transactions where organization_id = $1 and wallet_id = $2', [
    org,
    walletId,
  ]);
  return Number(rows[0]?.n);
}

/** Which lots paid an outbound transaction, read with our own SQL. */
async function consumptionsOf(outboundId: string): Promise<{ inbound: string; cents: string; credits: string }[]> {
  return sql(
    `select inbound_wallet_transaction_id as inbound, amount_cents::text as cents, credit_amount::text as credits
       from wallet_transaction_consumptions where organization_id = $1 and outbound_wallet_transaction_id = $2
      order by amount_cents desc, inbound_wallet_transaction_id`,
    [org, outboundId],
  );
}

let walletCounter = 0;
async function newWallet(input: { grantedCredits?: bigint; expirationAt?: Date; invoiceRequiresSuccessfulPayment?: boolean; min?: bigint } = {}) {
  const externalId = `wt-${++walletCounter}`;
  await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId, currency: 'EUR' }));
  return mutate(orm, org, now, (w) =>
    createWallet(w, {
      externalCustomerId: externalId,
      rateAmount: cr('1'),
      grantedCredits: input.grantedCredits,
      expirationAt: input.expirationAt,
      invoiceRequiresSuccessfulPayment: input.invoiceRequiresSuccessfulPayment,
      paidTopUpMinAmountCents: input.min,
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

describe('createWalletTransactions', () => {
  it('leaves a paid top-up pending and settles a grant at once, in the order paid, granted', async () => {
    const wallet = await newWallet();
    const { transactions } = await mutate(orm, org, at(1), (w) =>
      createWalletTransactions(w, {
        walletId: wallet.id,
        paidCredits: cr('10'),
        grantedCredits: cr('2.5'),
        name: 'Top-up',
        metadata: [{ key: 'po', value: '42' }],
      }),
    );
    expect(transactions.map((t) => [t.transactionType, t.transactionStatus, t.status, t.amountCents, t.creditAmount])).toEqual([
      ['inbound', 'purchased', 'pending', 1000, '10'],
      ['inbound', 'granted', 'settled', 250, '2.5'],
    ]);
    expect(transactions[0]).toMatchObject({ remainingCreditAmount: null, settledAt: null, currency: 'EUR', name: 'Top-up', source: 'manual' });
    expect(transactions[1]).toMatchObject({
      remainingCreditAmount: '2.5',
      remainingAmountCents: 250,
      settledAt: at(1),
      metadata: [{ key: 'po', value: '42' }],
    });
    const after = await readWallet(em(), org, wallet.id);
    expect(after).toMatchObject({ balanceCents: 250, creditsBalance: '2.5', ongoingBalanceCents: 250, consumedAmountCents: 0 });

    const pending = await readTransactions(em(), org, { walletId: wallet.id, status: 'pending', limit: 10 });
    expect(pending.items.map((t) => t.id)).toEqual([transactions[0]?.id]);
    expect(pending.nextCursor).toBeNull();
  });

  it('voids against the balance before the call, never the credits granted by the same call', async () => {
    const wallet = await newWallet({ grantedCredits: cr('10') });
    const before = await countTransactions(wallet.id);
    await expect(
      mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('5'), voidedCredits: cr('12') })),
    ).rejects.toMatchObject({ code: 'INSUFFICIENT_CREDITS' });
    await expect(
      mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr('10.00001') })),
    ).rejects.toMatchObject({
      code: 'INSUFFICIENT_CREDITS',
    });
    expect(await countTransactions(wallet.id)).toBe(before);
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(1000);

    const { transactions } = await mutate(orm, org, at(2), (w) =>
      createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('5'), voidedCredits: cr('10') }),
    );
    expect(transactions.map((t) => [t.transactionType, t.transactionStatus, t.amountCents])).toEqual([
      ['inbound', 'granted', 500],
      ['outbound', 'voided', 1000],
    ]);
    const [grant, voided] = transactions;
    expect(grant?.remainingAmountCents).toBe(500);
    const consumed = await consumptionsOf(voided?.id ?? '');
    expect(consumed).toHaveLength(1);
    expect(consumed[0]?.inbound).not.toBe(grant?.id);
    expect(consumed[0]).toMatchObject({ cents: '1000', credits: '10.00000' });
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({
      balanceCents: 500,
      creditsBalance: '5',
      consumedAmountCents: 1000,
      consumedCredits: '10',
    });
  });

  it('never overdraws under parallel voids', async () => {
    const wallet = await newWallet({ grantedCredits: cr('10') });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr('3') }))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code?: string }).code)).toEqual(
      Array(7).fill('INSUFFICIENT_CREDITS'),
    );
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ balanceCents: 100, creditsBalance: '1', consumedAmountCents: 900 });
    expect(await countTransactions(wallet.id)).toBe(4);
  });

  it('consumes lots by priority, then soonest expiry, then granted before purchased, then oldest', async () => {
    const wallet = await newWallet({ expirationAt: at(24 * 30) });
    const add = async (hour: number, input: { grantedCredits?: bigint; paidCredits?: bigint; priority?: number; expirationAt?: Date }) => {
      const { transactions } = await mutate(orm, org, at(hour), (w) => createWalletTransactions(w, { walletId: wallet.id, ...input }));
      const tx = transactions[0];
      if (!tx) throw new Error('no transaction');
      if (input.paidCredits) await mutate(orm, org, at(hour), (w) => recordPayment(w, { id: tx.id, status: 'succeeded' }));
      return tx.id;
    };
    const soon = at(24 * 5);
    const a = await add(1, { grantedCredits: cr('5') }); // priority 50, no expiry, oldest
    const b = await add(2, { grantedCredits: cr('2'), priority: 10 }); // first by priority
    const c = await add(3, { grantedCredits: cr('3'), expirationAt: soon }); // soon, granted
    const d = await add(4, { paidCredits: cr('4'), expirationAt: soon }); // soon, purchased (after c)
    const e = await add(5, { grantedCredits: cr('1') }); // no expiry, newer than a
    const label = new Map([
      [a, 'a'],
      [b, 'b'],
      [c, 'c'],
      [d, 'd'],
      [e, 'e'],
    ]);
    const voidAndTrace = async (credits: string) => {
      const { transactions } = await mutate(orm, org, at(6), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr(credits) }));
      const rows = await consumptionsOf(transactions[0]?.id ?? '');
      return rows.map((r) => [label.get(r.inbound), r.cents]).sort();
    };
    expect(await voidAndTrace('6')).toEqual([
      ['b', '200'],
      ['c', '300'],
      ['d', '100'],
    ]);
    expect(await voidAndTrace('5')).toEqual([
      ['a', '200'],
      ['d', '300'],
    ]);
    expect(await voidAndTrace('4')).toEqual([
      ['a', '300'],
      ['e', '100'],
    ]);
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ balanceCents: 0, creditsBalance: '0', consumedAmountCents: 1500 });
    const remaining = await sql<{ n: string }>(
      `select count(*)::text as n from wallet_transactions where organization_id = $1 and wallet_id = $2 and remaining_amount_cents > 0`,
      [org, wallet.id],
    );
    expect(remaining[0]?.n).toBe('0');
  });

  it('voids a lot that has passed its own expiry before a new void is checked', async () => {
    const wallet = await newWallet();
    const { transactions } = await mutate(orm, org, at(0), (w) =>
      createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('3'), expirationAt: at(10) }),
    );
    await mutate(orm, org, at(0), (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('2') }));
    // At hour 11 the 3-credit lot has expired: only 2 credits are left to void.
    await expect(
      mutate(orm, org, at(11), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr('2.5') })),
    ).rejects.toMatchObject({
      code: 'INSUFFICIENT_CREDITS',
    });
    await mutate(orm, org, at(11), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr('2') }));
    const expiry = await sql<{ source: string; amount_cents: string; voided_transaction_id: string }>(
      `select source, amount_cents::text, voided_transaction_id from wallet_transactions
        where organization_id = $1 and wallet_id = $2 and transaction_status = 'voided' order by created_at, source`,
      [org, wallet.id],
    );
    expect(expiry).toEqual([
      { source: 'expiration', amount_cents: '300', voided_transaction_id: transactions[0]?.id },
      { source: 'manual', amount_cents: '200', voided_transaction_id: null },
    ]);
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(0);
  });

  it('refuses a lot expiry after the wallet expiry or in the past', async () => {
    const wallet = await newWallet({ expirationAt: at(48) });
    const before = await countTransactions(wallet.id);
    await expect(
      mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('1'), expirationAt: at(49) })),
    ).rejects.toMatchObject({ code: 'INVALID_EXPIRATION_DATE' });
    await expect(
      mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, paidCredits: cr('1'), expirationAt: at(0) })),
    ).rejects.toMatchObject({ code: 'INVALID_EXPIRATION_DATE' });
    expect(await countTransactions(wallet.id)).toBe(before);
    const { transactions } = await mutate(orm, org, at(1), (w) =>
      createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('1'), expirationAt: at(48), priority: 3 }),
    );
    expect(transactions[0]).toMatchObject({ expirationAt: at(48), priority: 3 });
  });

  it('refuses a terminated wallet, one past its expiry, and another organization', async () => {
    const terminated = await newWallet({ grantedCredits: cr('1') });
    await mutate(orm, org, at(1), (w) => terminateWallet(w, terminated.id));
    await expect(
      mutate(orm, org, at(2), (w) => createWalletTransactions(w, { walletId: terminated.id, grantedCredits: cr('1') })),
    ).rejects.toMatchObject({
      code: 'WALLET_TERMINATED',
    });
    const expiring = await newWallet({ grantedCredits: cr('1'), expirationAt: at(5) });
    await expect(mutate(orm, org, at(5), (w) => createWalletTransactions(w, { walletId: expiring.id, paidCredits: cr('1') }))).rejects.toMatchObject({
      code: 'WALLET_TERMINATED',
    });
    expect(await countTransactions(expiring.id)).toBe(1);
    const other = await newOrganization(orm);
    await expect(
      mutate(orm, other, at(1), (w) => createWalletTransactions(w, { walletId: expiring.id, grantedCredits: cr('1') })),
    ).rejects.toMatchObject({
      code: 'WALLET_NOT_FOUND',
    });
  });

  it('refuses empty requests, amounts worth no cent, and paid top-ups outside the limits unless ignored', async () => {
    const wallet = await newWallet({ grantedCredits: cr('1'), min: 500n });
    await expect(mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id }))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    await expect(
      mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('0.004') })),
    ).rejects.toMatchObject({
      code: 'AMOUNT_ROUNDS_TO_ZERO',
    });
    await expect(
      mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, voidedCredits: cr('0.004') })),
    ).rejects.toMatchObject({
      code: 'AMOUNT_ROUNDS_TO_ZERO',
    });
    await expect(mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, paidCredits: cr('4.99') }))).rejects.toMatchObject(
      {
        code: 'AMOUNT_BELOW_MINIMUM',
      },
    );
    expect(await countTransactions(wallet.id)).toBe(1);
    const { transactions } = await mutate(orm, org, at(1), (w) =>
      createWalletTransactions(w, { walletId: wallet.id, paidCredits: cr('4.99'), ignorePaidTopUpLimits: true }),
    );
    expect(transactions[0]).toMatchObject({ amountCents: 499, status: 'pending' });
    // Granted credits are never limited.
    await mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('0.01') }));
  });

  it('refuses a top-up that would take the balance past the largest exact amount, and writes nothing', async () => {
    const wallet = await newWallet({ grantedCredits: cr('50000000000000') }); // 5e15 cents
    await expect(
      mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('50000000000000') })),
    ).rejects.toMatchObject({ code: 'AMOUNT_ABOVE_MAXIMUM', details: { maximumCents: BigInt(Number.MAX_SAFE_INTEGER) } });
    expect(await countTransactions(wallet.id)).toBe(1);
    const after = await readWallet(em(), org, wallet.id);
    expect(after.balanceCents).toBe(5_000_000_000_000_000);
    // Up to the limit itself is fine.
    const room = Number.MAX_SAFE_INTEGER - 5_000_000_000_000_000;
    await mutate(orm, org, at(1), (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: BigInt(room) * 1000n }));
    expect((await readWallet(em(), org, wallet.id)).balanceCents).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('takes invoiceRequiresSuccessfulPayment from the wallet unless the transaction overrides it', async () => {
    const gated = await newWallet({ invoiceRequiresSuccessfulPayment: true });
    const open = await newWallet();
    const create = (walletId: string, invoiceRequiresSuccessfulPayment?: boolean) =>
      mutate(orm, org, at(1), (w) =>
        createWalletTransactions(w, { walletId, paidCredits: cr('1'), grantedCredits: cr('1'), invoiceRequiresSuccessfulPayment }),
      );
    const flags = async (walletId: string, override?: boolean) =>
      (await create(walletId, override)).transactions.map((t) => t.invoiceRequiresSuccessfulPayment);
    expect(await flags(gated.id)).toEqual([true, true]);
    expect(await flags(gated.id, false)).toEqual([false, false]);
    expect(await flags(open.id)).toEqual([false, false]);
    expect(await flags(open.id, true)).toEqual([true, true]);
    const stored = await sql<{ flag: boolean }>(
      `select invoice_requires_successful_payment as flag from wallet_transactions where organization_id = $1 and wallet_id = $2 and transaction_status = 'purchased' order by created_at, id`,
      [org, gated.id],
    );
    expect(stored.map((r) => r.flag).sort()).toEqual([false, true]);
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
