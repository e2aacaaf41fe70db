/**
 * Top-ups, grants, voids and payment reports (DESIGN.md flows 1, 2 and 6).
 * Payment states: pending -> settled (lot created, balance rises) | failed; failed -> settled;
 * settled + failure -> stays settled, what is left of its lot is voided (claw-back). A report that
 * was already applied returns the transaction unchanged, so no purchase ever settles twice.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { endedWalletSource, isPayablePurchase, planPaymentTransition, planWalletTransactions, WalletError } from '@wallets/core';
import { transactionDto, type WalletTransactionDto } from '../dto.js';
import { type MetadataItem, WalletTransaction } from '../entities/index.js';
import { type Door, runGroupMutation } from '../group-mutation.js';
import { olderThan, type Page, toPage } from '../pagination.js';
import { entryRecordDto } from '../records.js';
import { findTransactionCustomerId, getTransactionOrFail, getWalletOrFail, isUuid, lockCustomer } from '../repositories.js';
import type { Work } from '../unit-of-work.js';
import { isPastExpiration } from '../wallet-facts.js';

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

export async function recordPayment(work: Work, input: RecordPaymentInput) {
  const { em, ctx, ledger, events } = work;
  const customerId = await findTransactionCustomerId(em, ctx.organizationId, input.id);
  if (!customerId) throw new WalletError('TRANSACTION_NOT_FOUND', `wallet transaction ${input.id} not found`, { transactionId: input.id });
  await lockCustomer(em, ctx.organizationId, customerId);
  const tx = await getTransactionOrFail(em, ctx.organizationId, input.id);
  if (!isPayablePurchase(tx)) {
    throw new WalletError('TRANSACTION_NOT_PAYABLE', `wallet transaction ${tx.id} is ${tx.transactionStatus}, not a purchase`, {
      transactionId: tx.id,
    });
  }
  const wallet = tx.wallet;
  const statusBefore = tx.status;
  // A wallet past its expiry is expired now, before the payment is looked at (its pending top-ups fail).
  if (wallet.status === 'active' && isPastExpiration(wallet, ctx.now)) await ledger.terminate(wallet, 'expiration');

  const transition = planPaymentTransition(tx, statusBefore, input.status);
  const settles = transition === 'settle';
  const fails = transition === 'fail' || transition === 'report_failure';
  const clawsBack = transition === 'claw_back';
  // The host's invoice id is recorded with the report that takes effect; a repeat changes nothing.
  if ((settles || fails || clawsBack) && input.invoiceId !== undefined && tx.invoiceId === null) tx.invoiceId = input.invoiceId;

  if (settles) {
    ledger.settle(wallet, tx);
    if (wallet.status === 'terminated') {
      // Money arrived for a wallet that no longer exists: settle and void at once, so the trail
      // shows what the host must refund.
      const source = endedWalletSource(wallet);
      await ledger.voidRemainder(wallet, [tx], { source, voidedTransactionId: tx.id });
    } else {
      await ledger.expireDueLots(wallet);
    }
  } else if (fails) {
    if (tx.status === 'pending') ledger.fail(tx);
    events.transaction('wallet_transaction.payment_failure', tx);
  } else if (clawsBack) {
    tx.clawedBackAt = ctx.now;
    await ledger.voidRemainder(wallet, [tx], { source: 'payment_failure', voidedTransactionId: tx.id });
    events.transaction('wallet_transaction.payment_failure', tx);
  }
  await em.flush();
  return transactionDto(tx);
}

export async function getWalletTransaction(em: EntityManager, organizationId: string, id: string) {
  return transactionDto(await getTransactionOrFail(em, organizationId, id));
}

export async function listWalletTransactions(
  em: EntityManager,
  organizationId: string,
  input: {
    walletId: string;
    status?: string | undefined;
    transactionType?: string | undefined;
    transactionStatus?: string | undefined;
    cursor?: string | null | undefined;
    limit: number;
  },
): Promise<Page<ReturnType<typeof transactionDto>>> {
  const wallet = await getWalletOrFail(em, organizationId, input.walletId);
  const where: Record<string, unknown> = { organization: organizationId, wallet: wallet.id, ...olderThan(input.cursor) };
  if (input.status) where.status = input.status;
  if (input.transactionType) where.transactionType = input.transactionType;
  if (input.transactionStatus) where.transactionStatus = input.transactionStatus;
  const rows = await em.find(WalletTransaction, where as never, {
    populate: ['wallet'],
    orderBy: { createdAt: 'desc', id: 'desc' },
    limit: input.limit + 1,
  });
  return toPage(rows, input.limit, transactionDto);
}
