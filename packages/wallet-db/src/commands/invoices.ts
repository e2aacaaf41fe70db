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
 * - Voiding gives the consumed credits back on wallets still active, once, each kind as itself:
 *   purchased as purchased, granted as granted (Lago gives everything back as granted).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  type Allocation,
  type AllocationFee,
  type Amount,
  allocateInvoice,
  formatDecimal,
  type InvoiceApplication,
  type InvoiceToApply,
  isCreditableInvoice,
  isLotExpired,
  lotKind,
  planApplyInvoice,
  planConsumption,
  planVoidInvoice,
  shareAmount,
  sumLots,
  WalletError,
} from '@wallets/core';
import { centsToNumber, type WalletTransactionDto } from '../dto.js';
import { InvoiceApplication as InvoiceApplicationRow, type Wallet, type WalletTransaction } from '../entities/index.js';
import { type Door, runGroupMutation } from '../group-mutation.js';
import { toLot } from '../ledger.js';
import { entryRecordDto } from '../records.js';
import { findActiveWallets, findCustomerByExternalId, findLotsOfWallets } from '../repositories.js';
import { requestHash } from '../unit-of-work.js';
import { isPastExpiration } from '../wallet-facts.js';
import { type UsageSyncInput, usageUpdateOf } from './usage.js';

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

function feesOf(invoice: InvoiceInput): AllocationFee[] {
  return invoice.fees.map((fee) => ({
    feeType: fee.feeType,
    billableMetricCode: fee.billableMetricCode ?? null,
    amount: fee.amount,
    coupons: fee.coupons,
    taxes: fee.taxes,
    creditNotes: fee.creditNotes,
  }));
}

function planFor(invoice: InvoiceInput, wallets: Wallet[], balances?: Map<string, Amount>): Allocation {
  return allocateInvoice({ totalAmountCents: invoice.totalAmountCents, fees: feesOf(invoice) }, wallets, balances);
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
  const existing = await em.findOne(InvoiceApplicationRow, { organization: organizationId, invoiceId: invoice.id });
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

/** A planner's application as the answer (and the stored allocation). */
function allocationDto(invoice: InvoiceInput, application: InvoiceApplication): AllocationDto {
  return {
    invoiceId: invoice.id,
    prepaidCreditAmountCents: centsToNumber(application.totalCents),
    totalAfterCreditsCents: centsToNumber(invoice.totalAmountCents - application.totalCents),
    prepaidGrantedCreditAmountCents: centsToNumber(application.grantedCents),
    prepaidPurchasedCreditAmountCents: centsToNumber(application.purchasedCents),
    wallets: application.shares.map((share) => ({
      walletId: share.walletId,
      amountCents: centsToNumber(share.amount.amountCents),
      creditAmount: formatDecimal(share.amount.creditAmount),
      transactionId: share.entryId,
    })),
  };
}

function invoiceToApply(invoice: InvoiceInput): InvoiceToApply {
  return {
    id: invoice.id,
    currency: invoice.currency,
    invoiceType: invoice.invoiceType,
    totalAmountCents: invoice.totalAmountCents,
    fees: feesOf(invoice),
  };
}

/**
 * Applies an invoice through the door: claims its id under the customer's lock, plans with
 * wallet-core (which may fire threshold rules) and writes the delta with the allocation.
 */
export async function applyPrepaidCredits(work: { door: Door }, invoice: InvoiceInput, usage?: UsageSyncInput): Promise<AllocationDto> {
  if (usage && (usage.externalCustomerId !== invoice.externalCustomerId || usage.currency !== invoice.currency)) {
    throw new WalletError('VALIDATION_FAILED', 'usage must be the snapshot of the invoice customer and currency', {
      issues: [{ path: ['usage', 'externalCustomerId'], message: 'must match the invoice customer and currency' }],
    });
  }
  const hash = contentHash(invoice);
  return runGroupMutation(
    work.door,
    {
      customer: { externalId: invoice.externalCustomerId },
      scope: { currency: invoice.currency },
      applyInvoice: { invoiceId: invoice.id, hash },
    },
    ({ invoice: claim, records }, clock) => {
      if (claim && !claim.claimed) {
        if (claim.status === 'voided') throw new WalletError('INVOICE_VOIDED', `invoice ${invoice.id} was voided`, { invoiceId: invoice.id });
        if (claim.requestHash !== hash) {
          throw new WalletError('INVOICE_ALREADY_APPLIED', `invoice ${invoice.id} was already applied with other content`, { invoiceId: invoice.id });
        }
        return { answer: claim.allocation as AllocationDto };
      }
      const claimId = claim?.id as string;
      if (!records) {
        const answer = emptyAllocation(invoice);
        return { answer, invoice: { id: claimId, allocation: answer } };
      }
      const { delta, application } = planApplyInvoice(records, invoiceToApply(invoice), usage && usageUpdateOf(usage), clock);
      const answer = allocationDto(invoice, application);
      return { answer, delta, invoice: { id: claimId, allocation: answer } };
    },
  );
}

/** Voids an applied invoice once: its customer's active wallets get the consumed credits back (wallet-core's void planner). */
export async function voidInvoice(work: { door: Door }, invoiceId: string) {
  return runGroupMutation(
    work.door,
    { customer: { ofClaimedInvoice: true }, scope: { allCurrencies: true }, voidInvoice: { invoiceId } },
    ({ invoice: claim, records, outbound, paidBy }, clock) => {
      // An unknown invoice is claimed as voided (never applicable later); a second void gives nothing.
      if (!claim || claim.claimed || claim.status === 'voided' || !records) return { answer: { transactions: [] as WalletTransactionDto[] } };
      const { delta, recredits } = planVoidInvoice(records, invoiceId, outbound, clock, paidBy);
      const currencyOf = new Map(records.wallets.map((w) => [w.id, w.currency]));
      return {
        answer: { transactions: recredits.map((entry) => entryRecordDto(entry, currencyOf.get(entry.walletId)!) as WalletTransactionDto) },
        delta,
        invoice: { id: claim.id, status: 'voided', voidedAt: clock.now },
      };
    },
  );
}
