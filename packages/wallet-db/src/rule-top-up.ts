/**
 * The top-up a recurring rule creates (threshold or interval): paid credits as a pending purchase,
 * granted credits as a settled lot, named and tagged by the rule, invoiced as the rule says. A
 * top-up that fails its own checks (a value under one cent, a fixed rule outside the wallet limits)
 * is skipped: it never fails the request or job that triggered it.
 */
import { checkPaidTopUpLimits, planAmount, type TopUpPlan, WalletError } from '@wallets/core';
import type { RecurringTransactionRule, Wallet } from './entities/index.js';
import type { Ledger } from './ledger.js';
import { walletConversion } from './wallet-facts.js';

export type RuleTopUpOutcome = 'skipped' | 'purchased' | 'granted';

export function createRuleTopUp(
  ledger: Ledger,
  wallet: Wallet,
  rule: RecurringTransactionRule,
  plan: TopUpPlan,
  source: 'threshold' | 'interval',
): RuleTopUpOutcome {
  const conversion = walletConversion(wallet);
  try {
    const paid = plan.paidCredits > 0n ? planAmount('paid', plan.paidCredits, conversion) : null;
    const granted = plan.grantedCredits > 0n ? planAmount('granted', plan.grantedCredits, conversion) : null;
    if (paid && rule.method === 'fixed' && !rule.ignorePaidTopUpLimits) checkPaidTopUpLimits(paid.amountCents, wallet);
    if (!paid && !granted) return 'skipped';
    const details = {
      source,
      name: rule.transactionName,
      metadata: rule.transactionMetadata,
      invoiceRequiresSuccessfulPayment: rule.invoiceRequiresSuccessfulPayment,
    };
    if (paid) ledger.purchase(wallet, paid, details);
    if (granted) ledger.grant(wallet, granted, details);
    return granted ? 'granted' : 'purchased';
  } catch (error) {
    if (error instanceof WalletError) return 'skipped';
    throw error;
  }
}
