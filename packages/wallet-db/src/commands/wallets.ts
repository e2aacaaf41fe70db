import {
  type CreateWalletCommand,
  type PlannedWallet,
  planCreateWallet,
  planTerminateWallet,
  planUpdateWallet,
  type UpdateWalletCommand,
  WalletError,
} from '@wallets/core';
import type { WalletDto } from '../dto.js';
import { type Door, runGroupMutation } from '../group-mutation.js';
import { walletRecordDto } from '../records.js';
import { isUuid } from '../repositories.js';

export type { AppliesToInput, RuleInput } from '@wallets/core';

export interface CreateWalletInput extends CreateWalletCommand {
  externalCustomerId: string;
}

export type UpdateWalletInput = UpdateWalletCommand;

const walletAnswer = ({ delta, wallet, rules }: PlannedWallet, externalCustomerId: string) => ({
  answer: walletRecordDto(wallet, externalCustomerId, rules) as WalletDto,
  delta,
});

/** Create: the customer's whole group (an overdue wallet of any currency is expired first, voiding all it holds). */
export async function createWallet(work: { door: Door }, input: CreateWalletInput) {
  const { externalCustomerId, ...command } = input;
  const load = { customer: { externalId: externalCustomerId }, scope: { allCurrencies: true }, lots: 'all' } as const;
  return runGroupMutation(work.door, load, ({ records }, clock) => {
    if (!records) throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${externalCustomerId} not found`, { externalId: externalCustomerId });
    return walletAnswer(planCreateWallet(records, command, clock), externalCustomerId);
  });
}

/** Update: the wallet and the customer's active wallets (their codes); no lot moves. */
export async function updateWallet(work: { door: Door }, input: UpdateWalletInput) {
  const notFound = () => new WalletError('WALLET_NOT_FOUND', `wallet ${input.id} not found`, { walletId: input.id });
  if (!isUuid(input.id)) throw notFound();
  const load = { customer: { ownerOf: input.id }, scope: { allCurrencies: true }, lots: 'none' } as const;
  return runGroupMutation(work.door, load, ({ records }, clock) => {
    if (!records?.wallets.some((w) => w.id === input.id)) throw notFound();
    return walletAnswer(planUpdateWallet(records, input, clock), records.customer.externalId);
  });
}

/** Terminate through the door (wallet-core's planner decides); an ended wallet is answered as it is. */
export async function terminateWallet(work: { door: Door }, walletId: string) {
  const notFound = () => new WalletError('WALLET_NOT_FOUND', `wallet ${walletId} not found`, { walletId });
  if (!isUuid(walletId)) throw notFound();
  // Every lot: termination voids all the wallet holds.
  const load = { customer: { ownerOf: walletId }, scope: { walletId }, lots: 'all' } as const;
  return runGroupMutation(work.door, load, ({ records }, clock) => {
    if (!records?.wallets.some((w) => w.id === walletId)) throw notFound();
    return walletAnswer(planTerminateWallet(records, walletId, clock), records.customer.externalId);
  });
}
