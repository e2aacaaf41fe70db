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
import {
  type AllocationFee,
  type DraftClock,
  formatDecimal,
  type InvoiceApplication,
  type InvoiceToApply,
  planApplyInvoice,
  planVoidInvoice,
  WalletError,
} from '@wallets/core';
import { centsToNumber, type WalletTransactionDto } from '../dto.js';
import { type Decision, type Door, type Loaded, runGroupMutation } from '../group-mutation.js';
import { requestHash } from '../mutation-scope.js';
import { entryRecordDto } from '../records.js';
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

/** The door's load of an apply: the invoice's customer and currency, its id claimed under the lock. */
function applyLoad(invoice: InvoiceInput) {
  return {
    customer: { externalId: invoice.externalCustomerId },
    scope: { currency: invoice.currency },
    applyInvoice: { invoiceId: invoice.id, hash: contentHash(invoice) },
  };
}

/** What an apply decides on the loaded group: the first allocation again, a refusal, or wallet-core's plan. */
function decideApply(invoice: InvoiceInput, usage: UsageSyncInput | undefined) {
  return ({ invoice: claim, records }: Loaded, clock: DraftClock): Decision<AllocationDto> => {
    if (claim && !claim.claimed) {
      if (claim.status === 'voided') throw new WalletError('INVOICE_VOIDED', `invoice ${invoice.id} was voided`, { invoiceId: invoice.id });
      if (claim.requestHash !== contentHash(invoice)) {
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
  return runGroupMutation(work.door, applyLoad(invoice), decideApply(invoice, usage));
}

/**
 * The allocation an apply would make now, with no effect: the apply's own load and decision, rolled
 * back (an invoice already applied answers its first allocation, a voided one its error). The
 * answer names no transactions, since none is written.
 */
export async function previewPrepaidCredits(work: { door: Door }, invoice: InvoiceInput): Promise<AllocationDto> {
  const allocation = await runGroupMutation(work.door, applyLoad(invoice), decideApply(invoice, undefined), { preview: true });
  return { ...allocation, wallets: allocation.wallets.map(({ transactionId: _, ...share }) => share) };
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
