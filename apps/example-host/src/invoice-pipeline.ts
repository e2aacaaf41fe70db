/**
 * The host's invoice pipeline, in Lago's order of deductions (reference 3c): fees -> coupons ->
 * taxes -> credit notes -> prepaid credits last.
 *
 * The maths (`planFees`, `computeInvoice`) is pure and exact:
 * - fees: the plan's subscription fee, plus one charge per billable metric, `units x unit price`
 *   rounded half up to the cent (units and unit prices are decimal strings);
 * - a coupon (percentage, rounded half up once, or fixed, capped at the fees) spread over the fees
 *   in proportion to their amounts by exact allocation, in whole cents;
 * - taxes per fee at the invoice's rate on `amount - coupon`, kept exact in 1e-5 cents (a rate that
 *   cannot be exact at that precision is refused);
 * - credit notes: an amount of whole cents, capped at the total, spread over the fees in proportion
 *   to their amounts after coupons and taxes, exactly in 1e-5 cents;
 * - the total `fees - coupons + taxes - credit notes`, rounded half up once, to the cent.
 *
 * `finalizeInvoice` then asks the wallets plugin (preview, then apply), deducts the prepaid credits
 * and checks the plugin's answer against the host's own subtraction; `voidInvoice` gives them back.
 */
import type { RouterInputs, RouterOutputs, WalletClient } from '@wallets/api/client';
import {
  allocateExact,
  centsFromWire,
  centsToWire,
  divExact,
  divRoundHalfUp,
  formatPreciseCents,
  minBig,
  PRECISE_SCALE,
  parseDecimal,
  sum,
} from './money.js';

export type WireInvoice = RouterInputs['invoices']['applyPrepaidCredits']['invoice'];
export type InvoiceType = WireInvoice['invoiceType'];
export type FeeType = WireInvoice['fees'][number]['feeType'];
export type Allocation = RouterOutputs['invoices']['applyPrepaidCredits'];

export interface Charge {
  billableMetricCode: string;
  /** Price of one unit, in cents, as a decimal string ("0.05" cents per API call). */
  unitPriceCents: string;
}

export interface Plan {
  code: string;
  currency: string;
  /** The subscription fee for one billing period. */
  amountCents: bigint;
  charges: readonly Charge[];
}

/** Units consumed in the period per billable metric, as decimal strings ("12.5" GB). */
export type Usage = Readonly<Record<string, string>>;

export type Coupon = { code: string; kind: 'percentage'; percent: string } | { code: string; kind: 'fixed'; amountCents: bigint };

export interface FeeLine {
  key: string;
  feeType: FeeType;
  billableMetricCode: string | null;
  description: string;
  amountCents: bigint;
}

export interface InvoiceFee extends FeeLine {
  id: string;
  /** Whole cents of the coupon carried by this fee. */
  couponsAmountCents: bigint;
  /** 1e-5 cents. */
  taxesPreciseCents: bigint;
  /** 1e-5 cents. */
  creditNotesPreciseCents: bigint;
}

export interface Invoice {
  id: string;
  externalCustomerId: string;
  currency: string;
  invoiceType: InvoiceType;
  fees: InvoiceFee[];
  feesAmountCents: bigint;
  couponsAmountCents: bigint;
  subTotalExcludingTaxesCents: bigint;
  /** Exact sum of the fee taxes, 1e-5 cents. */
  taxesPreciseCents: bigint;
  /** Taxes rounded for display (the total is rounded once, from the exact amounts). */
  taxesAmountCents: bigint;
  creditNotesAmountCents: bigint;
  /** After coupons, taxes and credit notes; before prepaid credits. */
  totalAmountCents: bigint;
}

export interface FinalizedInvoice extends Invoice {
  status: 'finalized';
  prepaidCreditAmountCents: bigint;
  totalAfterCreditsCents: bigint;
  paymentStatus: 'succeeded' | 'pending';
  allocation: Allocation;
}

/** The plugin's answer disagrees with the host's books: the invoice must not be issued. */
export class InvoiceCheckError extends Error {
  constructor(
    message: string,
    readonly details: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'InvoiceCheckError';
  }
}

/** `units x price` rounded half up to the cent. */
export function chargeAmountCents(units: string, unitPriceCents: string): bigint {
  const u = parseDecimal(units);
  const p = parseDecimal(unitPriceCents);
  return divRoundHalfUp(u.units * p.units, u.scale * p.scale);
}

/** The fee lines of one billing period: the subscription fee and one charge per metric used. */
export function planFees(plan: Plan, usage: Usage): FeeLine[] {
  const known = new Set(plan.charges.map((c) => c.billableMetricCode));
  const unknown = Object.keys(usage).filter((code) => !known.has(code));
  if (unknown.length > 0) throw new RangeError(`usage for metrics not in plan ${plan.code}: ${unknown.join(', ')}`);
  const lines: FeeLine[] = [
    { key: 'subscription', feeType: 'subscription', billableMetricCode: null, description: `Plan ${plan.code}`, amountCents: plan.amountCents },
  ];
  for (const charge of plan.charges) {
    const units = usage[charge.billableMetricCode] ?? '0';
    lines.push({
      key: charge.billableMetricCode,
      feeType: 'charge',
      billableMetricCode: charge.billableMetricCode,
      description: `${units} ${charge.billableMetricCode} x ${charge.unitPriceCents} cents`,
      amountCents: chargeAmountCents(units, charge.unitPriceCents),
    });
  }
  return lines;
}

