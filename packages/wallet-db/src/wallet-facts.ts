/** Facts about a wallet that every command reads the same way. */
import { type Conversion, currencyExponent, isRuleLive as isRuleLiveNow, isWalletExpired } from '@wallets/core';
import type { RecurringTransactionRule, Wallet } from './entities/index.js';

/** Credits <-> money for this wallet (its rate and currency exponent). */
export function walletConversion(wallet: Wallet): Conversion {
  return { rate: wallet.rateAmount, exponent: currencyExponent(wallet.currency) };
}

/** A wallet whose expiry has passed counts as expired even before the job has run. */
export function isPastExpiration(wallet: Wallet, now: Date): boolean {
  return isWalletExpired(wallet, now);
}

/** A rule that can still fire: active and not past its own expiry (even before the job ends it). */
export function isRuleLive(rule: RecurringTransactionRule, now: Date): boolean {
  return isRuleLiveNow(rule, now);
}
