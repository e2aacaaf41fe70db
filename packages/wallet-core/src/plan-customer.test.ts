import { describe, expect, it } from 'vitest';
import { WalletError } from './errors.js';
import { planUpsertCustomer } from './plan-customer.js';
import type { EntryRecord, GroupRecords, RuleRecord, WalletRecord } from './records.js';

const T0 = Date.UTC(2026, 10, 1);
const hour = (n: number) => new Date(T0 + n * 3_600_000);
const NOW = hour(10);
const CR = 100_000n; // one credit in 1e-5 units

function clock() {
  let n = 0;
  return { now: NOW, newId: () => `new-${n++}` };
}

function wallet(id: string, fields: Partial<WalletRecord> = {}): WalletRecord {
  return {
    id,
    customerId: 'customer',
    name: id,
    code: id,
    status: 'active',
    currency: 'EUR',
    rateAmount: CR,
    priority: 50,
    balanceCents: 0n,
    creditsBalance: 0n,
    ongoingBalanceCents: 0n,
    creditsOngoingBalance: 0n,
    ongoingUsageBalanceCents: 0n,
    creditsOngoingUsageBalance: 0n,
    consumedCredits: 0n,
    consumedAmountCents: 0n,
    depletedOngoingBalance: true,
    expirationAt: null,
    terminatedAt: null,
    invoiceRequiresSuccessfulPayment: false,
    paidTopUpMinAmountCents: null,
    paidTopUpMaxAmountCents: null,
    appliesToFeeTypes: [],
    appliesToBillableMetricCodes: [],
    createdAt: hour(0),
    updatedAt: hour(0),
    ...fields,
  };
}

function lot(id: string, walletId: string, cents: bigint): EntryRecord {
  return {
    id,
    walletId,
    customerId: 'customer',
    transactionType: 'inbound',
    status: 'settled',
    transactionStatus: 'granted',
    source: 'manual',
    creditAmount: cents * 1_000n,
    amountCents: cents,
    remainingCreditAmount: cents * 1_000n,
    remainingAmountCents: cents,
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
  };
}

function _rule(id: string, walletId: string, fields: Partial<RuleRecord> = {}): RuleRecord {
  return {
    id,
    walletId,
    status: 'active',
    trigger: 'interval',
    interval: 'monthly',
    method: 'fixed',
    paidCredits: 0n,
    grantedCredits: 5n * CR,
    thresholdCredits: 0n,
    targetOngoingBalance: null,
    grantsTargetTopUp: false,
    ignorePaidTopUpLimits: false,
    invoiceRequiresSuccessfulPayment: false,
    startedAt: hour(0),
    expirationAt: null,
    transactionMetadata: [],
    transactionName: null,
    terminatedAt: null,
    createdAt: hour(0),
    ...fields,
  };
}

function group(fields: Partial<GroupRecords> = {}, currency: string | null = 'EUR'): GroupRecords {
  return {
    customer: { id: 'customer', externalId: 'cust', currency, timezone: 'UTC', createdAt: new Date(0), updatedAt: new Date(0) },
    wallets: [],
    lots: [],
    purchases: [],
    latestPurchaseSettledAt: new Map(),
    rules: [],
    snapshots: new Map(),
    ...fields,
  };
}

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof WalletError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('planUpsertCustomer', () => {
  it('sets the currency of a customer without one, and its timezone, dated now', () => {
    const { delta, customer } = planUpsertCustomer(group({}, null), { currency: 'USD', timezone: 'Europe/Paris' }, clock());
    expect(customer).toMatchObject({ currency: 'USD', timezone: 'Europe/Paris', updatedAt: NOW });
    expect(delta.customer).toEqual(customer);
    expect(delta.events).toEqual([]);
  });

  it('refuses another currency while an active wallet uses the current one, and plans nothing', () => {
    const records = group({ wallets: [wallet('w1')] });
    const error = refusal(() => planUpsertCustomer(records, { currency: 'USD' }, clock()));
    expect(error).toMatchObject({ code: 'CURRENCY_MISMATCH' });
    expect(records.customer.currency).toBe('EUR');
  });

  it('expires a wallet past its expiry first (voiding its lots), then takes the new currency', () => {
    const overdue = wallet('w1', { expirationAt: hour(5), balanceCents: 300n, creditsBalance: 300_000n });
    const { delta, customer } = planUpsertCustomer(group({ wallets: [overdue], lots: [lot('l1', 'w1', 300n)] }), { currency: 'USD' }, clock());
    expect(customer.currency).toBe('USD');
    expect(delta.wallets).toMatchObject([{ id: 'w1', status: 'terminated', balanceCents: 0n, terminatedAt: NOW }]);
    expect(delta.entries).toMatchObject([{ transactionStatus: 'voided', source: 'expiration', amountCents: 300n }]);
    expect(delta.events.map((e) => e.type)).toContain('wallet.terminated');
  });

  it('changes only the timezone when the currency is the same, leaving wallets alone', () => {
    const { delta, customer } = planUpsertCustomer(
      group({ wallets: [wallet('w1', { expirationAt: hour(5) })] }),
      { currency: 'EUR', timezone: 'Asia/Tokyo' },
      clock(),
    );
    expect(customer).toMatchObject({ currency: 'EUR', timezone: 'Asia/Tokyo' });
    expect(delta.wallets).toEqual([]);
  });
});
