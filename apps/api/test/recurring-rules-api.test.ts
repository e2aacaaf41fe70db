/**
 * Recurring transaction rules over HTTP (DESIGN.md flow 5, Lago's 3f/3g), beyond what
 * wallets-api, threshold-rules-api and interval-rules-api already pin down: each broken rule refused
 * with its code and field on create and on update (and nothing changed), update by id and what an
 * unknown, ended or foreign id means, the rule's invoiceRequiresSuccessfulPayment on the top-ups it
 * creates, the wallet maximum on fixed threshold top-ups, wallet limits re-checked against a fixed
 * rule, a top-up that fails its own checks skipped without failing the request, and rules that are
 * past their expiry or belong to a terminated or expired wallet never firing.
 *
 * Its own database: `admin.runScheduledJobs` sweeps every organization of the database it runs on.
 */
import { auditLedger } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RouterInputs, WalletClient } from '../src/client/index.js';
import { errorOf, type Harness, startHarness } from './harness.js';

type RuleInput = NonNullable<RouterInputs['wallets']['create']['recurringTransactionRules']>[number];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = '2026-04-01T10:00:00.000Z'; // a Wednesday

let h: Harness;
let client: WalletClient;
let organizationId: string;
let pool: pg.Pool;

beforeAll(async () => {
  h = await startHarness({ ownDatabase: true });
  ({ client, organizationId } = await h.newTenant());
  pool = new pg.Pool({ connectionString: h.app.databaseUrl, max: 2 });
});
afterAll(async () => {
  await pool?.end();
  await h?.stop();
});
beforeEach(() => h.clock.set(START));

let customers = 0;
async function newCustomer(): Promise<string> {
  const externalId = `rr-${++customers}`;
  await client.customers.upsert.mutate({ externalId, currency: 'EUR' });
  return externalId;
}

/** Usage snapshots with ever newer `asOf`, so none is ignored as stale. */
let snapshots = 0;
const sync = (externalCustomerId: string, amountCents: number) =>
  client.usage.sync.mutate({
    externalCustomerId,
    currency: 'EUR',
    asOf: new Date(Date.UTC(2026, 0, 1, 0, ++snapshots)),
    fees: [{ feeType: 'charge', billableMetricCode: 'api', amountCents }],
  });

const transactionsOf = async (walletId: string) => (await client.walletTransactions.list.query({ walletId, limit: 100 })).items.reverse();
const topUpsOf = async (walletId: string, source: 'threshold' | 'interval') => (await transactionsOf(walletId)).filter((t) => t.source === source);

async function rulesInDatabase(walletId: string) {
  const { rows } = await pool.query<{ id: string; status: string; terminated_at: Date | null }>(
    `select id::text, status, terminated_at from recurring_transaction_rules
      where organization_id = $1 and wallet_id = $2 order by created_at, terminated_at nulls last, id`,
    [organizationId, walletId],
  );
  return rows;
}

/** The error of a call, or `accepted` (so a table of refusals names the case that went through). */
async function refusal(promise: Promise<unknown>) {
  try {
    await promise;
  } catch {
    return errorOf(promise);
  }
  return { code: 'ACCEPTED', walletErrorCode: null, issues: null };
}

const paths = (error: { issues: { path: (string | number)[] }[] | null }) => error.issues?.map((issue) => issue.path.join('.')) ?? null;

const fixedThreshold: RuleInput = { trigger: 'threshold', method: 'fixed', thresholdCredits: '5', paidCredits: '10' };

