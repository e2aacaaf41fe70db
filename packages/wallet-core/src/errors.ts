/**
 * Domain errors. Every business rule that refuses a request throws a WalletError with one of these
 * codes; the api maps each code to a transport code in one table. Broken invariants (bugs, not bad
 * input) are InvariantViolation and surface as internal errors.
 */
export const WALLET_ERROR_CODES = [
  'VALIDATION_FAILED',
  'CURRENCY_MISMATCH',
  'AMOUNT_ROUNDS_TO_ZERO',
  'AMOUNT_BELOW_MINIMUM',
  'AMOUNT_ABOVE_MAXIMUM',
  'INVALID_EXPIRATION_DATE',
  'CUSTOMER_NOT_FOUND',
  'WALLET_NOT_FOUND',
  'TRANSACTION_NOT_FOUND',
  'WEBHOOK_ENDPOINT_NOT_FOUND',
  'API_KEY_NOT_FOUND',
  'ORGANIZATION_NOT_FOUND',
  'WALLET_LIMIT_REACHED',
  'WALLET_TERMINATED',
  'CODE_ALREADY_EXISTS',
  'IDEMPOTENCY_KEY_REUSED',
  'TRANSACTION_NOT_PAYABLE',
  'INVOICE_ALREADY_APPLIED',
  'INVOICE_VOIDED',
  'LAST_ACTIVE_API_KEY',
  'INSUFFICIENT_CREDITS',
  'WEBHOOK_URL_NOT_ALLOWED',
  'WEBHOOK_ENDPOINT_LIMIT_REACHED',
  'BATCH_TOO_LARGE',
  'STREAM_LIMIT_REACHED',
] as const;

export type WalletErrorCode = (typeof WALLET_ERROR_CODES)[number];

export class WalletError extends Error {
  readonly code: WalletErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: WalletErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'WalletError';
    this.code = code;
    this.details = details;
  }
}

export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}
