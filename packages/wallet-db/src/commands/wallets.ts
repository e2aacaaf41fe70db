/**
 * Wallet lifecycle: create (with its initial granted and paid credits), update settings and rules,
 * terminate. Business rules refuse with their own codes; nothing is written when one refuses.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  assertWalletUsable,
  checkFutureExpiration,
  checkPaidTopUpLimits,
  currencyExponent,
  deriveWalletCode,
  planAmount,
  planTerminateWallet,
  WalletError,
} from '@wallets/core';
import { type WalletDto, walletDto } from '../dto.js';
import { type MetadataItem, Wallet } from '../entities/index.js';
import { type Door, runGroupMutation } from '../group-mutation.js';
import { olderThan, type Page, toPage } from '../pagination.js';
import { walletRecordDto } from '../records.js';
import {
  countActiveWallets,
  findActiveWallets,
  findCustomerByExternalId,
  findWalletCustomerId,
  getWalletOrFail,
  isUuid,
  loadActiveRules,
  lockCustomer,
} from '../repositories.js';
import type { Work } from '../unit-of-work.js';
import { isPastExpiration } from '../wallet-facts.js';
import { ensureLockedCustomer } from './customers.js';
import { type RuleInput, syncRules, validateRuleLimits } from './recurring-rules.js';

export const MAX_ACTIVE_WALLETS = 6;

export interface AppliesToInput {
  feeTypes?: string[] | undefined;
  billableMetricCodes?: string[] | undefined;
}

export interface CreateWalletInput {
  externalCustomerId: string;
  rateAmount: bigint;
  currency?: string | undefined;
  name?: string | null | undefined;
  code?: string | undefined;
  priority?: number | undefined;
  paidCredits?: bigint | undefined;
  grantedCredits?: bigint | undefined;
  expirationAt?: Date | null | undefined;
  invoiceRequiresSuccessfulPayment?: boolean | undefined;
  transactionMetadata?: MetadataItem[] | undefined;
  transactionName?: string | undefined;
  appliesTo?: AppliesToInput | undefined;
  paidTopUpMinAmountCents?: bigint | null | undefined;
  paidTopUpMaxAmountCents?: bigint | null | undefined;
  ignorePaidTopUpLimitsOnCreation?: boolean | undefined;
  recurringTransactionRules?: RuleInput[] | undefined;
}

export { checkFutureExpiration } from '@wallets/core';

function checkLimitsOrder(min: bigint | null, max: bigint | null): void {
  if (min !== null && max !== null && max < min) {
    throw new WalletError('VALIDATION_FAILED', 'paidTopUpMaxAmountCents must be greater than or equal to paidTopUpMinAmountCents', {
      issues: [{ path: ['paidTopUpMaxAmountCents'], message: 'must be greater than or equal to paidTopUpMinAmountCents' }],
    });
  }
}

async function takenCodes(em: EntityManager, organizationId: string, customerId: string, exceptWalletId?: string): Promise<Set<string>> {
  const wallets = await findActiveWallets(em, organizationId, customerId);
  return new Set(wallets.filter((w) => w.id !== exceptWalletId).map((w) => w.code));
}

export async function walletView(em: EntityManager, organizationId: string, wallet: Wallet) {
  const rules = await loadActiveRules(em, organizationId, [wallet.id]);
  return walletDto(wallet, rules.get(wallet.id) ?? []);
}

export async function createWallet(work: Work, input: CreateWalletInput) {
  const { em, ctx, ledger, events } = work;
  const existing = await findCustomerByExternalId(em, ctx.organizationId, input.externalCustomerId);
  if (!existing)
    throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${input.externalCustomerId} not found`, { externalId: input.externalCustomerId });
  const customer = await ensureLockedCustomer(em, ctx.organizationId, input.externalCustomerId, false);
  // A wallet past its expiry is expired now: it frees its place and its code before they are counted.
  for (const overdue of await findActiveWallets(em, ctx.organizationId, customer.id)) {
    if (isPastExpiration(overdue, ctx.now)) await ledger.terminate(overdue, 'expiration');
  }
  await em.flush();

  const currency = input.currency ?? customer.currency;
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
  if ((await countActiveWallets(em, ctx.organizationId, customer.id)) >= MAX_ACTIVE_WALLETS) {
    throw new WalletError('WALLET_LIMIT_REACHED', `a customer may have at most ${MAX_ACTIVE_WALLETS} active wallets`, {
      limit: MAX_ACTIVE_WALLETS,
    });
  }
  const taken = await takenCodes(em, ctx.organizationId, customer.id);
  if (input.code !== undefined && taken.has(input.code)) {
    throw new WalletError('CODE_ALREADY_EXISTS', `an active wallet of this customer already has code ${input.code}`, { field: 'code' });
  }
  checkFutureExpiration(input.expirationAt, ctx.now);
  const min = input.paidTopUpMinAmountCents ?? null;
  const max = input.paidTopUpMaxAmountCents ?? null;
  checkLimitsOrder(min, max);

  const conversion = { rate: input.rateAmount, exponent: currencyExponent(currency) };
  const paid = input.paidCredits ? planAmount('paid', input.paidCredits, conversion) : null;
  const granted = input.grantedCredits ? planAmount('granted', input.grantedCredits, conversion) : null;
  if (paid && !input.ignorePaidTopUpLimitsOnCreation) {
    checkPaidTopUpLimits(paid.amountCents, { paidTopUpMinAmountCents: min, paidTopUpMaxAmountCents: max });
  }

  customer.currency = currency;
  const wallet = em.create(Wallet, {
    id: randomUUID(),
    organization: ctx.organizationId,
    customer,
    name: input.name ?? null,
    code: input.code ?? deriveWalletCode(input.name, taken),
    currency,
    rateAmount: input.rateAmount,
    priority: input.priority ?? 50,
    expirationAt: input.expirationAt ?? null,
    invoiceRequiresSuccessfulPayment: input.invoiceRequiresSuccessfulPayment ?? false,
    paidTopUpMinAmountCents: min,
    paidTopUpMaxAmountCents: max,
    appliesToFeeTypes: input.appliesTo?.feeTypes ?? [],
    appliesToBillableMetricCodes: input.appliesTo?.billableMetricCodes ?? [],
    createdAt: ctx.now,
    updatedAt: ctx.now,
  } as never);
  validateRuleLimits(wallet, input.recurringTransactionRules ?? []);
  await syncRules(work, wallet, input.recurringTransactionRules ?? [], { endUnlisted: false });

  const details = {
    name: input.transactionName ?? null,
    metadata: input.transactionMetadata ?? [],
    invoiceRequiresSuccessfulPayment: wallet.invoiceRequiresSuccessfulPayment,
  };
  if (paid) ledger.purchase(wallet, paid, details);
  if (granted) ledger.grant(wallet, granted, details);
  events.wallet('wallet.created', wallet);
  ledger.touch(wallet);
  await ledger.settleOngoing();
  await em.flush();
  return walletView(em, ctx.organizationId, wallet);
}

/** Locks the wallet's customer, then loads the wallet fresh. */
export async function lockWallet(em: EntityManager, organizationId: string, walletId: string): Promise<Wallet> {
  const customerId = await findWalletCustomerId(em, organizationId, walletId);
  if (!customerId) throw new WalletError('WALLET_NOT_FOUND', `wallet ${walletId} not found`, { walletId });
  await lockCustomer(em, organizationId, customerId);
  return getWalletOrFail(em, organizationId, walletId);
}

