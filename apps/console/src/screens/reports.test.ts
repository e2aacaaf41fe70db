/** Months in UTC and the identity of the credits report, in integer cents. */
import { describe, expect, it } from 'vitest';
import type { RouterOutputs } from '../api.js';
import { monthRange, tieOut } from './reports.js';

const kinds = (purchasedCents: number, grantedCents: number) => ({ purchasedCents, grantedCents });
const zero = kinds(0, 0);

function report(closing: { purchasedCents: number; grantedCents: number }): RouterOutputs['reports']['credits'] {
  return {
    currency: 'USD',
    from: new Date('2026-11-01T00:00:00Z'),
    to: new Date('2026-12-01T00:00:00Z'),
    opening: kinds(1_000, 500),
    toppedUp: kinds(5_000, 10_000),
    recredited: kinds(0, 300),
    consumed: kinds(2_000, 3_000),
    voided: kinds(0, 500),
    expired: zero,
    terminated: zero,
    clawedBack: kinds(1_000, 0),
    closing,
    pendingPurchasesCents: 0,
  } as RouterOutputs['reports']['credits'];
}

describe('reports', () => {
  it('a month is the UTC calendar month, December running into the next year', () => {
    expect(monthRange('2026-12')).toEqual({ from: new Date('2026-12-01T00:00:00Z'), to: new Date('2027-01-01T00:00:00Z') });
    expect(monthRange('2028-02')).toEqual({ from: new Date('2028-02-01T00:00:00Z'), to: new Date('2028-03-01T00:00:00Z') });
  });

  it('ties out per kind and in total, or says it does not', () => {
    const ok = tieOut(report(kinds(3_000, 7_300)));
    expect(ok.ties).toBe(true);
    expect(ok.total).toEqual({ opening: 1_500n, inflow: 15_300n, outflow: 6_500n, expected: 10_300n, closing: 10_300n });
    // Same total, kinds swapped by a cent: the per-kind identity catches it.
    expect(tieOut(report(kinds(3_001, 7_299))).ties).toBe(false);
  });
});
