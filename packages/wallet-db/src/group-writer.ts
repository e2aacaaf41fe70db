/**
 * The one writer of a customer's ledger group (DESIGN "Inside a mutation"): a wallet-core delta as
 * one jsonb document, written set-based by one call of the migrated `group_write` function (the
 * customer's currency, new and changed wallets and rules, entries, consumptions, the snapshot, the
 * invoice row, the outbox events under the shared per-organization lock in the delta's order, the
 * idempotent answer). No SQL text is built from values. Every list in the document is an array, so
 * documents of several groups concatenate. Wallet events show the wallet as it ends, with its
 * active rules; transaction events the entry as it was when the event happened.
 *
 * The caller holds the customer lock (group-loader.ts) and runs inside the request's transaction.
 */
import { randomUUID } from 'node:crypto';
import { formatDecimal, type GroupRecords, type LedgerDelta, type RuleRecord, type WalletRecord } from '@wallets/core';
import type pg from 'pg';
import { EVENTS_LOCK_CLASS } from './events.js';
import type { Queryable } from './group-loader.js';
import { entryRecordDto, usageFeeRecordOf, walletRecordDto } from './records.js';

const GROUP_WRITE: pg.QueryConfig = { name: 'group_write', text: 'select group_write($1, $2, $3, $4)' };

const credits = (value: bigint | null) => (value === null ? null : formatDecimal(value));
const cents = (value: bigint | null) => (value === null ? null : String(value));
const time = (value: Date | null) => (value === null ? null : value.toISOString());

/** The wallets and active rules as the delta leaves them (for wallet events). */
function finalState(records: GroupRecords, delta: LedgerDelta) {
  const wallets = new Map<string, WalletRecord>(records.wallets.map((w) => [w.id, w]));
  for (const w of [...delta.wallets, ...delta.newWallets]) wallets.set(w.id, w);
  const changed = new Map(delta.rules.map((r) => [r.id, r]));
  const rules = new Map<string, RuleRecord[]>();
  for (const loaded of [...records.rules, ...delta.newRules]) {
    const rule = changed.get(loaded.id) ?? loaded;
    if (rule.status !== 'active') continue;
    rules.set(rule.walletId, [...(rules.get(rule.walletId) ?? []), rule]);
  }
  return { wallets, rules };
}

/** The outbox rows of a delta, in order, as JSON data (the wire shapes). */
export function deltaEvents(records: GroupRecords, delta: LedgerDelta): { id: string; type: string; data: unknown }[] {
  const { wallets, rules } = finalState(records, delta);
  return delta.events.map((event) => {
    const data =
      'entry' in event
        ? entryRecordDto(event.entry, wallets.get(event.entry.walletId)!.currency)
        : walletRecordDto(wallets.get(event.walletId)!, records.customer.externalId, rules.get(event.walletId) ?? []);
    return { id: randomUUID(), type: event.type, data };
  });
}

/** What the writer stores beside the delta: the invoice row's answer or state, the idempotent answer. */
export interface WriteExtras {
  invoice?: { id: string; allocation?: unknown; status?: 'voided'; voidedAt?: Date } | undefined;
  idempotency?: { procedure: string; key: string; response: unknown } | undefined;
}

