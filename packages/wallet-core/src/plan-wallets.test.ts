import { describe, expect, it } from 'vitest';
import { planTerminateWallet } from './plan-lifecycle.js';
import { type CreateWalletCommand, MAX_ACTIVE_WALLETS, planCreateWallet, planUpdateWallet } from './plan-wallets.js';
import type { GroupRecords } from './records.js';
import { CR, clock, group, hour, lot, NOW, refusal, rule, wallet } from './test-records.js';

const create = (records: GroupRecords, command: Partial<CreateWalletCommand> = {}) =>
  planCreateWallet(records, { rateAmount: CR, ...command }, clock());

describe('planCreateWallet', () => {
  it('creates the wallet with its purchase, grant and rule, sets the customer currency, and answers it as it ends', () => {
    const { delta, wallet, rules } = create(group({}, null), {
      currency: 'USD',
      name: 'Main wallet',
      paidCredits: 10n * CR,
      grantedCredits: 3n * CR,
      transactionName: 'welcome',
      recurringTransactionRules: [{ trigger: 'interval', interval: 'weekly', grantedCredits: 2n * CR }],
    });
    expect(wallet).toMatchObject({ id: 'new-0', code: 'main_wallet', currency: 'USD', balanceCents: 300n, ongoingBalanceCents: 300n });
    expect(wallet.createdAt).toEqual(NOW);
    expect(delta.newWallets).toEqual([wallet]);
    expect(delta.wallets).toEqual([]);
    expect(delta.customer).toEqual({
      id: 'customer',
      externalId: 'cust',
      currency: 'USD',
      timezone: 'UTC',
      createdAt: new Date(0),
      updatedAt: new Date(0),
    });
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ walletId: 'new-0', trigger: 'interval', interval: 'weekly', grantedCredits: 2n * CR, startedAt: NOW });
    expect(delta.newRules).toEqual(rules);
    expect(delta.entries.map((e) => [e.transactionStatus, e.status, e.amountCents, e.name])).toEqual([
      ['purchased', 'pending', 1_000n, 'welcome'],
      ['granted', 'settled', 300n, 'welcome'],
    ]);
    expect(delta.events.map((e) => e.type)).toEqual(['wallet_transaction.created', 'wallet_transaction.created', 'wallet.created']);
  });

  it('leaves the customer alone when its currency is already the wallet one', () => {
    expect(create(group()).delta.customer).toBeNull();
  });

  it('expires overdue wallets first: their lots voided, their place and code freed', () => {
    const wallets = Array.from({ length: MAX_ACTIVE_WALLETS }, (_, i) =>
      wallet(`w${i}`, i === 0 ? { expirationAt: hour(9), balanceCents: 50n, creditsBalance: 50_000n } : {}),
    );
    const { delta, wallet: created } = create(group({ wallets, lots: [lot('lot-0', 'w0', 50n)] }), { code: 'w0' });
    expect(created.code).toBe('w0');
    expect(delta.wallets.find((w) => w.id === 'w0')).toMatchObject({ status: 'terminated', terminatedAt: NOW, balanceCents: 0n });
    expect(delta.entries[0]).toMatchObject({ walletId: 'w0', transactionStatus: 'voided', source: 'expiration', amountCents: 50n });
    expect(delta.events.filter((e) => 'walletId' in e).map((e) => [e.type, 'walletId' in e && e.walletId])).toEqual([
      ['wallet.terminated', 'w0'],
      ['wallet.created', created.id],
      // An empty new wallet is depleted from the start.
      ['wallet.depleted_ongoing_balance', created.id],
    ]);
  });

  it('refuses as today, in order, planning nothing', () => {
    const six = Array.from({ length: MAX_ACTIVE_WALLETS }, (_, i) => wallet(`w${i}`));
    expect(refusal(() => create(group({}, null)))).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'currency is required while the customer has none',
    });
    expect(refusal(() => create(group(), { currency: 'USD' }))).toMatchObject({ code: 'CURRENCY_MISMATCH' });
    expect(refusal(() => create(group({ wallets: six })))).toMatchObject({
      code: 'WALLET_LIMIT_REACHED',
      message: `a customer may have at most ${MAX_ACTIVE_WALLETS} active wallets`,
    });
    expect(refusal(() => create(group({ wallets: [wallet('vip')] }), { code: 'vip' }))).toMatchObject({
      code: 'CODE_ALREADY_EXISTS',
      message: 'an active wallet of this customer already has code vip',
    });
    expect(refusal(() => create(group(), { expirationAt: NOW }))).toMatchObject({ code: 'INVALID_EXPIRATION_DATE' });
    expect(refusal(() => create(group(), { paidTopUpMinAmountCents: 500n, paidTopUpMaxAmountCents: 100n }))).toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(refusal(() => create(group(), { paidCredits: 1n * CR, paidTopUpMinAmountCents: 500n }))).toMatchObject({ code: 'AMOUNT_BELOW_MINIMUM' });
    expect(refusal(() => create(group(), { paidCredits: 1n }))).toMatchObject({ code: 'AMOUNT_ROUNDS_TO_ZERO' });
    expect(
      refusal(() =>
        create(group(), {
          paidTopUpMaxAmountCents: 100n,
          recurringTransactionRules: [{ trigger: 'interval', interval: 'weekly', paidCredits: 5n * CR }],
        }),
      ),
    ).toMatchObject({ code: 'AMOUNT_ABOVE_MAXIMUM' });
    expect(refusal(() => create(group(), { recurringTransactionRules: [{ interval: 'weekly', grantedCredits: CR }] }))).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'a new rule needs a trigger',
    });
    expect(refusal(() => create(group(), { recurringTransactionRules: [{ trigger: 'interval', grantedCredits: CR }] }))).toMatchObject({
      message: 'an interval rule needs an interval',
    });
  });

  it('lets paid credits pass the limits when asked to ignore them on creation', () => {
    const { delta } = create(group(), { paidCredits: 1n * CR, paidTopUpMinAmountCents: 500n, ignorePaidTopUpLimitsOnCreation: true });
    expect(delta.entries).toHaveLength(1);
  });

  it('fires a threshold rule of the new wallet at once', () => {
    const { delta, wallet: created } = create(group(), {
      grantedCredits: 2n * CR,
      recurringTransactionRules: [{ trigger: 'threshold', thresholdCredits: 5n * CR, grantedCredits: 10n * CR }],
    });
    expect(delta.entries.map((e) => [e.source, e.amountCents])).toEqual([
      ['manual', 200n],
      ['threshold', 1_000n],
    ]);
    expect(created.balanceCents).toBe(1_200n);
  });
});

