import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import { type CreateWalletInput, createWallet, type RuleInput, readWallet, updateWallet, upsertCustomer } from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger } from '../testing/index.js';

let orm: Orm;
let org: string;
let pool: pg.Pool;
const now = new Date('2026-11-01T00:00:00Z');
const at = (days: number) => new Date(now.getTime() + days * 86_400_000);
const em = () => orm.em.fork() as EntityManager;

async function rulesOf(walletId: string) {
  const { rows } = await pool.query<{ id: string; status: string; terminated_at: Date | null }>(
    'select id, status, terminated_at from recurring_transaction_rules where organization_id = $1 and wallet_id = $2 order by created_at, status, id',
    [org, walletId],
  );
  return rows;
}

let counter = 0;
async function newWallet(input: Partial<CreateWalletInput> = {}) {
  const externalId = `rr-${++counter}`;
  await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId, currency: 'EUR' }));
  return mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: externalId, rateAmount: cr('1'), ...input }));
}

const update = (id: string, recurringTransactionRules: RuleInput[] | undefined, extra: Record<string, unknown> = {}, when = at(1)) =>
  mutate(orm, org, when, (w) => updateWallet(w, { id, recurringTransactionRules, ...extra }));

const thresholdRule: RuleInput = { trigger: 'threshold', method: 'fixed', paidCredits: cr('10'), thresholdCredits: cr('5') };

