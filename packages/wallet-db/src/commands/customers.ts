/**
 * Customers are the host's; we keep their currency and timezone. The currency is set once (by the
 * host or by the first wallet) and cannot change while an active wallet uses it.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { customerDto } from '../dto.js';
import { Customer } from '../entities/index.js';
import { olderThan, type Page, toPage } from '../pagination.js';
import { countActiveWallets, findActiveWallets, getCustomerOrFail, lockCustomer } from '../repositories.js';
import type { Work } from '../unit-of-work.js';
import { isPastExpiration } from '../wallet-facts.js';

export interface UpsertCustomerInput {
  externalId: string;
  currency?: string | undefined;
  timezone?: string | undefined;
}

/** Inserts the customer if missing, then locks its row; returns it fresh. */
export async function ensureLockedCustomer(
  em: EntityManager,
  organizationId: string,
  externalId: string,
  create: boolean,
  now: Date = new Date(),
): Promise<Customer> {
  if (create) {
    await em.getConnection().execute(
      `insert into customers (id, organization_id, external_id, timezone, created_at, updated_at)
       values (?, ?, ?, 'UTC', ?, ?) on conflict (organization_id, external_id) do nothing`,
      [randomUUID(), organizationId, externalId, now, now],
      'all',
      em.getTransactionContext(),
    );
  }
  const rows: { id: string }[] = await em
    .getConnection()
    .execute(
      'select id from customers where organization_id = ? and external_id = ? for update',
      [organizationId, externalId],
      'all',
      em.getTransactionContext(),
    );
  const id = rows[0]?.id;
  if (!id) throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${externalId} not found`, { externalId });
  return em.findOneOrFail(Customer, { id, organization: organizationId }, { refresh: true });
}

export async function upsertCustomer({ em, ctx, ledger }: Work, input: UpsertCustomerInput) {
  const customer = await ensureLockedCustomer(em, ctx.organizationId, input.externalId, true, ctx.now);
  if (input.currency !== undefined && input.currency !== customer.currency) {
    // A wallet past its expiry is expired now and no longer holds the currency.
    for (const overdue of await findActiveWallets(em, ctx.organizationId, customer.id)) {
      if (isPastExpiration(overdue, ctx.now)) await ledger.terminate(overdue, 'expiration');
    }
    await em.flush();
    if (customer.currency !== null && (await countActiveWallets(em, ctx.organizationId, customer.id)) > 0) {
      throw new WalletError('CURRENCY_MISMATCH', `customer ${customer.externalId} has active wallets in ${customer.currency}`, {
        field: 'currency',
        currency: customer.currency,
      });
    }
    customer.currency = input.currency;
  }
  if (input.timezone !== undefined) customer.timezone = input.timezone;
  customer.updatedAt = ctx.now;
  return customerDto(customer);
}

export async function getCustomer(em: EntityManager, organizationId: string, externalId: string) {
  return customerDto(await getCustomerOrFail(em, organizationId, externalId));
}

export async function listCustomers(
  em: EntityManager,
  organizationId: string,
  { search, cursor, limit }: { search?: string | undefined; cursor?: string | null | undefined; limit: number },
): Promise<Page<ReturnType<typeof customerDto>>> {
  const where: Record<string, unknown> = { organization: organizationId, ...olderThan(cursor) };
  if (search) where.externalId = { $ilike: `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` };
  const rows = await em.find(Customer, where as never, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: limit + 1 });
  return toPage(rows, limit, customerDto);
}

export { lockCustomer };
