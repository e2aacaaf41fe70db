import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import { createWallet, readCustomer, readWallet, terminateWallet, updateWallet, upsertCustomer } from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger } from '../testing/index.js';

let orm: Orm;
let org: string;
let otherOrg: string;
let pool: pg.Pool;
const now = new Date('2026-03-01T12:00:00Z');
const later = (days: number) => new Date(now.getTime() + days * 86_400_000);

/** Credits as the commands take them: 1e-5 units, parsed exactly. */

const em = () => orm.em.fork() as EntityManager;

async function customer(externalId: string, currency?: string) {
  return mutate(orm, org, now, (w) => upsertCustomer(w, { externalId, currency }));
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

async function walletCount(externalId: string): Promise<number> {
  const rows = await sql<{ n: string }>(
    'select count(*)::text as n from wallets w join customers c on c.id = w.customer_id where c.organization_id = $1 and c.external_id = $2',
    [org, externalId],
  );
  return Number(rows[0]?.n);
}

async function walletEvents(walletId: string): Promise<string[]> {
  const rows = await sql<{ type: string }>(
    `select type from events where organization_id = $1 and (data->>'id' = $2 or data->>'walletId' = $2) order by position`,
    [org, walletId],
  );
  return rows.map((r) => r.type);
}

async function walletTransactions(walletId: string) {
  return sql<{
    id: string;
    transaction_type: string;
    status: string;
    transaction_status: string;
    source: string;
    amount_cents: string;
    credit_amount: string;
  }>(
    `select id, transaction_type, status, transaction_status, source, amount_cents::text, credit_amount::text
       from wallet_transactions where organization_id = $1 and wallet_id = $2 order by created_at, id`,
    [org, walletId],
  );
}

beforeAll(async () => {
  orm = await openTestOrm();
  org = await newOrganization(orm);
  otherOrg = await newOrganization(orm);
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 3 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

describe('createWallet', () => {
  it('settles granted credits at once and leaves paid credits pending', async () => {
    await customer('c1');
    const wallet = await mutate(orm, org, now, (w) =>
      createWallet(w, {
        externalCustomerId: 'c1',
        rateAmount: 150_000n,
        currency: 'EUR',
        name: 'Main wallet',
        grantedCredits: 1_000_000n,
        paidCredits: 500_000n,
      }),
    );
    expect(wallet.code).toBe('main_wallet');
    expect(wallet.balanceCents).toBe(1500);
    expect(wallet.creditsBalance).toBe('10');
    expect(wallet.ongoingBalanceCents).toBe(1500);
    expect(wallet.rateAmount).toBe('1.5');
    expect(wallet.priority).toBe(50);
    const rows = await walletTransactions(wallet.id);
    expect(rows.map((r) => [r.transaction_status, r.status, r.amount_cents, r.credit_amount])).toEqual(
      expect.arrayContaining([
        ['purchased', 'pending', '750', '5.00000'],
        ['granted', 'settled', '1500', '10.00000'],
      ]),
    );
    expect(rows).toHaveLength(2);
    // The wallet.created event already shows the granted credits, and comes after its transactions.
    const events = await sql<{ type: string; data: { balanceCents: number; creditsBalance: string } }>(
      `select type, data from events where organization_id = $1 and (data->>'id' = $2 or data->>'walletId' = $2) order by position`,
      [org, wallet.id],
    );
    expect(events.map((e) => e.type)).toEqual(['wallet_transaction.created', 'wallet_transaction.created', 'wallet.created']);
    expect(events[2]?.data.balanceCents).toBe(1500);
    expect(events[2]?.data.creditsBalance).toBe('10');

    const terminated = await mutate(orm, org, now, (w) => terminateWallet(w, wallet.id));
    expect(terminated.status).toBe('terminated');
    expect(terminated.balanceCents).toBe(0);
  });

  it('requires the customer currency when it is set, sets it when unset, refuses when neither is given', async () => {
    await customer('cur-set', 'USD');
    await expect(
      mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'cur-set', rateAmount: cr('1'), currency: 'EUR' })),
    ).rejects.toMatchObject({ code: 'CURRENCY_MISMATCH' });
    expect(await walletCount('cur-set')).toBe(0);
    const inherited = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'cur-set', rateAmount: cr('1') }));
    expect(inherited.currency).toBe('USD');
    const explicit = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'cur-set', rateAmount: cr('1'), currency: 'USD' }));
    expect(explicit.currency).toBe('USD');

    await customer('cur-unset');
    const first = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'cur-unset', rateAmount: cr('1'), currency: 'JPY' }));
    expect(first.currency).toBe('JPY');
    expect((await readCustomer(em(), org, 'cur-unset')).currency).toBe('JPY');

    await customer('cur-none');
    await expect(mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'cur-none', rateAmount: cr('1') }))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(await walletCount('cur-none')).toBe(0);
    expect((await readCustomer(em(), org, 'cur-none')).currency).toBeNull();

    await expect(
      mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'nobody', rateAmount: cr('1'), currency: 'EUR' })),
    ).rejects.toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
    // Another organization's customer is not found either.
    await expect(
      mutate(orm, otherOrg, now, (w) => createWallet(w, { externalCustomerId: 'cur-set', rateAmount: cr('1'), currency: 'USD' })),
    ).rejects.toMatchObject({ code: 'CUSTOMER_NOT_FOUND' });
  });

  it('allows 6 active wallets; a terminated one frees a place', async () => {
    await customer('six', 'EUR');
    const wallets: { id: string }[] = [];
    for (let i = 0; i < 6; i++) {
      wallets.push(await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'six', rateAmount: cr('1'), name: `W${i}` })));
    }
    await expect(mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'six', rateAmount: cr('1') }))).rejects.toMatchObject({
      code: 'WALLET_LIMIT_REACHED',
    });
    expect(await walletCount('six')).toBe(6);
    await mutate(orm, org, now, (w) => terminateWallet(w, wallets[0]?.id ?? ''));
    const seventh = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'six', rateAmount: cr('1') }));
    expect(seventh.status).toBe('active');
    await expect(mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'six', rateAmount: cr('1') }))).rejects.toMatchObject({
      code: 'WALLET_LIMIT_REACHED',
    });
    expect(await walletCount('six')).toBe(7);
  });

  it('lets exactly 6 of 10 parallel creates for one customer through', async () => {
    await customer('race', 'EUR');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        mutate(orm, org, now, (w) =>
          createWallet(w, { externalCustomerId: 'race', rateAmount: cr('1'), name: 'Race', grantedCredits: cr(`${i + 1}`) }),
        ),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code?: string }).code);
    expect(ok).toHaveLength(6);
    expect(refused).toEqual(Array(4).fill('WALLET_LIMIT_REACHED'));
    // Derived codes stayed unique under the race.
    const codes = ok.map((r) => r.value.code).sort();
    expect(codes).toEqual(['race', 'race_2', 'race_3', 'race_4', 'race_5', 'race_6']);
    expect(await walletCount('race')).toBe(6);
  });

  it('counts a wallet past its expiry as expired for the limit and the codes, even before the sweep', async () => {
    await customer('six-exp', 'EUR');
    await mutate(orm, org, now, (w) =>
      createWallet(w, { externalCustomerId: 'six-exp', rateAmount: cr('1'), code: 'old', expirationAt: later(1), grantedCredits: cr('2') }),
    );
    for (let i = 0; i < 5; i++) {
      await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'six-exp', rateAmount: cr('1') }));
    }
    await expect(mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'six-exp', rateAmount: cr('1') }))).rejects.toMatchObject({
      code: 'WALLET_LIMIT_REACHED',
    });
    // Two days later the first wallet has expired: its place and its code are free.
    const replacement = await mutate(orm, org, later(2), (w) => createWallet(w, { externalCustomerId: 'six-exp', rateAmount: cr('1'), code: 'old' }));
    expect(replacement).toMatchObject({ code: 'old', status: 'active' });
    const rows = await sql<{ code: string; status: string; balance_cents: string }>(
      `select w.code, w.status, w.balance_cents::text from wallets w join customers c on c.id = w.customer_id
        where c.organization_id = $1 and c.external_id = 'six-exp' and w.code = 'old' order by w.created_at, w.status`,
      [org],
    );
    expect(rows).toEqual([
      { code: 'old', status: 'terminated', balance_cents: '0' },
      { code: 'old', status: 'active', balance_cents: '0' },
    ]);
  });

  it('keeps codes unique among active wallets, deriving them from the name when absent', async () => {
    await customer('codes', 'EUR');
    const create = (input: { code?: string; name?: string | null }) =>
      mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'codes', rateAmount: cr('1'), ...input }));
    const vip = await create({ code: 'vip' });
    expect(vip.code).toBe('vip');
    await expect(create({ code: 'vip' })).rejects.toMatchObject({ code: 'CODE_ALREADY_EXISTS' });
    expect((await create({ name: 'Promo Crédits!' })).code).toBe('promo_credits');
    expect((await create({ name: 'promo credits' })).code).toBe('promo_credits_2');
    expect((await create({})).code).toBe('default');
    // Another customer may use the same code.
    await customer('codes-2', 'EUR');
    const elsewhere = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'codes-2', rateAmount: cr('1'), code: 'vip' }));
    expect(elsewhere.code).toBe('vip');
    // A terminated wallet frees its code.
    await mutate(orm, org, now, (w) => terminateWallet(w, vip.id));
    const again = await create({ code: 'vip' });
    expect(again.code).toBe('vip');
    expect(again.id).not.toBe(vip.id);
  });

  it('uses priority 50 unless given', async () => {
    await customer('prio', 'EUR');
    const byDefault = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'prio', rateAmount: cr('1') }));
    expect(byDefault.priority).toBe(50);
    const first = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'prio', rateAmount: cr('1'), priority: 1 }));
    expect(first.priority).toBe(1);
    expect((await readWallet(em(), org, first.id)).priority).toBe(1);
  });

  it('keeps paid credits within the top-up limits unless told to ignore them; granted credits are never limited', async () => {
    await customer('limits', 'EUR');
    const base = { externalCustomerId: 'limits', rateAmount: cr('1'), paidTopUpMinAmountCents: 1000n, paidTopUpMaxAmountCents: 5000n };
    await expect(mutate(orm, org, now, (w) => createWallet(w, { ...base, paidCredits: cr('9.99') }))).rejects.toMatchObject({
      code: 'AMOUNT_BELOW_MINIMUM',
    });
    await expect(mutate(orm, org, now, (w) => createWallet(w, { ...base, paidCredits: cr('50.01') }))).rejects.toMatchObject({
      code: 'AMOUNT_ABOVE_MAXIMUM',
    });
    expect(await walletCount('limits')).toBe(0);
    const atMin = await mutate(orm, org, now, (w) => createWallet(w, { ...base, paidCredits: cr('10') }));
    const atMax = await mutate(orm, org, now, (w) => createWallet(w, { ...base, paidCredits: cr('50') }));
    const ignored = await mutate(orm, org, now, (w) => createWallet(w, { ...base, paidCredits: cr('60'), ignorePaidTopUpLimitsOnCreation: true }));
    expect(ignored.paidTopUpMaxAmountCents).toBe(5000);
    expect((await walletTransactions(ignored.id)).map((t) => [t.transaction_status, t.status, t.amount_cents])).toEqual([
      ['purchased', 'pending', '6000'],
    ]);
    expect(ignored.balanceCents).toBe(0);
    const granted = await mutate(orm, org, now, (w) => createWallet(w, { ...base, grantedCredits: cr('100') }));
    expect(granted.balanceCents).toBe(10000);
    expect(atMin.status).toBe('active');
    expect(atMax.status).toBe('active');
    await expect(
      mutate(orm, org, now, (w) =>
        createWallet(w, { externalCustomerId: 'limits', rateAmount: cr('1'), paidTopUpMinAmountCents: 500n, paidTopUpMaxAmountCents: 400n }),
      ),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('refuses credits worth less than a cent', async () => {
    await customer('tiny', 'EUR');
    const base = { externalCustomerId: 'tiny', rateAmount: cr('0.01') };
    await expect(mutate(orm, org, now, (w) => createWallet(w, { ...base, grantedCredits: cr('0.4') }))).rejects.toMatchObject({
      code: 'AMOUNT_ROUNDS_TO_ZERO',
    });
    await expect(mutate(orm, org, now, (w) => createWallet(w, { ...base, paidCredits: cr('0.4') }))).rejects.toMatchObject({
      code: 'AMOUNT_ROUNDS_TO_ZERO',
    });
    expect(await walletCount('tiny')).toBe(0);
    // 0.5 credits at 0.01 is 0.5 cents, rounded half up to 1 cent; the stored credits are its round trip.
    const half = await mutate(orm, org, now, (w) => createWallet(w, { ...base, grantedCredits: cr('0.5') }));
    expect(half.balanceCents).toBe(1);
    expect(half.creditsBalance).toBe('1');
  });

  it('refuses an expiration that is not in the future', async () => {
    await customer('exp', 'EUR');
    for (const expirationAt of [new Date(now.getTime() - 1000), now]) {
      await expect(
        mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'exp', rateAmount: cr('1'), expirationAt })),
      ).rejects.toMatchObject({
        code: 'INVALID_EXPIRATION_DATE',
      });
    }
    expect(await walletCount('exp')).toBe(0);
    const ok = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'exp', rateAmount: cr('1'), expirationAt: later(1) }));
    expect(ok.expirationAt).toEqual(later(1));
  });
});

