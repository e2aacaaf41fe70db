/**
 * Lago's error envelope, `{ status, error, code?, error_details? }`, and the one mapping from our
 * errors into it: WalletError codes (the same ones tRPC maps in errors.ts), zod failures of the
 * Lago-shaped bodies (their messages are Lago codes, see wire.ts) and the key check's TRPCErrors.
 */
import { TRPCError } from '@trpc/server';
import { WalletError, type WalletErrorCode } from '@wallets/core';
import type { z } from 'zod';

export interface LagoErrorBody {
  status: number;
  error: string;
  code?: string;
  error_details?: Record<string, string[]>;
}

export class LagoError extends Error {
  constructor(readonly body: LagoErrorBody) {
    super(body.code ?? body.error);
  }
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error',
};

export const badRequest = (message: string) => new LagoError({ status: 400, error: `BadRequest: ${message}` });
export const notFound = (code: string) => new LagoError({ status: 404, error: REASONS[404] as string, code });
export const validationErrors = (details: Record<string, string[]>) =>
  new LagoError({ status: 422, error: REASONS[422] as string, code: 'validation_errors', error_details: details });

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A Lago code carried as a zod message (several comma-separated); anything else is `value_is_invalid`. */
function codesOf(message: string): string[] {
  return /^[a-z_]+(,[a-z_]+)*$/.test(message) ? message.split(',') : ['value_is_invalid'];
}

/** Lago reports a wallet's `transaction_metadata` problems under `metadata`, and a rule's under its list. */
function lagoField(path: readonly PropertyKey[]): string {
  const [first] = path.map(String);
  if (first === undefined) return 'base';
  if (first === 'transaction_metadata') return 'metadata';
  return snake(first);
}

function add(details: Record<string, string[]>, field: string, codes: string[]): void {
  const list = details[field] ?? [];
  for (const code of codes) if (!list.includes(code)) list.push(code);
  details[field] = list;
}

/** zod issues of a body's inner object (paths below the root key) as `error_details`. */
export function zodDetails(issues: readonly z.core.$ZodIssue[]): Record<string, string[]> {
  const details: Record<string, string[]> = {};
  for (const issue of issues) {
    const field = lagoField(issue.path);
    if (field === 'recurring_transaction_rules' && issue.path.length > 1) add(details, field, ['invalid_recurring_rule']);
    else add(details, field, codesOf(issue.message));
  }
  return details;
}

/**
 * Where a domain error lands in Lago's envelope: a 404 with its code, or a 422 with a field and its
 * Lago code. `field` null means the error's own `details.field` (camelCase) names it.
 */
type Placement = { status: 404; code: string } | { status: 422; field: string | null; code: string } | { status: 409; code: string };

const PLACEMENTS = {
  VALIDATION_FAILED: { status: 422, field: null, code: 'value_is_invalid' },
  CURRENCY_MISMATCH: { status: 422, field: 'currency', code: 'currencies_does_not_match' },
  AMOUNT_ROUNDS_TO_ZERO: { status: 422, field: null, code: 'amount_rounds_to_zero' },
  AMOUNT_BELOW_MINIMUM: { status: 422, field: null, code: 'amount_below_minimum' },
  AMOUNT_ABOVE_MAXIMUM: { status: 422, field: null, code: 'amount_above_maximum' },
  INVALID_EXPIRATION_DATE: { status: 422, field: null, code: 'invalid_date' },
  WEBHOOK_URL_NOT_ALLOWED: { status: 422, field: 'url', code: 'url_not_allowed' },
  CUSTOMER_NOT_FOUND: { status: 404, code: 'customer_not_found' },
  WALLET_NOT_FOUND: { status: 404, code: 'wallet_not_found' },
  TRANSACTION_NOT_FOUND: { status: 404, code: 'wallet_transaction_not_found' },
  WEBHOOK_ENDPOINT_NOT_FOUND: { status: 404, code: 'webhook_endpoint_not_found' },
  API_KEY_NOT_FOUND: { status: 404, code: 'api_key_not_found' },
  ORGANIZATION_NOT_FOUND: { status: 404, code: 'organization_not_found' },
  WALLET_LIMIT_REACHED: { status: 422, field: 'customer', code: 'wallet_limit_reached' },
  WALLET_TERMINATED: { status: 422, field: 'wallet_id', code: 'wallet_is_terminated' },
  CODE_ALREADY_EXISTS: { status: 422, field: 'code', code: 'value_already_exist' },
  IDEMPOTENCY_KEY_REUSED: { status: 409, code: 'idempotency_key_reused' },
  TRANSACTION_NOT_PAYABLE: { status: 422, field: 'wallet_transaction', code: 'transaction_not_payable' },
  INVOICE_ALREADY_APPLIED: { status: 409, code: 'invoice_already_applied' },
  INVOICE_VOIDED: { status: 409, code: 'invoice_voided' },
  WEBHOOK_ENDPOINT_LIMIT_REACHED: { status: 422, field: 'base', code: 'webhook_endpoint_limit_reached' },
  LAST_ACTIVE_API_KEY: { status: 422, field: 'base', code: 'last_active_api_key' },
  INSUFFICIENT_CREDITS: { status: 422, field: null, code: 'insufficient_credits' },
  // tRPC batches only (REST has none); listed so that every code has a placement.
  BATCH_TOO_LARGE: { status: 422, field: 'base', code: 'batch_too_large' },
  STREAM_LIMIT_REACHED: { status: 422, field: 'base', code: 'stream_limit_reached' },
} as const satisfies Record<WalletErrorCode, Placement>;