describe('planUpdateWallet', () => {
  const records = () =>
    group({
      wallets: [wallet('w1', { code: 'one' }), wallet('w2', { code: 'two' })],
      rules: [rule('r1', 'w1')],
    });

  it('changes settings, edits the listed rule and answers the wallet with it', () => {
    const {
      delta,
      wallet: updated,
      rules,
    } = planUpdateWallet(
      records(),
      {
        id: 'w1',
        name: 'Renamed',
        code: 'first',
        priority: 3,
        appliesTo: { feeTypes: ['charge'] },
        recurringTransactionRules: [{ id: 'r1', interval: 'weekly', transactionName: 'weekly top-up' }],
      },
      clock(),
    );
    expect(updated).toMatchObject({ name: 'Renamed', code: 'first', priority: 3, appliesToFeeTypes: ['charge'], updatedAt: NOW });
    expect(delta.wallets.map((w) => w.id)).toEqual(['w1']);
    expect(rules).toEqual([expect.objectContaining({ id: 'r1', interval: 'weekly', transactionName: 'weekly top-up', status: 'active' })]);
    expect(delta.rules).toEqual(rules);
    expect(delta.newRules).toEqual([]);
    expect(delta.events).toEqual([{ type: 'wallet.updated', walletId: 'w1' }]);
  });

  it('ends a rule left out and creates one listed without id', () => {
    const { delta, rules } = planUpdateWallet(
      records(),
      { id: 'w1', recurringTransactionRules: [{ trigger: 'threshold', thresholdCredits: 0n, grantedCredits: CR, interval: 'weekly' }] },
      clock(),
    );
    expect(delta.rules).toEqual([expect.objectContaining({ id: 'r1', status: 'terminated', terminatedAt: NOW })]);
    expect(delta.newRules).toEqual(rules);
    // A threshold rule has no interval.
    expect(rules[0]).toMatchObject({ id: 'new-0', trigger: 'threshold', interval: null, startedAt: NOW });
  });

  it('ends every rule given an empty list, and keeps them when the list is left out', () => {
    expect(planUpdateWallet(records(), { id: 'w1', recurringTransactionRules: [] }, clock()).rules).toEqual([]);
    expect(planUpdateWallet(records(), { id: 'w1', name: 'x' }, clock()).rules.map((r) => r.id)).toEqual(['r1']);
  });

  it('refuses as today, planning nothing', () => {
    expect(refusal(() => planUpdateWallet(records(), { id: 'w9' }, clock()))).toMatchObject({ code: 'WALLET_NOT_FOUND' });
    const ended = group({ wallets: [wallet('w1', { status: 'terminated' })] });
    expect(refusal(() => planUpdateWallet(ended, { id: 'w1' }, clock()))).toMatchObject({ code: 'WALLET_TERMINATED' });
    const overdue = group({ wallets: [wallet('w1', { expirationAt: NOW })] });
    expect(refusal(() => planUpdateWallet(overdue, { id: 'w1' }, clock()))).toMatchObject({ code: 'WALLET_TERMINATED' });
    expect(refusal(() => planUpdateWallet(records(), { id: 'w1', code: 'two' }, clock()))).toMatchObject({ code: 'CODE_ALREADY_EXISTS' });
    expect(refusal(() => planUpdateWallet(records(), { id: 'w1', expirationAt: hour(1) }, clock()))).toMatchObject({
      code: 'INVALID_EXPIRATION_DATE',
    });
    expect(refusal(() => planUpdateWallet(records(), { id: 'w1', paidTopUpMinAmountCents: 9n, paidTopUpMaxAmountCents: 1n }, clock()))).toMatchObject(
      {
        code: 'VALIDATION_FAILED',
      },
    );
    expect(
      refusal(() => planUpdateWallet(records(), { id: 'w1', recurringTransactionRules: [{ id: 'r1' }, { trigger: 'interval' }] }, clock())),
    ).toMatchObject({ message: 'a wallet has at most one recurring transaction rule' });
    // The wallet's rules are checked against its new limits.
    const paidRule = group({ wallets: [wallet('w1')], rules: [rule('r1', 'w1', { paidCredits: 5n * CR })] });
    expect(refusal(() => planUpdateWallet(paidRule, { id: 'w1', paidTopUpMaxAmountCents: 100n }, clock()))).toMatchObject({
      code: 'AMOUNT_ABOVE_MAXIMUM',
    });
    expect(
      refusal(() => planUpdateWallet(records(), { id: 'w1', recurringTransactionRules: [{ id: 'r1', method: 'target' }] }, clock())),
    ).toMatchObject({ message: 'a target rule needs targetOngoingBalance' });
    expect(
      refusal(() => planUpdateWallet(records(), { id: 'w1', recurringTransactionRules: [{ id: 'r1', expirationAt: NOW }] }, clock())),
    ).toMatchObject({ code: 'INVALID_EXPIRATION_DATE' });
  });

  it('keeps its own code without refusing it', () => {
    expect(planUpdateWallet(records(), { id: 'w1', code: 'one' }, clock()).wallet.code).toBe('one');
  });
});