export function assertUsable(wallet: Wallet, now: Date): void {
  assertWalletUsable(wallet, now);
}

export interface UpdateWalletInput {
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

export async function updateWallet(work: Work, input: UpdateWalletInput) {
  const { em, ctx, events } = work;
  const wallet = await lockWallet(em, ctx.organizationId, input.id);
  assertUsable(wallet, ctx.now);
  if (input.code !== undefined && input.code !== wallet.code) {
    const taken = await takenCodes(em, ctx.organizationId, wallet.customer.id, wallet.id);
    if (taken.has(input.code)) {
      throw new WalletError('CODE_ALREADY_EXISTS', `an active wallet of this customer already has code ${input.code}`, { field: 'code' });
    }
    wallet.code = input.code;
  }
  if (input.expirationAt !== undefined) {
    checkFutureExpiration(input.expirationAt, ctx.now);
    wallet.expirationAt = input.expirationAt;
  }
  if (input.name !== undefined) wallet.name = input.name;
  if (input.priority !== undefined) wallet.priority = input.priority;
  if (input.invoiceRequiresSuccessfulPayment !== undefined) wallet.invoiceRequiresSuccessfulPayment = input.invoiceRequiresSuccessfulPayment;
  if (input.appliesTo?.feeTypes !== undefined) wallet.appliesToFeeTypes = input.appliesTo.feeTypes;
  if (input.appliesTo?.billableMetricCodes !== undefined) wallet.appliesToBillableMetricCodes = input.appliesTo.billableMetricCodes;
  if (input.paidTopUpMinAmountCents !== undefined) wallet.paidTopUpMinAmountCents = input.paidTopUpMinAmountCents;
  if (input.paidTopUpMaxAmountCents !== undefined) wallet.paidTopUpMaxAmountCents = input.paidTopUpMaxAmountCents;
  checkLimitsOrder(wallet.paidTopUpMinAmountCents, wallet.paidTopUpMaxAmountCents);
  if (input.recurringTransactionRules !== undefined) {
    await syncRules(work, wallet, input.recurringTransactionRules, { endUnlisted: true });
  }
  const rules = await loadActiveRules(em, ctx.organizationId, [wallet.id]);
  validateRuleLimits(wallet, rules.get(wallet.id) ?? []);
  wallet.updatedAt = ctx.now;
  events.wallet('wallet.updated', wallet);
  work.ledger.touch(wallet);
  await work.ledger.settleOngoing();
  await em.flush();
  return walletView(em, ctx.organizationId, wallet);
}

/** Terminate through the door (wallet-core's planner decides); an ended wallet is answered as it is. */
export async function terminateWallet(work: { door: Door }, walletId: string) {
  const notFound = () => new WalletError('WALLET_NOT_FOUND', `wallet ${walletId} not found`, { walletId });
  if (!isUuid(walletId)) throw notFound();
  // Every lot: termination voids all the wallet holds.
  const load = { customer: { ownerOf: walletId }, scope: { walletId }, lots: 'all' } as const;
  return runGroupMutation(work.door, load, ({ records }, clock) => {
    if (!records?.wallets.some((w) => w.id === walletId)) throw notFound();
    const { delta, wallet, rules } = planTerminateWallet(records, walletId, clock);
    return { answer: walletRecordDto(wallet, records.customer.externalId, rules) as WalletDto, delta };
  });
}

export async function getWallet(em: EntityManager, organizationId: string, walletId: string) {
  return walletView(em, organizationId, await getWalletOrFail(em, organizationId, walletId));
}

export async function listWallets(
  em: EntityManager,
  organizationId: string,
  input: { externalCustomerId?: string | undefined; status?: 'active' | 'terminated' | undefined; cursor?: string | null | undefined; limit: number },
): Promise<Page<ReturnType<typeof walletDto>>> {
  const where: Record<string, unknown> = { organization: organizationId, ...olderThan(input.cursor) };
  if (input.externalCustomerId !== undefined) {
    const customer = await findCustomerByExternalId(em, organizationId, input.externalCustomerId);
    if (!customer)
      throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${input.externalCustomerId} not found`, { externalId: input.externalCustomerId });
    where.customer = customer.id;
  }
  if (input.status) where.status = input.status;
  const rows = await em.find(Wallet, where as never, { populate: ['customer'], orderBy: { createdAt: 'desc', id: 'desc' }, limit: input.limit + 1 });
  const rules = await loadActiveRules(
    em,
    organizationId,
    rows.map((w) => w.id),
  );
  return toPage(rows, input.limit, (w) => walletDto(w, rules.get(w.id) ?? []));
}
