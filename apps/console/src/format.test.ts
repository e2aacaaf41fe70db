/** Money shown and entered exactly, per currency exponent. */
import { describe, expect, it } from 'vitest';
import { addCredits, centsToDecimal, endOfDayUtc, formatCredits, formatMoney, formatMonth, formatRate, formatTime, moneyToCents } from './format.js';

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

describe('locale formatting', () => {
  it('credits get thousands separators and keep every decimal', () => {
    expect(formatCredits('13520.50667')).toBe('13,520.50667 credits');
    expect(formatCredits('1')).toBe('1 credit');
    expect(formatCredits('12345678901234567890.12345')).toBe('12,345,678,901,234,567,890.12345 credits');
    expect(formatCredits('-0.5')).toBe('-0.5 credits');
  });

  it('adds and subtracts credits exactly', () => {
    expect(addCredits('0.1', '0.2')).toBe('0.3');
    expect(addCredits('10', '12.50001', -1)).toBe('-2.50001');
  });

  it('shows a time to the second in UTC', () => {
    expect(formatTime(new Date('2026-12-07T21:03:15.250Z'))).toBe('Dec 7, 2026, 21:03:15 UTC');
    expect(formatMonth(new Date('2026-02-28T23:59:59Z'))).toBe('February 2026');
  });
});