/**
 * Route-specific placements, as Lago has them: an unknown customer in POST /wallets and an unknown
 * wallet in POST /wallet_transactions are 422 field errors, not 404s.
 */
export type NotFoundAsField = Partial<Record<'CUSTOMER_NOT_FOUND' | 'WALLET_NOT_FOUND', string>>;

function domainError(error: WalletError, asField: NotFoundAsField): LagoError {
  const fieldOverride = asField[error.code as keyof NotFoundAsField];
  if (fieldOverride) return validationErrors({ [fieldOverride]: [PLACEMENTS[error.code].code] });
  const placement: Placement = PLACEMENTS[error.code];
  if (placement.status !== 422) {
    return new LagoError({ status: placement.status, error: REASONS[placement.status] as string, code: placement.code });
  }
  if (error.code === 'VALIDATION_FAILED') {
    const issues = error.details.issues;
    if (Array.isArray(issues) && issues.length > 0) {
      const details: Record<string, string[]> = {};
      for (const issue of issues as { path: (string | number)[] }[]) {
        const field = lagoField(issue.path);
        add(details, field, [field === 'recurring_transaction_rules' ? 'invalid_recurring_rule' : placement.code]);
      }
      return validationErrors(details);
    }
  }
  const detailField = typeof error.details.field === 'string' ? error.details.field : null;
  const path = detailField ? detailField.split('.') : [];
  const field = placement.field ?? (path.length > 0 ? lagoField(path) : 'base');
  return validationErrors({ [field]: [field === 'recurring_transaction_rules' ? 'invalid_recurring_rule' : placement.code] });
}

export interface MappedError {
  body: LagoErrorBody;
  /** The domain code, for the request's log line. */
  walletErrorCode: WalletErrorCode | null;
  /** Set when the error is ours to log (an internal error). */
  internal: unknown;
}

export function mapError(error: unknown, requestId: string, asField: NotFoundAsField = {}): MappedError {
  if (error instanceof LagoError) return { body: error.body, walletErrorCode: null, internal: null };
  if (error instanceof WalletError) return { body: domainError(error, asField).body, walletErrorCode: error.code, internal: null };
  if (error instanceof TRPCError && (error.code === 'UNAUTHORIZED' || error.code === 'FORBIDDEN')) {
    const status = error.code === 'UNAUTHORIZED' ? 401 : 403;
    return {
      body: status === 401 ? { status, error: 'Unauthorized' } : { status, error: 'Forbidden', code: 'admin_token_not_allowed' },
      walletErrorCode: null,
      internal: null,
    };
  }
  const fastifyError = error as { statusCode?: number; code?: string; message?: string };
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return { body: { status: 413, error: REASONS[413] as string }, walletErrorCode: null, internal: null };
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return { body: { status: 415, error: 'Unsupported Media Type: send application/json' }, walletErrorCode: null, internal: null };
    }
    return { body: { status: 400, error: `BadRequest: ${fastifyError.message ?? 'malformed request'}` }, walletErrorCode: null, internal: null };
  }
  return { body: { status: 500, error: `internal error (request ${requestId})` }, walletErrorCode: null, internal: error };
}
