/**
 * Lago's wire shapes for the REST facade (docs/rest-api.md): the zod schemas that validate request
 * bodies and describe answers (rest/openapi.ts builds the OpenAPI document from these same
 * schemas), and the translations between them and our command inputs and DTOs.
 *
 * Conventions, as Lago's server has them: snake_case, a root key around every body, decimals as
 * strings with at least one fractional digit ("10.0", "0.12345"), cents as integers, times in ISO
 * 8601 UTC at second precision. A validation failure's message is its Lago error code (or several,
 * comma-separated), so rest/errors.ts can put it into `error_details` as it is.
 */
import { currencyExponent, formatDecimal, parseDecimal, SUPPORTED_CURRENCIES } from '@wallets/core';
import type { CreateWalletInput, CustomerDto, RuleDto, UpdateWalletInput, WalletDto, WalletTransactionDto } from '@wallets/db';
import { z } from 'zod';
import { billableMetricCodeInput, FEE_TYPES, text, timezoneInput } from '../schemas.js';

// ---------------------------------------------------------------- request pieces

const DECIMAL_PATTERN = /^[0-9]+(\.[0-9]+)?$/;

/** A non-negative decimal string of credits; a number or anything else is `invalid_<field>` + `invalid_amount`. */
function credits(field: string) {
  const codes = `invalid_${field},invalid_amount`;
  return text({ error: codes })
    .regex(DECIMAL_PATTERN, codes)
    .refine((value) => !DECIMAL_PATTERN.test(value) || parseDecimal(value, { excess: 'floor' }).ok, codes)
    .meta({ description: 'Credits as a decimal string ("10.5"); digits past the fifth decimal are dropped. JSON numbers are refused.' });
}

const rateAmount = text({ error: 'value_is_invalid' })
  .regex(DECIMAL_PATTERN, 'value_is_invalid')
  .refine((value) => !DECIMAL_PATTERN.test(value) || parseDecimal(value, { excess: 'reject' }).ok, 'value_is_invalid')
  .refine((value) => {
    const parsed = DECIMAL_PATTERN.test(value) ? parseDecimal(value, { excess: 'reject' }) : null;
    return !parsed?.ok || parsed.value > 0n;
  }, 'value_is_out_of_range')
  .meta({ description: 'Value of one credit in the currency, a positive decimal string with at most 5 decimals ("1.0").' });

const currency = text({ error: 'value_is_invalid' })
  .refine((code) => SUPPORTED_CURRENCIES.includes(code), 'value_is_invalid')
  .meta({ description: 'ISO 4217 code' });

const dateTime = z.iso.datetime({ offset: true, error: 'invalid_date' });
const priority = z.number({ error: 'value_is_invalid' }).int('value_is_invalid').min(1, 'value_is_invalid').max(50, 'value_is_invalid');
const positiveCents = z
  .number({ error: 'value_is_invalid' })
  .int('value_is_invalid')
  .positive('value_is_out_of_range')
  .max(Number.MAX_SAFE_INTEGER, 'value_is_out_of_range');
const name = text({ error: 'invalid_value' }).max(255, 'too_long');
const externalId = text({ error: 'value_is_invalid' }).trim().min(1, 'value_is_missing').max(255, 'value_is_invalid');
const walletCode = text({ error: 'value_is_invalid' }).trim().min(1, 'value_is_invalid').max(255, 'value_is_invalid');

function metadataList(maxPairs: number) {
  return z
    .array(z.object({ key: text().min(1).max(20, 'key_too_long'), value: text().min(1).max(100, 'value_too_long') }), { error: 'invalid_type' })
    .max(maxPairs, 'too_many_keys')
    .refine((items) => new Set(items.map((i) => i.key)).size === items.length, 'invalid_key_value_pair');
}

const appliesTo = z
  .object({
    fee_types: z.array(z.enum(FEE_TYPES)).max(FEE_TYPES.length).nullish(),
    billable_metric_codes: z.array(billableMetricCodeInput).max(100).nullish(),
  })
  .meta({ description: 'Limits the wallet to these fee types or billable metrics (either matches); empty means all.' });

