/**
 * Recurring transaction rules as a wallet's settings: kept valid and in step with the wallet (at
 * most one active rule). Update semantics (Lago's): an item with the id of an active rule changes
 * it, an item without id creates one, and an active rule left out of the list ends. How rules fire
 * belongs to the draft (threshold) and planIntervalTopUp (interval); this module only keeps them valid.
 */
import { creditsToCents, MAX_AMOUNT_CENTS } from './conversion.js';
import type { Scaled } from './decimal.js';
import { WalletError } from './errors.js';
import { isDue } from './expiry.js';
import { type LedgerDraft, walletConversion } from './ledger-draft.js';
import type { MetadataPair, RuleMethod, RuleRecord, RuleTrigger, WalletRecord } from './records.js';
import { checkPaidTopUpLimits } from './top-up-limits.js';

export interface RuleInput {
  id?: string | undefined;
  trigger?: RuleTrigger | undefined;
  interval?: string | null | undefined;
  method?: RuleMethod | undefined;
  paidCredits?: Scaled | undefined;
  grantedCredits?: Scaled | undefined;
  thresholdCredits?: Scaled | undefined;
  targetOngoingBalance?: Scaled | null | undefined;
  grantsTargetTopUp?: boolean | undefined;
  ignorePaidTopUpLimits?: boolean | undefined;
  invoiceRequiresSuccessfulPayment?: boolean | undefined;
  startedAt?: Date | null | undefined;
  expirationAt?: Date | null | undefined;
  transactionMetadata?: MetadataPair[] | undefined;
  transactionName?: string | null | undefined;
}

function invalidRule(message: string, path: (string | number)[]): WalletError {
  return new WalletError('VALIDATION_FAILED', message, { issues: [{ path: ['recurringTransactionRules', ...path], message }] });
}

function checkRuleShape(rule: RuleRecord, index: number): void {
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

/** A rule's credits must be worth at most MAX_AMOUNT_CENTS; a fixed rule's paid top-up must fit the wallet's limits unless it ignores them. */
export function validateRuleLimits(wallet: WalletRecord, rules: readonly (RuleInput | RuleRecord)[]): void {
  const conversion = walletConversion(wallet);
  for (const rule of rules) {
    for (const field of ['paidCredits', 'grantedCredits'] as const) {
      const credits = rule[field];
      if (credits && creditsToCents(credits, conversion) > MAX_AMOUNT_CENTS) {
        throw new WalletError('AMOUNT_ABOVE_MAXIMUM', `a rule's ${field} is worth more than ${MAX_AMOUNT_CENTS} minor units`, {
          field: `recurringTransactionRules.${field}`,
          maximumCents: MAX_AMOUNT_CENTS,
        });
      }
    }
    if ((rule.method ?? 'fixed') !== 'fixed' || rule.ignorePaidTopUpLimits || !rule.paidCredits) continue;
    checkPaidTopUpLimits(creditsToCents(rule.paidCredits, conversion), wallet, 'recurringTransactionRules.paidCredits');
  }
}

function assign(rule: RuleRecord, input: RuleInput, now: Date): void {
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
    if (isDue(input.expirationAt, now)) {
      throw new WalletError('INVALID_EXPIRATION_DATE', 'a rule expirationAt must be in the future', {
        field: 'recurringTransactionRules.expirationAt',
      });
    }
    rule.expirationAt = input.expirationAt;
  }
  if (input.transactionMetadata !== undefined) rule.transactionMetadata = input.transactionMetadata.map((pair) => ({ ...pair }));
  if (input.transactionName !== undefined) rule.transactionName = input.transactionName;
  // Switching to a fixed rule drops the flag; asking for it on a fixed rule is refused by checkRuleShape.
  if (rule.method !== 'target' && input.grantsTargetTopUp === undefined) rule.grantsTargetTopUp = false;
}

/**
 * Brings the wallet's rules in the draft in step with `inputs` (new rules start now and take the
 * wallet's invoiceRequiresSuccessfulPayment); with `endUnlisted`, active rules left out end now.
 */
export function syncRules(
  draft: LedgerDraft,
  wallet: WalletRecord,
  inputs: readonly RuleInput[],
  { endUnlisted, newId }: { endUnlisted: boolean; newId: () => string },
): void {
  if (inputs.length > 1) throw invalidRule('a wallet has at most one recurring transaction rule', []);
  const now = draft.now;
  const active = endUnlisted ? draft.activeRules(new Set([wallet.id])) : [];
  const kept = new Set<string>();
  for (const [index, input] of inputs.entries()) {
    let rule = input.id ? active.find((r) => r.id === input.id) : undefined;
    if (!rule) {
      if (!input.trigger) throw invalidRule('a new rule needs a trigger', [index, 'trigger']);
      rule = draft.addRule({
        id: newId(),
        walletId: wallet.id,
        status: 'active',
        trigger: input.trigger,
        interval: null,
        method: 'fixed',
        paidCredits: 0n,
        grantedCredits: 0n,
        thresholdCredits: 0n,
        targetOngoingBalance: null,
        grantsTargetTopUp: false,
        ignorePaidTopUpLimits: false,
        invoiceRequiresSuccessfulPayment: wallet.invoiceRequiresSuccessfulPayment,
        startedAt: now,
        expirationAt: null,
        transactionMetadata: [],
        transactionName: null,
        terminatedAt: null,
        createdAt: now,
      });
    }
    assign(rule, input, now);
    checkRuleShape(rule, index);
    kept.add(rule.id);
  }
  for (const rule of active) {
    if (!kept.has(rule.id)) {
      rule.status = 'terminated';
      rule.terminatedAt = now;
    }
  }
}
