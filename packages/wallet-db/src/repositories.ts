/**
 * Entity lookups for the reads that still go through the ORM (finance, numbered pages). Every query
 * filters by organization; another organization's ids are simply not found. Balance changes never
 * come here: they go through the door (group-mutation.ts).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { Customer, RecurringTransactionRule, Wallet, WalletTransaction } from './entities/index.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID_RE.test(value);

export async function findCustomerByExternalId(em: EntityManager, organizationId: string, externalId: string) {
  return em.findOne(Customer, { organization: organizationId, externalId });
}

export async function getWalletOrFail(em: EntityManager, organizationId: string, walletId: string): Promise<Wallet> {
  const wallet = isUuid(walletId) ? await em.findOne(Wallet, { id: walletId, organization: organizationId }, { populate: ['customer'] }) : null;
  if (!wallet) throw new WalletError('WALLET_NOT_FOUND', `wallet ${walletId} not found`, { walletId });
  return wallet;
}

export async function getTransactionOrFail(em: EntityManager, organizationId: string, transactionId: string): Promise<WalletTransaction> {
  const tx = isUuid(transactionId)
    ? await em.findOne(WalletTransaction, { id: transactionId, organization: organizationId }, { populate: ['wallet', 'wallet.customer'] })
    : null;
  if (!tx) throw new WalletError('TRANSACTION_NOT_FOUND', `wallet transaction ${transactionId} not found`, { transactionId });
  return tx;
}

export async function loadActiveRules(
  em: EntityManager,
  organizationId: string,
  walletIds: readonly string[],
): Promise<Map<string, RecurringTransactionRule[]>> {
  const map = new Map<string, RecurringTransactionRule[]>();
  if (walletIds.length === 0) return map;
  const rules = await em.find(
    RecurringTransactionRule,
    { organization: organizationId, wallet: { $in: [...walletIds] }, status: 'active' },
    { orderBy: { createdAt: 'asc', id: 'asc' } },
  );
  for (const rule of rules) {
    const list = map.get(rule.wallet.id) ?? [];
    list.push(rule);
    map.set(rule.wallet.id, list);
  }
  return map;
}