const ruleInput = z
  .object({
    lago_id: text().min(1).max(64).optional().meta({ description: 'On update: the rule to change. Rules left out end.' }),
    trigger: z.enum(['interval', 'threshold']).optional(),
    interval: z.enum(['weekly', 'monthly', 'quarterly', 'semiannual', 'yearly']).nullish(),
    method: z.enum(['fixed', 'target']).optional(),
    paid_credits: credits('paid_credits').nullish(),
    granted_credits: credits('granted_credits').nullish(),
    threshold_credits: credits('threshold_credits').nullish(),
    target_ongoing_balance: credits('target_ongoing_balance').nullish(),
    grants_target_top_up: z.boolean().nullish(),
    ignore_paid_top_up_limits: z.boolean().nullish(),
    invoice_requires_successful_payment: z.boolean().nullish(),
    started_at: dateTime.nullish(),
    expiration_at: dateTime.nullish(),
    transaction_metadata: metadataList(5).nullish(),
    transaction_name: name.nullish(),
  })
  .meta({ id: 'RecurringTransactionRuleInput' });

const rules = z.array(ruleInput).max(1, 'invalid_number_of_recurring_rules');

// ---------------------------------------------------------------- request bodies

export const customerInput = z
  .object({
    customer: z.object({
      external_id: externalId,
      currency: currency.nullish(),
      timezone: timezoneInput.nullish(),
    }),
  })
  .meta({ id: 'CustomerCreateInput' });

const walletCreateFields = {
  external_customer_id: externalId
    .optional()
    .meta({ description: 'Required on POST /wallets; on /customers/{external_id}/wallets the path names the customer.' }),
  rate_amount: rateAmount,
  currency: currency.optional(),
  name: name.nullish(),
  code: walletCode.nullish(),
  priority: priority.nullish(),
  paid_credits: credits('paid_credits').nullish(),
  granted_credits: credits('granted_credits').nullish(),
  expiration_at: dateTime.nullish(),
  invoice_requires_successful_payment: z.boolean().nullish(),
  transaction_metadata: metadataList(5).nullish(),
  transaction_name: name.nullish(),
  applies_to: appliesTo.nullish(),
  paid_top_up_min_amount_cents: positiveCents.nullish(),
  paid_top_up_max_amount_cents: positiveCents.nullish(),
  ignore_paid_top_up_limits_on_creation: z.boolean().nullish(),
  recurring_transaction_rules: rules.nullish(),
};

export const walletCreateInput = z.object({ wallet: z.object(walletCreateFields) }).meta({ id: 'WalletCreateInput' });

export const walletUpdateInput = z
  .object({
    wallet: z.object({
      name: name.nullish(),
      code: walletCode.nullish(),
      priority: priority.nullish(),
      expiration_at: dateTime.nullish().meta({ description: 'null clears the expiration' }),
      invoice_requires_successful_payment: z.boolean().nullish(),
      applies_to: appliesTo.nullish(),
      paid_top_up_min_amount_cents: positiveCents.nullish(),
      paid_top_up_max_amount_cents: positiveCents.nullish(),
      recurring_transaction_rules: rules
        .nullish()
        .meta({ description: 'Replaces the rules: listed with lago_id, changed; without, created; left out, ended.' }),
    }),
  })
  .meta({ id: 'WalletUpdateInput' });

export const walletTransactionInput = z
  .object({
    wallet_transaction: z.object({
      wallet_id: text({ error: 'value_is_invalid' }).min(1, 'value_is_invalid').max(64, 'value_is_invalid'),
      paid_credits: credits('paid_credits').nullish(),
      granted_credits: credits('granted_credits').nullish(),
      voided_credits: credits('voided_credits').nullish(),
      name: text({ error: 'invalid_value' }).min(1, 'invalid_value').max(255, 'too_long').nullish(),
      invoice_requires_successful_payment: z.boolean().nullish(),
      ignore_paid_top_up_limits: z.boolean().nullish(),
      metadata: metadataList(15).nullish(),
      priority: priority.nullish(),
    }),
  })
  .meta({ id: 'WalletTransactionCreateInput' });

export const paymentInput = z
  .object({
    status: z.enum(['succeeded', 'failed']),
    invoice_id: text().min(1).max(255).optional().meta({ description: "The host's invoice for this top-up." }),
  })
  .meta({ id: 'WalletTransactionPaymentInput', description: 'Ours, not Lago: reports the payment of a purchase (pending -> settled or failed).' });

