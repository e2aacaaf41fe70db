/**
 * Wire shapes (CONTRACT.md). Cents are numbers holding safe integers, credits decimal strings,
 * times Dates. Procedures and events return these, never ORM entities.
 */
import { formatDecimal, InvariantViolation } from '@wallets/core';
import type { Customer, RecurringTransactionRule, Wallet, WalletTransaction } from './entities/index.js';

export function centsToNumber(value: bigint): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvariantViolation(`cents ${value} exceed the safe integer range`);
  return n;
}

const centsOrNull = (value: bigint | null) => (value === null ? null : centsToNumber(value));
const decimalOrNull = (value: bigint | null) => (value === null ? null : formatDecimal(value));

export function customerDto(customer: Customer) {
  return {
    id: customer.id,
    externalId: customer.externalId,
    currency: customer.currency,
    timezone: customer.timezone,
    createdAt: customer.createdAt,
  };
}
export type CustomerDto = ReturnType<typeof customerDto>;

export function ruleDto(rule: RecurringTransactionRule) {
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
export type RuleDto = ReturnType<typeof ruleDto>;

export function walletDto(wallet: Wallet, activeRules: readonly RecurringTransactionRule[]) {
  return {
    id: wallet.id,
    externalCustomerId: wallet.customer.externalId,
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
    paidTopUpMinAmountCents: centsOrNull(wallet.paidTopUpMinAmountCents),
    paidTopUpMaxAmountCents: centsOrNull(wallet.paidTopUpMaxAmountCents),
    appliesTo: { feeTypes: [...wallet.appliesToFeeTypes], billableMetricCodes: [...wallet.appliesToBillableMetricCodes] },
    recurringTransactionRules: activeRules.map(ruleDto),
    createdAt: wallet.createdAt,
    updatedAt: wallet.updatedAt,
  };
}
export type WalletDto = ReturnType<typeof walletDto>;

export function transactionDto(tx: WalletTransaction) {
  return {
    id: tx.id,
    walletId: tx.wallet.id,
    currency: tx.wallet.currency,
    transactionType: tx.transactionType,
    status: tx.status,
    transactionStatus: tx.transactionStatus,
    source: tx.source,
    creditAmount: formatDecimal(tx.creditAmount),
    amountCents: centsToNumber(tx.amountCents),
    remainingCreditAmount: decimalOrNull(tx.remainingCreditAmount),
    remainingAmountCents: centsOrNull(tx.remainingAmountCents),
    priority: tx.priority,
    expirationAt: tx.expirationAt,
    name: tx.name,
    metadata: tx.metadata,
    invoiceId: tx.invoiceId,
    voidedInvoiceId: tx.voidedInvoiceId,
    voidedTransactionId: tx.voidedTransactionId,
    invoiceRequiresSuccessfulPayment: tx.invoiceRequiresSuccessfulPayment,
    settledAt: tx.settledAt,
    failedAt: tx.failedAt,
    createdAt: tx.createdAt,
  };
}
export type WalletTransactionDto = ReturnType<typeof transactionDto>;
