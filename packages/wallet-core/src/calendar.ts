/**
 * Anniversaries of interval rules (DESIGN.md flow 5): a rule fires on each anniversary of its start
 * date in the customer's time zone, never on the start day itself. A day that a short month lacks
 * fires on that month's last day (Jan 31 -> Feb 28/29, Apr 30; Feb 29 -> Feb 28 in other years).
 * Pure date arithmetic on calendar dates; time zones only convert an instant to a local date.
 */
export type RuleInterval = 'weekly' | 'monthly' | 'quarterly' | 'semiannual' | 'yearly';

export interface LocalDate {
  year: number;
  month: number; // 1-12
  day: number;
}

const MONTHS_PER_INTERVAL: Record<Exclude<RuleInterval, 'weekly'>, number> = { monthly: 1, quarterly: 3, semiannual: 6, yearly: 12 };

/** The calendar date of an instant in an IANA time zone. */
export function localDate(instant: Date, timeZone: string): LocalDate {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' }).formatToParts(instant);
  const pick = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return { year: pick('year'), month: pick('month'), day: pick('day') };
}

export function formatLocalDate({ year, month, day }: LocalDate): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function dayNumber({ year, month, day }: LocalDate): number {
  return Math.floor(Date.UTC(year, month - 1, day) / 86_400_000);
}

export function isAnniversary(start: LocalDate, today: LocalDate, interval: RuleInterval): boolean {
  const elapsedDays = dayNumber(today) - dayNumber(start);
  if (elapsedDays <= 0) return false;
  if (interval === 'weekly') return elapsedDays % 7 === 0;
  const months = (today.year - start.year) * 12 + (today.month - start.month);
  if (months <= 0 || months % MONTHS_PER_INTERVAL[interval] !== 0) return false;
  const lastDay = daysInMonth(today.year, today.month);
  return today.day === Math.min(start.day, lastDay);
}