export const listQuery = z.object({
  page: z.number().int().min(1).optional().meta({ description: '1-based; default 1' }),
  per_page: z.number().int().min(1).max(100).optional().meta({ description: 'default 100, at most 100' }),
});

export const walletListQuery = listQuery.extend({
  external_customer_id: z.string().optional(),
  currency: z.string().optional(),
});

export const transactionListQuery = listQuery.extend({
  status: z.enum(['pending', 'settled', 'failed']).optional(),
  transaction_type: z.enum(['inbound', 'outbound']).optional(),
  transaction_status: z.enum(['purchased', 'granted', 'voided', 'invoiced']).optional(),
});

// ---------------------------------------------------------------- translations in

const creditsOf = (value: string | null | undefined): bigint | undefined => {
  if (value === null || value === undefined) return undefined;
  const parsed = parseDecimal(value, { excess: 'floor' });
  if (!parsed.ok) throw new Error(`credits ${value} passed validation but do not parse`);
  return parsed.value;
};
const dateOf = (value: string | null | undefined): Date | null | undefined =>
  value === null ? null : value === undefined ? undefined : new Date(value);
const defined = <T>(value: T | null | undefined): T | undefined => (value === null ? undefined : value);
const centsOf = (value: number | null | undefined): bigint | null | undefined =>
  value === null ? null : value === undefined ? undefined : BigInt(value);

type RuleIn = z.infer<typeof ruleInput>;

function ruleOf(rule: RuleIn) {
  return {
    id: rule.lago_id,
    trigger: rule.trigger,
    interval: rule.interval,
    method: rule.method,
    paidCredits: creditsOf(rule.paid_credits),
    grantedCredits: creditsOf(rule.granted_credits),
    thresholdCredits: creditsOf(rule.threshold_credits),
    targetOngoingBalance: rule.target_ongoing_balance === null ? null : creditsOf(rule.target_ongoing_balance),
    grantsTargetTopUp: defined(rule.grants_target_top_up),
    ignorePaidTopUpLimits: defined(rule.ignore_paid_top_up_limits),
    invoiceRequiresSuccessfulPayment: defined(rule.invoice_requires_successful_payment),
    startedAt: dateOf(rule.started_at),
    expirationAt: dateOf(rule.expiration_at),
    transactionMetadata: defined(rule.transaction_metadata),
    transactionName: rule.transaction_name,
  };
}

function appliesToOf(value: z.infer<typeof appliesTo> | null | undefined) {
  if (!value) return undefined;
  const feeTypes = value.fee_types ? [...new Set(value.fee_types)] : undefined;
  return {
    // Selecting every fee type is the same as selecting none.
    feeTypes: feeTypes && feeTypes.length === FEE_TYPES.length ? [] : feeTypes,
    billableMetricCodes: value.billable_metric_codes ? [...new Set(value.billable_metric_codes)] : undefined,
  };
}

export function createWalletInputOf(wallet: z.infer<typeof walletCreateInput>['wallet'], externalCustomerId: string): CreateWalletInput {
  return {
    externalCustomerId,
    rateAmount: creditsOf(wallet.rate_amount) ?? 0n,
    currency: wallet.currency,
    name: wallet.name,
    code: defined(wallet.code),
    priority: defined(wallet.priority),
    paidCredits: creditsOf(wallet.paid_credits),
    grantedCredits: creditsOf(wallet.granted_credits),
    expirationAt: dateOf(wallet.expiration_at),
    invoiceRequiresSuccessfulPayment: defined(wallet.invoice_requires_successful_payment),
    transactionMetadata: defined(wallet.transaction_metadata),
    transactionName: defined(wallet.transaction_name),
    appliesTo: appliesToOf(wallet.applies_to),
    paidTopUpMinAmountCents: centsOf(wallet.paid_top_up_min_amount_cents),
    paidTopUpMaxAmountCents: centsOf(wallet.paid_top_up_max_amount_cents),
    ignorePaidTopUpLimitsOnCreation: defined(wallet.ignore_paid_top_up_limits_on_creation),
    // Lago: a new rule naming neither paid nor granted credits takes the wallet's.
    recurringTransactionRules: wallet.recurring_transaction_rules?.map((rule) =>
      ruleOf(
        rule.paid_credits == null && rule.granted_credits == null
          ? { ...rule, paid_credits: wallet.paid_credits, granted_credits: wallet.granted_credits }
          : rule,
      ),
    ) as CreateWalletInput['recurringTransactionRules'],
  };
}

