/**
 * Loading and locking. Every query filters by organization; another organization's ids are simply
 * not found. Balance changes start with `lockCustomer`: one customer's changes serialise on that row,
 * different customers proceed in parallel.
 */
import { type EntityName, wrap } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { Customer, RecurringTransactionRule, UsageSnapshot, Wallet, WalletTransaction } from './entities/index.js';
import { type TransactionRow, transactionOf, type WalletRow, walletOf } from './ledger-rows.js';
import { type SqlStatement, sendStatements } from './sql-statements.js';

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

/**
 * Rows selected by plain SQL (hot paths skip the query builder) as managed entities: one already in
 * the identity map is returned as it is, never overwritten. Unlike `em.find` this does not flush
 * first: only for reads that no pending change affects.
 */
type Row = { id: string } & Record<string, unknown>;

function asEntities<T extends object>(em: EntityManager, entity: EntityName<T>, rows: Row[]): T[] {
  const uow = em.getUnitOfWork();
  return rows.map((row) => {
    const known = uow.getById(entity as never, row.id) as T | undefined;
    // A bare reference (say a rule's wallet, mapped first) is hydrated from the row.
    return known && wrap(known).isInitialized() ? known : em.map(entity, row as never);
  });
}

/** What an invoice application reads under its customer lock. */
export interface CustomerCurrencyState {
  /** The locked customer (as an entity: see `ledgerObjects`). */
  customerRow: CustomerRow;
  /** Every active wallet of the customer in the currency, by priority then creation (rows: see `ledgerObjects`). */
  walletRows: WalletRow[];
  /** Their lots (settled inbound with something left). */
  lotRows: TransactionRow[];
  /** Their active rules (every trigger), oldest first. */
  rules: RecurringTransactionRule[];
  snapshot: UsageSnapshot | null;
}

/**
 * Locks the customer found by external id and reads its wallets, lots, rules and usage in one
 * currency, in one round trip (statements run in order, so every read follows the lock). `after`
 * runs right after the lock in the same round trip; its rows are returned as they are.
 */
export async function lockCustomerCurrencyState(
  em: EntityManager,
  organizationId: string,
  externalId: string,
  currency: string,
  after: SqlStatement,
): Promise<{ state: CustomerCurrencyState | null; afterRows: Record<string, unknown>[] }> {
  const customerId = 'select id from customers where organization_id = ? and external_id = ?';
  const walletIds = `select id from wallets where organization_id = ? and customer_id = (${customerId}) and status = 'active' and currency = ?`;
  const key = [organizationId, externalId];
  const group = [organizationId, ...key, currency];
  const statements = [
    { sql: 'select * from customers where organization_id = ? and external_id = ? for update', params: key },
    after,
    {
      sql: `select * from wallets where organization_id = ? and customer_id = (${customerId}) and status = 'active' and currency = ?
        order by priority, created_at, id`,
      params: group,
    },
    {
      sql: `select * from wallet_transactions where organization_id = ? and wallet_id = any (array(${walletIds}))
        and transaction_type = 'inbound' and status = 'settled' and (remaining_amount_cents > 0 or remaining_credit_amount > 0)`,
      params: [organizationId, ...group],
    },
    {
      sql: `select * from recurring_transaction_rules where organization_id = ? and wallet_id = any (array(${walletIds})) and status = 'active'
        order by created_at, id`,
      params: [organizationId, ...group],
    },
    {
      sql: `select * from usage_snapshots where organization_id = ? and customer_id = (${customerId}) and currency = ?`,
      params: [organizationId, ...key, currency],
    },
  ];
  const results = (await sendStatements(em, statements)) as Row[][];
  const [customerRows = [], afterRows = [], walletRows = [], lotRows = [], ruleRows = [], snapshotRows = []] = results;
  const [customerRow] = customerRows as CustomerRow[];
  if (!customerRow) return { state: null, afterRows };
  const rules = asEntities(em, RecurringTransactionRule, ruleRows);
  const [snapshot] = asEntities(em, UsageSnapshot, snapshotRows);
  return {
    state: {
      customerRow,
      walletRows: walletRows as unknown as WalletRow[],
      lotRows: lotRows as unknown as TransactionRow[],
      rules,
      snapshot: snapshot ?? null,
    },
    afterRows,
  };
}

type CustomerRow = Row & { external_id: string };

/**
 * The state's customer, wallets and their lots by wallet: managed entities, or detached objects for
 * a journaled ledger (`Ledger.useJournal`), which skips the identity map and the ORM flush.
 */
export function ledgerObjects(
  em: EntityManager,
  state: CustomerCurrencyState,
  detached: boolean,
): { customer: Pick<Customer, 'id' | 'externalId'>; wallets: Wallet[]; lots: Map<string, WalletTransaction[]> } {
  const customer = detached
    ? { id: state.customerRow.id, externalId: state.customerRow.external_id }
    : asEntities(em, Customer, [state.customerRow])[0]!;
  const wallets = detached ? state.walletRows.map((row) => walletOf(row, customer)) : asEntities(em, Wallet, state.walletRows as unknown as Row[]);
  const byId = new Map(wallets.map((w) => [w.id, w]));
  const lots = new Map<string, WalletTransaction[]>(wallets.map((w) => [w.id, []]));
  const lotObjects = detached
    ? state.lotRows.map((row) => transactionOf(row, byId.get(row.wallet_id)!))
    : asEntities(em, WalletTransaction, state.lotRows as unknown as Row[]);
  for (const lot of lotObjects) lots.get(lot.wallet.id)?.push(lot);
  return { customer, wallets, lots };
}
