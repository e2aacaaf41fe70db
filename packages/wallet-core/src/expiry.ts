/**
 * What "expired" means, decided once: a wallet, a lot or a rule whose `expirationAt` is at or
 * before `now` is expired, even before the job that writes the expiry has run. Every planner (and
 * every query that selects due work) asks these predicates, never its own comparison.
 */
import { WalletError } from './errors.js';
import type { EntryRecord, RuleRecord, WalletRecord } from './records.js';

/** An expiry time that has come: `expirationAt <= now` (none never expires). */
export function isDue(expirationAt: Date | null, now: Date): boolean {
  return expirationAt !== null && expirationAt <= now;
}

/** A wallet past its expiry counts as expired even before the job has run. */
export function isWalletExpired(wallet: Pick<WalletRecord, 'expirationAt'>, now: Date): boolean {
  return isDue(wallet.expirationAt, now);
}

/** A wallet that may take part in a ledger move: active and not past its expiry. */
export function isWalletUsable(wallet: Pick<WalletRecord, 'status' | 'expirationAt'>, now: Date): boolean {
  return wallet.status === 'active' && !isWalletExpired(wallet, now);
}

/** A lot past its own expiry: its remainder is voided before anything else consumes it. */
export function isLotExpired(lot: Pick<EntryRecord, 'expirationAt'>, now: Date): boolean {
  return isDue(lot.expirationAt, now);
}

/** A rule that can still fire: active and not past its own expiry (even before the job ends it). */
export function isRuleLive(rule: Pick<RuleRecord, 'status' | 'expirationAt'>, now: Date): boolean {
  return rule.status === 'active' && !isDue(rule.expirationAt, now);
}

/** Refuses a command on a wallet that is terminated or past its expiry (WALLET_TERMINATED). */
export function assertWalletUsable(wallet: Pick<WalletRecord, 'id' | 'status' | 'expirationAt'>, now: Date): void {
  if (!isWalletUsable(wallet, now)) {
    throw new WalletError('WALLET_TERMINATED', `wallet ${wallet.id} is terminated`, { walletId: wallet.id });
  }
}

/** Refuses an expiry that is not in the future (INVALID_EXPIRATION_DATE). */
export function checkFutureExpiration(expirationAt: Date | null | undefined, now: Date, field = 'expirationAt'): void {
  if (expirationAt && expirationAt <= now) {
    throw new WalletError('INVALID_EXPIRATION_DATE', `${field} must be in the future`, { field });
  }
}
