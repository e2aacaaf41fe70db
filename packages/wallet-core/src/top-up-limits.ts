/**
 * Paid top-up limits: a purchase must be worth at least the wallet's minimum and at most its
 * maximum (both in cents, both optional), unless the caller asked to ignore them. Granted credits
 * are never limited.
 */
import { WalletError } from './errors.js';

export interface TopUpLimits {
  paidTopUpMinAmountCents: bigint | null;
  paidTopUpMaxAmountCents: bigint | null;
}

export function checkPaidTopUpLimits(amountCents: bigint, limits: TopUpLimits, field = 'paidCredits'): void {
  const { paidTopUpMinAmountCents: min, paidTopUpMaxAmountCents: max } = limits;
  if (min !== null && amountCents < min) {
    throw new WalletError('AMOUNT_BELOW_MINIMUM', `${field} is worth less than the wallet's paid top-up minimum`, {
      field,
      amountCents,
      paidTopUpMinAmountCents: min,
    });
  }
  if (max !== null && amountCents > max) {
    throw new WalletError('AMOUNT_ABOVE_MAXIMUM', `${field} is worth more than the wallet's paid top-up maximum`, {
      field,
      amountCents,
      paidTopUpMaxAmountCents: max,
    });
  }
}
