/**
 * The host's usage snapshot (DESIGN.md flow 4): current usage, draft invoices and what progressive
 * billing and pay-in-advance invoices already billed, per customer and currency. A sync replaces the
 * snapshot unless an equal or newer one (by `asOf`) is stored, then ongoing balances are recomputed
 * in the same transaction.
 */
import { randomUUID } from 'node:crypto';
import { formatDecimal, WalletError } from '@wallets/core';
import { walletDto } from '../dto.js';
import { type UsageFeeRecord, UsageSnapshot } from '../entities/index.js';
import { findActiveWallets, loadActiveRules } from '../repositories.js';
import type { Work } from '../unit-of-work.js';
import { ensureLockedCustomer } from './customers.js';

export interface UsageFeeInput {
  feeType: string;
  billableMetricCode?: string | null | undefined;
  /** 1e-5 cents. */
  amount: bigint;
  coupons: bigint;
  taxes: bigint;
}

export interface UsageSyncInput {
  externalCustomerId: string;
  currency: string;
  asOf?: Date | undefined;
  fees: UsageFeeInput[];
  draftInvoices?: { id: string; fees: UsageFeeInput[] }[] | undefined;
  billedFees?: UsageFeeInput[] | undefined;
}

const record = (fee: UsageFeeInput): UsageFeeRecord => ({
  feeType: fee.feeType,
  billableMetricCode: fee.billableMetricCode ?? null,
  amountCents: formatDecimal(fee.amount),
  couponsAmountCents: formatDecimal(fee.coupons),
  taxesAmountCents: formatDecimal(fee.taxes),
});

/** Stores the snapshot if it is newer than the stored one; the caller holds the customer lock. */
export async function storeUsageSnapshot(work: Work, customerId: string, input: UsageSyncInput): Promise<boolean> {
  const { em, ctx, ledger } = work;
  const asOf = input.asOf ?? ctx.now;
  let snapshot = await ledger.usageSnapshot(customerId, input.currency);
  if (snapshot && snapshot.asOf >= asOf) return false;
  if (!snapshot) {
    snapshot = em.create(UsageSnapshot, {
      id: randomUUID(),
      organization: ctx.organizationId,
      customer: customerId,
      currency: input.currency,
      asOf,
      updatedAt: ctx.now,
    } as never);
    ledger.rememberSnapshot(customerId, input.currency, snapshot);
  }
  snapshot.asOf = asOf;
  snapshot.fees = input.fees.map(record);
  snapshot.draftInvoices = (input.draftInvoices ?? []).map((draft) => ({ id: draft.id, fees: draft.fees.map(record) }));
  snapshot.billedFees = (input.billedFees ?? []).map(record);
  snapshot.updatedAt = ctx.now;
  return true;
}

/** A finalized invoice is no longer a draft: its fees leave the stored snapshot. */
export async function dropDraftInvoice(work: Work, customerId: string, currency: string, invoiceId: string): Promise<boolean> {
  const { ctx } = work;
  const snapshot = await work.ledger.usageSnapshot(customerId, currency);
  if (!snapshot?.draftInvoices.some((draft) => draft.id === invoiceId)) return false;
  snapshot.draftInvoices = snapshot.draftInvoices.filter((draft) => draft.id !== invoiceId);
  snapshot.updatedAt = ctx.now;
  return true;
}

export async function syncUsage(work: Work, input: UsageSyncInput) {
  const { em, ctx, ledger } = work;
  const customer = await ensureLockedCustomer(em, ctx.organizationId, input.externalCustomerId, false);
  if (customer.currency !== null && customer.currency !== input.currency) {
    throw new WalletError('CURRENCY_MISMATCH', `customer ${customer.externalId} is billed in ${customer.currency}`, {
      field: 'currency',
      currency: customer.currency,
    });
  }
  await storeUsageSnapshot(work, customer.id, input);
  const wallets = (await findActiveWallets(em, ctx.organizationId, customer.id)).filter((w) => w.currency === input.currency);
  ledger.touchGroup(customer.id, input.currency, wallets);
  await ledger.settleOngoing(); // recomputes ongoing balances and fires threshold rules
  await em.flush();
  const rules = await loadActiveRules(
    em,
    ctx.organizationId,
    wallets.map((w) => w.id),
  );
  return { wallets: wallets.map((w) => walletDto(w, rules.get(w.id) ?? [])) };
}
