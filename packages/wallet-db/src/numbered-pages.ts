/**
 * Reads paged by number (page, per page, total count), newest first, for callers that page the way
 * Lago's REST API does; the tRPC lists page by cursor (pagination.ts). Each page maps its rows
 * through the same DTOs as every other read.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { customerDto, transactionDto, walletDto } from './dto.js';
import { Customer, Wallet, WalletTransaction } from './entities/index.js';
import { findCustomerByExternalId, getWalletOrFail, loadActiveRules } from './repositories.js';

export interface NumberedPage<T> {
  items: T[];
  totalCount: number;
}

export interface PageRequest {
  /** 1-based. */
  page: number;
  perPage: number;
}

const window = ({ page, perPage }: PageRequest) => ({ offset: (page - 1) * perPage, limit: perPage });
const newestFirst = { createdAt: 'desc', id: 'desc' } as const;

export async function pageCustomers(
  em: EntityManager,
  organizationId: string,
  request: PageRequest,
): Promise<NumberedPage<ReturnType<typeof customerDto>>> {
  const [rows, totalCount] = await em.findAndCount(Customer, { organization: organizationId }, { orderBy: newestFirst, ...window(request) });
  return { items: rows.map(customerDto), totalCount };
}

/** The wallet DTO plus the id of its customer (REST answers name both). */
export type WalletWithCustomer = ReturnType<typeof walletDto> & { customerId: string };

async function withRules(em: EntityManager, organizationId: string, rows: Wallet[]): Promise<WalletWithCustomer[]> {
  const rules = await loadActiveRules(
    em,
    organizationId,
    rows.map((w) => w.id),
  );
  return rows.map((w) => ({ ...walletDto(w, rules.get(w.id) ?? []), customerId: w.customer.id }));
}

/** A customer's wallets (CUSTOMER_NOT_FOUND for an unknown one), or every wallet of the organization. */
export async function pageWallets(
  em: EntityManager,
  organizationId: string,
  input: PageRequest & { externalCustomerId?: string | undefined; currency?: string | undefined },
): Promise<NumberedPage<WalletWithCustomer>> {
  const where: Record<string, unknown> = { organization: organizationId };
  if (input.externalCustomerId !== undefined) {
    const customer = await findCustomerByExternalId(em, organizationId, input.externalCustomerId);
    if (!customer) {
      throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${input.externalCustomerId} not found`, { externalId: input.externalCustomerId });
    }
    where.customer = customer.id;
  }
  if (input.currency !== undefined) where.currency = input.currency;
  const [rows, totalCount] = await em.findAndCount(Wallet, where as never, { populate: ['customer'], orderBy: newestFirst, ...window(input) });
  return { items: await withRules(em, organizationId, rows), totalCount };
}

export async function pageWalletTransactions(
  em: EntityManager,
  organizationId: string,
  input: PageRequest & {
    walletId: string;
    status?: string | undefined;
    transactionType?: string | undefined;
    transactionStatus?: string | undefined;
  },
): Promise<NumberedPage<ReturnType<typeof transactionDto>>> {
  const wallet = await getWalletOrFail(em, organizationId, input.walletId);
  const where: Record<string, unknown> = { organization: organizationId, wallet: wallet.id };
  if (input.status) where.status = input.status;
  if (input.transactionType) where.transactionType = input.transactionType;
  if (input.transactionStatus) where.transactionStatus = input.transactionStatus;
  const [rows, totalCount] = await em.findAndCount(WalletTransaction, where as never, {
    populate: ['wallet'],
    orderBy: newestFirst,
    ...window(input),
  });
  return { items: rows.map(transactionDto), totalCount };
}

/**
 * The wallet a customer knows by `code`: its active one, else the latest terminated one with that
 * code (codes are unique among active wallets only). WALLET_NOT_FOUND when there is none.
 */
export async function findWalletIdByCode(em: EntityManager, organizationId: string, externalCustomerId: string, code: string): Promise<string> {
  const customer = await findCustomerByExternalId(em, organizationId, externalCustomerId);
  if (!customer) throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${externalCustomerId} not found`, { externalId: externalCustomerId });
  const [wallet] = await em.find(
    Wallet,
    { organization: organizationId, customer: customer.id, code },
    { orderBy: { status: 'asc', createdAt: 'desc', id: 'desc' }, limit: 1, fields: ['id'] },
  );
  if (!wallet) throw new WalletError('WALLET_NOT_FOUND', `customer ${externalCustomerId} has no wallet ${code}`, { code });
  return wallet.id;
}

/** Customer ids by external id, for answers that name both (one statement). */
export async function customerIdsByExternalId(
  em: EntityManager,
  organizationId: string,
  externalIds: readonly string[],
): Promise<Map<string, string>> {
  const unique = [...new Set(externalIds)];
  if (unique.length === 0) return new Map();
  const rows = await em.find(Customer, { organization: organizationId, externalId: { $in: unique } }, { fields: ['id', 'externalId'] });
  return new Map(rows.map((c) => [c.externalId, c.id]));
}