describe('updateWallet', () => {
  it('changes the settings it is given and leaves the rest', async () => {
    await customer('upd', 'EUR');
    const wallet = await mutate(orm, org, now, (w) =>
      createWallet(w, {
        externalCustomerId: 'upd',
        rateAmount: cr('1'),
        name: 'Before',
        code: 'before',
        expirationAt: later(10),
        grantedCredits: cr('5'),
      }),
    );
    await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'upd', rateAmount: cr('1'), code: 'taken' }));
    const updated = await mutate(orm, org, later(1), (w) =>
      updateWallet(w, {
        id: wallet.id,
        name: 'After',
        code: 'after',
        priority: 7,
        invoiceRequiresSuccessfulPayment: true,
        paidTopUpMinAmountCents: 100n,
        paidTopUpMaxAmountCents: 900n,
        appliesTo: { feeTypes: ['charge'], billableMetricCodes: ['api_calls'] },
      }),
    );
    expect(updated).toMatchObject({
      name: 'After',
      code: 'after',
      priority: 7,
      invoiceRequiresSuccessfulPayment: true,
      paidTopUpMinAmountCents: 100,
      paidTopUpMaxAmountCents: 900,
      appliesTo: { feeTypes: ['charge'], billableMetricCodes: ['api_calls'] },
      expirationAt: later(10),
      balanceCents: 500,
      rateAmount: '1',
      currency: 'EUR',
    });
    // One wallet.updated per request.
    expect((await walletEvents(wallet.id)).filter((t) => t === 'wallet.updated')).toHaveLength(1);

    // Leaving fields out keeps them; null clears the expiration and the limits.
    const cleared = await mutate(orm, org, later(1), (w) =>
      updateWallet(w, { id: wallet.id, expirationAt: null, paidTopUpMinAmountCents: null, paidTopUpMaxAmountCents: null }),
    );
    expect(cleared).toMatchObject({
      name: 'After',
      code: 'after',
      priority: 7,
      expirationAt: null,
      paidTopUpMinAmountCents: null,
      paidTopUpMaxAmountCents: null,
    });
    expect((await readWallet(em(), org, wallet.id)).expirationAt).toBeNull();
    const partial = await mutate(orm, org, later(1), (w) => updateWallet(w, { id: wallet.id, appliesTo: { feeTypes: [] } }));
    expect(partial.appliesTo).toEqual({ feeTypes: [], billableMetricCodes: ['api_calls'] });
    expect((await walletEvents(wallet.id)).filter((t) => t === 'wallet.updated')).toHaveLength(3);

    await expect(mutate(orm, org, later(1), (w) => updateWallet(w, { id: wallet.id, code: 'taken' }))).rejects.toMatchObject({
      code: 'CODE_ALREADY_EXISTS',
    });
    await expect(mutate(orm, org, later(1), (w) => updateWallet(w, { id: wallet.id, expirationAt: now }))).rejects.toMatchObject({
      code: 'INVALID_EXPIRATION_DATE',
    });
    await expect(
      mutate(orm, org, later(1), (w) => updateWallet(w, { id: wallet.id, paidTopUpMinAmountCents: 1000n, paidTopUpMaxAmountCents: 10n })),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(mutate(orm, otherOrg, later(1), (w) => updateWallet(w, { id: wallet.id, name: 'x' }))).rejects.toMatchObject({
      code: 'WALLET_NOT_FOUND',
    });
    await expect(mutate(orm, org, later(1), (w) => updateWallet(w, { id: 'not-a-uuid', name: 'x' }))).rejects.toMatchObject({
      code: 'WALLET_NOT_FOUND',
    });
    // Refused updates changed nothing.
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({ code: 'after', expirationAt: null, paidTopUpMinAmountCents: null, name: 'After' });
    expect((await walletEvents(wallet.id)).filter((t) => t === 'wallet.updated')).toHaveLength(3);
  });

  it('refuses a terminated wallet and one past its expiration', async () => {
    await customer('upd-term', 'EUR');
    const terminated = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'upd-term', rateAmount: cr('1') }));
    await mutate(orm, org, now, (w) => terminateWallet(w, terminated.id));
    await expect(mutate(orm, org, now, (w) => updateWallet(w, { id: terminated.id, name: 'x' }))).rejects.toMatchObject({
      code: 'WALLET_TERMINATED',
    });
    const expiring = await mutate(orm, org, now, (w) =>
      createWallet(w, { externalCustomerId: 'upd-term', rateAmount: cr('1'), expirationAt: later(2), grantedCredits: cr('3') }),
    );
    // Past its expiry but not yet swept: already treated as expired.
    await expect(mutate(orm, org, later(2), (w) => updateWallet(w, { id: expiring.id, expirationAt: later(30) }))).rejects.toMatchObject({
      code: 'WALLET_TERMINATED',
    });
    expect((await readWallet(em(), org, expiring.id)).expirationAt).toEqual(later(2));
    // Before its expiry it can still be extended.
    const extended = await mutate(orm, org, later(1), (w) => updateWallet(w, { id: expiring.id, expirationAt: later(30) }));
    expect(extended.expirationAt).toEqual(later(30));
  });
});