beforeAll(async () => {
  orm = await openTestOrm();
  org = await newOrganization(orm);
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 3 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

describe('recurring transaction rules', () => {
  it('creates a rule with its wallet', async () => {
    const wallet = await newWallet({ invoiceRequiresSuccessfulPayment: true, recurringTransactionRules: [thresholdRule] });
    expect(wallet.recurringTransactionRules).toEqual([
      {
        id: expect.any(String),
        status: 'active',
        trigger: 'threshold',
        interval: null,
        method: 'fixed',
        paidCredits: '10',
        grantedCredits: '0',
        thresholdCredits: '5',
        targetOngoingBalance: null,
        grantsTargetTopUp: false,
        ignorePaidTopUpLimits: false,
        invoiceRequiresSuccessfulPayment: true,
        startedAt: now,
        expirationAt: null,
        transactionMetadata: [],
        transactionName: null,
        createdAt: now,
      },
    ]);
    expect(await rulesOf(wallet.id)).toHaveLength(1);
    expect((await readWallet(em(), org, wallet.id)).recurringTransactionRules).toEqual(wallet.recurringTransactionRules);
  });

  it('changes a rule listed with its id, creates one listed without, ends one left out', async () => {
    const wallet = await newWallet({ recurringTransactionRules: [thresholdRule] });
    const ruleId = wallet.recurringTransactionRules[0]?.id ?? '';

    const changed = await update(wallet.id, [{ id: ruleId, paidCredits: cr('20'), thresholdCredits: cr('2.5'), transactionName: 'Auto top-up' }]);
    expect(changed.recurringTransactionRules).toHaveLength(1);
    expect(changed.recurringTransactionRules[0]).toMatchObject({
      id: ruleId,
      trigger: 'threshold',
      method: 'fixed',
      paidCredits: '20',
      thresholdCredits: '2.5',
      transactionName: 'Auto top-up',
      startedAt: now,
    });

    // Leaving the list out keeps the rules as they are.
    const untouched = await update(wallet.id, undefined, { name: 'Renamed' });
    expect(untouched.recurringTransactionRules.map((r) => r.id)).toEqual([ruleId]);

    // Without an id: a new rule, and the old one (left out) ends, so at most one stays active.
    const replaced = await update(
      wallet.id,
      [{ trigger: 'interval', interval: 'monthly', method: 'fixed', grantedCredits: cr('3'), invoiceRequiresSuccessfulPayment: true }],
      {},
      at(2),
    );
    expect(replaced.recurringTransactionRules).toHaveLength(1);
    const newRule = replaced.recurringTransactionRules[0];
    expect(newRule).toMatchObject({
      trigger: 'interval',
      interval: 'monthly',
      grantedCredits: '3',
      paidCredits: '0',
      invoiceRequiresSuccessfulPayment: true,
      startedAt: at(2),
    });
    expect(newRule?.id).not.toBe(ruleId);
    expect(await rulesOf(wallet.id)).toEqual([
      { id: ruleId, status: 'terminated', terminated_at: at(2) },
      { id: newRule?.id, status: 'active', terminated_at: null },
    ]);

    // An empty list ends every rule.
    const ended = await update(wallet.id, [], {}, at(3));
    expect(ended.recurringTransactionRules).toEqual([]);
    expect((await rulesOf(wallet.id)).map((r) => r.status)).toEqual(['terminated', 'terminated']);
  });

  it('allows at most one rule', async () => {
    await expect(newWallet({ recurringTransactionRules: [thresholdRule, thresholdRule] })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const wallet = await newWallet({ recurringTransactionRules: [thresholdRule] });
    const ruleId = wallet.recurringTransactionRules[0]?.id;
    await expect(update(wallet.id, [{ id: ruleId }, thresholdRule])).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await rulesOf(wallet.id)).toEqual([{ id: ruleId, status: 'active', terminated_at: null }]);
  });

  it('needs a target at or above the threshold for a target rule, and an interval for an interval rule', async () => {
    const target = (targetOngoingBalance: bigint | null): RuleInput => ({
      trigger: 'threshold',
      method: 'target',
      thresholdCredits: cr('10'),
      targetOngoingBalance,
    });
    await expect(newWallet({ recurringTransactionRules: [target(cr('9.99999'))] })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(newWallet({ recurringTransactionRules: [target(null)] })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const wallet = await newWallet({ recurringTransactionRules: [target(cr('10'))] });
    const rule = wallet.recurringTransactionRules[0];
    expect(rule).toMatchObject({ method: 'target', targetOngoingBalance: '10', thresholdCredits: '10' });
    // Raising the threshold above the target through an update is refused too, and changes nothing.
    await expect(update(wallet.id, [{ id: rule?.id, thresholdCredits: cr('11') }])).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await readWallet(em(), org, wallet.id)).recurringTransactionRules[0]).toMatchObject({ thresholdCredits: '10' });

    await expect(newWallet({ recurringTransactionRules: [{ trigger: 'interval', method: 'fixed', grantedCredits: cr('1') }] })).rejects.toMatchObject(
      {
        code: 'VALIDATION_FAILED',
      },
    );
    await expect(
      newWallet({ recurringTransactionRules: [{ trigger: 'threshold', method: 'fixed', thresholdCredits: cr('1') }] }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(newWallet({ recurringTransactionRules: [{ ...thresholdRule, expirationAt: now }] })).rejects.toMatchObject({
      code: 'INVALID_EXPIRATION_DATE',
    });
  });

  it('keeps a fixed rule’s paid credits within the wallet limits unless the rule ignores them', async () => {
    const limits = { paidTopUpMinAmountCents: 1000n, paidTopUpMaxAmountCents: 5000n };
    const fixed = (paid: string, ignorePaidTopUpLimits?: boolean): RuleInput => ({ ...thresholdRule, paidCredits: cr(paid), ignorePaidTopUpLimits });
    await expect(newWallet({ ...limits, recurringTransactionRules: [fixed('9')] })).rejects.toMatchObject({ code: 'AMOUNT_BELOW_MINIMUM' });
    await expect(newWallet({ ...limits, recurringTransactionRules: [fixed('51')] })).rejects.toMatchObject({ code: 'AMOUNT_ABOVE_MAXIMUM' });
    const ignoring = await newWallet({ ...limits, recurringTransactionRules: [fixed('51', true)] });
    expect(ignoring.recurringTransactionRules[0]).toMatchObject({ paidCredits: '51', ignorePaidTopUpLimits: true });
    // A target rule is not held to the limits here (its amount is computed when it fires).
    const targeted = await newWallet({
      ...limits,
      recurringTransactionRules: [{ trigger: 'threshold', method: 'target', thresholdCredits: cr('1'), targetOngoingBalance: cr('500') }],
    });
    expect(targeted.recurringTransactionRules).toHaveLength(1);

    const wallet = await newWallet({ ...limits, recurringTransactionRules: [fixed('20')] });
    const ruleId = wallet.recurringTransactionRules[0]?.id;
    await expect(update(wallet.id, [{ id: ruleId, paidCredits: cr('60') }])).rejects.toMatchObject({ code: 'AMOUNT_ABOVE_MAXIMUM' });
    // New limits re-check the active fixed rule.
    await expect(update(wallet.id, undefined, { paidTopUpMaxAmountCents: 1500n })).rejects.toMatchObject({ code: 'AMOUNT_ABOVE_MAXIMUM' });
    expect(await readWallet(em(), org, wallet.id)).toMatchObject({
      paidTopUpMaxAmountCents: 5000,
      recurringTransactionRules: [{ paidCredits: '20' }],
    });
    const ok = await update(wallet.id, [{ id: ruleId, paidCredits: cr('60'), ignorePaidTopUpLimits: true }]);
    expect(ok.recurringTransactionRules[0]).toMatchObject({ id: ruleId, paidCredits: '60', ignorePaidTopUpLimits: true });
  });

  it('refuses rule amounts worth more than the largest exact amount, even when limits are ignored', async () => {
    const huge = cr('100000000000000'); // 1e16 cents at 1 credit = 1 EUR
    await expect(
      newWallet({ recurringTransactionRules: [{ ...thresholdRule, paidCredits: huge, ignorePaidTopUpLimits: true }] }),
    ).rejects.toMatchObject({
      code: 'AMOUNT_ABOVE_MAXIMUM',
      details: { field: 'recurringTransactionRules.paidCredits' },
    });
    await expect(
      newWallet({ recurringTransactionRules: [{ ...thresholdRule, paidCredits: undefined, grantedCredits: huge }] }),
    ).rejects.toMatchObject({
      code: 'AMOUNT_ABOVE_MAXIMUM',
      details: { field: 'recurringTransactionRules.grantedCredits' },
    });
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
