/**
 * Server errors in words, placed on the form field they concern. The API says which field through
 * `error.data.issues[].path` (VALIDATION_FAILED) or `error.data.details.field` (business rules);
 * a few codes always concern one field. Anything that concerns no field of the form is shown at
 * the top of the form. Forms keep every value on an error; only these messages change.
 */
import { formatMoney } from './format.js';

export interface FormErrors {
  fields: Record<string, string>;
  form: string | null;
}

export const NO_ERRORS: FormErrors = { fields: {}, form: null };

interface Issue {
  path: (string | number)[];
  message: string;
}

interface ErrorData {
  code?: string;
  walletErrorCode?: string | null;
  details?: Record<string, unknown> | null;
  issues?: Issue[] | null;
}

/** The `data` a tRPC client error carries (TRPCClientError or anything shaped like it). */
function errorData(error: unknown): ErrorData | null {
  const data = (error as { data?: unknown } | null)?.data;
  return data && typeof data === 'object' ? (data as ErrorData) : null;
}

function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** The form field an issue path names: `appliesTo.feeTypes.2` is the fee types field. */
function fieldOfPath(path: readonly (string | number)[]): string {
  return String(path[0] === 'appliesTo' && path.length > 1 ? path[1] : (path[0] ?? ''));
}

const cents = (value: unknown, currency: string | null): string =>
  typeof value === 'number' && currency ? formatMoney(value, currency) : String(value ?? '');

/** One business error in words. */
function codeMessage(code: string, message: string, details: Record<string, unknown>, currency: string | null): string {
  switch (code) {
    case 'INVALID_EXPIRATION_DATE':
      return message.includes('after its wallet')
        ? "A top-up cannot expire after its wallet's expiration date."
        : 'The expiration date must be in the future.';
    case 'AMOUNT_ROUNDS_TO_ZERO':
      return 'These credits are worth less than the smallest unit of the currency.';
    case 'AMOUNT_BELOW_MINIMUM':
      return `These paid credits are worth ${cents(details.amountCents, currency)}, below the wallet's paid top-up minimum of ${cents(details.paidTopUpMinAmountCents, currency)}.`;
    case 'AMOUNT_ABOVE_MAXIMUM':
      return `These paid credits are worth ${cents(details.amountCents, currency)}, above the wallet's paid top-up maximum of ${cents(details.paidTopUpMaxAmountCents, currency)}.`;
    case 'INSUFFICIENT_CREDITS':
      return 'The wallet does not hold that many credits.';
    case 'CURRENCY_MISMATCH':
      return `The customer is billed in ${String(details.currency ?? 'another currency')}; the wallet must use the same currency.`;
    case 'CODE_ALREADY_EXISTS':
      return 'Another active wallet of this customer already has this code.';
    case 'WALLET_LIMIT_REACHED':
      return `This customer already has ${String(details.limit ?? 'the most')} active wallets, the most allowed. Terminate one first.`;
    case 'WALLET_TERMINATED':
      return 'This wallet is terminated: it can no longer change.';
    case 'CUSTOMER_NOT_FOUND':
      return 'This customer no longer exists.';
    case 'WALLET_NOT_FOUND':
      return 'This wallet no longer exists.';
    case 'IDEMPOTENCY_KEY_REUSED':
      return 'This request was already sent with other values. Reload the page and try again.';
    default:
      return sentence(message);
  }
}

/** Codes that always concern one field, when the server names none. */
const FIELD_OF_CODE: Record<string, string> = {
  INVALID_EXPIRATION_DATE: 'expirationAt',
  AMOUNT_ROUNDS_TO_ZERO: 'paidCredits',
  AMOUNT_BELOW_MINIMUM: 'paidCredits',
  AMOUNT_ABOVE_MAXIMUM: 'paidCredits',
  INSUFFICIENT_CREDITS: 'voidedCredits',
  CURRENCY_MISMATCH: 'currency',
  CODE_ALREADY_EXISTS: 'code',
};

/**
 * Places an error on the form's fields. `fields` maps the API's field names to the form's labels,
 * used for messages about fields the form does not show.
 */
export function describeError(error: unknown, options: { fields: Readonly<Record<string, string>>; currency?: string | null }): FormErrors {
  const data = errorData(error);
  const message = error instanceof Error ? error.message : String(error);
  const currency = options.currency ?? null;
  if (!data) return { fields: {}, form: `The server could not be reached (${message}). Your entries are kept; try again.` };
  if (data.code === 'UNAUTHORIZED' || data.code === 'FORBIDDEN') {
    // On the sign-in form the key is the field in question; elsewhere the session's key went stale.
    return 'apiKey' in options.fields
      ? { fields: { apiKey: 'This API key was refused: check it and try again.' }, form: null }
      : { fields: {}, form: 'The API key was refused. Sign out and sign in with a valid key.' };
  }
  const fields: Record<string, string> = {};
  const other: string[] = [];
  const place = (field: string, text: string) => {
    if (field in options.fields) fields[field] = fields[field] ? `${fields[field]} ${text}` : text;
    else other.push(text);
  };
  if (data.walletErrorCode === 'VALIDATION_FAILED' && data.issues?.length) {
    for (const issue of data.issues) {
      const field = fieldOfPath(issue.path);
      place(field, field in options.fields ? sentence(issue.message) : sentence(`${issue.path.join('.') || 'input'}: ${issue.message}`));
    }
  } else if (data.walletErrorCode) {
    const details = data.details ?? {};
    const text = codeMessage(data.walletErrorCode, message, details, currency);
    const field = typeof details.field === 'string' ? details.field : FIELD_OF_CODE[data.walletErrorCode];
    if (field) place(field, text);
    else other.push(text);
  } else {
    other.push(sentence(message));
  }
  return { fields, form: other.length ? other.join(' ') : null };
}
