/**
 * One mapping between database rows and wallet-core's records, and from records to the wire shape
 * (the same shapes as dto.ts gives for entities). Rows come from `select *` through `pg`: numeric
 * and bigint columns arrive as text, times as Dates, jsonb parsed, text[] as arrays.
 */
import {
  type CustomerRecord,
  type EntryRecord,
  formatDecimal,
  parseDecimal,
  type RuleRecord,
  type UsageFee,
  type UsageSnapshotRecord,
  type WalletRecord,
} from '@wallets/core';
import { centsToNumber } from './dto.js';
import type { UsageFeeRecord } from './entities/index.js';

type Row = Record<string, unknown>;

/** A numeric column (credits, 1e-5) as a bigint, exactly. */
export function creditsOf(value: unknown): bigint {
  const parsed = parseDecimal(String(value), { excess: 'reject', allowNegative: true });
  if (!parsed.ok) throw new Error(`numeric column holds ${String(value)}: ${parsed.reason}`);
  return parsed.value;
}
const credits = creditsOf;
const creditsOrNull = (value: unknown) => (value === null || value === undefined ? null : credits(value));
const cents = (value: unknown) => BigInt(String(value));
const centsOrNull = (value: unknown) => (value === null || value === undefined ? null : cents(value));
const time = (value: unknown) => new Date(value as Date | string);
const timeOrNull = (value: unknown) => (value === null || value === undefined ? null : time(value));

export function customerRecordOf(row: Row): CustomerRecord {
  return {
    id: row.id as string,
    externalId: row.external_id as string,
    currency: (row.currency as string | null) ?? null,
    timezone: row.timezone as string,
    createdAt: time(row.created_at),
    updatedAt: time(row.updated_at),
  };
}

/** A customer on the wire. */
export function customerRecordDto(customer: CustomerRecord) {
  return {
    id: customer.id,
    externalId: customer.externalId,
    currency: customer.currency,
    timezone: customer.timezone,
    createdAt: customer.createdAt,
  };
}

/** A customer row on the wire. */
export function customerRowDto(row: Row) {
  return customerRecordDto(customerRecordOf(row));
}

export function walletRecordOf(row: Row): WalletRecord {
  return {
    id: row.id as string,
    customerId: row.customer_id as string,
    name: (row.name as string | null) ?? null,
    code: row.code as string,
    status: row.status as WalletRecord['status'],
    currency: row.currency as string,
    rateAmount: credits(row.rate_amount),
    priority: Number(row.priority),
    balanceCents: cents(row.balance_cents),
    creditsBalance: credits(row.credits_balance),
    ongoingBalanceCents: cents(row.ongoing_balance_cents),
    creditsOngoingBalance: credits(row.credits_ongoing_balance),
    ongoingUsageBalanceCents: cents(row.ongoing_usage_balance_cents),
    creditsOngoingUsageBalance: credits(row.credits_ongoing_usage_balance),
    consumedCredits: credits(row.consumed_credits),
    consumedAmountCents: cents(row.consumed_amount_cents),
    depletedOngoingBalance: row.depleted_ongoing_balance as boolean,
    expirationAt: timeOrNull(row.expiration_at),
    terminatedAt: timeOrNull(row.terminated_at),
    invoiceRequiresSuccessfulPayment: row.invoice_requires_successful_payment as boolean,
    paidTopUpMinAmountCents: centsOrNull(row.paid_top_up_min_amount_cents),
    paidTopUpMaxAmountCents: centsOrNull(row.paid_top_up_max_amount_cents),
    appliesToFeeTypes: [...(row.applies_to_fee_types as string[])],
    appliesToBillableMetricCodes: [...(row.applies_to_billable_metric_codes as string[])],
    createdAt: time(row.created_at),
    updatedAt: time(row.updated_at),
  };
}