export function updateWalletInputOf(id: string, wallet: z.infer<typeof walletUpdateInput>['wallet']): UpdateWalletInput {
  return {
    id,
    name: wallet.name,
    code: defined(wallet.code),
    priority: defined(wallet.priority),
    expirationAt: dateOf(wallet.expiration_at),
    invoiceRequiresSuccessfulPayment: defined(wallet.invoice_requires_successful_payment),
    appliesTo: appliesToOf(wallet.applies_to),
    paidTopUpMinAmountCents: centsOf(wallet.paid_top_up_min_amount_cents),
    paidTopUpMaxAmountCents: centsOf(wallet.paid_top_up_max_amount_cents),
    recurringTransactionRules: wallet.recurring_transaction_rules?.map(ruleOf) as UpdateWalletInput['recurringTransactionRules'],
  };
}

export function createTransactionsInputOf(tx: z.infer<typeof walletTransactionInput>['wallet_transaction']) {
  return {
    walletId: tx.wallet_id,
    paidCredits: creditsOf(tx.paid_credits),
    grantedCredits: creditsOf(tx.granted_credits),
    voidedCredits: creditsOf(tx.voided_credits),
    name: tx.name,
    invoiceRequiresSuccessfulPayment: defined(tx.invoice_requires_successful_payment),
    ignorePaidTopUpLimits: defined(tx.ignore_paid_top_up_limits),
    metadata: defined(tx.metadata),
    priority: defined(tx.priority),
  };
}

// ---------------------------------------------------------------- answers

const decimalString = z
  .string()
  .regex(/^-?[0-9]+\.[0-9]+$/)
  .meta({ description: 'A decimal as a string, e.g. "10.0"' });
const time = z.string().meta({ format: 'date-time' });
const uuid = z.string().meta({ format: 'uuid' });
const metadataPairs = z.array(z.object({ key: z.string(), value: z.string() }));

export const customerObject = z
  .object({
    lago_id: uuid,
    external_id: z.string(),
    currency: z.string().nullable(),
    timezone: z.string(),
    applicable_timezone: z.string(),
    created_at: time,
  })
  .meta({ id: 'CustomerObject' });

export const ruleObject = z
  .object({
    lago_id: uuid,
    status: z.enum(['active', 'terminated']),
    trigger: z.enum(['interval', 'threshold']),
    method: z.enum(['fixed', 'target']),
    interval: z.string().nullable(),
    paid_credits: decimalString,
    granted_credits: decimalString,
    threshold_credits: decimalString,
    target_ongoing_balance: decimalString.nullable(),
    grants_target_top_up: z.boolean().nullable(),
    ignore_paid_top_up_limits: z.boolean(),
    invoice_requires_successful_payment: z.boolean(),
    started_at: time.nullable(),
    expiration_at: time.nullable(),
    transaction_metadata: metadataPairs,
    transaction_name: z.string().nullable(),
    created_at: time,
  })
  .meta({ id: 'RecurringTransactionRuleObject' });

export const walletObject = z
  .object({
    lago_id: uuid,
    lago_customer_id: uuid,
    external_customer_id: z.string(),
    status: z.enum(['active', 'terminated']),
    currency: z.string(),
    name: z.string().nullable(),
    code: z.string(),
    priority: z.number().int(),
    rate_amount: decimalString,
    credits_balance: decimalString,
    balance_cents: z.number().int(),
    consumed_credits: decimalString,
    consumed_amount_cents: z.number().int().meta({ description: 'Ours: the consumed credits in cents.' }),
    ongoing_balance_cents: z.number().int(),
    ongoing_usage_balance_cents: z.number().int(),
    credits_ongoing_balance: decimalString,
    credits_ongoing_usage_balance: decimalString,
    created_at: time,
    expiration_at: time.nullable(),
    terminated_at: time.nullable(),
    invoice_requires_successful_payment: z.boolean(),
    paid_top_up_min_amount_cents: z.number().int().nullable(),
    paid_top_up_max_amount_cents: z.number().int().nullable(),
    applies_to: z.object({ fee_types: z.array(z.string()), billable_metric_codes: z.array(z.string()) }),
    recurring_transaction_rules: z.array(ruleObject),
  })
  .meta({ id: 'WalletObject' });

