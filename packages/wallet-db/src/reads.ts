/**
 * The API's reads, one parameterized statement each (named, so PostgreSQL prepares it once per
 * connection), on a connection of the ORM's pool without the ORM: a wallet with its customer's
 * external id and its active rules aggregated in the same statement, wallet lists, a transaction
 * and a wallet's transactions. Rows become records and the wire shape through records.ts, the
 * mapping the writer uses. Customers by external id, and pages of them. Keyset pagination as pagination.ts (createdAt desc, id desc).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import type pg from 'pg';
import type { CustomerDto, WalletDto, WalletTransactionDto } from './dto.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';
import { customerRowDto, entryRecordDto, entryRecordOf, ruleRecordOf, walletRecordDto, walletRecordOf } from './records.js';
import { isUuid } from './repositories.js';

interface PoolClient {
  query(config: pg.QueryConfig): Promise<pg.QueryResult>;
}

interface KnexPool {
  client: { acquireConnection(): Promise<PoolClient>; releaseConnection(connection: PoolClient): Promise<void> };
}

/** Runs one query config on a connection of the ORM's pool (the transaction's, when inside one). */
export async function readRows(em: EntityManager, config: pg.QueryConfig): Promise<Record<string, unknown>[]> {
  const trx = em.getTransactionContext<{ client?: { acquireConnection?: () => Promise<unknown> } }>();
  if (trx) {
    const connection = (await trx.client?.acquireConnection?.()) as PoolClient | undefined;
    if (connection) return (await connection.query(config)).rows;
  }
  const knex = em.getConnection().getKnex() as unknown as KnexPool;
  const connection = await knex.client.acquireConnection();
  try {
    return (await connection.query(config)).rows;
  } finally {
    await knex.client.releaseConnection(connection);
  }
}

/** The active rules of wallet `w`, as JSON objects whose keys are the columns (numerics as text: exact). */
const ACTIVE_RULES = `coalesce((
    select json_agg(json_build_object(
             'id', r.id, 'wallet_id', r.wallet_id, 'status', r.status, 'trigger', r.trigger, 'interval', r.interval,
             'method', r.method, 'paid_credits', r.paid_credits::text, 'granted_credits', r.granted_credits::text,
             'threshold_credits', r.threshold_credits::text, 'target_ongoing_balance', r.target_ongoing_balance::text,
             'grants_target_top_up', r.grants_target_top_up, 'ignore_paid_top_up_limits', r.ignore_paid_top_up_limits,
             'invoice_requires_successful_payment', r.invoice_requires_successful_payment, 'started_at', r.started_at,
             'expiration_at', r.expiration_at, 'transaction_metadata', r.transaction_metadata,
             'transaction_name', r.transaction_name, 'terminated_at', r.terminated_at, 'created_at', r.created_at)
           order by r.created_at, r.id)
      from recurring_transaction_rules r
     where r.organization_id = w.organization_id and r.wallet_id = w.id and r.status = 'active'), '[]'::json)`;

const GET_WALLET = `select w.*, c.external_id as external_customer_id, ${ACTIVE_RULES} as active_rules
  from wallets w join customers c on c.id = w.customer_id
 where w.organization_id = $1 and w.id = $2`;

/** $2: the customer's external id or null (all); $3: status or null; $4, $5: the cursor's createdAt and id, or null; $6: rows. */
const LIST_WALLETS = `select w.*, c.external_id as external_customer_id, ${ACTIVE_RULES} as active_rules
  from wallets w join customers c on c.id = w.customer_id
 where w.organization_id = $1
   and ($2::text is null or c.external_id = $2)
   and ($3::text is null or w.status = $3)
   and ($4::timestamptz is null or (w.created_at, w.id) < ($4, $5::uuid))
 order by w.created_at desc, w.id desc
 limit $6`;

const CUSTOMER_EXISTS = 'select 1 from customers where organization_id = $1 and external_id = $2';

/** The wire shape is dto.ts's (the same values; records type a rule's interval as any string, the DTO as its union). */
export type WalletWire = WalletDto;

function walletWire(row: Record<string, unknown>): WalletWire {
  const rules = (row.active_rules as Record<string, unknown>[]).map(ruleRecordOf);
  return walletRecordDto(walletRecordOf(row), row.external_customer_id as string, rules) as WalletWire;
}

export async function readWallet(em: EntityManager, organizationId: string, walletId: string): Promise<WalletWire> {
  const rows = isUuid(walletId) ? await readRows(em, { name: 'read_wallet', text: GET_WALLET, values: [organizationId, walletId] }) : [];
  const row = rows[0];
  if (!row) throw new WalletError('WALLET_NOT_FOUND', `wallet ${walletId} not found`, { walletId });
  return walletWire(row);
}

function pageOf<T>(rows: Record<string, unknown>[], limit: number, map: (row: Record<string, unknown>) => T): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map(map),
    nextCursor: rows.length > limit && last ? encodeCursor(new Date(last.created_at as Date), last.id as string) : null,
  };
}