export function entryRecordOf(row: Row): EntryRecord {
  return {
    id: row.id as string,
    walletId: row.wallet_id as string,
    customerId: row.customer_id as string,
    transactionType: row.transaction_type as EntryRecord['transactionType'],
    status: row.status as EntryRecord['status'],
    transactionStatus: row.transaction_status as EntryRecord['transactionStatus'],
    source: row.source as EntryRecord['source'],
    creditAmount: credits(row.credit_amount),
    amountCents: cents(row.amount_cents),
    remainingCreditAmount: creditsOrNull(row.remaining_credit_amount),
    remainingAmountCents: centsOrNull(row.remaining_amount_cents),
    priority: Number(row.priority),
    expirationAt: timeOrNull(row.expiration_at),
    name: (row.name as string | null) ?? null,
    metadata: ((row.metadata as EntryRecord['metadata']) ?? []).map((m) => ({ key: m.key, value: m.value })),
    invoiceId: (row.invoice_id as string | null) ?? null,
    voidedInvoiceId: (row.voided_invoice_id as string | null) ?? null,
    voidedTransactionId: (row.voided_transaction_id as string | null) ?? null,
    invoiceRequiresSuccessfulPayment: row.invoice_requires_successful_payment as boolean,
    settledAt: timeOrNull(row.settled_at),
    failedAt: timeOrNull(row.failed_at),
    clawedBackAt: timeOrNull(row.clawed_back_at),
    createdAt: time(row.created_at),
  };
}

export function ruleRecordOf(row: Row): RuleRecord {
  return {
    id: row.id as string,
    walletId: row.wallet_id as string,
    status: row.status as RuleRecord['status'],
    trigger: row.trigger as RuleRecord['trigger'],
    interval: (row.interval as string | null) ?? null,
    method: row.method as RuleRecord['method'],
    paidCredits: credits(row.paid_credits),
    grantedCredits: credits(row.granted_credits),
    thresholdCredits: credits(row.threshold_credits),
    targetOngoingBalance: creditsOrNull(row.target_ongoing_balance),
    grantsTargetTopUp: row.grants_target_top_up as boolean,
    ignorePaidTopUpLimits: row.ignore_paid_top_up_limits as boolean,
    invoiceRequiresSuccessfulPayment: row.invoice_requires_successful_payment as boolean,
    startedAt: timeOrNull(row.started_at),
    expirationAt: timeOrNull(row.expiration_at),
    transactionMetadata: ((row.transaction_metadata as RuleRecord['transactionMetadata']) ?? []).map((m) => ({ key: m.key, value: m.value })),
    transactionName: (row.transaction_name as string | null) ?? null,
    terminatedAt: timeOrNull(row.terminated_at),
    createdAt: time(row.created_at),
  };
}

function usageFeeOf(record: UsageFeeRecord): UsageFee {
  const parse = (text: string) => {
    const parsed = parseDecimal(text, { excess: 'floor', allowNegative: true });
    if (!parsed.ok) throw new Error(`stored usage amount ${text}: ${parsed.reason}`);
    return parsed.value;
  };
  return {
    feeType: record.feeType,
    billableMetricCode: record.billableMetricCode ?? null,
    amount: parse(record.amountCents),
    coupons: parse(record.couponsAmountCents),
    taxes: parse(record.taxesAmountCents),
  };
}

export function usageFeeRecordOf(fee: UsageFee): UsageFeeRecord {
  return {
    feeType: fee.feeType,
    billableMetricCode: fee.billableMetricCode ?? null,
    amountCents: formatDecimal(fee.amount),
    couponsAmountCents: formatDecimal(fee.coupons),
    taxesAmountCents: formatDecimal(fee.taxes),
  };
}

export function snapshotRecordOf(row: Row): UsageSnapshotRecord {
  return {
    id: row.id as string,
    currency: row.currency as string,
    asOf: time(row.as_of),
    fees: (row.fees as UsageFeeRecord[]).map(usageFeeOf),
    draftInvoices: (row.draft_invoices as { id: string; fees: UsageFeeRecord[] }[]).map((d) => ({ id: d.id, fees: d.fees.map(usageFeeOf) })),
    billedFees: (row.billed_fees as UsageFeeRecord[]).map(usageFeeOf),
    updatedAt: time(row.updated_at),
  };
}

