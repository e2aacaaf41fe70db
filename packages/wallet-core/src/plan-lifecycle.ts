/**
 * Payments, termination, expiry and interval rules (DESIGN.md flows 2, 5 and 6) as planners over
 * one customer's records. Each opens a draft, applies the command, settles the ongoing balances of
 * what moved and returns the delta with the command's answer.
 *
 * - Payment report: a wallet past its expiry is expired first (its pending purchases fail), then
 *   the payment state machine (payment.ts) decides. Money that arrives for an ended wallet settles
 *   and is voided at once (source: how the wallet ended), so the trail shows what to refund.
 * - Termination: by request, or by expiry when the wallet is past it; an ended wallet is left as is.
 * - Expiry job: a wallet past its expiry is terminated (source expiration); otherwise its lots past
 *   their own expiry are voided, one entry each.
 * - Interval rule: a fixed rule tops up its paid and granted credits; a target rule tops up the gap
 *   to its target. Nothing happens on an ended or expired wallet, or for a rule that is no longer live.
 */
import { WalletError } from './errors.js';
import { isRuleLive, isWalletExpired } from './expiry.js';
import { type DraftClock, LedgerDraft, walletConversion } from './ledger-draft.js';
import { endedWalletSource, isPayablePurchase, type PaymentReport, planPaymentTransition } from './payment.js';
import {
  copyEntry,
  copyRule,
  copyWallet,
  type EntryRecord,
  type GroupRecords,
  type LedgerDelta,
  type RuleRecord,
  type WalletRecord,
} from './records.js';
import { planThresholdTopUp } from './threshold-top-up.js';

export interface PaymentReportCommand {
  entryId: string;
  status: PaymentReport;
  invoiceId?: string | undefined;
}

/** `records.purchases` holds the reported entry (whatever its state); `records.wallets` its wallet and the active wallets of its currency. */
export function planRecordPayment(
  records: GroupRecords,
  command: PaymentReportCommand,
  clock: DraftClock,
): { delta: LedgerDelta; entry: EntryRecord } {
  const draft = new LedgerDraft(records, clock);
  const entry = draft.entry(command.entryId);
  if (!entry) throw new WalletError('TRANSACTION_NOT_FOUND', `wallet transaction ${command.entryId} not found`, { transactionId: command.entryId });
  if (!isPayablePurchase(entry)) {
    throw new WalletError('TRANSACTION_NOT_PAYABLE', `wallet transaction ${entry.id} is ${entry.transactionStatus}, not a purchase`, {
      transactionId: entry.id,
    });
  }
  const wallet = draft.wallet(entry.walletId)!;
  const statusBefore = entry.status;
  // A wallet past its expiry is expired now, before the payment is looked at (its pending top-ups fail).
  if (wallet.status === 'active' && isWalletExpired(wallet, clock.now)) draft.terminate(wallet, 'expiration');
  const transition = planPaymentTransition(entry, statusBefore, command.status);
  // The host's invoice id is recorded with the report that takes effect; a repeat changes nothing.
  if (transition !== 'none' && command.invoiceId !== undefined && entry.invoiceId === null) entry.invoiceId = command.invoiceId;
  if (transition === 'settle') {
    draft.settle(wallet, entry);
    if (wallet.status === 'terminated') {
      draft.voidRemainder(wallet, [entry], { source: endedWalletSource(wallet), voidedTransactionId: entry.id });
    } else {
      draft.expireDueLots(wallet);
    }
  } else if (transition === 'fail' || transition === 'report_failure') {
    if (transition === 'fail') draft.fail(entry);
    draft.reportPaymentFailure(entry);
  } else if (transition === 'claw_back') {
    entry.clawedBackAt = clock.now;
    draft.voidRemainder(wallet, [entry], { source: 'payment_failure', voidedTransactionId: entry.id });
    draft.reportPaymentFailure(entry);
  }
  const answer = copyEntry(entry);
  draft.settleOngoing();
  return { delta: draft.toDelta(), entry: answer };
}

/** `records.wallets` holds the wallet (whatever its status) and the active wallets of its currency. */
export function planTerminateWallet(
  records: GroupRecords,
  walletId: string,
  clock: DraftClock,
): { delta: LedgerDelta; wallet: WalletRecord; rules: RuleRecord[] } {
  const draft = new LedgerDraft(records, clock);
  const wallet = draft.wallet(walletId);
  if (!wallet) throw new WalletError('WALLET_NOT_FOUND', `wallet ${walletId} not found`, { walletId });
  if (wallet.status === 'active') {
    draft.terminate(wallet, isWalletExpired(wallet, clock.now) ? 'expiration' : 'termination');
    draft.touch(wallet);
    draft.settleOngoing();
  }
  return { delta: draft.toDelta(), wallet: copyWallet(wallet), rules: draft.activeRules(new Set([wallet.id])).map(copyRule) };
}

export interface ExpiryOutcome {
  walletsExpired: number;
  lotsExpired: number;
}

/** The expiry job on one wallet (`records` as for planTerminateWallet). */
export function planExpireWallet(records: GroupRecords, walletId: string, clock: DraftClock): { delta: LedgerDelta; outcome: ExpiryOutcome } {
  const draft = new LedgerDraft(records, clock);
  const wallet = draft.wallet(walletId);
  if (!wallet) throw new WalletError('WALLET_NOT_FOUND', `wallet ${walletId} not found`, { walletId });
  let outcome: ExpiryOutcome = { walletsExpired: 0, lotsExpired: 0 };
  if (wallet.status === 'active') {
    if (isWalletExpired(wallet, clock.now)) {
      draft.terminate(wallet, 'expiration');
      outcome = { walletsExpired: 1, lotsExpired: 0 };
    } else {
      outcome = { walletsExpired: 0, lotsExpired: draft.expireDueLots(wallet) };
    }
  }
  draft.settleOngoing();
  return { delta: draft.toDelta(), outcome };
}

/** One firing of an interval rule (`records` as for planTerminateWallet, with the wallet's active rules). */
export function planIntervalTopUp(
  records: GroupRecords,
  command: { walletId: string; ruleId: string },
  clock: DraftClock,
): { delta: LedgerDelta; intervalTopUps: number } {
  const draft = new LedgerDraft(records, clock);
  const wallet = draft.wallet(command.walletId);
  if (!wallet) throw new WalletError('WALLET_NOT_FOUND', `wallet ${command.walletId} not found`, { walletId: command.walletId });
  const rule = draft.activeRules(new Set([wallet.id])).find((r) => r.id === command.ruleId);
  let intervalTopUps = 0;
  if (rule && wallet.status === 'active' && !isWalletExpired(wallet, clock.now) && isRuleLive(rule, clock.now)) {
    const plan =
      rule.method === 'target'
        ? planThresholdTopUp(
            { ...rule, thresholdCredits: rule.targetOngoingBalance ?? 0n },
            {
              creditsOngoingBalance: wallet.creditsOngoingBalance,
              pendingCredits: 0n,
              paidTopUpMinAmountCents: wallet.paidTopUpMinAmountCents,
              paidTopUpMaxAmountCents: wallet.paidTopUpMaxAmountCents,
              conversion: walletConversion(wallet),
            },
          )
        : { paidCredits: rule.paidCredits, grantedCredits: rule.grantedCredits };
    if (plan && (plan.paidCredits !== 0n || plan.grantedCredits !== 0n)) {
      intervalTopUps = draft.ruleTopUp(wallet, rule, plan, 'interval') === 'skipped' ? 0 : 1;
    }
  }
  draft.settleOngoing();
  return { delta: draft.toDelta(), intervalTopUps };
}