describe('rule validation on wallets.create and wallets.update', () => {
  it('refuses each broken rule with its own code and field, on create and on update, and changes nothing', async () => {
    const customer = await newCustomer();
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      name: 'Before',
      recurringTransactionRules: [fixedThreshold],
    });
    const rule = wallet.recurringTransactionRules[0]!;
    const now = h.clock.now();
    const cases: { label: string; rules: RuleInput[]; code: string; paths: string[] | null }[] = [
      {
        label: 'interval rule without interval',
        rules: [{ trigger: 'interval', grantedCredits: '1' }],
        code: 'VALIDATION_FAILED',
        paths: ['recurringTransactionRules.0.interval'],
      },
      {
        label: 'target rule without targetOngoingBalance',
        rules: [{ trigger: 'threshold', method: 'target', thresholdCredits: '5' }],
        code: 'VALIDATION_FAILED',
        paths: ['recurringTransactionRules.0.targetOngoingBalance'],
      },
      {
        label: 'target below the threshold',
        rules: [{ trigger: 'threshold', method: 'target', thresholdCredits: '5', targetOngoingBalance: '4.99999' }],
        code: 'VALIDATION_FAILED',
        paths: ['recurringTransactionRules.0.targetOngoingBalance'],
      },
      {
        label: 'grantsTargetTopUp on a fixed rule',
        rules: [{ ...fixedThreshold, grantsTargetTopUp: true }],
        code: 'VALIDATION_FAILED',
        paths: ['recurringTransactionRules.0.grantsTargetTopUp'],
      },
      {
        label: 'fixed rule with neither paid nor granted credits',
        rules: [{ trigger: 'interval', interval: 'weekly', method: 'fixed' }],
        code: 'VALIDATION_FAILED',
        paths: ['recurringTransactionRules.0.paidCredits'],
      },
      {
        label: 'two rules at once',
        rules: [fixedThreshold, { trigger: 'interval', interval: 'weekly', grantedCredits: '1' }],
        code: 'VALIDATION_FAILED',
        paths: ['recurringTransactionRules'],
      },
      {
        label: 'expirationAt in the past',
        rules: [{ ...fixedThreshold, expirationAt: new Date(now.getTime() - 1) }],
        code: 'INVALID_EXPIRATION_DATE',
        paths: null,
      },
      {
        label: 'expirationAt now',
        rules: [{ ...fixedThreshold, expirationAt: now }],
        code: 'INVALID_EXPIRATION_DATE',
        paths: null,
      },
    ];
    for (const c of cases) {
      const created = await refusal(
        client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', name: c.label, recurringTransactionRules: c.rules }),
      );
      expect([c.label, created.code, created.walletErrorCode, paths(created)]).toEqual([c.label, 'BAD_REQUEST', c.code, c.paths]);
      const updated = await refusal(client.wallets.update.mutate({ id: wallet.id, name: 'After', recurringTransactionRules: c.rules }));
      expect([c.label, updated.code, updated.walletErrorCode, paths(updated)]).toEqual([c.label, 'BAD_REQUEST', c.code, c.paths]);
    }

    // The same mistakes made by changing the existing rule through its id.
    const byId: { label: string; change: RuleInput; code: string; path: string | null }[] = [
      { label: 'switch to interval without interval', change: { trigger: 'interval' }, code: 'VALIDATION_FAILED', path: 'interval' },
      { label: 'switch to target without target', change: { method: 'target' }, code: 'VALIDATION_FAILED', path: 'targetOngoingBalance' },
      {
        label: 'threshold raised above the target',
        change: { method: 'target', targetOngoingBalance: '6', thresholdCredits: '6.00001' },
        code: 'VALIDATION_FAILED',
        path: 'targetOngoingBalance',
      },
      { label: 'grantsTargetTopUp on the fixed rule', change: { grantsTargetTopUp: true }, code: 'VALIDATION_FAILED', path: 'grantsTargetTopUp' },
      { label: 'no credits left', change: { paidCredits: '0' }, code: 'VALIDATION_FAILED', path: 'paidCredits' },
      { label: 'past expiry', change: { expirationAt: new Date(now.getTime() - DAY) }, code: 'INVALID_EXPIRATION_DATE', path: null },
    ];
    for (const c of byId) {
      const error = await refusal(
        client.wallets.update.mutate({ id: wallet.id, name: 'After', recurringTransactionRules: [{ id: rule.id, ...c.change }] }),
      );
      expect([c.label, error.walletErrorCode, paths(error)]).toEqual([c.label, c.code, c.path ? [`recurringTransactionRules.0.${c.path}`] : null]);
    }
    // An id that is not one of the wallet's active rules makes a new rule, which needs a trigger.
    const noTrigger = await errorOf(
      client.wallets.update.mutate({ id: wallet.id, recurringTransactionRules: [{ id: 'no-such-rule', paidCredits: '3' }] }),
    );
    expect([noTrigger.walletErrorCode, paths(noTrigger)]).toEqual(['VALIDATION_FAILED', ['recurringTransactionRules.0.trigger']]);

    // Nothing was written: one wallet, still named Before, with its rule as created.
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ name: 'Before', recurringTransactionRules: [rule] });
    expect((await client.wallets.list.query({ externalCustomerId: customer })).items).toHaveLength(1);
    expect(await rulesInDatabase(wallet.id)).toEqual([{ id: rule.id, status: 'active', terminated_at: null }]);
  });
});

