import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AllocationFee } from './allocation.js';
import { WalletError } from './errors.js';
import { LedgerDraft } from './ledger-draft.js';
import { planApplyInvoice, planVoidInvoice } from './plan-invoice.js';
import { planUsageSync } from './plan-usage-sync.js';
import { planWalletTransactions } from './plan-wallet-transactions.js';
import type { EntryRecord, GroupRecords, LedgerDelta, RuleRecord, UsageSnapshotRecord, WalletRecord } from './records.js';

const T0 = Date.UTC(2026, 9, 1);
const hour = (n: number) => new Date(T0 + n * 3_600_000);
const NOW = hour(10);

function ids(prefix = 'new') {
  let n = 0;
  return () => `${prefix}-${String(n++).padStart(4, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Generators: a customer's group with consistent balances (each wallet holds exactly its lots).

const lotArb = fc.record({
  granted: fc.boolean(),
  cents: fc.bigInt(0n, 50_000n),
  extraCredits: fc.bigInt(0n, 3n),
  priority: fc.integer({ min: 1, max: 60 }),
  expiresAt: fc.option(fc.integer({ min: 1, max: 30 }), { nil: null }),
  createdAt: fc.integer({ min: 0, max: 9 }),
});

const walletArb = fc.record({
  rate: fc.constantFrom(100_000n, 70_000n, 250_000n, 133_333n),
  priority: fc.integer({ min: 1, max: 5 }),
  expiresAt: fc.option(fc.integer({ min: 5, max: 40 }), { nil: null }),
  scope: fc.constantFrom('none', 'none', 'charge', 'api_calls'),
  lots: fc.array(lotArb, { maxLength: 4 }),
  rule: fc.option(
    fc.record({
      threshold: fc.bigInt(0n, 30_000_000n),
      paid: fc.bigInt(0n, 2_000_000n),
      granted: fc.bigInt(0n, 2_000_000n),
    }),
    { nil: null },
  ),
  pendingCredits: fc.option(fc.bigInt(1n, 500_000n), { nil: null }),
});

const feeArb = fc.record({
  feeType: fc.constantFrom('charge', 'subscription'),
  billableMetricCode: fc.constantFrom('api_calls', 'storage_gb', null),
  amount: fc.bigInt(0n, 400_000_00000n),
  coupons: fc.constant(0n),
  taxes: fc.bigInt(0n, 9_000_00000n),
});

const groupArb = fc.record({
  wallets: fc.array(walletArb, { minLength: 1, maxLength: 4 }),
  usage: fc.option(fc.array(feeArb, { maxLength: 3 }), { nil: null }),
});

type GroupSpec = fc.Arbitrary<typeof groupArb extends fc.Arbitrary<infer T> ? T : never> extends fc.Arbitrary<infer U> ? U : never;

function buildGroup(spec: GroupSpec): GroupRecords {
  const wallets: WalletRecord[] = [];
  const lots: EntryRecord[] = [];
  const purchases: EntryRecord[] = [];
  const rules: RuleRecord[] = [];
  spec.wallets.forEach((w, i) => {
    const id = `wallet-${i}`;
    let balanceCents = 0n;
    let creditsBalance = 0n;
    w.lots.forEach((l, k) => {
      const credits = (l.cents * 100_000n * 100_000n) / (w.rate * 100n) + l.extraCredits;
      if (credits === 0n && l.cents === 0n) return;
      balanceCents += l.cents;
      creditsBalance += credits;
      lots.push(
        entry(`lot-${i}-${k}`, id, {
          transactionStatus: l.granted ? 'granted' : 'purchased',
          creditAmount: credits,
          amountCents: l.cents,
          remainingCreditAmount: credits,
          remainingAmountCents: l.cents,
          priority: l.priority,
          expirationAt: l.expiresAt === null ? null : hour(l.expiresAt),
          createdAt: hour(l.createdAt),
        }),
      );
    });
    if (w.pendingCredits !== null) {
      purchases.push(
        entry(`pending-${i}`, id, { status: 'pending', creditAmount: w.pendingCredits, amountCents: w.pendingCredits / 1000n + 1n, settledAt: null }),
      );
    }
    if (w.rule) {
      rules.push({
        id: `rule-${i}`,
        walletId: id,
        status: 'active',
        trigger: 'threshold',
        interval: null,
        method: 'fixed',
        paidCredits: w.rule.paid,
        grantedCredits: w.rule.granted,
        thresholdCredits: w.rule.threshold,
        targetOngoingBalance: null,
        grantsTargetTopUp: false,
        ignorePaidTopUpLimits: false,
        invoiceRequiresSuccessfulPayment: false,
        startedAt: null,
        expirationAt: null,
        transactionMetadata: [],
        transactionName: 'auto',
        terminatedAt: null,
        createdAt: hour(0),
      });
    }
    wallets.push({
      id,
      customerId: 'customer',
      name: `w${i}`,
      code: `w${i}`,
      status: 'active',
      currency: 'EUR',
      rateAmount: w.rate,
      priority: w.priority,
      balanceCents,
      creditsBalance,
      ongoingBalanceCents: balanceCents,
      creditsOngoingBalance: creditsBalance,
      ongoingUsageBalanceCents: 0n,
      creditsOngoingUsageBalance: 0n,
      consumedCredits: 0n,
      consumedAmountCents: 0n,
      depletedOngoingBalance: false,
      expirationAt: w.expiresAt === null ? null : hour(w.expiresAt),
      terminatedAt: null,
      invoiceRequiresSuccessfulPayment: false,
      paidTopUpMinAmountCents: null,
      paidTopUpMaxAmountCents: null,
      appliesToFeeTypes: w.scope === 'charge' ? ['charge'] : [],
      appliesToBillableMetricCodes: w.scope === 'api_calls' ? ['api_calls'] : [],
      createdAt: hour(0),
      updatedAt: hour(0),
    });
  });
  const snapshots = new Map<string, UsageSnapshotRecord>();
  if (spec.usage) {
    snapshots.set('EUR', {
      id: 'snapshot',
      currency: 'EUR',
      asOf: hour(1),
      fees: spec.usage,
      draftInvoices: [{ id: 'inv-1', fees: spec.usage }],
      billedFees: [],
      updatedAt: hour(1),
    });
  }
  return {
    customer: { id: 'customer', externalId: 'cust', currency: 'EUR', timezone: 'UTC', createdAt: new Date(0), updatedAt: new Date(0) },
    wallets,
    lots,
    purchases,
    latestPurchaseSettledAt: new Map(),
    rules,
    snapshots,
  };
}

function entry(id: string, walletId: string, fields: Partial<EntryRecord>): EntryRecord {
  return {
    id,
    walletId,
    customerId: 'customer',
    transactionType: 'inbound',
    status: 'settled',
    transactionStatus: 'purchased',
    source: 'manual',
    creditAmount: 0n,
    amountCents: 0n,
    remainingCreditAmount: null,
    remainingAmountCents: null,
    priority: 50,
    expirationAt: null,
    name: null,
    metadata: [],
    invoiceId: null,
    voidedInvoiceId: null,
    voidedTransactionId: null,
    invoiceRequiresSuccessfulPayment: false,
    settledAt: hour(0),
    failedAt: null,
    clawedBackAt: null,
    createdAt: hour(0),
    ...fields,
  };
}

const invoiceArb = fc.record({
  fees: fc.array(
    fc.record({
      feeType: fc.constantFrom('charge', 'subscription'),
      billableMetricCode: fc.constantFrom('api_calls', 'storage_gb', null),
      amount: fc.bigInt(0n, 2_000_000_00000n),
      coupons: fc.constant(0n),
      taxes: fc.bigInt(0n, 100_000_00000n),
      creditNotes: fc.constant(0n),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  slackCents: fc.bigInt(-500n, 0n),
  invoiceType: fc.constantFrom('subscription', 'progressive_billing', 'pay_in_advance', 'one_off'),
});

function invoiceOf(spec: { fees: AllocationFee[]; slackCents: bigint; invoiceType: string }) {
  const cap = spec.fees.reduce((sum, f) => sum + f.amount - f.coupons + f.taxes - f.creditNotes, 0n);
  const total = (cap + 50_000n) / 100_000n + spec.slackCents;
  return { id: 'inv-1', currency: 'EUR', invoiceType: spec.invoiceType, totalAmountCents: total > 0n ? total : 0n, fees: spec.fees };
}

// ---------------------------------------------------------------------------------------------
// Invariant checks on a delta.

/** Every wallet's balance moved by exactly its new entries, and still equals the sum of its lots. */
function checkBalances(records: GroupRecords, delta: LedgerDelta): void {
  const finalWallets = new Map(records.wallets.map((w) => [w.id, w]));
  for (const w of delta.wallets) finalWallets.set(w.id, w);
  const finalEntries = new Map<string, EntryRecord>([...records.lots, ...records.purchases].map((e) => [e.id, e]));
  for (const e of [...delta.changedEntries, ...delta.entries]) finalEntries.set(e.id, e);
  for (const before of records.wallets) {
    const after = finalWallets.get(before.id)!;
    let cents = before.balanceCents;
    let credits = before.creditsBalance;
    for (const e of delta.entries.filter((x) => x.walletId === before.id && x.status === 'settled')) {
      const sign = e.transactionType === 'inbound' ? 1n : -1n;
      cents += sign * e.amountCents;
      credits += sign * e.creditAmount;
    }
    expect(after.balanceCents).toBe(cents);
    expect(after.creditsBalance).toBe(credits);
    expect(after.balanceCents).toBeGreaterThanOrEqual(0n);
    const lots = [...finalEntries.values()].filter((e) => e.walletId === before.id && e.transactionType === 'inbound' && e.status === 'settled');
    expect(lots.reduce((s, l) => s + (l.remainingAmountCents ?? 0n), 0n)).toBe(after.balanceCents);
    expect(lots.reduce((s, l) => s + (l.remainingCreditAmount ?? 0n), 0n)).toBe(after.creditsBalance);
    expect(after.ongoingBalanceCents).toBe(after.balanceCents - after.ongoingUsageBalanceCents);
  }
}

/** Consumptions sum to their outbound entry, never exceed a lot's remainder, and leave no remainder below zero. */
function checkConsumptions(records: GroupRecords, delta: LedgerDelta): void {
  const before = new Map(records.lots.map((l) => [l.id, l]));
  for (const e of delta.entries)
    if (e.transactionType === 'inbound') before.set(e.id, { ...e, remainingAmountCents: e.amountCents, remainingCreditAmount: e.creditAmount });
  const takenByLot = new Map<string, { cents: bigint; credits: bigint }>();
  for (const c of delta.consumptions) {
    const t = takenByLot.get(c.inboundId) ?? { cents: 0n, credits: 0n };
    t.cents += c.amountCents;
    t.credits += c.creditAmount;
    takenByLot.set(c.inboundId, t);
  }
  for (const [lotId, taken] of takenByLot) {
    const lot = before.get(lotId)!;
    expect(taken.cents).toBeLessThanOrEqual(lot.remainingAmountCents!);
    expect(taken.credits).toBeLessThanOrEqual(lot.remainingCreditAmount!);
  }
  for (const out of delta.entries.filter((e) => e.transactionType === 'outbound')) {
    const parts = delta.consumptions.filter((c) => c.outboundId === out.id);
    expect(parts.reduce((s, c) => s + c.amountCents, 0n)).toBe(out.amountCents);
    expect(parts.reduce((s, c) => s + c.creditAmount, 0n)).toBe(out.creditAmount);
  }
  for (const e of [...delta.entries, ...delta.changedEntries]) {
    if (e.remainingAmountCents !== null) expect(e.remainingAmountCents).toBeGreaterThanOrEqual(0n);
    if (e.remainingCreditAmount !== null) expect(e.remainingCreditAmount).toBeGreaterThanOrEqual(0n);
  }
}

/** Transaction events come first, then at most one main event per wallet. */
function checkEvents(delta: LedgerDelta): void {
  const firstWallet = delta.events.findIndex((e) => !('entry' in e));
  if (firstWallet >= 0) expect(delta.events.slice(firstWallet).every((e) => !('entry' in e))).toBe(true);
  const created = delta.events.filter((e) => e.type === 'wallet_transaction.created').map((e) => ('entry' in e ? e.entry.id : ''));
  expect(created).toEqual(delta.entries.map((e) => e.id));
  const main = delta.events
    .filter((e) => 'walletId' in e && e.type !== 'wallet.depleted_ongoing_balance')
    .map((e) => ('walletId' in e ? e.walletId : ''));
  expect(new Set(main).size).toBe(main.length);
}

function checkAll(records: GroupRecords, delta: LedgerDelta): void {
  checkBalances(records, delta);
  checkConsumptions(records, delta);
  checkEvents(delta);
}

const frozen = (records: GroupRecords) => JSON.stringify(records, (_, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Map ? [...v] : v));

describe('planApplyInvoice', () => {
  it('keeps every ledger invariant, never pays more than the invoice or a wallet holds, and is deterministic', () => {
    fc.assert(
      fc.property(groupArb, invoiceArb, (spec, invoiceSpec) => {
        const records = buildGroup(spec);
        const before = frozen(records);
        const invoice = invoiceOf(invoiceSpec);
        const { delta, application } = planApplyInvoice(records, invoice, undefined, { now: NOW, newId: ids() });
        expect(frozen(records)).toBe(before); // pure: the records are not changed
        checkAll(records, delta);
        expect(application.totalCents).toBeLessThanOrEqual(invoice.totalAmountCents);
        expect(application.grantedCents + application.purchasedCents).toBe(application.totalCents);
        for (const share of application.shares) {
          const wallet = records.wallets.find((w) => w.id === share.walletId)!;
          expect(share.amount.amountCents).toBeGreaterThan(0n);
          expect(share.amount.amountCents).toBeLessThanOrEqual(wallet.balanceCents);
          expect(wallet.expirationAt === null || wallet.expirationAt > NOW).toBe(true);
        }
        if (invoice.invoiceType === 'one_off') expect(application.shares).toEqual([]);
        const again = planApplyInvoice(records, invoice, undefined, { now: NOW, newId: ids() });
        expect(again.delta).toEqual(delta);
        expect(again.application).toEqual(application);
      }),
      { numRuns: 100 },
    );
  });

  it('voids lots past their expiry before paying, one entry each, and pays from the live ones only', () => {
    const records = buildGroup({
      wallets: [
        {
          rate: 100_000n,
          priority: 1,
          expiresAt: null,
          scope: 'none',
          lots: [
            { granted: true, cents: 500n, extraCredits: 0n, priority: 1, expiresAt: 2, createdAt: 0 },
            { granted: false, cents: 300n, extraCredits: 0n, priority: 5, expiresAt: null, createdAt: 1 },
          ],
          rule: null,
          pendingCredits: null,
        },
      ],
      usage: null,
    });
    const invoice = { id: 'inv-9', currency: 'EUR', invoiceType: 'subscription', totalAmountCents: 1000n, fees: [fee(1000n)] };
    const { delta, application } = planApplyInvoice(records, invoice, undefined, { now: NOW, newId: ids() });
    expect(delta.entries.map((e) => [e.transactionStatus, e.source, e.amountCents, e.voidedTransactionId])).toEqual([
      ['voided', 'expiration', 500n, 'lot-0-0'],
      ['invoiced', 'manual', 300n, null],
    ]);
    expect(application).toMatchObject({ totalCents: 300n, grantedCents: 0n, purchasedCents: 300n });
    expect(delta.events.map((e) => e.type)).toEqual([
      'wallet_transaction.created',
      'wallet_transaction.created',
      'wallet.updated',
      'wallet.depleted_ongoing_balance',
    ]);
  });

  it('fires a threshold rule the application crosses, in the same delta', () => {
    const records = buildGroup({
      wallets: [
        {
          rate: 100_000n,
          priority: 1,
          expiresAt: null,
          scope: 'none',
          lots: [{ granted: true, cents: 1000n, extraCredits: 0n, priority: 50, expiresAt: null, createdAt: 0 }],
          rule: { threshold: 5_00000n, paid: 0n, granted: 7_00000n },
          pendingCredits: null,
        },
      ],
      usage: null,
    });
    const invoice = { id: 'inv-2', currency: 'EUR', invoiceType: 'subscription', totalAmountCents: 600n, fees: [fee(600n)] };
    const { delta } = planApplyInvoice(records, invoice, undefined, { now: NOW, newId: ids() });
    expect(delta.entries.map((e) => [e.transactionStatus, e.source, e.amountCents])).toEqual([
      ['invoiced', 'manual', 600n],
      ['granted', 'threshold', 700n],
    ]);
    expect(delta.wallets[0]).toMatchObject({ balanceCents: 1100n, ongoingBalanceCents: 1100n });
  });
});

function fee(cents: bigint): AllocationFee {
  return { feeType: 'charge', billableMetricCode: null, amount: cents * 100_000n, coupons: 0n, taxes: 0n, creditNotes: 0n };
}

describe('planVoidInvoice', () => {
  it('gives back exactly what each usable wallet paid, as granted lots, once per entry', () => {
    fc.assert(
      fc.property(groupArb, invoiceArb, (spec, invoiceSpec) => {
        const records = buildGroup(spec);
        const invoice = invoiceOf({ ...invoiceSpec, invoiceType: 'subscription' });
        const applied = planApplyInvoice(records, invoice, undefined, { now: NOW, newId: ids('a') });
        const outbound = applied.delta.entries.filter((e) => e.transactionStatus === 'invoiced');
        const { delta, recredits } = planVoidInvoice(records, invoice.id, outbound, { now: hour(11), newId: ids('v') });
        checkAll(records, delta);
        const usable = outbound.filter((e) => {
          const w = records.wallets.find((x) => x.id === e.walletId)!;
          return w.expirationAt === null || w.expirationAt > hour(11);
        });
        expect(recredits.map((r) => [r.walletId, r.amountCents, r.creditAmount, r.source])).toEqual(
          expect.arrayContaining(usable.map((e) => [e.walletId, e.amountCents, e.creditAmount, 'invoice_void'])),
        );
        expect(recredits).toHaveLength(usable.length);
      }),
      { numRuns: 60 },
    );
  });
});

describe('planUsageSync', () => {
  it('allocates usage so that each ongoing balance is its balance less its usage, and fires the depletion latch once', () => {
    fc.assert(
      fc.property(groupArb, fc.array(feeArb, { maxLength: 4 }), (spec, fees) => {
        const records = buildGroup(spec);
        const { delta, wallets } = planUsageSync(records, { currency: 'EUR', fees, asOf: hour(9) }, { now: NOW, newId: ids() });
        checkAll(records, delta);
        expect(wallets.map((w) => w.wallet.id)).toEqual(
          [...records.wallets].sort((a, b) => a.priority - b.priority || (a.id < b.id ? -1 : 1)).map((w) => w.id),
        );
        const depleted = delta.events.filter((e) => e.type === 'wallet.depleted_ongoing_balance');
        for (const e of depleted) {
          const w = delta.wallets.find((x) => 'walletId' in e && x.id === e.walletId)!;
          expect(w.ongoingBalanceCents).toBeLessThanOrEqual(0n);
        }
        expect(delta.snapshot?.record.asOf).toEqual(hour(9));
      }),
      { numRuns: 80 },
    );
  });

  it('ignores a snapshot older than the stored one', () => {
    const records = buildGroup({ wallets: [], usage: [] });
    const { delta } = planUsageSync(records, { currency: 'EUR', fees: [], asOf: hour(0) }, { now: NOW, newId: ids() });
    expect(delta.snapshot).toBeNull();
  });

  it('refuses another currency than the customer has', () => {
    const records = buildGroup({ wallets: [], usage: null });
    expect(() => planUsageSync(records, { currency: 'USD', fees: [] }, { now: NOW, newId: ids() })).toThrow(WalletError);
  });
});

describe('planWalletTransactions', () => {
  it('grants, buys and voids with the ledger invariants, the void never above the balance', () => {
    fc.assert(
      fc.property(
        groupArb,
        fc.record({
          paid: fc.option(fc.bigInt(1n, 10_000_000n), { nil: undefined }),
          granted: fc.option(fc.bigInt(1n, 10_000_000n), { nil: undefined }),
          voided: fc.option(fc.bigInt(1n, 10_000_000n), { nil: undefined }),
        }),
        (spec, command) => {
          const records = buildGroup(spec);
          try {
            const { delta, created } = planWalletTransactions(
              records,
              { walletId: 'wallet-0', paidCredits: command.paid, grantedCredits: command.granted, voidedCredits: command.voided },
              { now: NOW, newId: ids() },
            );
            checkAll(records, delta);
            expect(created.length).toBe([command.paid, command.granted, command.voided].filter((x) => x !== undefined).length);
          } catch (error) {
            if (!(error instanceof WalletError)) throw error;
            expect(['WALLET_TERMINATED', 'VALIDATION_FAILED', 'INSUFFICIENT_CREDITS', 'AMOUNT_ROUNDS_TO_ZERO']).toContain(error.code);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('LedgerDraft.terminate', () => {
  it('voids every remainder in one entry, fails pending purchases and ends the rules', () => {
    fc.assert(
      fc.property(groupArb, (spec) => {
        const records = buildGroup(spec);
        const draft = new LedgerDraft(records, { now: NOW, newId: ids() });
        const wallet = draft.wallet('wallet-0')!;
        draft.terminate(wallet, 'termination');
        draft.settleOngoing();
        const delta = draft.toDelta();
        checkAll(records, delta);
        const final = delta.wallets.find((w) => w.id === 'wallet-0')!;
        expect(final).toMatchObject({ status: 'terminated', balanceCents: 0n, creditsBalance: 0n, ongoingUsageBalanceCents: 0n });
        expect(delta.entries.filter((e) => e.transactionType === 'outbound').length).toBeLessThanOrEqual(1);
        expect(delta.changedEntries.filter((e) => e.status === 'failed').map((e) => e.id)).toEqual(
          records.purchases.filter((p) => p.walletId === 'wallet-0').map((p) => p.id),
        );
        expect(delta.rules.every((r) => r.walletId === 'wallet-0' && r.status === 'terminated')).toBe(true);
        expect(delta.events.filter((e) => e.type === 'wallet.terminated')).toEqual([{ type: 'wallet.terminated', walletId: 'wallet-0' }]);
      }),
      { numRuns: 60 },
    );
  });
});
