/**
 * The invoice pipeline hook (DESIGN.md flow 3): how many prepaid credits an invoice consumes, which
 * wallets pay, and which lots (granted or purchased) paid them. wallet-core plans the allocation;
 * this module loads the eligible wallets under the customer's lock, writes one outbound invoiced
 * transaction per paying wallet, and remembers the answer per invoice id.
 *
 * - Only subscription, progressive_billing and pay_in_advance invoices take credits; an unknown
 *   customer, no wallet or another currency gives 0, not an error.
 * - A repeat of the same invoice returns the first allocation; the same id with other content is
 *   INVOICE_ALREADY_APPLIED; a voided invoice is INVOICE_VOIDED.
 * - Voiding gives the consumed credits back as new granted lots on wallets still active, once.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  type Allocation,
  type AllocationFee,
  type Amount,
  allocateInvoice,
  formatDecimal,
  isCreditableInvoice,
  isLotExpired,
  lotKind,
  planConsumption,
  shareAmount,
  sumLots,
  WalletError,
} from '@wallets/core';
import { centsToNumber, transactionDto } from '../dto.js';
import { InvoiceApplication, type Wallet, WalletTransaction } from '../entities/index.js';
import type { ConsumedPart } from '../ledger.js';
import { toLot } from '../ledger.js';
import {
  findActiveWallets,
  findCustomerByExternalId,
  findLotsOfWallets,
  ledgerObjects,
  lockCustomer,
  lockCustomerCurrencyState,
} from '../repositories.js';
import type { SqlStatement } from '../sql-statements.js';
import { requestHash, type Work } from '../unit-of-work.js';
import { isPastExpiration } from '../wallet-facts.js';
import { dropDraftInvoice, storeUsageSnapshot, type UsageSyncInput } from './usage.js';

export { CREDITABLE_INVOICE_TYPES } from '@wallets/core';

export interface InvoiceFeeInput {
  id: string;
  feeType: string;
  billableMetricCode?: string | null | undefined;
  /** 1e-5 cents. */
  amount: bigint;
  coupons: bigint;
  taxes: bigint;
  creditNotes: bigint;
}

export interface InvoiceInput {
  id: string;
  externalCustomerId: string;
  currency: string;
  invoiceType: string;
  totalAmountCents: bigint;
  fees: InvoiceFeeInput[];
}

export interface WalletAllocationDto {
  walletId: string;
  amountCents: number;
  creditAmount: string;
  transactionId?: string;
}

export interface AllocationDto {
  invoiceId: string;
  prepaidCreditAmountCents: number;
  totalAfterCreditsCents: number;
  prepaidGrantedCreditAmountCents: number;
  prepaidPurchasedCreditAmountCents: number;
  wallets: WalletAllocationDto[];
}

function emptyAllocation(invoice: InvoiceInput): AllocationDto {
  const total = centsToNumber(invoice.totalAmountCents);
  return {
    invoiceId: invoice.id,
    prepaidCreditAmountCents: 0,
    totalAfterCreditsCents: total,
    prepaidGrantedCreditAmountCents: 0,
    prepaidPurchasedCreditAmountCents: 0,
    wallets: [],
  };
}

async function eligibleWallets(em: EntityManager, organizationId: string, customerId: string, currency: string, now: Date): Promise<Wallet[]> {
  const wallets = await findActiveWallets(em, organizationId, customerId);
  return wallets.filter((w) => w.currency === currency && !isPastExpiration(w, now));
}

function planFor(invoice: InvoiceInput, wallets: Wallet[], balances?: Map<string, Amount>): Allocation {
  const fees: AllocationFee[] = invoice.fees.map((fee) => ({
    feeType: fee.feeType,
    billableMetricCode: fee.billableMetricCode ?? null,
    amount: fee.amount,
    coupons: fee.coupons,
    taxes: fee.taxes,
    creditNotes: fee.creditNotes,
  }));
  return allocateInvoice({ totalAmountCents: invoice.totalAmountCents, fees }, wallets, balances);
}