export const transactionObject = z
  .object({
    lago_id: uuid,
    lago_wallet_id: uuid,
    lago_invoice_id: z.string().nullable().meta({ description: "The host's invoice id (ours are the host's, not UUIDs)." }),
    lago_voided_invoice_id: z.string().nullable(),
    status: z.enum(['pending', 'settled', 'failed']),
    source: z.string().meta({ description: 'manual, interval, threshold, and ours: expiration, termination, invoice_void, payment_failure' }),
    transaction_status: z.enum(['purchased', 'granted', 'voided', 'invoiced']),
    transaction_type: z.enum(['inbound', 'outbound']),
    amount: decimalString,
    credit_amount: decimalString,
    remaining_amount_cents: z.number().int().nullable(),
    remaining_credit_amount: decimalString.nullable(),
    priority: z.number().int(),
    invoice_requires_successful_payment: z.boolean(),
    settled_at: time.nullable(),
    failed_at: time.nullable(),
    expiration_at: time.nullable(),
    created_at: time,
    metadata: metadataPairs,
    name: z.string().nullable(),
  })
  .meta({ id: 'WalletTransactionObject' });

export const paginationMeta = z
  .object({
    current_page: z.number().int(),
    next_page: z.number().int().nullable(),
    prev_page: z.number().int().nullable(),
    total_pages: z.number().int(),
    total_count: z.number().int(),
  })
  .meta({ id: 'PaginationMeta' });

export const customerResponse = z.object({ customer: customerObject }).meta({ id: 'Customer' });
export const customersResponse = z.object({ customers: z.array(customerObject), meta: paginationMeta }).meta({ id: 'CustomersPaginated' });
export const walletResponse = z.object({ wallet: walletObject }).meta({ id: 'Wallet' });
export const walletsResponse = z.object({ wallets: z.array(walletObject), meta: paginationMeta }).meta({ id: 'WalletsPaginated' });
export const transactionResponse = z.object({ wallet_transaction: transactionObject }).meta({ id: 'WalletTransaction' });
export const transactionsResponse = z.object({ wallet_transactions: z.array(transactionObject) }).meta({ id: 'WalletTransactions' });
export const transactionsPageResponse = z
  .object({ wallet_transactions: z.array(transactionObject), meta: paginationMeta })
  .meta({ id: 'WalletTransactionsPaginated' });

// ---------------------------------------------------------------- translations out

/** Lago's decimal format: at least one fractional digit, trailing zeros dropped ("10.0", "0.12345"). */
export function lagoDecimal(decimal: string): string {
  return decimal.includes('.') ? decimal : `${decimal}.0`;
}