describe('rules by id on wallets.update', () => {
  it('changes the rule with its id; an ended or foreign id makes a new rule; the rule left out ends', async () => {
    const customer = await newCustomer();
    const first = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      recurringTransactionRules: [
        { trigger: 'threshold', method: 'target', thresholdCredits: '2', targetOngoingBalance: '8', grantsTargetTopUp: true },
      ],
    });
    const other = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      recurringTransactionRules: [{ trigger: 'interval', interval: 'monthly', grantedCredits: '1' }],
    });
    const [targetRule] = first.recurringTransactionRules;
    const [otherRule] = other.recurringTransactionRules;

    // By id, switched to a fixed rule: same rule (id, start, creation), grantsTargetTopUp dropped.
    h.clock.advance(HOUR);
    const switched = await client.wallets.update.mutate({
      id: first.id,
      recurringTransactionRules: [{ id: targetRule!.id, method: 'fixed', paidCredits: '3' }],
    });
    expect(switched.recurringTransactionRules).toHaveLength(1);
    expect(switched.recurringTransactionRules[0]).toMatchObject({
      id: targetRule!.id,
      status: 'active',
      trigger: 'threshold',
      method: 'fixed',
      paidCredits: '3',
      thresholdCredits: '2',
      grantsTargetTopUp: false,
      startedAt: targetRule!.startedAt,
      createdAt: targetRule!.createdAt,
    });

    // The id of another wallet's rule is not this wallet's: a new rule here, the other wallet's untouched.
    h.clock.advance(HOUR);
    const foreign = await client.wallets.update.mutate({
      id: first.id,
      recurringTransactionRules: [{ id: otherRule!.id, trigger: 'interval', interval: 'weekly', grantedCredits: '2' }],
    });
    const created = foreign.recurringTransactionRules[0]!;
    expect(created).toMatchObject({ trigger: 'interval', interval: 'weekly', grantedCredits: '2', createdAt: h.clock.now() });
    expect([targetRule!.id, otherRule!.id]).not.toContain(created.id);
    expect((await client.wallets.get.query({ id: other.id })).recurringTransactionRules).toEqual([otherRule]);
    // The switched rule was left out of that list, so it ended.
    expect(await rulesInDatabase(first.id)).toEqual([
      { id: targetRule!.id, status: 'terminated', terminated_at: h.clock.now() },
      { id: created.id, status: 'active', terminated_at: null },
    ]);

    // An ended rule's id does not revive it: without a trigger it is refused, with one it is a new rule.
    const revive = await errorOf(
      client.wallets.update.mutate({ id: first.id, recurringTransactionRules: [{ id: targetRule!.id, paidCredits: '1' }] }),
    );
    expect(paths(revive)).toEqual(['recurringTransactionRules.0.trigger']);
    const again = await client.wallets.update.mutate({
      id: first.id,
      recurringTransactionRules: [{ id: targetRule!.id, trigger: 'threshold', thresholdCredits: '1', grantedCredits: '1' }],
    });
    expect([targetRule!.id, created.id]).not.toContain(again.recurringTransactionRules[0]!.id);
    expect((await rulesInDatabase(first.id)).map((r) => r.status)).toEqual(['terminated', 'terminated', 'active']);

    // [] ends what is left; the other wallet keeps its rule.
    expect((await client.wallets.update.mutate({ id: first.id, recurringTransactionRules: [] })).recurringTransactionRules).toEqual([]);
    expect((await rulesInDatabase(first.id)).map((r) => r.status)).toEqual(['terminated', 'terminated', 'terminated']);
    expect((await rulesInDatabase(other.id)).map((r) => r.status)).toEqual(['active']);
  });

  it('ending a threshold rule gives the usage its wallet absorbed back to the cascade in the same request', async () => {
    const customer = await newCustomer();
    const ruled = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      priority: 1,
      grantedCredits: '10',
      recurringTransactionRules: [{ trigger: 'threshold', method: 'fixed', thresholdCredits: '0', paidCredits: '50' }],
    });
    const plain = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', priority: 2, grantedCredits: '100' });
    // 30.00 of usage: the wallet with the rule takes it all (it will be topped up).
    const { wallets } = await sync(customer, 3000);
    const usageOf = (id: string) => wallets.find((w) => w.id === id)?.ongoingUsageBalanceCents;
    expect([usageOf(ruled.id), usageOf(plain.id)]).toEqual([3000, 0]);
    const ended = await client.wallets.update.mutate({ id: ruled.id, recurringTransactionRules: [] });
    // Without the rule it takes only its 10.00; the last wallet the other 20.00.
    expect([ended.ongoingUsageBalanceCents, ended.ongoingBalanceCents]).toEqual([1000, 0]);
    expect(await client.wallets.get.query({ id: plain.id })).toMatchObject({ ongoingUsageBalanceCents: 2000, ongoingBalanceCents: 8000 });
  });
});

