/**
 * The host's usage snapshot (DESIGN.md flow 4): current usage, draft invoices and what progressive
 * billing and pay-in-advance invoices already billed, per customer and currency. A sync replaces the
 * snapshot unless an equal or newer one (by `asOf`) is stored, then ongoing balances are recomputed
 * in the same transaction.
 */
import { planUsageSync, type UsageFee, type UsageSnapshotUpdate, WalletError } from '@wallets/core';
import type { WalletDto } from '../dto.js';
import { type Door, runGroupMutation } from '../group-mutation.js';
import { walletRecordDto } from '../records.js';

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

/** The host's snapshot as wallet-core's update (amounts stay in 1e-5 cents). */
export function usageUpdateOf(input: Omit<UsageSyncInput, 'externalCustomerId' | 'currency'>): UsageSnapshotUpdate {
  const fees = (list: UsageFeeInput[]): UsageFee[] =>
    list.map((fee) => ({
      feeType: fee.feeType,
      billableMetricCode: fee.billableMetricCode ?? null,
      amount: fee.amount,
      coupons: fee.coupons,
      taxes: fee.taxes,
    }));
  return {
    asOf: input.asOf,
    fees: fees(input.fees),
    draftInvoices: (input.draftInvoices ?? []).map((d) => ({ id: d.id, fees: fees(d.fees) })),
    billedFees: fees(input.billedFees ?? []),
  };
}

/** Stores the host's snapshot (unless a newer one is stored) and settles the ongoing balances through the door. */
export async function syncUsage(work: { door: Door }, input: UsageSyncInput) {
  return runGroupMutation(
    work.door,
    // A sync neither consumes nor expires lots: none are loaded.
    { customer: { externalId: input.externalCustomerId }, scope: { currency: input.currency }, lots: 'none' },
    ({ records }, clock) => {
      if (!records)
        throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${input.externalCustomerId} not found`, { externalId: input.externalCustomerId });
      const { delta, wallets } = planUsageSync(records, { currency: input.currency, ...usageUpdateOf(input) }, clock);
      return {
        answer: { wallets: wallets.map(({ wallet, rules }) => walletRecordDto(wallet, records.customer.externalId, rules)) as WalletDto[] },
        delta,
      };
    },
  );
}