describe('terminateWallet', () => {
  it('voids the remainder, fails pending top-ups, and a second terminate changes nothing', async () => {
    await customer('term', 'EUR');
    const wallet = await mutate(orm, org, now, (w) =>
      createWallet(w, { externalCustomerId: 'term', rateAmount: cr('1'), grantedCredits: cr('12.5'), paidCredits: cr('4') }),
    );
    const first = await mutate(orm, org, later(1), (w) => terminateWallet(w, wallet.id));
    expect(first).toMatchObject({ status: 'terminated', terminatedAt: later(1), balanceCents: 0, creditsBalance: '0', consumedAmountCents: 1250 });
    const rowsAfterFirst = await walletTransactions(wallet.id);
    expect(rowsAfterFirst.map((t) => [t.transaction_status, t.status, t.source, t.amount_cents])).toEqual(
      expect.arrayContaining([
        ['purchased', 'failed', 'manual', '400'],
        ['granted', 'settled', 'manual', '1250'],
        ['voided', 'settled', 'termination', '1250'],
      ]),
    );
    expect(rowsAfterFirst).toHaveLength(3);
    const eventsAfterFirst = await walletEvents(wallet.id);
    expect(eventsAfterFirst.filter((t) => t === 'wallet.terminated')).toHaveLength(1);

    await expect(mutate(orm, otherOrg, later(2), (w) => terminateWallet(w, wallet.id))).rejects.toMatchObject({ code: 'WALLET_NOT_FOUND' });
    const second = await mutate(orm, org, later(2), (w) => terminateWallet(w, wallet.id));
    expect(second).toEqual(first);
    expect(await walletTransactions(wallet.id)).toEqual(rowsAfterFirst);
    expect(await walletEvents(wallet.id)).toEqual(eventsAfterFirst);
  });

  it('marks the void as an expiration when the wallet is already past its expiry', async () => {
    await customer('term-exp', 'EUR');
    const wallet = await mutate(orm, org, now, (w) =>
      createWallet(w, { externalCustomerId: 'term-exp', rateAmount: cr('1'), grantedCredits: cr('2'), expirationAt: later(1) }),
    );
    await mutate(orm, org, later(3), (w) => terminateWallet(w, wallet.id));
    const voids = (await walletTransactions(wallet.id)).filter((t) => t.transaction_status === 'voided');
    expect(voids.map((t) => [t.source, t.amount_cents])).toEqual([['expiration', '200']]);
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