describe("the rule's invoiceRequiresSuccessfulPayment on the top-ups it creates", () => {
  it('threshold top-ups carry the rule’s setting, not the wallet’s', async () => {
    const a = await newCustomer();
    const overriding = await client.wallets.create.mutate({
      externalCustomerId: a,
      rateAmount: '1',
      grantedCredits: '10',
      invoiceRequiresSuccessfulPayment: true,
      recurringTransactionRules: [{ ...fixedThreshold, invoiceRequiresSuccessfulPayment: false }],
    });
    expect(overriding.recurringTransactionRules[0]!.invoiceRequiresSuccessfulPayment).toBe(false);
    await sync(a, 600);
    const manual = await client.walletTransactions.create.mutate({ walletId: overriding.id, paidCredits: '1' });
    expect(manual.transactions.map((t) => t.invoiceRequiresSuccessfulPayment)).toEqual([true]);
    expect((await topUpsOf(overriding.id, 'threshold')).map((t) => [t.status, t.creditAmount, t.invoiceRequiresSuccessfulPayment])).toEqual([
      ['pending', '10', false],
    ]);

    // A rule without its own setting takes the wallet's when it is created, and keeps it afterwards.
    const b = await newCustomer();
    const inheriting = await client.wallets.create.mutate({
      externalCustomerId: b,
      rateAmount: '1',
      grantedCredits: '10',
      invoiceRequiresSuccessfulPayment: true,
      recurringTransactionRules: [fixedThreshold],
    });
    expect(inheriting.recurringTransactionRules[0]!.invoiceRequiresSuccessfulPayment).toBe(true);
    const relaxed = await client.wallets.update.mutate({ id: inheriting.id, invoiceRequiresSuccessfulPayment: false });
    expect(relaxed.recurringTransactionRules[0]!.invoiceRequiresSuccessfulPayment).toBe(true);
    await sync(b, 600);
    expect((await topUpsOf(inheriting.id, 'threshold')).map((t) => t.invoiceRequiresSuccessfulPayment)).toEqual([true]);
  });

  it('interval top-ups carry the rule’s setting, not the wallet’s', async () => {
    const customer = await newCustomer();
    const weekly = (invoiceRequiresSuccessfulPayment: boolean): RuleInput => ({
      trigger: 'interval',
      interval: 'weekly',
      paidCredits: '5',
      invoiceRequiresSuccessfulPayment,
    });
    const strictRule = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      invoiceRequiresSuccessfulPayment: false,
      recurringTransactionRules: [weekly(true)],
    });
    const laxRule = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      invoiceRequiresSuccessfulPayment: true,
      recurringTransactionRules: [weekly(false)],
    });
    await h.admin.admin.runScheduledJobs.mutate({ asOf: new Date(new Date(START).getTime() + 7 * DAY) });
    expect((await topUpsOf(strictRule.id, 'interval')).map((t) => [t.status, t.creditAmount, t.invoiceRequiresSuccessfulPayment])).toEqual([
      ['pending', '5', true],
    ]);
    expect((await topUpsOf(laxRule.id, 'interval')).map((t) => [t.status, t.creditAmount, t.invoiceRequiresSuccessfulPayment])).toEqual([
      ['pending', '5', false],
    ]);
  });
});

