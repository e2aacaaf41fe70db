import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { daysInMonth, formatLocalDate, isAnniversary, type LocalDate, localDate } from './calendar.js';

const d = (text: string): LocalDate => {
  const [year, month, day] = text.split('-').map(Number) as [number, number, number];
  return { year, month, day };
};

describe('isAnniversary', () => {
  it.each([
    ['2026-01-15', '2026-01-15', 'monthly', false], // never on the start day itself
    ['2026-01-15', '2026-02-15', 'monthly', true],
    ['2026-01-15', '2026-02-14', 'monthly', false],
    ['2026-01-31', '2026-02-28', 'monthly', true], // short month: its last day
    ['2026-01-31', '2026-04-30', 'monthly', true],
    ['2026-01-31', '2026-03-30', 'monthly', false],
    ['2026-01-31', '2026-03-31', 'monthly', true],
    ['2028-01-31', '2028-02-29', 'monthly', true], // leap year
    ['2028-01-31', '2028-02-28', 'monthly', false],
    ['2024-02-29', '2025-02-28', 'yearly', true], // Feb 29 -> Feb 28 in other years
    ['2024-02-29', '2028-02-29', 'yearly', true],
    ['2024-02-29', '2028-02-28', 'yearly', false],
    ['2026-01-10', '2026-04-10', 'quarterly', true],
    ['2026-01-10', '2026-03-10', 'quarterly', false],
    ['2026-01-10', '2026-07-10', 'semiannual', true],
    ['2026-01-10', '2026-10-10', 'semiannual', false],
    ['2026-01-10', '2027-01-10', 'yearly', true],
    ['2026-01-05', '2026-01-12', 'weekly', true], // Monday -> Monday
    ['2026-01-05', '2026-01-13', 'weekly', false],
    ['2026-01-05', '2026-01-05', 'weekly', false],
    ['2026-03-15', '2026-02-15', 'monthly', false], // before the start
  ] as const)('start %s, today %s, %s -> %s', (start, today, interval, expected) => {
    expect(isAnniversary(d(start), d(today), interval)).toBe(expected);
  });

  it('fires exactly once per month, in every month, whatever the start day', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2024, max: 2030 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), (year, month, rawDay) => {
        const start = { year, month, day: Math.min(rawDay, daysInMonth(year, month)) };
        for (let offset = 1; offset <= 24; offset++) {
          const y = year + Math.floor((month - 1 + offset) / 12);
          const m = ((month - 1 + offset) % 12) + 1;
          let hits = 0;
          for (let day = 1; day <= daysInMonth(y, m); day++) if (isAnniversary(start, { year: y, month: m, day }, 'monthly')) hits++;
          expect(hits).toBe(1);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('localDate', () => {
  it('takes the date in the customer time zone', () => {
    const instant = new Date('2026-03-01T02:30:00Z');
    expect(formatLocalDate(localDate(instant, 'UTC'))).toBe('2026-03-01');
    expect(formatLocalDate(localDate(instant, 'America/New_York'))).toBe('2026-02-28');
    expect(formatLocalDate(localDate(new Date('2026-02-28T23:30:00Z'), 'Asia/Tokyo'))).toBe('2026-03-01');
  });
});