function summarise(
  invoice: InvoiceInput,
  shares: { wallet: Wallet; amount: Amount; parts: { kind: 'granted' | 'purchased'; amountCents: bigint }[]; transactionId?: string }[],
): AllocationDto {
  let total = 0n;
  let granted = 0n;
  let purchased = 0n;
  for (const share of shares) {
    total += share.amount.amountCents;
    for (const part of share.parts) {
      if (part.kind === 'granted') granted += part.amountCents;
      else purchased += part.amountCents;
    }
  }
  return {
    invoiceId: invoice.id,
    prepaidCreditAmountCents: centsToNumber(total),
    totalAfterCreditsCents: centsToNumber(invoice.totalAmountCents - total),
    prepaidGrantedCreditAmountCents: centsToNumber(granted),
    prepaidPurchasedCreditAmountCents: centsToNumber(purchased),
    wallets: shares.map((share) => ({
      walletId: share.wallet.id,
      amountCents: centsToNumber(share.amount.amountCents),
      creditAmount: formatDecimal(share.amount.creditAmount),
      ...(share.transactionId ? { transactionId: share.transactionId } : {}),
    })),
  };
}

const kindOf = (lot: WalletTransaction) => lotKind(lot);

/** The allocation an apply would make now, with no side effect. */
export async function previewPrepaidCredits(em: EntityManager, organizationId: string, invoice: InvoiceInput, now: Date): Promise<AllocationDto> {
  // An invoice already applied or voided: answer what an apply would (its first allocation, or its error).
  const existing = await em.findOne(InvoiceApplication, { organization: organizationId, invoiceId: invoice.id });
  if (existing) {
    if (existing.status === 'voided') throw new WalletError('INVOICE_VOIDED', `invoice ${invoice.id} was voided`, { invoiceId: invoice.id });
    if (existing.requestHash !== contentHash(invoice)) {
      throw new WalletError('INVOICE_ALREADY_APPLIED', `invoice ${invoice.id} was already applied with other content`, { invoiceId: invoice.id });
    }
    return existing.allocation as AllocationDto;
  }
  if (!isCreditableInvoice(invoice.invoiceType)) return emptyAllocation(invoice);
  const customer = await findCustomerByExternalId(em, organizationId, invoice.externalCustomerId);
  if (!customer) return emptyAllocation(invoice);
  const wallets = await eligibleWallets(em, organizationId, customer.id, invoice.currency, now);
  // Lots past their own expiry would be voided first by an apply: leave them out here too.
  const lotsByWallet = await findLotsOfWallets(
    em,
    organizationId,
    wallets.map((w) => w.id),
  );
  const balances = new Map<string, Amount>();
  for (const [walletId, lots] of lotsByWallet) {
    const live = lots.filter((lot) => !isLotExpired(lot, now));
    lotsByWallet.set(walletId, live);
    balances.set(walletId, sumLots(live.map(toLot)));
  }
  const plan = planFor(invoice, wallets, balances);
  const shares = [];
  for (const part of plan.wallets) {
    const wallet = wallets.find((w) => w.id === part.walletId)!;
    const amount = shareAmount(wallet, part.amountCents, balances.get(wallet.id));
    const lots = lotsByWallet.get(wallet.id) ?? [];
    const byId = new Map(lots.map((lot) => [lot.id, lot]));
    const consumption = planConsumption(lots.map(toLot), amount);
    shares.push({ wallet, amount, parts: consumption.map((c) => ({ kind: kindOf(byId.get(c.lotId)!), amountCents: c.amountCents })) });
  }
  return summarise(invoice, shares);
}

function contentHash(invoice: InvoiceInput): string {
  return requestHash(invoice);
}

/**
 * The statement that claims an invoice id: inserts its row unless the id is taken (a concurrent
 * claim makes it wait until that one ends). Returns the new row's id, or no row when taken.
 */
