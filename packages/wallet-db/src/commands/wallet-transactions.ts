import { planRecordPayment, planWalletTransactions, WalletError } from '@wallets/core';
import type { WalletTransactionDto } from '../dto.js';
import type { MetadataItem } from '../entities/index.js';
import { type Door, runGroupMutation } from '../group-mutation.js';
import { entryRecordDto } from '../records.js';
import { isUuid } from '../repositories.js';

export interface CreateTransactionsInput {
  walletId: string;
  paidCredits?: bigint | undefined;
  grantedCredits?: bigint | undefined;
  voidedCredits?: bigint | undefined;
  invoiceRequiresSuccessfulPayment?: boolean | undefined;
  ignorePaidTopUpLimits?: boolean | undefined;
  name?: string | null | undefined;
  metadata?: MetadataItem[] | undefined;
  expirationAt?: Date | null | undefined;
  priority?: number | undefined;
}

/** Top-ups, grants and voids of one wallet through the door (wallet-core's planner decides; threshold rules may fire). */
export async function createWalletTransactions(work: { door: Door }, input: CreateTransactionsInput) {
  const notFound = () => new WalletError('WALLET_NOT_FOUND', `wallet ${input.walletId} not found`, { walletId: input.walletId });
  if (!isUuid(input.walletId)) throw notFound();
  // Only a void consumes lots: top-ups and grants load just the lots due to expire (voided first).
  const load = { customer: { ownerOf: input.walletId }, scope: { walletId: input.walletId }, lots: input.voidedCredits ? 'all' : 'due' } as const;
  return runGroupMutation(work.door, load, ({ records }, clock) => {
    const wallet = records?.wallets.find((w) => w.id === input.walletId);
    if (!records || !wallet) throw notFound();
    const { delta, created } = planWalletTransactions(records, input, clock);
    // Every entry made carries the command's metadata: the answer shows that one list (as the stored replay always has).
    const metadata = input.metadata ?? [];
    const transactions = created.map((entry) => ({ ...entryRecordDto(entry, wallet.currency), metadata }) as WalletTransactionDto);
    return { answer: { transactions }, delta };
  });
}

export interface RecordPaymentInput {
  id: string;
  status: 'succeeded' | 'failed';
  invoiceId?: string | undefined;
}

/** A payment report through the door: the customer is the transaction's owner (wallet-core's planner decides). */
export async function recordPayment(work: { door: Door }, input: RecordPaymentInput) {
  const notFound = () => new WalletError('TRANSACTION_NOT_FOUND', `wallet transaction ${input.id} not found`, { transactionId: input.id });
  if (!isUuid(input.id)) throw notFound();
  // A report consumes no lot: it voids those due, or (a wallet past its expiry, terminated first) all its wallet holds;
  // a claw-back voids what is left of the named purchase, which is loaded whatever its state.
  const load = { customer: { ownerOfEntry: input.id }, scope: { walletOfEntry: true }, lots: 'expiring' } as const;
  return runGroupMutation(work.door, load, ({ records }, clock) => {
    if (!records) throw notFound();
    const { delta, entry } = planRecordPayment(records, { entryId: input.id, status: input.status, invoiceId: input.invoiceId }, clock);
    const wallet = records.wallets.find((w) => w.id === entry.walletId)!;
    return { answer: entryRecordDto(entry, wallet.currency) as WalletTransactionDto, delta };
  });
}
