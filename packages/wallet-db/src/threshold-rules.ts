/**
 * Fires threshold rules in the request that brought a wallet's ongoing balance (plus pending
 * top-ups) to or below the threshold (rule-top-up.ts creates the top-up). A paid top-up is not
 * retried for an hour after a threshold purchase failed; a wallet never has two pending threshold
 * purchases; each rule fires at most once per request.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { planThresholdTopUp } from '@wallets/core';
import type { CommandContext } from './context.js';
import { type RecurringTransactionRule, type Wallet, WalletTransaction } from './entities/index.js';
import type { Ledger } from './ledger.js';
import { createRuleTopUp } from './rule-top-up.js';
import { isPastExpiration, isRuleLive, walletConversion } from './wallet-facts.js';

const BACKOFF_MS = 60 * 60 * 1000;

/** Returns true when a grant changed a balance (ongoing balances must be recomputed). */
export async function fireThresholdRules(
  em: EntityManager,
  ctx: CommandContext,
  ledger: Ledger,
  wallets: readonly Wallet[],
  activeRules: readonly RecurringTransactionRule[],
  fired: Set<string>,
): Promise<boolean> {
  // A wallet past its expiry is expired even before the job has run: its rules do not fire.
  const active = wallets.filter((w) => w.status === 'active' && !isPastExpiration(w, ctx.now));
  if (active.length === 0) return false;
  const walletIds = new Set(active.map((w) => w.id));
  const rules = activeRules.filter((r) => r.trigger === 'threshold' && walletIds.has(r.wallet.id) && isRuleLive(r, ctx.now));
  let granted = false;
  for (const rule of rules) {
    if (fired.has(rule.id)) continue;
    const wallet = active.find((w) => w.id === rule.wallet.id)!;
    const pending = await em.find(WalletTransaction, {
      organization: ctx.organizationId,
      wallet: wallet.id,
      transactionStatus: 'purchased',
      status: 'pending',
    });
    if (pending.some((tx) => tx.source === 'threshold')) continue;
    const conversion = walletConversion(wallet);
    const plan = planThresholdTopUp(rule, {
      creditsOngoingBalance: wallet.creditsOngoingBalance,
      pendingCredits: pending.reduce((sum, tx) => sum + tx.creditAmount, 0n),
      paidTopUpMinAmountCents: wallet.paidTopUpMinAmountCents,
      paidTopUpMaxAmountCents: wallet.paidTopUpMaxAmountCents,
      conversion,
    });
    if (!plan) continue;
    if (plan.paidCredits > 0n && (await inBackoff(em, ctx, wallet))) continue;
    fired.add(rule.id);
    if (createRuleTopUp(ledger, wallet, rule, plan, 'threshold') === 'granted') granted = true;
  }
  return granted;
}

async function inBackoff(em: EntityManager, ctx: CommandContext, wallet: Wallet): Promise<boolean> {
  const since = new Date(ctx.now.getTime() - BACKOFF_MS);
  const failed = await em.findOne(
    WalletTransaction,
    {
      organization: ctx.organizationId,
      wallet: wallet.id,
      source: 'threshold',
      transactionStatus: 'purchased',
      status: 'failed',
      failedAt: { $gt: since },
    },
    { orderBy: { failedAt: 'desc' } },
  );
  if (!failed?.failedAt) return false;
  const settledSince = await em.count(WalletTransaction, {
    organization: ctx.organizationId,
    wallet: wallet.id,
    transactionStatus: 'purchased',
    status: 'settled',
    source: { $ne: 'invoice_void' }, // a void's recredit is no payment (isSettledPayment)
    settledAt: { $gt: failed.failedAt },
  });
  return settledSince === 0;
}
