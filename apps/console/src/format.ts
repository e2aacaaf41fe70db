/**
 * Display and entry of money, credits and dates. Money stays exact: cents are integers turned into
 * decimal strings with the currency's exponent, and Intl formats the string, never a float (Intl
 * formats a numeric string exactly, digit by digit). Credits get thousands separators the same way.
 * Expiration dates are entered as calendar days and mean the end of that day in UTC; times are
 * shown in UTC, to the second, so rows of the same minute can be told apart.
 */
import { currencyExponent, formatDecimal, parseDecimal } from '@wallets/core';

/** The console's language: every number and date is formatted for it. */
export const LOCALE = 'en-US';

type NumericString = `${number}`;

/** 12345 cents of USD -> "123.45"; JPY keeps no decimals, KWD three. */
export function centsToDecimal(cents: number, currency: string): string {
  const exponent = currencyExponent(currency);
  const negative = cents < 0;
  const digits = Math.abs(cents)
    .toString()
    .padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = digits.slice(digits.length - exponent);
  return `${negative ? '-' : ''}${whole}${exponent > 0 ? `.${fraction}` : ''}`;
}

function currencyFormat(currency: string, maximumFractionDigits: number): Intl.NumberFormat {
  const exponent = currencyExponent(currency);
  return new Intl.NumberFormat(LOCALE, {
    style: 'currency',
    currency,
    minimumFractionDigits: exponent,
    maximumFractionDigits: Math.max(exponent, maximumFractionDigits),
  });
}

/** 500 cents of USD -> "$5.00". */
export function formatMoney(cents: number, currency: string): string {
  return currencyFormat(currency, 0).format(centsToDecimal(cents, currency) as NumericString);
}

/** A credit's value ("0.00125" USD -> "$0.00125"): a rate keeps up to 5 decimals. */
export function formatRate(rateAmount: string, currency: string): string {
  return currencyFormat(currency, 5).format(rateAmount as NumericString);
}

const creditsFormat = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 5 });

/** "13520.50667" -> "13,520.50667" (exact: the string is formatted, never a float). */
export function formatCreditNumber(credits: string): string {
  return creditsFormat.format(credits as NumericString);
}

/** "13520.5" -> "13,520.5 credits"; "1" -> "1 credit". */
export function formatCredits(credits: string): string {
  return `${formatCreditNumber(credits)} ${credits === '1' ? 'credit' : 'credits'}`;
}

/** Exact sums and differences of credit strings (5 decimals), through wallet-core's decimals. */
export function addCredits(a: string, b: string, sign: 1 | -1 = 1): string {
  const parse = (text: string) => {
    const parsed = parseDecimal(text, { excess: 'reject', allowNegative: true });
    if (!parsed.ok) throw new Error(`not a credit amount: ${text}`);
    return parsed.value;
  };
  return formatDecimal(parse(a) + BigInt(sign) * parse(b));
}

export type MoneyEntry = { ok: true; cents: number } | { ok: false; reason: string };

/** "12.5" USD -> 1250 cents; refuses what is not a whole number of minor units. */
export function moneyToCents(text: string, currency: string): MoneyEntry {
  const parsed = parseDecimal(text.trim(), { excess: 'reject' });
  if (!parsed.ok) return { ok: false, reason: 'Enter an amount such as 10 or 10.50.' };
  const scaled = parsed.value * 10n ** BigInt(currencyExponent(currency));
  if (scaled % 100_000n !== 0n) return { ok: false, reason: `${currency} amounts have at most ${currencyExponent(currency)} decimal places.` };
  const cents = Number(scaled / 100_000n);
  if (!Number.isSafeInteger(cents)) return { ok: false, reason: 'This amount is too large.' };
  return { ok: true, cents };
}

/** A Date as the value of an `<input type="date">` (its UTC day), or "" for none. */
export function dateInputValue(date: Date | null): string {
  return date ? date.toISOString().slice(0, 10) : '';
}

/** The end of a calendar day in UTC: "2026-12-31" -> 2026-12-31T23:59:59Z. */
export function endOfDayUtc(day: string): Date {
  return new Date(`${day}T23:59:59.000Z`);
}

export function formatDay(date: Date | null, none = 'Never'): string {
  return date ? dateInputValue(date) : none;
}

const timeFormat = new Intl.DateTimeFormat(LOCALE, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZone: 'UTC',
});

/** "Dec 7, 2026, 21:03:15 UTC": date and time to the second, in UTC. */
export function formatTime(date: Date): string {
  return `${timeFormat.format(date)} UTC`;
}

const monthFormat = new Intl.DateTimeFormat(LOCALE, { year: 'numeric', month: 'long', timeZone: 'UTC' });

/** "December 2026" for any instant of that month in UTC. */
export function formatMonth(date: Date): string {
  return monthFormat.format(date);
}
