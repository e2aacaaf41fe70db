/**
 * Wire input schemas (CONTRACT.md). Decimal strings are parsed exactly into 1e-5 units at the edge;
 * numbers where a decimal is expected are refused. Cents are safe integers in, bigint inside.
 */
import { parseDecimal, SUPPORTED_CURRENCIES } from '@wallets/core';
import { z } from 'zod';

export const FEE_TYPES = ['subscription', 'charge', 'fixed_charge', 'commitment', 'add_on', 'credit'] as const;

/**
 * NUL, or a UTF-16 surrogate that is not half of a pair. PostgreSQL cannot store NUL in text, and
 * would store a lone surrogate as U+FFFD, so "\ud800" and "\udbff" would name the same row.
 */
const ILL_FORMED = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Every string input goes through this: refused with the field's path before anything else is checked. */
export const text = (params?: { error: string }) =>
  z.string(params).refine((value) => !ILL_FORMED.test(value), {
    message: 'must not contain NUL characters or unpaired UTF-16 surrogates',
    abort: true,
  });

function decimal(excess: 'floor' | 'reject', positive: boolean) {
  return text({ error: 'must be a decimal string such as "10.5"' }).transform((text, ctx) => {
    const parsed = parseDecimal(text, { excess });
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.reason });
      return z.NEVER;
    }
    if (positive && parsed.value <= 0n) {
      ctx.addIssue({ code: 'custom', message: 'must be greater than 0' });
      return z.NEVER;
    }
    return parsed.value;
  });
}

/** Credits: non-negative, digits beyond 5 decimals floored (Lago). */
export const creditsInput = decimal('floor', false);
/** Rates: positive and exactly representable with 5 decimals. */
export const rateInput = decimal('reject', true);
/** Positive safe-integer cents. */
export const positiveCents = z
  .number()
  .int()
  .positive()
  .max(Number.MAX_SAFE_INTEGER)
  .transform((n) => BigInt(n));

export const currencyInput = text().refine((code) => SUPPORTED_CURRENCIES.includes(code), { message: 'must be a supported ISO 4217 currency code' });

export const timezoneInput = text().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as "Europe/Paris"' },
);

export const externalIdInput = text().trim().min(1).max(255);
export const idInput = text().min(1).max(64);
/** An organization's name (admin.createOrganization, `wallets org create`). */
export const organizationName = text().trim().min(1).max(255);
/** An API key's name (apiKeys.create, admin.createApiKey, `wallets keys create`). */
export const apiKeyName = text().trim().min(1).max(255);
export const idempotencyKeyInput = text().min(1).max(255).optional();
export const nameInput = text().max(255);
export const dateInput = z.date();

export function metadataInput(maxKeys: number) {
  return z
    .array(z.object({ key: text().min(1).max(20), value: text().min(1).max(100) }))
    .max(maxKeys)
    .refine((items) => new Set(items.map((i) => i.key)).size === items.length, { message: 'keys must be unique' });
}

export const billableMetricCodeInput = text().regex(
  /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$/,
  'must be a billable metric code (letters, digits, _ . : -)',
);

export const appliesToInput = z
  .object({
    feeTypes: z.array(z.enum(FEE_TYPES)).max(FEE_TYPES.length).optional(),
    billableMetricCodes: z.array(billableMetricCodeInput).max(100).optional(),
  })

  .transform((value) => ({
    // Selecting every fee type is the same as selecting none.
    feeTypes: value.feeTypes && new Set(value.feeTypes).size === FEE_TYPES.length ? [] : value.feeTypes && [...new Set(value.feeTypes)],
    billableMetricCodes: value.billableMetricCodes && [...new Set(value.billableMetricCodes)],
  }));

export const ruleInput = z.object({
  id: idInput.optional(),
  trigger: z.enum(['interval', 'threshold']).optional(),
  interval: z.enum(['weekly', 'monthly', 'quarterly', 'semiannual', 'yearly']).nullable().optional(),
  method: z.enum(['fixed', 'target']).optional(),
  paidCredits: creditsInput.optional(),
  grantedCredits: creditsInput.optional(),
  thresholdCredits: creditsInput.optional(),
  targetOngoingBalance: creditsInput.nullable().optional(),
  grantsTargetTopUp: z.boolean().optional(),
  ignorePaidTopUpLimits: z.boolean().optional(),
  invoiceRequiresSuccessfulPayment: z.boolean().optional(),
  startedAt: dateInput.nullable().optional(),
  expirationAt: dateInput.nullable().optional(),
  transactionMetadata: metadataInput(5).optional(),
  transactionName: nameInput.nullable().optional(),
});

export const listInput = {
  cursor: text().max(512).nullish(),
  limit: z.number().int().min(1).max(100).default(20),
};

/** Cents as a safe integer, or a decimal string of cents (sub-cent precision), into 1e-5 cents. */
export const preciseCentsInput = z.union([
  z
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .transform((n) => BigInt(n) * 100_000n),
  creditsInput,
]);

export const invoiceInput = z.object({
  id: text().min(1).max(255),
  externalCustomerId: externalIdInput,
  currency: currencyInput,
  invoiceType: z.enum(['subscription', 'progressive_billing', 'pay_in_advance', 'one_off', 'credit']),
  totalAmountCents: z
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .transform((n) => BigInt(n)),
  fees: z
    .array(
      z.object({
        id: text().min(1).max(255),
        feeType: z.enum(FEE_TYPES),
        billableMetricCode: billableMetricCodeInput.nullish(),
        amountCents: z
          .number()
          .int()
          .min(0)
          .max(Number.MAX_SAFE_INTEGER)
          .transform((n) => BigInt(n) * 100_000n),
        couponsAmountCents: preciseCentsInput.optional(),
        taxesAmountCents: preciseCentsInput.optional(),
        creditNotesAmountCents: preciseCentsInput.optional(),
      }),
    )
    .max(10_000)
    .transform((fees) =>
      fees.map((fee) => ({
        id: fee.id,
        feeType: fee.feeType,
        billableMetricCode: fee.billableMetricCode ?? null,
        amount: fee.amountCents,
        coupons: fee.couponsAmountCents ?? 0n,
        taxes: fee.taxesAmountCents ?? 0n,
        creditNotes: fee.creditNotesAmountCents ?? 0n,
      })),
    ),
});

const usageFeeInput = z
  .object({
    id: text().min(1).max(255).optional(),
    feeType: z.enum(FEE_TYPES),
    billableMetricCode: billableMetricCodeInput.nullish(),
    amountCents: preciseCentsInput,
    couponsAmountCents: preciseCentsInput.optional(),
    taxesAmountCents: preciseCentsInput.optional(),
  })
  .transform((fee) => ({
    feeType: fee.feeType,
    billableMetricCode: fee.billableMetricCode ?? null,
    amount: fee.amountCents,
    coupons: fee.couponsAmountCents ?? 0n,
    taxes: fee.taxesAmountCents ?? 0n,
  }));

export const usageSyncInput = z.object({
  externalCustomerId: externalIdInput,
  currency: currencyInput,
  asOf: z.date().optional(),
  fees: z.array(usageFeeInput).max(10_000),
  draftInvoices: z
    .array(z.object({ id: text().min(1).max(255), fees: z.array(usageFeeInput).max(10_000) }))
    .max(100)
    .optional(),
  billedFees: z.array(usageFeeInput).max(10_000).optional(),
});