describe('a threshold rule fires at most once per request', () => {
  // A grant of 1 credit that leaves the wallet still under its threshold of 5: a second settlement
  // in the same request (as the commands before the one door ran) would fire it again.
  const small = { trigger: 'threshold' as const, thresholdCredits: 5n * CR, grantedCredits: CR };
  const thresholdEntries = (delta: { entries: { source: string }[] }) => delta.entries.filter((e) => e.source === 'threshold');

  it('on wallets.create', () => {
    const { delta, wallet: created } = create(group(), { grantedCredits: 2n * CR, recurringTransactionRules: [small] });
    expect(thresholdEntries(delta)).toHaveLength(1);
    expect(created.creditsBalance).toBe(3n * CR);
  });

  it('on wallets.update', () => {
    const records = group({
      wallets: [wallet('w1', { balanceCents: 200n, creditsBalance: 2n * CR, ongoingBalanceCents: 200n, creditsOngoingBalance: 2n * CR })],
    });
    const { delta } = planUpdateWallet(records, { id: 'w1', recurringTransactionRules: [small] }, clock());
    expect(thresholdEntries(delta)).toHaveLength(1);
  });

  it('on wallets.terminate, for the wallets of its currency that stay', () => {
    const records = group({
      wallets: [
        wallet('ending'),
        wallet('stays', { balanceCents: 200n, creditsBalance: 2n * CR, ongoingBalanceCents: 200n, creditsOngoingBalance: 2n * CR }),
      ],
      rules: [rule('r1', 'stays', { ...small, interval: null, grantedCredits: CR })],
    });
    const { delta } = planTerminateWallet(records, 'ending', clock());
    expect(thresholdEntries(delta)).toEqual([expect.objectContaining({ walletId: 'stays', amountCents: 100n })]);
  });
});