describe('paid top-up limits and fixed rules', () => {
  it('a fixed threshold top-up stops at the wallet maximum in whole increments, unless the rule ignores the limits', async () => {
    const capped = await newCustomer();
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: capped,
      rateAmount: '1',
      grantedCredits: '10',
      paidTopUpMaxAmountCents: 2500,
      recurringTransactionRules: [fixedThreshold],
    });
    // 65.00 of usage: ongoing -55; landing above 5 takes 7 x 10 = 70 credits; the maximum 25.00 allows 2 x 10.
    await sync(capped, 6500);
    expect((await topUpsOf(wallet.id, 'threshold')).map((t) => [t.creditAmount, t.amountCents])).toEqual([['20', 2000]]);

    const free = await newCustomer();
    const ignoring = await client.wallets.create.mutate({
      externalCustomerId: free,
      rateAmount: '1',
      grantedCredits: '10',
      paidTopUpMaxAmountCents: 2500,
      recurringTransactionRules: [{ ...fixedThreshold, ignorePaidTopUpLimits: true }],
    });
    await sync(free, 6500);
    expect((await topUpsOf(ignoring.id, 'threshold')).map((t) => [t.creditAmount, t.amountCents])).toEqual([['70', 7000]]);
  });

  it('refuses new wallet limits that the active fixed rule breaks, unless the rule ignores them or ends in the same update', async () => {
    const customer = await newCustomer();
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      recurringTransactionRules: [{ trigger: 'interval', interval: 'monthly', paidCredits: '10' }],
    });
    const rule = wallet.recurringTransactionRules[0]!;
    const above = await errorOf(client.wallets.update.mutate({ id: wallet.id, paidTopUpMaxAmountCents: 999 }));
    expect([above.code, above.walletErrorCode]).toEqual(['BAD_REQUEST', 'AMOUNT_ABOVE_MAXIMUM']);
    const below = await errorOf(client.wallets.update.mutate({ id: wallet.id, paidTopUpMinAmountCents: 1001 }));
    expect([below.code, below.walletErrorCode]).toEqual(['BAD_REQUEST', 'AMOUNT_BELOW_MINIMUM']);
    expect(await client.wallets.get.query({ id: wallet.id })).toMatchObject({ paidTopUpMinAmountCents: null, paidTopUpMaxAmountCents: null });

    // The same limits with the rule told to ignore them: accepted.
    const ignoring = await client.wallets.update.mutate({
      id: wallet.id,
      paidTopUpMinAmountCents: 1001,
      recurringTransactionRules: [{ id: rule.id, ignorePaidTopUpLimits: true }],
    });
    expect(ignoring).toMatchObject({ paidTopUpMinAmountCents: 1001, recurringTransactionRules: [{ id: rule.id, ignorePaidTopUpLimits: true }] });
    // Taking that back under the new minimum is refused.
    const back = await errorOf(
      client.wallets.update.mutate({ id: wallet.id, recurringTransactionRules: [{ id: rule.id, ignorePaidTopUpLimits: false }] }),
    );
    expect(back.walletErrorCode).toBe('AMOUNT_BELOW_MINIMUM');
    expect((await client.wallets.get.query({ id: wallet.id })).recurringTransactionRules).toEqual(ignoring.recurringTransactionRules);
    // A rule ended in the same update is not held to the new limits.
    const second = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      recurringTransactionRules: [{ trigger: 'interval', interval: 'monthly', paidCredits: '10' }],
    });
    const ended = await client.wallets.update.mutate({ id: second.id, paidTopUpMaxAmountCents: 500, recurringTransactionRules: [] });
    expect(ended).toMatchObject({ paidTopUpMaxAmountCents: 500, recurringTransactionRules: [] });
  });
});

