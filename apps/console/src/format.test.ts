/** Money shown and entered exactly, per currency exponent. */
import { describe, expect, it } from 'vitest';
import { centsToDecimal, endOfDayUtc, formatMoney, formatRate, moneyToCents } from './format.js';

describe('format', () => {
  it.each([
    [12345, 'USD', '123.45', '$123.45'],
    [-5, 'EUR', '-0.05', '-€0.05'],
    [1234, 'JPY', '1234', '¥1,234'],
    [1234, 'KWD', '1.234', 'KWD 1.234'],
    [9007199254740991, 'USD', '90071992547409.91', '$90,071,992,547,409.91'],
  ])('%i cents of %s', (cents, currency, decimal, shown) => {
    expect(centsToDecimal(cents, currency)).toBe(decimal);
    expect(formatMoney(cents, currency).replace(/\u00a0/g, ' ')).toBe(shown);
  });

  it('shows a rate with up to 5 decimals', () => {
    expect(formatRate('5', 'USD')).toBe('$5.00');
    expect(formatRate('0.00125', 'USD')).toBe('$0.00125');
  });

  it('reads money into cents, refusing what is not whole cents', () => {
    expect(moneyToCents('12.5', 'USD')).toEqual({ ok: true, cents: 1250 });
    expect(moneyToCents('1000', 'JPY')).toEqual({ ok: true, cents: 1000 });
    expect(moneyToCents('1.5', 'JPY')).toEqual({ ok: false, reason: 'JPY amounts have at most 0 decimal places.' });
    expect(moneyToCents('ten', 'USD').ok).toBe(false);
  });

  it('an expiration day ends at 23:59:59 UTC', () => {
    expect(endOfDayUtc('2027-02-28').toISOString()).toBe('2027-02-28T23:59:59.000Z');
  });
});
