/**
 * Credits <-> money, by Lago's rules (DESIGN.md "Units and arithmetic"):
 * - amountCents = roundHalfUp(credits x rate x 10^exponent);
 * - for paid, granted and invoiced credits the stored credits are the round trip
 *   roundHalfUp(amountCents / (rate x 10^exponent), 5 digits), so a customer gets exactly what was paid;
 * - voided credits keep the (floored) credits asked for and their own cents conversion;
 * - a positive amount worth 0 cents is refused (AMOUNT_ROUNDS_TO_ZERO), and so is one worth more
 *   cents than the wire carries exactly, a safe integer (AMOUNT_ABOVE_MAXIMUM).
 * Credits and rates are bigints in 1e-5 units; cents are bigints.
 */
import type { Scaled } from './decimal.js';
import { SCALE_FACTOR } from './decimal.js';
import { WalletError } from './errors.js';
import { divRoundHalfUp } from './rounding.js';

export interface Conversion {
  /** Value of one credit, in 1e-5 currency units. */
  rate: Scaled;
  /** Minor-unit exponent of the currency. */
  exponent: number;
}

const SCALE_SQUARED = SCALE_FACTOR * SCALE_FACTOR;

/** The largest amount of one ledger entry: cents travel as JSON numbers, exact up to 2^53 - 1. */
export const MAX_AMOUNT_CENTS = BigInt(Number.MAX_SAFE_INTEGER);

export function creditsToCents(credits: Scaled, { rate, exponent }: Conversion): bigint {
  return divRoundHalfUp(credits * rate * 10n ** BigInt(exponent), SCALE_SQUARED);
}

export function centsToCredits(amountCents: bigint, { rate, exponent }: Conversion): Scaled {
  return divRoundHalfUp(amountCents * SCALE_SQUARED, rate * 10n ** BigInt(exponent));
}

export interface Amount {
  creditAmount: Scaled;
  amountCents: bigint;
}

export type AmountKind = 'paid' | 'granted' | 'voided';

/**
 * The ledger amount of a requested number of credits (already floored to 5 digits).
 * Refuses a positive request that is worth 0 cents.
 */
export function planAmount(kind: AmountKind, credits: Scaled, conversion: Conversion, field = `${kind}Credits`): Amount {
  const amountCents = creditsToCents(credits, conversion);
  if (credits > 0n && amountCents === 0n) {
    throw new WalletError('AMOUNT_ROUNDS_TO_ZERO', `${field} is worth less than one minor unit of the currency`, {
      field,
    });
  }
  if (amountCents > MAX_AMOUNT_CENTS) {
    throw new WalletError('AMOUNT_ABOVE_MAXIMUM', `${field} is worth more than ${MAX_AMOUNT_CENTS} minor units, the largest amount one entry holds`, {
      field,
      maximumCents: MAX_AMOUNT_CENTS,
    });
  }
  if (kind === 'voided') return { creditAmount: credits, amountCents };
  return { creditAmount: centsToCredits(amountCents, conversion), amountCents };
}

/** The ledger amount of a sum of money (invoice applications): credits are its round trip. */
export function amountFromCents(amountCents: bigint, conversion: Conversion): Amount {
  return { amountCents, creditAmount: centsToCredits(amountCents, conversion) };
}
