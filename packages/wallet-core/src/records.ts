/**
 * Plain records of one customer's ledger group, as the loader hands them to the planners (DESIGN
 * "Inside a mutation"), and the delta the planners hand back to the writer. No entity, no I/O:
 * money in bigint cents, credits in bigint 1e-5 units, times as Dates.
 *
 * A ledger entry is one wallet transaction row. A lot is a settled inbound entry with something
 * left; a purchase is an inbound `purchased` entry (pending, failed or settled).
 */
import type { Scaled } from './decimal.js';
import type { UsageFee } from './ongoing-usage.js';

export type WalletStatus = 'active' | 'terminated';
export type EntryType = 'inbound' | 'outbound';
export type EntryState = 'pending' | 'settled' | 'failed';
export type EntryKind = 'purchased' | 'granted' | 'voided' | 'invoiced';
export type EntrySource = 'manual' | 'interval' | 'threshold' | 'expiration' | 'termination' | 'invoice_void' | 'payment_failure';
export type RuleTrigger = 'interval' | 'threshold';
export type RuleMethod = 'fixed' | 'target';

export interface MetadataPair {
  key: string;
  value: string;
}

export interface CustomerRecord {
  id: string;
  externalId: string;
  currency: string | null;
  timezone: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface WalletRecord {
  id: string;
  customerId: string;
  name: string | null;
  code: string;
  status: WalletStatus;
  currency: string;
  rateAmount: Scaled;
  priority: number;
  balanceCents: bigint;
  creditsBalance: Scaled;
  ongoingBalanceCents: bigint;
  creditsOngoingBalance: Scaled;
  ongoingUsageBalanceCents: bigint;
  creditsOngoingUsageBalance: Scaled;
  consumedCredits: Scaled;
  consumedAmountCents: bigint;
  /** Latch: the depletion event fires when this flips to true, never twice in a row. */
  depletedOngoingBalance: boolean;
  expirationAt: Date | null;
  terminatedAt: Date | null;
  invoiceRequiresSuccessfulPayment: boolean;
  paidTopUpMinAmountCents: bigint | null;
  paidTopUpMaxAmountCents: bigint | null;
  appliesToFeeTypes: string[];
  appliesToBillableMetricCodes: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface EntryRecord {
  id: string;
  walletId: string;
  customerId: string;
  transactionType: EntryType;
  status: EntryState;
  transactionStatus: EntryKind;
  source: EntrySource;
  creditAmount: Scaled;
  amountCents: bigint;
  /** Lots only: what is left to consume. Null on outbound entries and unsettled purchases. */
  remainingCreditAmount: Scaled | null;
  remainingAmountCents: bigint | null;
  priority: number;
  expirationAt: Date | null;
  name: string | null;
  metadata: MetadataPair[];
  invoiceId: string | null;
  voidedInvoiceId: string | null;
  voidedTransactionId: string | null;
  invoiceRequiresSuccessfulPayment: boolean;
  settledAt: Date | null;
  failedAt: Date | null;
  clawedBackAt: Date | null;
  createdAt: Date;
}

export interface RuleRecord {
  id: string;
  walletId: string;
  status: 'active' | 'terminated';
  trigger: RuleTrigger;
  interval: string | null;
  method: RuleMethod;
  paidCredits: Scaled;
  grantedCredits: Scaled;
  thresholdCredits: Scaled;
  targetOngoingBalance: Scaled | null;
  grantsTargetTopUp: boolean;
  ignorePaidTopUpLimits: boolean;
  invoiceRequiresSuccessfulPayment: boolean;
  startedAt: Date | null;
  expirationAt: Date | null;
  transactionMetadata: MetadataPair[];
  transactionName: string | null;
  terminatedAt: Date | null;
  createdAt: Date;
}

/** The host's usage snapshot of one customer and currency (amounts in 1e-5 cents). */
export interface UsageSnapshotRecord {
  id: string;
  currency: string;
  asOf: Date;
  fees: UsageFee[];
  draftInvoices: { id: string; fees: UsageFee[] }[];
  billedFees: UsageFee[];
  updatedAt: Date;
}

/**
 * Everything a planner reads of one customer, loaded under the customer's lock.
 * - `wallets`: the active wallets of every currency the command touches, by priority, then
 *   creation, then id (plus, for commands on one wallet or on an invoice's entries, those wallets);
 * - `lots`: their settled inbound entries with something left, in the order the loader read them
 *   (a command that consumes no lot may load only those due to expire, which it voids first);
 * - `purchases`: their pending purchases, and their failed threshold purchases of the last hour;
 * - `latestPurchaseSettledAt`: per wallet, when its last purchase settled (threshold back-off);
 * - `rules`: their active rules, oldest first;
 * - `snapshots`: the stored usage snapshot per currency (absent: none stored).
 */
export interface GroupRecords {
  customer: CustomerRecord;
  wallets: WalletRecord[];
  lots: EntryRecord[];
  purchases: EntryRecord[];
  latestPurchaseSettledAt: ReadonlyMap<string, Date>;
  rules: RuleRecord[];
  snapshots: ReadonlyMap<string, UsageSnapshotRecord>;
}

export type TransactionEventType = 'wallet_transaction.created' | 'wallet_transaction.updated' | 'wallet_transaction.payment_failure';
export type WalletEventType = 'wallet.created' | 'wallet.updated' | 'wallet.terminated' | 'wallet.depleted_ongoing_balance';

/**
 * An outbox event in its final order. A transaction event carries the entry as it was when the
 * event happened; a wallet event names the wallet, shown as it is at the end of the request with
 * its active rules.
 */
export type DeltaEvent = { type: TransactionEventType; entry: EntryRecord } | { type: WalletEventType; walletId: string };

export interface ConsumptionRecord {
  id: string;
  inboundId: string;
  outboundId: string;
  creditAmount: Scaled;
  amountCents: bigint;
  createdAt: Date;
}

/**
 * What a request changes, for the one writer: rows to insert, rows to update (as they are now),
 * and the events in order. Existing rows appear only when a field changed.
 */
export interface LedgerDelta {
  /** New entries, as they are at the end of the request (a lot consumed in the same request shows its remainder). */
  entries: EntryRecord[];
  consumptions: ConsumptionRecord[];
  /** Existing entries that changed (lot remainders, payment states, invoice ids, claw-backs). */
  changedEntries: EntryRecord[];
  /** New wallets, as they are at the end of the request. */
  newWallets: WalletRecord[];
  /** Existing wallets that changed (balances, ongoing fields, status, settings, updatedAt). */
  wallets: WalletRecord[];
  /** New rules, as they are at the end of the request. */
  newRules: RuleRecord[];
  /** Existing rules that changed (ended, or edited by a wallet update). */
  rules: RuleRecord[];
  /** The customer, when it changed (its currency, set by its first wallet). */
  customer: CustomerRecord | null;
  /** A usage snapshot created or replaced. */
  snapshot: { record: UsageSnapshotRecord; created: boolean } | null;
  events: DeltaEvent[];
}

/**
 * Copies of records that a draft may change freely: their fields, and their arrays with their
 * object items. Dates are shared: drafts replace them, never change them.
 */
export function copyWallet(wallet: WalletRecord): WalletRecord {
  return { ...wallet, appliesToFeeTypes: [...wallet.appliesToFeeTypes], appliesToBillableMetricCodes: [...wallet.appliesToBillableMetricCodes] };
}

export function copyEntry(entry: EntryRecord): EntryRecord {
  return { ...entry, metadata: entry.metadata.map((pair) => ({ ...pair })) };
}

export function copyRule(rule: RuleRecord): RuleRecord {
  return { ...rule, transactionMetadata: rule.transactionMetadata.map((pair) => ({ ...pair })) };
}

export function copySnapshot(snapshot: UsageSnapshotRecord): UsageSnapshotRecord {
  return {
    ...snapshot,
    fees: snapshot.fees.map((fee) => ({ ...fee })),
    draftInvoices: snapshot.draftInvoices.map((draft) => ({ id: draft.id, fees: draft.fees.map((fee) => ({ ...fee })) })),
    billedFees: snapshot.billedFees.map((fee) => ({ ...fee })),
  };
}

/** Field-by-field equality of two records (Dates by time, arrays by items). */
export function sameRecord(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameRecord(item, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => sameRecord((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}