/** The coupon's total on these fees, in whole cents, never more than the fees. */
export function couponAmountCents(coupon: Coupon | undefined, feesAmountCents: bigint): bigint {
  if (!coupon) return 0n;
  if (coupon.kind === 'fixed') {
    if (coupon.amountCents < 0n) throw new RangeError('a fixed coupon must not be negative');
    return minBig(coupon.amountCents, feesAmountCents);
  }
  const percent = parseDecimal(coupon.percent);
  if (percent.units > 100n * percent.scale) throw new RangeError('a percentage coupon is at most 100');
  return divRoundHalfUp(feesAmountCents * percent.units, 100n * percent.scale);
}

/** Exact tax on a base of whole cents, in 1e-5 cents. */
export function taxPreciseCents(baseCents: bigint, taxRatePercent: string): bigint {
  const rate = parseDecimal(taxRatePercent);
  return divExact(baseCents * rate.units * PRECISE_SCALE, 100n * rate.scale, `tax at ${taxRatePercent}%`);
}

export interface InvoiceDraft {
  id: string;
  externalCustomerId: string;
  currency: string;
  invoiceType: InvoiceType;
  lines: readonly FeeLine[];
  coupon?: Coupon | undefined;
  /** Percent, e.g. "20" for 20% VAT; at most 3 decimals so that taxes are exact. */
  taxRatePercent: string;
  /** The customer's credit note balance available to this invoice, whole cents. */
  creditNoteCents?: bigint | undefined;
}

export function computeInvoice(draft: InvoiceDraft): Invoice {
  const amounts = draft.lines.map((line) => line.amountCents);
  if (amounts.some((a) => a < 0n)) throw new RangeError('fee amounts must not be negative');
  const feesAmountCents = sum(amounts);
  // 1. Coupons, before taxes, in whole cents.
  const couponsAmountCents = couponAmountCents(draft.coupon, feesAmountCents);
  const coupons = allocateExact(couponsAmountCents, amounts);
  // 2. Taxes, exact, per fee.
  const taxes = draft.lines.map((line, i) => taxPreciseCents(line.amountCents - coupons[i]!, draft.taxRatePercent));
  const taxesPreciseCents = sum(taxes);
  const subTotalExcludingTaxesCents = feesAmountCents - couponsAmountCents;
  const subTotalIncludingTaxesPrecise = subTotalExcludingTaxesCents * PRECISE_SCALE + taxesPreciseCents;
  const roundedBeforeCreditNotes = divRoundHalfUp(subTotalIncludingTaxesPrecise, PRECISE_SCALE);
  // 3. Credit notes, after taxes, capped at the total; spread exactly over the fees' post-tax amounts.
  const creditNotesAmountCents = minBig(draft.creditNoteCents ?? 0n, roundedBeforeCreditNotes);
  if (creditNotesAmountCents < 0n) throw new RangeError('a credit note must not be negative');
  const postTax = draft.lines.map((line, i) => (line.amountCents - coupons[i]!) * PRECISE_SCALE + taxes[i]!);
  const creditNotes = allocateExact(creditNotesAmountCents * PRECISE_SCALE, postTax);
  // 4. The total, rounded once: round(exact incl. taxes - credit notes) = round(exact incl. taxes) - credit notes,
  //    as the credit notes are whole cents.
  const totalAmountCents = roundedBeforeCreditNotes - creditNotesAmountCents;
  return {
    id: draft.id,
    externalCustomerId: draft.externalCustomerId,
    currency: draft.currency,
    invoiceType: draft.invoiceType,
    fees: draft.lines.map((line, i) => ({
      ...line,
      id: `${draft.id}:${line.key}`,
      couponsAmountCents: coupons[i]!,
      taxesPreciseCents: taxes[i]!,
      creditNotesPreciseCents: creditNotes[i]!,
    })),
    feesAmountCents,
    couponsAmountCents,
    subTotalExcludingTaxesCents,
    taxesPreciseCents,
    taxesAmountCents: divRoundHalfUp(taxesPreciseCents, PRECISE_SCALE),
    creditNotesAmountCents,
    totalAmountCents,
  };
}

/** The invoice as the plugin reads it: cents as numbers, sub-cent amounts as decimal strings of cents. */
export function toWireInvoice(invoice: Invoice): WireInvoice {
  return {
    id: invoice.id,
    externalCustomerId: invoice.externalCustomerId,
    currency: invoice.currency,
    invoiceType: invoice.invoiceType,
    totalAmountCents: centsToWire(invoice.totalAmountCents),
    fees: invoice.fees.map((fee) => ({
      id: fee.id,
      feeType: fee.feeType,
      ...(fee.billableMetricCode ? { billableMetricCode: fee.billableMetricCode } : {}),
      amountCents: centsToWire(fee.amountCents),
      couponsAmountCents: centsToWire(fee.couponsAmountCents),
      taxesAmountCents: formatPreciseCents(fee.taxesPreciseCents),
      creditNotesAmountCents: formatPreciseCents(fee.creditNotesPreciseCents),
    })),
  };
}