/** A wallet row as `group_write` takes it (inserted when new, every changeable column updated otherwise). */
function walletDocument(w: WalletRecord) {
  return {
    id: w.id,
    customer_id: w.customerId,
    name: w.name,
    code: w.code,
    status: w.status,
    currency: w.currency,
    rate_amount: formatDecimal(w.rateAmount),
    priority: w.priority,
    balance_cents: String(w.balanceCents),
    credits_balance: formatDecimal(w.creditsBalance),
    consumed_amount_cents: String(w.consumedAmountCents),
    consumed_credits: formatDecimal(w.consumedCredits),
    ongoing_balance_cents: String(w.ongoingBalanceCents),
    credits_ongoing_balance: formatDecimal(w.creditsOngoingBalance),
    ongoing_usage_balance_cents: String(w.ongoingUsageBalanceCents),
    credits_ongoing_usage_balance: formatDecimal(w.creditsOngoingUsageBalance),
    depleted_ongoing_balance: w.depletedOngoingBalance,
    expiration_at: time(w.expirationAt),
    terminated_at: time(w.terminatedAt),
    invoice_requires_successful_payment: w.invoiceRequiresSuccessfulPayment,
    paid_top_up_min_amount_cents: cents(w.paidTopUpMinAmountCents),
    paid_top_up_max_amount_cents: cents(w.paidTopUpMaxAmountCents),
    applies_to_fee_types: w.appliesToFeeTypes,
    applies_to_billable_metric_codes: w.appliesToBillableMetricCodes,
    created_at: w.createdAt.toISOString(),
    updated_at: w.updatedAt.toISOString(),
  };
}

/** A rule row as `group_write` takes it (inserted when new, every changeable column updated otherwise). */
function ruleDocument(r: RuleRecord) {
  return {
    id: r.id,
    wallet_id: r.walletId,
    status: r.status,
    trigger: r.trigger,
    interval: r.interval,
    method: r.method,
    paid_credits: formatDecimal(r.paidCredits),
    granted_credits: formatDecimal(r.grantedCredits),
    threshold_credits: formatDecimal(r.thresholdCredits),
    target_ongoing_balance: credits(r.targetOngoingBalance),
    grants_target_top_up: r.grantsTargetTopUp,
    ignore_paid_top_up_limits: r.ignorePaidTopUpLimits,
    invoice_requires_successful_payment: r.invoiceRequiresSuccessfulPayment,
    started_at: time(r.startedAt),
    expiration_at: time(r.expirationAt),
    transaction_metadata: r.transactionMetadata,
    transaction_name: r.transactionName,
    terminated_at: time(r.terminatedAt),
    created_at: r.createdAt.toISOString(),
  };
}

/** The delta as the jsonb document `group_write` takes (numbers as strings, times as ISO text). */
export function deltaDocument(records: GroupRecords, delta: LedgerDelta, extras: WriteExtras = {}) {
  const s = delta.snapshot?.record;
  return {
    entries: delta.entries.map((e) => ({
      id: e.id,
      wallet_id: e.walletId,
      customer_id: e.customerId,
      transaction_type: e.transactionType,
      status: e.status,
      transaction_status: e.transactionStatus,
      source: e.source,
      credit_amount: formatDecimal(e.creditAmount),
      amount_cents: String(e.amountCents),
      remaining_credit_amount: credits(e.remainingCreditAmount),
      remaining_amount_cents: cents(e.remainingAmountCents),
      priority: e.priority,
      expiration_at: time(e.expirationAt),
      name: e.name,
      metadata: e.metadata,
      invoice_id: e.invoiceId,
      voided_invoice_id: e.voidedInvoiceId,
      voided_transaction_id: e.voidedTransactionId,
      invoice_requires_successful_payment: e.invoiceRequiresSuccessfulPayment,
      settled_at: time(e.settledAt),
      failed_at: time(e.failedAt),
      clawed_back_at: time(e.clawedBackAt),
      created_at: e.createdAt.toISOString(),
    })),
    consumptions: delta.consumptions.map((c) => ({
      id: c.id,
      inbound: c.inboundId,
      outbound: c.outboundId,
      credit_amount: formatDecimal(c.creditAmount),
      amount_cents: String(c.amountCents),
      created_at: c.createdAt.toISOString(),
    })),
    changedEntries: delta.changedEntries.map((e) => ({
      id: e.id,
      status: e.status,
      remaining_credit_amount: credits(e.remainingCreditAmount),
      remaining_amount_cents: cents(e.remainingAmountCents),
      invoice_id: e.invoiceId,
      settled_at: time(e.settledAt),
      failed_at: time(e.failedAt),
      clawed_back_at: time(e.clawedBackAt),
    })),
    customers: delta.customer
      ? [
          {
            id: delta.customer.id,
            currency: delta.customer.currency,
            timezone: delta.customer.timezone,
            updated_at: delta.customer.updatedAt.toISOString(),
          },
        ]
      : [],
    newWallets: delta.newWallets.map(walletDocument),
    wallets: delta.wallets.map(walletDocument),
    newRules: delta.newRules.map(ruleDocument),
    rules: delta.rules.map(ruleDocument),
    snapshot: s
      ? {
          id: s.id,
          customer_id: records.customer.id,
          currency: s.currency,
          as_of: s.asOf.toISOString(),
          fees: s.fees.map(usageFeeRecordOf),
          draft_invoices: s.draftInvoices.map((d) => ({ id: d.id, fees: d.fees.map(usageFeeRecordOf) })),
          billed_fees: s.billedFees.map(usageFeeRecordOf),
          updated_at: s.updatedAt.toISOString(),
        }
      : null,
    events: deltaEvents(records, delta),
    invoice: extras.invoice ? { ...extras.invoice, voidedAt: time(extras.invoice.voidedAt ?? null) } : null,
    idempotency: extras.idempotency ?? null,
  };
}