function claimStatement(
  organizationId: string,
  invoiceId: string,
  customer: { id: string | null } | { externalId: string },
  hash: string,
  status: 'applied' | 'voided',
  now: Date,
): SqlStatement {
  const byExternalId = 'externalId' in customer;
  return {
    sql: `insert into invoice_applications (id, organization_id, invoice_id, customer_id, request_hash, status, voided_at, created_at)
      values (?, ?, ?, ${byExternalId ? '(select id from customers where organization_id = ? and external_id = ?)' : '?'}, ?, ?, ?, ?)
      on conflict (organization_id, invoice_id) do nothing returning id`,
    params: [
      randomUUID(),
      organizationId,
      invoiceId,
      ...(byExternalId ? [organizationId, customer.externalId] : [customer.id]),
      hash,
      status,
      status === 'voided' ? now : null,
      now,
    ],
  };
}

type Claim = { claimed: true; id: string } | { claimed: false; existing: InvoiceApplication };

/** The claim's outcome: the new row, or (when the id was taken) the earlier row, read after it committed. */
async function claimOutcome(em: EntityManager, organizationId: string, invoiceId: string, inserted: Record<string, unknown>[]): Promise<Claim> {
  const row = inserted[0];
  if (row) return { claimed: true, id: row.id as string };
  const existing = await em.findOneOrFail(InvoiceApplication, { organization: organizationId, invoiceId }, { refresh: true });
  return { claimed: false, existing };
}

async function claimInvoice(
  em: EntityManager,
  organizationId: string,
  invoiceId: string,
  customerId: string | null,
  hash: string,
  status: 'applied' | 'voided',
  now: Date,
): Promise<Claim> {
  const { sql, params } = claimStatement(organizationId, invoiceId, { id: customerId }, hash, status, now);
  const inserted: Record<string, unknown>[] = await em.getConnection().execute(sql, params, 'all', em.getTransactionContext());
  return claimOutcome(em, organizationId, invoiceId, inserted);
}

export interface ApplyOptions {
  /**
   * Let the ledger work on detached rows and write them in the last round trip (`Ledger.useJournal`;
   * default). Off: the ORM flush writes. Both give the same rows, events and answer
   * (invoices-journal.test.ts).
   */
  journal?: boolean;
}