describe('a top-up that fails its own checks', () => {
  it('is skipped without failing the usage.sync that triggered it; the rule fires once a top-up is possible', async () => {
    // Rate 0.30: 10 credits are 3.00. Usage 1.00 is 3.33333 credits: ongoing 6.66667 <= 6.67, a gap of
    // 0.00333 credits, worth 0.1 cent: rounds to zero.
    const customer = await newCustomer();
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '0.3',
      grantedCredits: '10',
      recurringTransactionRules: [{ trigger: 'threshold', method: 'target', thresholdCredits: '6.67', targetOngoingBalance: '6.67' }],
    });
    const small = await sync(customer, 100);
    expect(small.wallets[0]).toMatchObject({
      ongoingBalanceCents: 200,
      creditsOngoingBalance: '6.66667',
      recurringTransactionRules: [{ status: 'active' }],
    });
    expect(await topUpsOf(wallet.id, 'threshold')).toEqual([]);
    // Usage 4.00: ongoing -3.33333 credits, gap 10.00333 credits = 3.000999 -> 3.00, which buys 10 credits.
    await sync(customer, 400);
    expect((await topUpsOf(wallet.id, 'threshold')).map((t) => [t.status, t.creditAmount, t.amountCents])).toEqual([['pending', '10', 300]]);

    // A fixed rule whose granted part is worth 0.3 cent: the whole top-up is skipped, the sync succeeds.
    const other = await newCustomer();
    const tiny = await client.wallets.create.mutate({
      externalCustomerId: other,
      rateAmount: '0.3',
      grantedCredits: '10',
      recurringTransactionRules: [{ trigger: 'threshold', method: 'fixed', thresholdCredits: '5', grantedCredits: '0.01' }],
    });
    const synced = await sync(other, 200);
    expect(synced.wallets[0]).toMatchObject({ balanceCents: 300, ongoingBalanceCents: 100, creditsOngoingBalance: '3.33333' });
    expect(await topUpsOf(tiny.id, 'threshold')).toEqual([]);
    expect(await auditLedger(h.app.databaseUrl)).toEqual([]);
  });

  it('an interval top-up that fails its own checks is skipped by the job, which goes on with the others', async () => {
    h.clock.set('2026-06-01T10:00:00.000Z');
    const customer = await newCustomer();
    const tiny = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '0.3',
      recurringTransactionRules: [{ trigger: 'interval', interval: 'weekly', grantedCredits: '0.01' }],
    });
    const fine = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '0.3',
      recurringTransactionRules: [{ trigger: 'interval', interval: 'weekly', grantedCredits: '1' }],
    });
    await h.admin.admin.runScheduledJobs.mutate({ asOf: new Date('2026-06-08T10:00:00.000Z') });
    expect(await topUpsOf(tiny.id, 'interval')).toEqual([]);
    expect((await topUpsOf(fine.id, 'interval')).map((t) => [t.transactionStatus, t.creditAmount, t.amountCents])).toEqual([['granted', '1', 30]]);
    expect((await client.wallets.get.query({ id: tiny.id })).recurringTransactionRules).toHaveLength(1);
  });
});

