/**
 * Test support for the planners' tests: plain records of one customer's group at a fixed time (a
 * customer "customer" in EUR, wallets, lots and rules with defaults a test overrides), and the
 * refusal a planner throws. Not part of the package's exports.
 */
import { WalletError } from './errors.js';
import type { EntryRecord, GroupRecords, RuleRecord, WalletRecord } from './records.js';

export const T0 = Date.UTC(2026, 10, 1);
export const hour = (n: number) => new Date(T0 + n * 3_600_000);
export const NOW = hour(10);
export const CR = 100_000n; // one credit in 1e-5 units

export function clock() {
  let n = 0;
  return { now: NOW, newId: () => `new-${n++}` };
}

export function wallet(id: string, fields: Partial<WalletRecord> = {}): WalletRecord {
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

export function lot(id: string, walletId: string, cents: bigint): EntryRecord {
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

export function rule(id: string, walletId: string, fields: Partial<RuleRecord> = {}): RuleRecord {
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

export function group(fields: Partial<GroupRecords> = {}, currency: string | null = 'EUR'): GroupRecords {
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

export function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof WalletError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}
