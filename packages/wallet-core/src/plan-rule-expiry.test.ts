import { describe, expect, it } from 'vitest';
import { planExpireRules } from './plan-rule-expiry.js';
import type { GroupRecords, RuleRecord, WalletRecord } from './records.js';

const hour = (n: number) => new Date(Date.UTC(2026, 9, 1) + n * 3_600_000);
const clock = { now: hour(10), newId: () => 'new-id' };

const wallet: WalletRecord = {
  id: 'wallet',
  customerId: 'customer',
  name: null,
  code: 'default',
  status: 'active',
  currency: 'EUR',
  rateAmount: 100_000n,
  priority: 50,
  balanceCents: 500n,
  creditsBalance: 500_000n,
  ongoingBalanceCents: 500n,
  creditsOngoingBalance: 500_000n,
  ongoingUsageBalanceCents: 0n,
  creditsOngoingUsageBalance: 0n,
  consumedCredits: 0n,
  consumedAmountCents: 0n,
  depletedOngoingBalance: false,
  expirationAt: null,
  terminatedAt: null,
  invoiceRequiresSuccessfulPayment: false,
  paidTopUpMinAmountCents: null,
  paidTopUpMaxAmountCents: null,
  appliesToFeeTypes: [],
  appliesToBillableMetricCodes: [],
  createdAt: hour(0),
  updatedAt: hour(0),
};

function rule(id: string, expirationAt: Date | null): RuleRecord {
  return {
    id,
    walletId: 'wallet',
    status: 'active',
    trigger: 'threshold',
    interval: null,
    method: 'fixed',
    paidCredits: 0n,
    grantedCredits: 100_000n,
    thresholdCredits: 100_000n,
    targetOngoingBalance: null,
    grantsTargetTopUp: false,
    ignorePaidTopUpLimits: false,
    invoiceRequiresSuccessfulPayment: false,
    startedAt: null,
    expirationAt,
    transactionMetadata: [],
    transactionName: null,
    terminatedAt: null,
    createdAt: hour(0),
  };
}

const records = (rules: RuleRecord[]): GroupRecords => ({
  customer: { id: 'customer', externalId: 'cust', currency: 'EUR', timezone: 'UTC', createdAt: new Date(0), updatedAt: new Date(0) },
  wallets: [wallet],
  lots: [],
  purchases: [],
  latestPurchaseSettledAt: new Map(),
  rules,
  snapshots: new Map(),
});

describe('planExpireRules', () => {
  it('ends the rules past their expiry (at it included), keeps the others, and moves nothing else', () => {
    const { delta, rulesEnded } = planExpireRules(
      records([rule('past', hour(9)), rule('at', hour(10)), rule('later', hour(11)), rule('never', null)]),
      clock,
    );
    expect(rulesEnded).toBe(2);
    expect(delta.rules.map((r) => [r.id, r.status, r.terminatedAt])).toEqual([
      ['past', 'terminated', hour(10)],
      ['at', 'terminated', hour(10)],
    ]);
    expect({ ...delta, rules: [] }).toEqual({
      entries: [],
      consumptions: [],
      changedEntries: [],
      newWallets: [],
      wallets: [],
      newRules: [],
      rules: [],
      customer: null,
      snapshot: null,
      events: [],
    });
  });

  it('changes nothing when every rule is live', () => {
    expect(planExpireRules(records([rule('later', hour(11))]), clock)).toMatchObject({ rulesEnded: 0, delta: { rules: [], events: [] } });
  });
});