export async function applyPrepaidCredits(
  work: Work,
  invoice: InvoiceInput,
  usage?: UsageSyncInput,
  options: ApplyOptions = {},
): Promise<AllocationDto> {
  if (usage && (usage.externalCustomerId !== invoice.externalCustomerId || usage.currency !== invoice.currency)) {
    throw new WalletError('VALIDATION_FAILED', 'usage must be the snapshot of the invoice customer and currency', {
      issues: [{ path: ['usage', 'externalCustomerId'], message: 'must match the invoice customer and currency' }],
    });
  }
  const { em, ctx, ledger } = work;
  const hash = contentHash(invoice);
  // One round trip: the customer lock, the claim of the invoice id, and everything the allocation reads.
  const claimSql = claimStatement(ctx.organizationId, invoice.id, { externalId: invoice.externalCustomerId }, hash, 'applied', ctx.now);
  const { state, afterRows } = await lockCustomerCurrencyState(em, ctx.organizationId, invoice.externalCustomerId, invoice.currency, claimSql);
  const claim = await claimOutcome(em, ctx.organizationId, invoice.id, afterRows);
  if (!claim.claimed) {
    const { existing } = claim;
    if (existing.status === 'voided') throw new WalletError('INVOICE_VOIDED', `invoice ${invoice.id} was voided`, { invoiceId: invoice.id });
    if (existing.requestHash !== hash) {
      throw new WalletError('INVOICE_ALREADY_APPLIED', `invoice ${invoice.id} was already applied with other content`, { invoiceId: invoice.id });
    }
    return existing.allocation as AllocationDto;
  }

  let result = emptyAllocation(invoice);
  let wallets: Wallet[] = [];
  const journaled = state !== null && options.journal !== false;
  if (journaled) ledger.useJournal();
  const group = state && ledgerObjects(em, state, journaled);
  if (state && group && isCreditableInvoice(invoice.invoiceType)) {
    wallets = group.wallets.filter((w) => !isPastExpiration(w, ctx.now));
    const lots = await ledger.liveLots(wallets, group.lots);
    const plan = planFor(invoice, wallets);
    const shares = [];
    for (const part of plan.wallets) {
      const wallet = wallets.find((w) => w.id === part.walletId)!;
      const amount = shareAmount(wallet, part.amountCents);
      const { transaction, parts } = await ledger.consumeTracked(wallet, amount, 'invoiced', { invoiceId: invoice.id }, lots.get(wallet.id));
      shares.push({
        wallet,
        amount,
        transactionId: transaction.id,
        parts: parts.map((p: ConsumedPart) => ({ kind: kindOf(p.lot), amountCents: p.amountCents })),
      });
    }
    result = summarise(invoice, shares);
  }
  if (state && group) {
    // The finalized invoice is no longer a draft; a snapshot sent with it replaces the stored one.
    const { customer } = group;
    ledger.rememberSnapshot(customer.id, invoice.currency, state.snapshot);
    const draftDropped = await dropDraftInvoice(work, customer.id, invoice.currency, invoice.id);
    const usageStored = usage ? await storeUsageSnapshot(work, customer.id, usage) : false;
    // Ongoing balances of the customer and currency are recomputed from what was loaded under the lock.
    if (wallets.length > 0 || draftDropped || usageStored) ledger.touchGroup(customer.id, invoice.currency, group.wallets, state.rules);
  }
  work.defer({ sql: 'update invoice_applications set allocation = ?::jsonb where id = ?', params: [JSON.stringify(result), claim.id] });
  return result;
}

export async function voidInvoice(work: Work, invoiceId: string) {
  const { em, ctx, ledger } = work;
  const existing = await em.findOne(InvoiceApplication, { organization: ctx.organizationId, invoiceId });
  if (existing?.customer) await lockCustomer(em, ctx.organizationId, existing.customer.id);
  const claim = await claimInvoice(em, ctx.organizationId, invoiceId, existing?.customer?.id ?? null, '', 'voided', ctx.now);
  if (claim.claimed) return { transactions: [] }; // unknown invoice: nothing to give back, never applicable later
  const application = claim.existing;
  // Applied while we waited on the claim: lock its customer now, before any balance moves.
  if (!existing?.customer && application.customer) await lockCustomer(em, ctx.organizationId, application.customer.id);
  if (application.status === 'voided') return { transactions: [] };
  application.status = 'voided';
  application.voidedAt = ctx.now;
  const outbound = await em.find(
    WalletTransaction,
    { organization: ctx.organizationId, invoiceId, transactionType: 'outbound', transactionStatus: 'invoiced' },
    { populate: ['wallet', 'wallet.customer'], orderBy: { createdAt: 'asc', id: 'asc' } },
  );
  // Give back in the order the wallets paid (priority, then creation).
  outbound.sort(
    (a, b) =>
      a.wallet.priority - b.wallet.priority || a.wallet.createdAt.getTime() - b.wallet.createdAt.getTime() || (a.wallet.id < b.wallet.id ? -1 : 1),
  );
  const given: WalletTransaction[] = [];
  for (const tx of outbound) {
    const wallet = tx.wallet;
    if (wallet.status !== 'active' || isPastExpiration(wallet, ctx.now)) continue;
    given.push(
      ledger.grant(
        wallet,
        { creditAmount: tx.creditAmount, amountCents: tx.amountCents },
        { source: 'invoice_void', voidedInvoiceId: invoiceId, priority: 50, expirationAt: wallet.expirationAt },
      ),
    );
    wallet.updatedAt = ctx.now;
  }
  await em.flush();
  return { transactions: given.map(transactionDto) };
}