const cursorValues = (cursor: string | null | undefined): [Date | null, string | null] => {
  if (!cursor) return [null, null];
  const { createdAt, id } = decodeCursor(cursor);
  return [createdAt, isUuid(id) ? id : '00000000-0000-0000-0000-000000000000'];
};

export async function readWallets(
  em: EntityManager,
  organizationId: string,
  input: { externalCustomerId?: string | undefined; status?: string | undefined; cursor?: string | null | undefined; limit: number },
): Promise<Page<WalletWire>> {
  const rows = await readRows(em, {
    name: 'read_wallets',
    text: LIST_WALLETS,
    values: [organizationId, input.externalCustomerId ?? null, input.status ?? null, ...cursorValues(input.cursor), input.limit + 1],
  });
  if (rows.length === 0 && input.externalCustomerId !== undefined) {
    const customer = await readRows(em, { name: 'read_customer_exists', text: CUSTOMER_EXISTS, values: [organizationId, input.externalCustomerId] });
    if (customer.length === 0) {
      throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${input.externalCustomerId} not found`, { externalId: input.externalCustomerId });
    }
  }
  return pageOf(rows, input.limit, walletWire);
}

const GET_TRANSACTION = `select t.*, w.currency as wallet_currency
  from wallet_transactions t join wallets w on w.id = t.wallet_id
 where t.organization_id = $1 and t.id = $2`;

/**
 * A wallet's transactions, newest first, beside the wallet's currency: no row at all when the
 * wallet is not the organization's, one row with a null id when it has no transaction (matching).
 */
const LIST_TRANSACTIONS = `select w.currency as wallet_currency, t.*
  from wallets w
  left join lateral (
    select * from wallet_transactions t
     where t.organization_id = $1 and t.wallet_id = w.id
       and ($3::text is null or t.status = $3)
       and ($4::text is null or t.transaction_type = $4)
       and ($5::text is null or t.transaction_status = $5)
       and ($6::timestamptz is null or (t.created_at, t.id) < ($6, $7::uuid))
     order by t.created_at desc, t.id desc
     limit $8) t on true
 where w.organization_id = $1 and w.id = $2
 order by t.created_at desc, t.id desc`;

export type TransactionWire = WalletTransactionDto;

const transactionWire = (row: Record<string, unknown>, currency: string): TransactionWire => entryRecordDto(entryRecordOf(row), currency);

export async function readTransaction(em: EntityManager, organizationId: string, transactionId: string): Promise<TransactionWire> {
  const rows = isUuid(transactionId)
    ? await readRows(em, { name: 'read_transaction', text: GET_TRANSACTION, values: [organizationId, transactionId] })
    : [];
  const row = rows[0];
  if (!row) throw new WalletError('TRANSACTION_NOT_FOUND', `wallet transaction ${transactionId} not found`, { transactionId });
  return transactionWire(row, row.wallet_currency as string);
}

export async function readTransactions(
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
): Promise<Page<TransactionWire>> {
  const [createdAt, id] = cursorValues(input.cursor);
  const rows = isUuid(input.walletId)
    ? await readRows(em, {
        name: 'read_transactions',
        text: LIST_TRANSACTIONS,
        values: [
          organizationId,
          input.walletId,
          input.status ?? null,
          input.transactionType ?? null,
          input.transactionStatus ?? null,
          createdAt,
          id,
          input.limit + 1,
        ],
      })
    : [];
  const first = rows[0];
  if (!first) throw new WalletError('WALLET_NOT_FOUND', `wallet ${input.walletId} not found`, { walletId: input.walletId });
  const currency = first.wallet_currency as string;
  return pageOf(
    rows.filter((row) => row.id !== null),
    input.limit,
    (row) => transactionWire(row, currency),
  );
}

const GET_CUSTOMER = 'select * from customers where organization_id = $1 and external_id = $2';

/** $2: an ILIKE pattern or null (all); $3, $4: the cursor's createdAt and id, or null; $5: rows. */
const LIST_CUSTOMERS = `select * from customers
 where organization_id = $1
   and ($2::text is null or external_id ilike $2)
   and ($3::timestamptz is null or (created_at, id) < ($3, $4::uuid))
 order by created_at desc, id desc
 limit $5`;

export async function readCustomer(em: EntityManager, organizationId: string, externalId: string): Promise<CustomerDto> {
  const rows = await readRows(em, { name: 'read_customer', text: GET_CUSTOMER, values: [organizationId, externalId] });
  const row = rows[0];
  if (!row) throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${externalId} not found`, { externalId });
  return customerRowDto(row);
}

export async function readCustomers(
  em: EntityManager,
  organizationId: string,
  { search, cursor, limit }: { search?: string | undefined; cursor?: string | null | undefined; limit: number },
): Promise<Page<CustomerDto>> {
  const pattern = search ? `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  const rows = await readRows(em, {
    name: 'read_customers',
    text: LIST_CUSTOMERS,
    values: [organizationId, pattern, ...cursorValues(cursor), limit + 1],
  });
  return pageOf(rows, limit, customerRowDto);
}