/** What must agree between two answers of the plugin for the same invoice. */
function allocationKey(allocation: Allocation) {
  return JSON.stringify({
    prepaidCreditAmountCents: allocation.prepaidCreditAmountCents,
    totalAfterCreditsCents: allocation.totalAfterCreditsCents,
    prepaidGrantedCreditAmountCents: allocation.prepaidGrantedCreditAmountCents,
    prepaidPurchasedCreditAmountCents: allocation.prepaidPurchasedCreditAmountCents,
    wallets: allocation.wallets.map((w) => [w.walletId, w.amountCents, w.creditAmount]),
  });
}

/** The host's checks on an allocation; returns the prepaid credits in cents. */
export function checkAllocation(invoice: Invoice, allocation: Allocation): bigint {
  const fail = (message: string) => {
    throw new InvoiceCheckError(`invoice ${invoice.id}: ${message}`, { invoice: invoice.id, allocation });
  };
  if (allocation.invoiceId !== invoice.id) fail(`allocation is for invoice ${allocation.invoiceId}`);
  const applied = centsFromWire(allocation.prepaidCreditAmountCents);
  if (applied < 0n) fail('negative prepaid credits');
  if (applied > invoice.totalAmountCents) fail(`prepaid credits ${applied} exceed the total ${invoice.totalAmountCents}`);
  const hostTotalAfter = invoice.totalAmountCents - applied;
  if (centsFromWire(allocation.totalAfterCreditsCents) !== hostTotalAfter) {
    fail(`plugin says ${allocation.totalAfterCreditsCents} left to pay, the host computes ${hostTotalAfter}`);
  }
  const walletCents = allocation.wallets.map((w) => centsFromWire(w.amountCents));
  if (sum(walletCents) !== applied) fail(`wallet amounts sum to ${sum(walletCents)}, not ${applied}`);
  if (walletCents.some((c) => c <= 0n || c > invoice.totalAmountCents)) fail('a wallet paid nothing, or more than the invoice');
  if (new Set(allocation.wallets.map((w) => w.walletId)).size !== allocation.wallets.length) fail('a wallet appears twice');
  const split = centsFromWire(allocation.prepaidGrantedCreditAmountCents) + centsFromWire(allocation.prepaidPurchasedCreditAmountCents);
  if (split !== applied) fail(`granted + purchased = ${split}, not ${applied}`);
  return applied;
}

/**
 * Finalizes an invoice: preview, apply, deduct the prepaid credits, check. Call it once per invoice
 * (a retry after a lost answer gets the first allocation back from apply, while a new preview may
 * differ: the host then trusts apply, see `resumeFinalizeInvoice`).
 */
export async function finalizeInvoice(client: WalletClient, invoice: Invoice): Promise<FinalizedInvoice> {
  const wire = toWireInvoice(invoice);
  const preview = await client.invoices.previewPrepaidCredits.mutate({ invoice: wire });
  checkAllocation(invoice, preview);
  const allocation = await client.invoices.applyPrepaidCredits.mutate({ invoice: wire });
  if (allocationKey(preview) !== allocationKey(allocation)) {
    throw new InvoiceCheckError(`invoice ${invoice.id}: the preview and the apply disagree`, { preview, allocation });
  }
  return finalized(invoice, allocation);
}

/** Re-finalizes an invoice whose apply may already have happened (idempotent per invoice id). */
export async function resumeFinalizeInvoice(client: WalletClient, invoice: Invoice): Promise<FinalizedInvoice> {
  return finalized(invoice, await client.invoices.applyPrepaidCredits.mutate({ invoice: toWireInvoice(invoice) }));
}

function finalized(invoice: Invoice, allocation: Allocation): FinalizedInvoice {
  const prepaidCreditAmountCents = checkAllocation(invoice, allocation);
  const totalAfterCreditsCents = invoice.totalAmountCents - prepaidCreditAmountCents;
  return {
    ...invoice,
    status: 'finalized',
    prepaidCreditAmountCents,
    totalAfterCreditsCents,
    // Lago: an invoice fully paid by credits is paid; anything left is collected.
    paymentStatus: totalAfterCreditsCents === 0n ? 'succeeded' : 'pending',
    allocation,
  };
}

export interface VoidResult {
  invoiceId: string;
  /** Credits given back, as new granted lots (none for wallets no longer active). */
  transactions: RouterOutputs['invoices']['void']['transactions'];
  creditedBackCents: bigint;
}

/** Voids an invoice on the plugin's side: its prepaid credits come back once. */
export async function voidInvoice(client: WalletClient, invoiceId: string): Promise<VoidResult> {
  const { transactions } = await client.invoices.void.mutate({ invoiceId });
  return { invoiceId, transactions, creditedBackCents: sum(transactions.map((t) => centsFromWire(t.amountCents))) };
}
