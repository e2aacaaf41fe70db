/**
 * `wallets.create` and `wallets.update` (DESIGN.md "Domain model", flow 1) as planners over one
 * customer's records. Business rules refuse with their own codes; nothing is planned when one refuses.
 *
 * - Create: the customer's wallets past their expiry are expired first (they free their place and
 *   their code); then, in this order: the currency (VALIDATION_FAILED without one,
 *   CURRENCY_MISMATCH against the customer's), at most MAX_ACTIVE_WALLETS active wallets
 *   (WALLET_LIMIT_REACHED), a code free among the active wallets (CODE_ALREADY_EXISTS; without one
 *   it is derived from the name), a future expiry, the paid top-up limits in order, the initial
 *   amounts and the paid one within the limits (unless ignored on creation), the rules. The first
 *   wallet sets the customer's currency. Paid credits become a pending purchase, granted credits a
 *   settled lot; threshold rules may fire at once.
 * - Update: on a usable wallet, settings and rules (recurring-rules.ts); the wallet's rules are
 *   checked against its limits as they end.
 */
import { planAmount } from './conversion.js';
import { currencyExponent } from './currency.js';
import type { Scaled } from './decimal.js';
import { WalletError } from './errors.js';
import { assertWalletUsable, checkFutureExpiration, isWalletExpired } from './expiry.js';
import { type DraftClock, LedgerDraft } from './ledger-draft.js';
import { copyRule, copyWallet, type GroupRecords, type LedgerDelta, type MetadataPair, type RuleRecord, type WalletRecord } from './records.js';
import { type RuleInput, syncRules, validateRuleLimits } from './recurring-rules.js';
import { checkPaidTopUpLimits } from './top-up-limits.js';
import { deriveWalletCode } from './wallet-code.js';

export const MAX_ACTIVE_WALLETS = 6;

export interface AppliesToInput {
  feeTypes?: string[] | undefined;
  billableMetricCodes?: string[] | undefined;
}

export interface CreateWalletCommand {
  rateAmount: Scaled;
  currency?: string | undefined;
  name?: string | null | undefined;
  code?: string | undefined;
  priority?: number | undefined;
  paidCredits?: Scaled | undefined;
  grantedCredits?: Scaled | undefined;
  expirationAt?: Date | null | undefined;
  invoiceRequiresSuccessfulPayment?: boolean | undefined;
  transactionMetadata?: MetadataPair[] | undefined;
  transactionName?: string | undefined;
  appliesTo?: AppliesToInput | undefined;
  paidTopUpMinAmountCents?: bigint | null | undefined;
  paidTopUpMaxAmountCents?: bigint | null | undefined;
  ignorePaidTopUpLimitsOnCreation?: boolean | undefined;
  recurringTransactionRules?: RuleInput[] | undefined;
}

export interface UpdateWalletCommand {
  id: string;
  name?: string | null | undefined;
  code?: string | undefined;
  priority?: number | undefined;
  expirationAt?: Date | null | undefined;
  invoiceRequiresSuccessfulPayment?: boolean | undefined;
  appliesTo?: AppliesToInput | undefined;
  paidTopUpMinAmountCents?: bigint | null | undefined;
  paidTopUpMaxAmountCents?: bigint | null | undefined;
  recurringTransactionRules?: RuleInput[] | undefined;
}

/** A wallet as a planner answers it: the record and its active rules, as the request leaves them. */
export interface PlannedWallet {
  delta: LedgerDelta;
  wallet: WalletRecord;
  rules: RuleRecord[];
}

function checkLimitsOrder(min: bigint | null, max: bigint | null): void {
  if (min !== null && max !== null && max < min) {
    throw new WalletError('VALIDATION_FAILED', 'paidTopUpMaxAmountCents must be greater than or equal to paidTopUpMinAmountCents', {
      issues: [{ path: ['paidTopUpMaxAmountCents'], message: 'must be greater than or equal to paidTopUpMinAmountCents' }],
    });
  }
}

function codeTaken(code: string): WalletError {
  return new WalletError('CODE_ALREADY_EXISTS', `an active wallet of this customer already has code ${code}`, { field: 'code' });
}

function answer(draft: LedgerDraft, wallet: WalletRecord): PlannedWallet {
  const rules = draft.activeRules(new Set([wallet.id])).map(copyRule);
  return { delta: draft.toDelta(), wallet: copyWallet(wallet), rules };
}

