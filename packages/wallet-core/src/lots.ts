/**
 * Lots and their consumption. Every settled inbound transaction is a lot with a remaining amount in
 * credits and in cents. An outbound amount consumes lots in one fixed order:
 *   lot priority (1 first), then soonest expiry (none last), then granted before purchased,
 *   then oldest first (then id, so the order is total).
 * Invariants (mirrored by the property tests):
 * - the consumed parts sum exactly to the outbound amount, in credits and in cents;
 * - no lot's remainder goes below zero in either unit;
 * - a lot is touched only after every lot before it in the order is exhausted in that unit;
 * - an amount larger than what the lots hold is refused (INSUFFICIENT_CREDITS), consuming nothing.
 * Credits and cents are walked independently in the same order, so a rounding residue (a lot left
 * with 0.00001 credits worth 0 cents) stays exact instead of being forced to zero.
 */
import type { Amount } from './conversion.js';
import { WalletError } from './errors.js';
import { minBig } from './rounding.js';

export type LotKind = 'granted' | 'purchased';

export interface Lot {
  id: string;
  kind: LotKind;
  priority: number;
  expirationAt: Date | null;
  createdAt: Date;
  remainingCredits: bigint;
  remainingCents: bigint;
}

export interface LotConsumption {
  lotId: string;
  creditAmount: bigint;
  amountCents: bigint;
}

export function compareLots(a: Lot, b: Lot): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  const ea = a.expirationAt?.getTime() ?? Number.POSITIVE_INFINITY;
  const eb = b.expirationAt?.getTime() ?? Number.POSITIVE_INFINITY;
  if (ea !== eb) return ea < eb ? -1 : 1;
  if (a.kind !== b.kind) return a.kind === 'granted' ? -1 : 1;
  const ca = a.createdAt.getTime();
  const cb = b.createdAt.getTime();
  if (ca !== cb) return ca - cb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function sumLots(lots: readonly Lot[]): Amount {
  let creditAmount = 0n;
  let amountCents = 0n;
  for (const lot of lots) {
    creditAmount += lot.remainingCredits;
    amountCents += lot.remainingCents;
  }
  return { creditAmount, amountCents };
}

export function planConsumption(lots: readonly Lot[], amount: Amount): LotConsumption[] {
  const available = sumLots(lots);
  if (amount.creditAmount > available.creditAmount || amount.amountCents > available.amountCents) {
    throw new WalletError('INSUFFICIENT_CREDITS', 'the wallet does not hold enough credits', {
      requestedCents: amount.amountCents,
      availableCents: available.amountCents,
    });
  }
  let creditsLeft = amount.creditAmount;
  let centsLeft = amount.amountCents;
  const plan: LotConsumption[] = [];
  for (const lot of [...lots].sort(compareLots)) {
    if (creditsLeft === 0n && centsLeft === 0n) break;
    const creditAmount = minBig(lot.remainingCredits, creditsLeft);
    const amountCents = minBig(lot.remainingCents, centsLeft);
    if (creditAmount === 0n && amountCents === 0n) continue;
    plan.push({ lotId: lot.id, creditAmount, amountCents });
    creditsLeft -= creditAmount;
    centsLeft -= amountCents;
  }
  return plan;
}