/** An empty delta: the writer has nothing of the ledger to write (a claim may still need its answer stored). */
export const EMPTY_DELTA: LedgerDelta = {
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
};

/** Writes a delta and the extras in one round trip (one call of `group_write`). */
export async function writeDelta(
  db: Queryable,
  organizationId: string,
  records: GroupRecords | null,
  delta: LedgerDelta,
  now: Date,
  extras: WriteExtras = {},
): Promise<void> {
  const document = records ? deltaDocument(records, delta, extras) : deltaDocument(NO_RECORDS, EMPTY_DELTA, extras);
  await writeDocument(db, organizationId, now, document);
}

/** Writes the deltas of several groups (each under its customer's lock) and the extras in one round trip. */
export async function writeDeltas(
  db: Queryable,
  organizationId: string,
  groups: readonly { records: GroupRecords; delta: LedgerDelta }[],
  now: Date,
  extras: WriteExtras = {},
): Promise<void> {
  const documents: Record<string, unknown>[] = groups.map(({ records, delta }) => deltaDocument(records, delta));
  documents.push(deltaDocument(NO_RECORDS, EMPTY_DELTA, extras));
  await writeDocument(db, organizationId, now, mergeDocuments(documents));
}

/**
 * Several write documents as one, for one call of `group_write`: every array (whatever the key) is
 * the documents' arrays concatenated in order, so events keep their order per group; a
 * single-valued key (the snapshot, the invoice row, the idempotent answer) may be set by one
 * document only.
 */
export function mergeDocuments(documents: readonly Record<string, unknown>[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const document of documents) {
    for (const [key, value] of Object.entries(document)) {
      const before = merged[key];
      if (Array.isArray(value)) {
        if (before !== undefined && !Array.isArray(before)) throw new Error(`group documents: ${key} is an array in one and not in another`);
        if (before === undefined) merged[key] = [...value];
        else for (const item of value) before.push(item);
      } else if (value === null || value === undefined) {
        if (!(key in merged)) merged[key] = null;
      } else if (before === undefined || before === null) {
        merged[key] = value;
      } else {
        throw new Error(`group documents: ${key} is set by two of them; a batch writes it once`);
      }
    }
  }
  return merged;
}

async function writeDocument(db: Queryable, organizationId: string, now: Date, document: unknown): Promise<void> {
  await db.query({ ...GROUP_WRITE, values: [organizationId, now, EVENTS_LOCK_CLASS, JSON.stringify(document)] });
}

const NO_RECORDS: GroupRecords = {
  customer: { id: '', externalId: '', currency: null, timezone: 'UTC', createdAt: new Date(0), updatedAt: new Date(0) },
  wallets: [],
  lots: [],
  purchases: [],
  latestPurchaseSettledAt: new Map(),
  rules: [],
  snapshots: new Map(),
};
