/**
 * The payment state machine of a purchase (DESIGN.md flow 2), decided once:
 *   pending  + succeeded -> settle (a lot is created, the balance rises)
 *   failed   + succeeded -> settle (a later retry worked)
 *   pending  + failed    -> fail
 *   settled  + failed    -> claw back (the purchase stays settled; what is left of its lot is voided), once
 *   any repeat of a report already applied -> nothing.
 * `statusBefore` is the purchase's state when the report arrived, `status` its state after the
 * wallet's own expiry ran in the same request (which fails pending purchases): a failure report on a
 * purchase that expiry just failed still reports the failure, without failing it twice.
 */
import type { EntryRecord, WalletRecord } from './records.js';

export type PaymentReport = 'succeeded' | 'failed';

/**
 * A purchase the host pays for: purchased credits bought by a top-up (manual or by a rule). The
 * purchased credits an invoice void gives back were paid for by the purchase they came from: they
 * take no payment report and do not count as a payment that arrived.
 */
export function isPayablePurchase(entry: Pick<EntryRecord, 'transactionStatus' | 'source'>): boolean {
  return entry.transactionStatus === 'purchased' && entry.source !== 'invoice_void';
}

/** A payment that arrived: a payable purchase, settled. */
export function isSettledPayment(entry: Pick<EntryRecord, 'transactionStatus' | 'source' | 'status'>): boolean {
  return isPayablePurchase(entry) && entry.status === 'settled';
}

export type PaymentTransition = 'settle' | 'fail' | 'report_failure' | 'claw_back' | 'none';

export function planPaymentTransition(
  purchase: Pick<EntryRecord, 'status' | 'clawedBackAt'>,
  statusBefore: EntryRecord['status'],
  report: PaymentReport,
): PaymentTransition {
  if (report === 'succeeded') return purchase.status !== 'settled' ? 'settle' : 'none';
  if (purchase.status === 'pending') return 'fail';
  if (statusBefore === 'pending' && purchase.status === 'failed') return 'report_failure';
  if (purchase.status === 'settled' && purchase.clawedBackAt === null) return 'claw_back';
  return 'none';
}

/**
 * The source of the void that follows money arriving for a wallet that no longer exists: its expiry
 * if the wallet ended by expiring, else its termination.
 */
export function endedWalletSource(wallet: Pick<WalletRecord, 'expirationAt' | 'terminatedAt'>): 'expiration' | 'termination' {
  return wallet.expirationAt && wallet.terminatedAt && wallet.expirationAt <= wallet.terminatedAt ? 'expiration' : 'termination';
}