describe('rules that must not fire', () => {
  it('a threshold rule past its expirationAt neither fires nor absorbs usage, before any job ran', async () => {
    const customer = await newCustomer();
    const ruled = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      priority: 1,
      grantedCredits: '10',
      recurringTransactionRules: [{ ...fixedThreshold, expirationAt: new Date(new Date(START).getTime() + HOUR) }],
    });
    const plain = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', priority: 2, grantedCredits: '100' });
    h.clock.advance(2 * HOUR);
    const { wallets } = await sync(customer, 3000);
    // As a wallet without a rule: it takes its 10.00, the last wallet the other 20.00.
    const state = (id: string) => wallets.filter((w) => w.id === id).map((w) => [w.ongoingUsageBalanceCents, w.ongoingBalanceCents]);
    expect([state(ruled.id), state(plain.id)]).toEqual([[[1000, 0]], [[2000, 8000]]]);
    expect(await topUpsOf(ruled.id, 'threshold')).toEqual([]);
  });

  it('terminating a wallet ends its rules for good', async () => {
    const customer = await newCustomer();
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      grantedCredits: '10',
      recurringTransactionRules: [fixedThreshold],
    });
    const ruleId = wallet.recurringTransactionRules[0]!.id;
    h.clock.advance(HOUR);
    const terminated = await client.wallets.terminate.mutate({ id: wallet.id });
    expect(terminated.recurringTransactionRules).toEqual([]);
    expect(await rulesInDatabase(wallet.id)).toEqual([{ id: ruleId, status: 'terminated', terminated_at: h.clock.now() }]);
    await sync(customer, 5000);
    expect(await topUpsOf(wallet.id, 'threshold')).toEqual([]);
    const revive = await errorOf(client.wallets.update.mutate({ id: wallet.id, recurringTransactionRules: [fixedThreshold] }));
    expect([revive.code, revive.walletErrorCode]).toEqual(['CONFLICT', 'WALLET_TERMINATED']);
    expect((await rulesInDatabase(wallet.id)).map((r) => r.status)).toEqual(['terminated']);
  });

  it('a wallet past its expirationAt is expired before any job ran: its threshold rule does not fire; the job ends its rules', async () => {
    h.clock.set('2026-07-01T10:00:00.000Z');
    const customer = await newCustomer();
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      grantedCredits: '10',
      expirationAt: new Date('2026-07-01T11:00:00.000Z'),
      recurringTransactionRules: [fixedThreshold],
    });
    const interval = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      expirationAt: new Date('2026-07-04T10:00:00.000Z'),
      recurringTransactionRules: [{ trigger: 'interval', interval: 'weekly', grantedCredits: '1' }],
    });
    h.clock.set('2026-07-01T12:00:00.000Z');
    await sync(customer, 900);
    expect(await topUpsOf(wallet.id, 'threshold')).toEqual([]);
    const refused = await errorOf(client.wallets.update.mutate({ id: wallet.id, recurringTransactionRules: [] }));
    expect(refused.walletErrorCode).toBe('WALLET_TERMINATED');

    // The job a week later: both wallets expire, their rules end, the weekly rule never fires.
    h.clock.set('2026-07-08T10:00:00.000Z');
    await h.admin.admin.runScheduledJobs.mutate({ asOf: h.clock.now() });
    for (const w of [wallet, interval]) {
      expect((await client.wallets.get.query({ id: w.id })).status).toBe('terminated');
      expect((await rulesInDatabase(w.id)).map((r) => r.status)).toEqual(['terminated']);
    }
    expect(await topUpsOf(interval.id, 'interval')).toEqual([]);
    expect(await auditLedger(h.app.databaseUrl)).toEqual([]);
  });
});
