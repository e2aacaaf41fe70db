/**
 * Loading and locking. Every query filters by organization; another organization's ids are simply
 * not found. Balance changes start with `lockCustomer`: one customer's changes serialise on that row,
 * different customers proceed in parallel.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { Customer, RecurringTransactionRule, Wallet, WalletTransaction } from './entities/index.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID_RE.test(value);

/** SELECT ... FOR UPDATE on the customer row; must run inside a transaction. */
export async function lockCustomer(em: EntityManager, organizationId: string, customerId: string): Promise<void> {
  await em
    .getConnection()
    .execute(
      'select 1 from customers where id = ? and organization_id = ? for update',
      [customerId, organizationId],
      'all',
      em.getTransactionContext(),
    );
}

export async function findCustomerByExternalId(em: EntityManager, organizationId: string, externalId: string) {
  return em.findOne(Customer, { organization: organizationId, externalId });
}

export async function getCustomerOrFail(em: EntityManager, organizationId: string, externalId: string): Promise<Customer> {
  const customer = await findCustomerByExternalId(em, organizationId, externalId);
  if (!customer) throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${externalId} not found`, { externalId });
  return customer;
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

/** The customer that owns a wallet, without loading the wallet into the identity map. */
export async function findWalletCustomerId(em: EntityManager, organizationId: string, walletId: string): Promise<string | null> {
  if (!isUuid(walletId)) return null;
  const rows: { customer_id: string }[] = await em
    .getConnection()
    .execute('select customer_id from wallets where id = ? and organization_id = ?', [walletId, organizationId], 'all', em.getTransactionContext());
  return rows[0]?.customer_id ?? null;
}

export async function findTransactionCustomerId(em: EntityManager, organizationId: string, transactionId: string): Promise<string | null> {
  if (!isUuid(transactionId)) return null;
  const rows: { customer_id: string }[] = await em
    .getConnection()
    .execute(
      'select customer_id from wallet_transactions where id = ? and organization_id = ?',
      [transactionId, organizationId],
      'all',
      em.getTransactionContext(),
    );
  return rows[0]?.customer_id ?? null;
}

export async function countActiveWallets(em: EntityManager, organizationId: string, customerId: string): Promise<number> {
  return em.count(Wallet, { organization: organizationId, customer: customerId, status: 'active' });
}

export async function findActiveWallets(em: EntityManager, organizationId: string, customerId: string): Promise<Wallet[]> {
  return em.find(
    Wallet,
    { organization: organizationId, customer: customerId, status: 'active' },
    { populate: ['customer'], orderBy: { priority: 'asc', createdAt: 'asc', id: 'asc' } },
  );
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

export async function findLots(em: EntityManager, organizationId: string, walletId: string): Promise<WalletTransaction[]> {
  return em.find(
    WalletTransaction,
    {
      organization: organizationId,
      wallet: walletId,
      transactionType: 'inbound',
      status: 'settled',
      $or: [{ remainingAmountCents: { $gt: 0n } }, { remainingCreditAmount: { $gt: 0n } }],
    } as never,
    { populate: ['wallet'] },
  );
}

/** The lots (settled inbound with something left) of several wallets, in one query. */
export async function findLotsOfWallets(
  em: EntityManager,
  organizationId: string,
  walletIds: readonly string[],
): Promise<Map<string, WalletTransaction[]>> {
  const byWallet = new Map<string, WalletTransaction[]>(walletIds.map((id) => [id, []]));
  if (walletIds.length === 0) return byWallet;
  const lots = await em.find(WalletTransaction, {
    organization: organizationId,
    wallet: { $in: [...walletIds] },
    transactionType: 'inbound',
    status: 'settled',
    $or: [{ remainingAmountCents: { $gt: 0n } }, { remainingCreditAmount: { $gt: 0n } }],
  } as never);
  for (const lot of lots) byWallet.get(lot.wallet.id)?.push(lot);
  return byWallet;
}

/** Locks the customer row found by its external id; null when there is no such customer. */
export async function lockCustomerByExternalId(em: EntityManager, organizationId: string, externalId: string): Promise<string | null> {
  const rows: { id: string }[] = await em
    .getConnection()
    .execute(
      'select id from customers where organization_id = ? and external_id = ? for update',
      [organizationId, externalId],
      'all',
      em.getTransactionContext(),
    );
  return rows[0]?.id ?? null;
}