// ---------------------------------------------------------------------------------------------
// Records on the wire (CONTRACT.md shapes, as dto.ts).

const decimalOrNull = (value: bigint | null) => (value === null ? null : formatDecimal(value));
const numberOrNull = (value: bigint | null) => (value === null ? null : centsToNumber(value));

export function ruleRecordDto(rule: RuleRecord) {
  return {
    id: rule.id,
    status: rule.status,
    trigger: rule.trigger,
    interval: rule.interval,
    method: rule.method,
    paidCredits: formatDecimal(rule.paidCredits),
    grantedCredits: formatDecimal(rule.grantedCredits),
    thresholdCredits: formatDecimal(rule.thresholdCredits),
    targetOngoingBalance: decimalOrNull(rule.targetOngoingBalance),
    grantsTargetTopUp: rule.grantsTargetTopUp,
    ignorePaidTopUpLimits: rule.ignorePaidTopUpLimits,
    invoiceRequiresSuccessfulPayment: rule.invoiceRequiresSuccessfulPayment,
    startedAt: rule.startedAt,
    expirationAt: rule.expirationAt,
    transactionMetadata: rule.transactionMetadata,
    transactionName: rule.transactionName,
    createdAt: rule.createdAt,
  };
}

export function walletRecordDto(wallet: WalletRecord, externalCustomerId: string, activeRules: readonly RuleRecord[]) {
  return {
    id: wallet.id,
    externalCustomerId,
    name: wallet.name,
    code: wallet.code,
    status: wallet.status,
    currency: wallet.currency,
    rateAmount: formatDecimal(wallet.rateAmount),
    priority: wallet.priority,
    balanceCents: centsToNumber(wallet.balanceCents),
    creditsBalance: formatDecimal(wallet.creditsBalance),
    ongoingBalanceCents: centsToNumber(wallet.ongoingBalanceCents),
    creditsOngoingBalance: formatDecimal(wallet.creditsOngoingBalance),
    ongoingUsageBalanceCents: centsToNumber(wallet.ongoingUsageBalanceCents),
    creditsOngoingUsageBalance: formatDecimal(wallet.creditsOngoingUsageBalance),
    consumedCredits: formatDecimal(wallet.consumedCredits),
    consumedAmountCents: centsToNumber(wallet.consumedAmountCents),
    expirationAt: wallet.expirationAt,
    terminatedAt: wallet.terminatedAt,
    invoiceRequiresSuccessfulPayment: wallet.invoiceRequiresSuccessfulPayment,
    paidTopUpMinAmountCents: numberOrNull(wallet.paidTopUpMinAmountCents),
    paidTopUpMaxAmountCents: numberOrNull(wallet.paidTopUpMaxAmountCents),
    appliesTo: { feeTypes: [...wallet.appliesToFeeTypes], billableMetricCodes: [...wallet.appliesToBillableMetricCodes] },
    recurringTransactionRules: activeRules.map(ruleRecordDto),
    createdAt: wallet.createdAt,
    updatedAt: wallet.updatedAt,
  };
}

export function entryRecordDto(entry: EntryRecord, currency: string) {
  return {
    id: entry.id,
    walletId: entry.walletId,
    currency,
    transactionType: entry.transactionType,
    status: entry.status,
    transactionStatus: entry.transactionStatus,
    source: entry.source,
    creditAmount: formatDecimal(entry.creditAmount),
    amountCents: centsToNumber(entry.amountCents),
    remainingCreditAmount: decimalOrNull(entry.remainingCreditAmount),
    remainingAmountCents: numberOrNull(entry.remainingAmountCents),
    priority: entry.priority,
    expirationAt: entry.expirationAt,
    name: entry.name,
    metadata: entry.metadata,
    invoiceId: entry.invoiceId,
    voidedInvoiceId: entry.voidedInvoiceId,
    voidedTransactionId: entry.voidedTransactionId,
    invoiceRequiresSuccessfulPayment: entry.invoiceRequiresSuccessfulPayment,
    settledAt: entry.settledAt,
    failedAt: entry.failedAt,
    createdAt: entry.createdAt,
  };
}