/** `records` hold the customer's active wallets of every currency, with all their lots. */
export function planCreateWallet(records: GroupRecords, command: CreateWalletCommand, clock: DraftClock): PlannedWallet {
  const draft = new LedgerDraft(records, clock);
  const now = clock.now;
  const customer = draft.customer;
  // A wallet past its expiry is expired now: it frees its place and its code before they are counted.
  for (const overdue of draft.allActiveWallets()) {
    if (isWalletExpired(overdue, now)) draft.terminate(overdue, 'expiration');
  }
  const currency = command.currency ?? customer.currency;
  if (!currency) {
    throw new WalletError('VALIDATION_FAILED', 'currency is required while the customer has none', {
      issues: [{ path: ['currency'], message: 'required while the customer has no currency' }],
    });
  }
  if (customer.currency !== null && customer.currency !== currency) {
    throw new WalletError('CURRENCY_MISMATCH', `wallet currency ${currency} differs from the customer's ${customer.currency}`, {
      field: 'currency',
      currency: customer.currency,
    });
  }
  const active = draft.allActiveWallets();
  if (active.length >= MAX_ACTIVE_WALLETS) {
    throw new WalletError('WALLET_LIMIT_REACHED', `a customer may have at most ${MAX_ACTIVE_WALLETS} active wallets`, {
      limit: MAX_ACTIVE_WALLETS,
    });
  }
  const taken = new Set(active.map((w) => w.code));
  if (command.code !== undefined && taken.has(command.code)) throw codeTaken(command.code);
  checkFutureExpiration(command.expirationAt, now);
  const min = command.paidTopUpMinAmountCents ?? null;
  const max = command.paidTopUpMaxAmountCents ?? null;
  checkLimitsOrder(min, max);

  const conversion = { rate: command.rateAmount, exponent: currencyExponent(currency) };
  const paid = command.paidCredits ? planAmount('paid', command.paidCredits, conversion) : null;
  const granted = command.grantedCredits ? planAmount('granted', command.grantedCredits, conversion) : null;
  if (paid && !command.ignorePaidTopUpLimitsOnCreation) {
    checkPaidTopUpLimits(paid.amountCents, { paidTopUpMinAmountCents: min, paidTopUpMaxAmountCents: max });
  }

  customer.currency = currency;
  const wallet = draft.addWallet({
    id: clock.newId(),
    customerId: customer.id,
    name: command.name ?? null,
    code: command.code ?? deriveWalletCode(command.name, taken),
    status: 'active',
    currency,
    rateAmount: command.rateAmount,
    priority: command.priority ?? 50,
    balanceCents: 0n,
    creditsBalance: 0n,
    ongoingBalanceCents: 0n,
    creditsOngoingBalance: 0n,
    ongoingUsageBalanceCents: 0n,
    creditsOngoingUsageBalance: 0n,
    consumedCredits: 0n,
    consumedAmountCents: 0n,
    depletedOngoingBalance: false,
    expirationAt: command.expirationAt ?? null,
    terminatedAt: null,
    invoiceRequiresSuccessfulPayment: command.invoiceRequiresSuccessfulPayment ?? false,
    paidTopUpMinAmountCents: min,
    paidTopUpMaxAmountCents: max,
    appliesToFeeTypes: [...(command.appliesTo?.feeTypes ?? [])],
    appliesToBillableMetricCodes: [...(command.appliesTo?.billableMetricCodes ?? [])],
    createdAt: now,
    updatedAt: now,
  });
  const rules = command.recurringTransactionRules ?? [];
  validateRuleLimits(wallet, rules);
  syncRules(draft, wallet, rules, { endUnlisted: false, newId: clock.newId });

  const details = {
    name: command.transactionName ?? null,
    metadata: command.transactionMetadata ?? [],
    invoiceRequiresSuccessfulPayment: wallet.invoiceRequiresSuccessfulPayment,
  };
  if (paid) draft.purchase(wallet, paid, details);
  if (granted) draft.grant(wallet, granted, details);
  draft.walletEvent('wallet.created', wallet);
  draft.touch(wallet);
  draft.settleOngoing();
  return answer(draft, wallet);
}

/** `records` hold the wallet (whatever its status) and the customer's active wallets of every currency. */
export function planUpdateWallet(records: GroupRecords, command: UpdateWalletCommand, clock: DraftClock): PlannedWallet {
  const draft = new LedgerDraft(records, clock);
  const now = clock.now;
  const wallet = draft.wallet(command.id);
  if (!wallet) throw new WalletError('WALLET_NOT_FOUND', `wallet ${command.id} not found`, { walletId: command.id });
  assertWalletUsable(wallet, now);
  if (command.code !== undefined && command.code !== wallet.code) {
    const taken = new Set(
      draft
        .allActiveWallets()
        .filter((w) => w.id !== wallet.id)
        .map((w) => w.code),
    );
    if (taken.has(command.code)) throw codeTaken(command.code);
    wallet.code = command.code;
  }
  if (command.expirationAt !== undefined) {
    checkFutureExpiration(command.expirationAt, now);
    wallet.expirationAt = command.expirationAt;
  }
  if (command.name !== undefined) wallet.name = command.name;
  if (command.priority !== undefined) wallet.priority = command.priority;
  if (command.invoiceRequiresSuccessfulPayment !== undefined) wallet.invoiceRequiresSuccessfulPayment = command.invoiceRequiresSuccessfulPayment;
  if (command.appliesTo?.feeTypes !== undefined) wallet.appliesToFeeTypes = [...command.appliesTo.feeTypes];
  if (command.appliesTo?.billableMetricCodes !== undefined) wallet.appliesToBillableMetricCodes = [...command.appliesTo.billableMetricCodes];
  if (command.paidTopUpMinAmountCents !== undefined) wallet.paidTopUpMinAmountCents = command.paidTopUpMinAmountCents;
  if (command.paidTopUpMaxAmountCents !== undefined) wallet.paidTopUpMaxAmountCents = command.paidTopUpMaxAmountCents;
  checkLimitsOrder(wallet.paidTopUpMinAmountCents, wallet.paidTopUpMaxAmountCents);
  if (command.recurringTransactionRules !== undefined) {
    syncRules(draft, wallet, command.recurringTransactionRules, { endUnlisted: true, newId: clock.newId });
  }
  validateRuleLimits(wallet, draft.activeRules(new Set([wallet.id])));
  draft.walletEvent('wallet.updated', wallet);
  draft.touch(wallet);
  draft.settleOngoing();
  return answer(draft, wallet);
}
