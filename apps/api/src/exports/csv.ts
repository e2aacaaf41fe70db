/**
 * RFC 4180 text: fields separated by commas, records ended by CRLF, a field quoted (with its quotes
 * doubled) when it holds a comma, a quote, CR or LF, or starts or ends with a space. UTF-8, no BOM.
 */
import { currencyExponent } from '@wallets/core';

export type CsvValue = string | number | bigint | boolean | Date | null | undefined;

const NEEDS_QUOTES = /[",\r\n]|^ | $/;

export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  const text = value instanceof Date ? value.toISOString() : String(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvRecord(values: readonly CsvValue[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** Minor units as an exact decimal in currency units: 12345 EUR cents -> "123.45", -5 -> "-0.05", JPY 7 -> "7". */
export function unitsFromCents(cents: bigint, currency: string): string {
  const exponent = currencyExponent(currency);
  const negative = cents < 0n;
  const digits = (negative ? -cents : cents).toString().padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = exponent > 0 ? `.${digits.slice(digits.length - exponent)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}
