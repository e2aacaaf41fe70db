/**
 * Recurring transaction rules: stored and kept in step with the wallet (at most one active rule).
 * Update semantics (Lago's): an item with the id of an active rule changes it, an item without id
 * creates one, and an active rule left out of the list ends. How rules fire belongs to the
 * top-up scheduler; this module only keeps them valid.
 */
import { randomUUID } from 'node:crypto';
import { checkPaidTopUpLimits, creditsToCents, isDue, MAX_AMOUNT_CENTS, WalletError } from '@wallets/core';
import { type MetadataItem, RecurringTransactionRule, type RuleInterval, type RuleMethod, type RuleTrigger, type Wallet } from '../entities/index.js';
import type { Work } from '../unit-of-work.js';
import { walletConversion } from '../wallet-facts.js';

export interface RuleInput {
  id?: string | undefined;
  trigger?: RuleTrigger | undefined;
  interval?: RuleInterval | null | undefined;
  method?: RuleMethod | undefined;
  paidCredits?: bigint | undefined;
  grantedCredits?: bigint | undefined;
  thresholdCredits?: bigint | undefined;
  targetOngoingBalance?: bigint | null | undefined;
  grantsTargetTopUp?: boolean | undefined;
  ignorePaidTopUpLimits?: boolean | undefined;
  invoiceRequiresSuccessfulPayment?: boolean | undefined;
  startedAt?: Date | null | undefined;
  expirationAt?: Date | null | undefined;
  transactionMetadata?: MetadataItem[] | undefined;
  transactionName?: string | null | undefined;
}

function invalidRule(message: string, path: (string | number)[]): WalletError {
  return new WalletError('VALIDATION_FAILED', message, { issues: [{ path: ['recurringTransactionRules', ...path], message }] });
}

function checkRuleShape(rule: RecurringTransactionRule, index: number): void {
  if (rule.trigger === 'interval' && !rule.interval) throw invalidRule('an interval rule needs an interval', [index, 'interval']);
  if (rule.trigger === 'threshold') rule.interval = null;
  if (rule.method === 'target') {
    if (rule.targetOngoingBalance === null) throw invalidRule('a target rule needs targetOngoingBalance', [index, 'targetOngoingBalance']);
    if (rule.trigger === 'threshold' && rule.targetOngoingBalance < rule.thresholdCredits) {
      throw invalidRule('targetOngoingBalance must be greater than or equal to thresholdCredits', [index, 'targetOngoingBalance']);
    }
  } else {
    if (rule.grantsTargetTopUp) throw invalidRule('grantsTargetTopUp is only for target rules', [index, 'grantsTargetTopUp']);
    if (rule.paidCredits === 0n && rule.grantedCredits === 0n) {
      throw invalidRule('a fixed rule needs paidCredits or grantedCredits', [index, 'paidCredits']);
    }
  }
}

/** A fixed rule's paid top-up must fit the wallet's limits unless it ignores them. */
export function validateRuleLimits(wallet: Wallet, rules: readonly (RuleInput | RecurringTransactionRule)[]): void {
  for (const rule of rules) {
    for (const field of ['paidCredits', 'grantedCredits'] as const) {
      const credits = rule[field];
      if (credits && creditsToCents(credits, walletConversion(wallet)) > MAX_AMOUNT_CENTS) {
        throw new WalletError('AMOUNT_ABOVE_MAXIMUM', `a rule's ${field} is worth more than ${MAX_AMOUNT_CENTS} minor units`, {
          field: `recurringTransactionRules.${field}`,
          maximumCents: MAX_AMOUNT_CENTS,
        });
      }
    }
    if ((rule.method ?? 'fixed') !== 'fixed' || rule.ignorePaidTopUpLimits || !rule.paidCredits) continue;
    const cents = creditsToCents(rule.paidCredits, walletConversion(wallet));
    checkPaidTopUpLimits(cents, wallet, 'recurringTransactionRules.paidCredits');
  }
}

function assign(rule: RecurringTransactionRule, input: RuleInput, work: Work): void {
  if (input.trigger !== undefined) rule.trigger = input.trigger;
  if (input.interval !== undefined) rule.interval = input.interval;
  if (input.method !== undefined) rule.method = input.method;
  if (input.paidCredits !== undefined) rule.paidCredits = input.paidCredits;
  if (input.grantedCredits !== undefined) rule.grantedCredits = input.grantedCredits;
  if (input.thresholdCredits !== undefined) rule.thresholdCredits = input.thresholdCredits;
  if (input.targetOngoingBalance !== undefined) rule.targetOngoingBalance = input.targetOngoingBalance;
  if (input.grantsTargetTopUp !== undefined) rule.grantsTargetTopUp = input.grantsTargetTopUp;
  if (input.ignorePaidTopUpLimits !== undefined) rule.ignorePaidTopUpLimits = input.ignorePaidTopUpLimits;
  if (input.invoiceRequiresSuccessfulPayment !== undefined) rule.invoiceRequiresSuccessfulPayment = input.invoiceRequiresSuccessfulPayment;
  if (input.startedAt !== undefined) rule.startedAt = input.startedAt;
  if (input.expirationAt !== undefined) {
    if (isDue(input.expirationAt, work.ctx.now)) {
      throw new WalletError('INVALID_EXPIRATION_DATE', 'a rule expirationAt must be in the future', {
        field: 'recurringTransactionRules.expirationAt',
      });
    }
    rule.expirationAt = input.expirationAt;
  }
  if (input.transactionMetadata !== undefined) rule.transactionMetadata = input.transactionMetadata;
  if (input.transactionName !== undefined) rule.transactionName = input.transactionName;
  // Switching to a fixed rule drops the flag; asking for it on a fixed rule is refused by checkRuleShape.
  if (rule.method !== 'target' && input.grantsTargetTopUp === undefined) rule.grantsTargetTopUp = false;
}

export async function syncRules(work: Work, wallet: Wallet, inputs: readonly RuleInput[], { endUnlisted }: { endUnlisted: boolean }): Promise<void> {
  const { em, ctx } = work;
  if (inputs.length > 1) throw invalidRule('a wallet has at most one recurring transaction rule', []);
  const active = endUnlisted
    ? await em.find(RecurringTransactionRule, { organization: ctx.organizationId, wallet: wallet.id, status: 'active' })
    : [];
  const kept = new Set<string>();
  for (const [index, input] of inputs.entries()) {
    let rule = input.id ? active.find((r) => r.id === input.id) : undefined;
    if (!rule) {
      if (!input.trigger) throw invalidRule('a new rule needs a trigger', [index, 'trigger']);
      rule = em.create(RecurringTransactionRule, {
        id: randomUUID(),
        organization: ctx.organizationId,
        wallet,
        trigger: input.trigger,
        invoiceRequiresSuccessfulPayment: wallet.invoiceRequiresSuccessfulPayment,
        startedAt: ctx.now,
        createdAt: ctx.now,
      } as never);
    }
    assign(rule, input, work);
    checkRuleShape(rule, index);
    kept.add(rule.id);
  }
  for (const rule of active) {
    if (!kept.has(rule.id)) {
      rule.status = 'terminated';
      rule.terminatedAt = ctx.now;
    }
  }
}