/** ISO 8601 UTC at second precision ("2026-01-15T10:00:00Z"). */
export function lagoTime(value: Date | string): string;
export function lagoTime(value: Date | string | null): string | null;
export function lagoTime(value: Date | string | null): string | null {
  if (value === null) return null;
  return new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Cents as a currency amount in Lago's decimal format (1050 EUR cents -> "10.5"). */
export function lagoAmount(amountCents: number, currencyCode: string): string {
  const exponent = currencyExponent(currencyCode);
  return lagoDecimal(formatDecimal(BigInt(amountCents) * 10n ** BigInt(5 - exponent)));
}

export function lagoCustomer(customer: CustomerDto): z.infer<typeof customerObject> {
  return {
    lago_id: customer.id,
    external_id: customer.externalId,
    currency: customer.currency,
    timezone: customer.timezone,
    applicable_timezone: customer.timezone,
    created_at: lagoTime(customer.createdAt),
  };
}

function lagoRule(rule: RuleDto): z.infer<typeof ruleObject> {
  return {
    lago_id: rule.id,
    status: rule.status as 'active' | 'terminated',
    trigger: rule.trigger as 'interval' | 'threshold',
    method: rule.method as 'fixed' | 'target',
    interval: rule.interval,
    paid_credits: lagoDecimal(rule.paidCredits),
    granted_credits: lagoDecimal(rule.grantedCredits),
    threshold_credits: lagoDecimal(rule.thresholdCredits),
    target_ongoing_balance: rule.targetOngoingBalance === null ? null : lagoDecimal(rule.targetOngoingBalance),
    grants_target_top_up: rule.method === 'fixed' ? null : rule.grantsTargetTopUp,
    ignore_paid_top_up_limits: rule.ignorePaidTopUpLimits,
    invoice_requires_successful_payment: rule.invoiceRequiresSuccessfulPayment,
    started_at: lagoTime(rule.startedAt),
    expiration_at: lagoTime(rule.expirationAt),
    transaction_metadata: rule.transactionMetadata,
    transaction_name: rule.transactionName,
    created_at: lagoTime(rule.createdAt),
  };
}

export function lagoWallet(wallet: WalletDto, customerId: string): z.infer<typeof walletObject> {
  return {
    lago_id: wallet.id,
    lago_customer_id: customerId,
    external_customer_id: wallet.externalCustomerId,
    status: wallet.status as 'active' | 'terminated',
    currency: wallet.currency,
    name: wallet.name,
    code: wallet.code,
    priority: wallet.priority,
    rate_amount: lagoDecimal(wallet.rateAmount),
    credits_balance: lagoDecimal(wallet.creditsBalance),
    balance_cents: wallet.balanceCents,
    consumed_credits: lagoDecimal(wallet.consumedCredits),
    consumed_amount_cents: wallet.consumedAmountCents,
    ongoing_balance_cents: wallet.ongoingBalanceCents,
    ongoing_usage_balance_cents: wallet.ongoingUsageBalanceCents,
    credits_ongoing_balance: lagoDecimal(wallet.creditsOngoingBalance),
    credits_ongoing_usage_balance: lagoDecimal(wallet.creditsOngoingUsageBalance),
    created_at: lagoTime(wallet.createdAt),
    expiration_at: lagoTime(wallet.expirationAt),
    terminated_at: lagoTime(wallet.terminatedAt),
    invoice_requires_successful_payment: wallet.invoiceRequiresSuccessfulPayment,
    paid_top_up_min_amount_cents: wallet.paidTopUpMinAmountCents,
    paid_top_up_max_amount_cents: wallet.paidTopUpMaxAmountCents,
    applies_to: { fee_types: wallet.appliesTo.feeTypes, billable_metric_codes: wallet.appliesTo.billableMetricCodes },
    recurring_transaction_rules: wallet.recurringTransactionRules.map(lagoRule),
  };
}

export function lagoTransaction(tx: WalletTransactionDto): z.infer<typeof transactionObject> {
  return {
    lago_id: tx.id,
    lago_wallet_id: tx.walletId,
    lago_invoice_id: tx.invoiceId,
    lago_voided_invoice_id: tx.voidedInvoiceId,
    status: tx.status as 'pending' | 'settled' | 'failed',
    source: tx.source,
    transaction_status: tx.transactionStatus as 'purchased' | 'granted' | 'voided' | 'invoiced',
    transaction_type: tx.transactionType as 'inbound' | 'outbound',
    amount: lagoAmount(tx.amountCents, tx.currency),
    credit_amount: lagoDecimal(tx.creditAmount),
    remaining_amount_cents: tx.remainingAmountCents,
    remaining_credit_amount: tx.remainingCreditAmount === null ? null : lagoDecimal(tx.remainingCreditAmount),
    priority: tx.priority,
    invoice_requires_successful_payment: tx.invoiceRequiresSuccessfulPayment,
    settled_at: lagoTime(tx.settledAt),
    failed_at: lagoTime(tx.failedAt),
    expiration_at: lagoTime(tx.expirationAt),
    created_at: lagoTime(tx.createdAt),
    metadata: tx.metadata,
    name: tx.name,
  };
}

/** Lago's PaginationMeta, with its quirk: an empty collection is on page 0. */
export function paginationOf(page: number, perPage: number, totalCount: number): z.infer<typeof paginationMeta> {
  const totalPages = Math.ceil(totalCount / perPage);
  const current = totalCount === 0 ? 0 : page;
  return {
    current_page: current,
    next_page: current < totalPages ? current + 1 : null,
    prev_page: current > 1 ? current - 1 : null,
    total_pages: totalPages,
    total_count: totalCount,
  };
}
