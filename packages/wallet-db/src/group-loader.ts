/**
 * The one loader of a customer's ledger group (DESIGN "Inside a mutation"): the customer row under
 * its lock, then its wallets, their lots, pending and recently failed purchases, active rules and
 * usage snapshots, as wallet-core records. Every statement is a named (prepared) `pg` query config
 * with parameters: no SQL text is built from values, and PostgreSQL keeps each plan per connection.
 * The reads follow the lock in separate statements, so in READ COMMITTED they see what the
 * transaction the lock waited for committed.
 */
import { type GroupRecords, THRESHOLD_BACKOFF_MS, type UsageSnapshotRecord } from '@wallets/core';
import type pg from 'pg';
import { customerRecordOf, entryRecordOf, ruleRecordOf, snapshotRecordOf, walletRecordOf } from './records.js';

/** A connection (or transaction client) that runs query configs. */
export interface Queryable {
  query(config: pg.QueryConfig): Promise<pg.QueryResult>;
}

const LOCK_CUSTOMER_BY_EXTERNAL_ID: pg.QueryConfig = {
  name: 'group_lock_customer_by_external_id',
  text: 'select id, external_id, currency, timezone from customers where organization_id = $1 and external_id = $2 for update',
};

const LOCK_CUSTOMER_BY_ID: pg.QueryConfig = {
  name: 'group_lock_customer_by_id',
  text: 'select id, external_id, currency, timezone from customers where organization_id = $1 and id = $2 for update',
};

/**
 * The wallets of the group: the wallet named by $4 (whatever its status), and the active wallets in
 * currency $3 (or in the named wallet's currency; or in every currency when $5), by application order.
 */
const WALLETS: pg.QueryConfig = {
  name: 'group_wallets',
  text: `select * from wallets
          where organization_id = $1 and customer_id = $2
            and (id = $4::uuid
                 or (status = 'active'
                     and ($5::boolean or currency = coalesce($3::text, (select w.currency from wallets w where w.organization_id = $1 and w.id = $4::uuid)))))
          order by priority, created_at, id`,
};

const LOTS: pg.QueryConfig = {
  name: 'group_lots',
  text: `select * from wallet_transactions
          where organization_id = $1 and wallet_id = any ($2::uuid[])
            and transaction_type = 'inbound' and status = 'settled' and (remaining_amount_cents > 0 or remaining_credit_amount > 0)`,
};

/** Pending purchases, and threshold purchases failed after $3 (the threshold back-off). */
const PURCHASES: pg.QueryConfig = {
  name: 'group_purchases',
  text: `select * from wallet_transactions
          where organization_id = $1 and wallet_id = any ($2::uuid[]) and transaction_status = 'purchased'
            and (status = 'pending' or (status = 'failed' and source = 'threshold' and failed_at > $3))
          order by created_at, id`,
};

const LATEST_SETTLED_PURCHASES: pg.QueryConfig = {
  name: 'group_latest_settled_purchases',
  text: `select wallet_id, max(settled_at) as settled_at from wallet_transactions
          where organization_id = $1 and wallet_id = any ($2::uuid[]) and transaction_status = 'purchased' and status = 'settled'
          group by wallet_id`,
};

/** Entries a command names (a reported purchase), whatever their state. */
const ENTRIES_BY_ID: pg.QueryConfig = {
  name: 'group_entries_by_id',
  text: 'select * from wallet_transactions where organization_id = $1 and customer_id = $2 and id = any ($3::uuid[])',
};

const RULES: pg.QueryConfig = {
  name: 'group_rules',
  text: `select * from recurring_transaction_rules where organization_id = $1 and wallet_id = any ($2::uuid[]) and status = 'active'
          order by created_at, id`,
};

const SNAPSHOTS: pg.QueryConfig = {
  name: 'group_snapshots',
  text: 'select * from usage_snapshots where organization_id = $1 and customer_id = $2',
};

export type CustomerKey = { externalId: string } | { id: string };

/** Which wallets of the customer a command works on. */
export type WalletScope = { currency: string } | { walletId: string } | { allCurrencies: true };

const run = (db: Queryable, config: pg.QueryConfig, values: unknown[]) => db.query({ ...config, values });

/** Locks the customer row; null when there is no such customer. */
export async function lockGroupCustomer(db: Queryable, organizationId: string, customer: CustomerKey) {
  const result =
    'externalId' in customer
      ? await run(db, LOCK_CUSTOMER_BY_EXTERNAL_ID, [organizationId, customer.externalId])
      : await run(db, LOCK_CUSTOMER_BY_ID, [organizationId, customer.id]);
  const row = result.rows[0];
  return row ? customerRecordOf(row) : null;
}

/**
 * Locks the customer and loads its group as records (null: no such customer). `now` places the
 * threshold back-off window; `entryIds` are entries the command names (loaded with the purchases).
 */
export async function loadGroup(
  db: Queryable,
  organizationId: string,
  customerKey: CustomerKey,
  scope: WalletScope,
  now: Date,
  entryIds: readonly string[] = [],
): Promise<GroupRecords | null> {
  const customer = await lockGroupCustomer(db, organizationId, customerKey);
  if (!customer) return null;
  const wallets = (
    await run(db, WALLETS, [
      organizationId,
      customer.id,
      'currency' in scope ? scope.currency : null,
      'walletId' in scope ? scope.walletId : null,
      'allCurrencies' in scope,
    ])
  ).rows.map(walletRecordOf);
  const walletIds = wallets.map((w) => w.id);
  const snapshotRows = (await run(db, SNAPSHOTS, [organizationId, customer.id])).rows;
  const snapshots = new Map<string, UsageSnapshotRecord>(snapshotRows.map((row) => [row.currency as string, snapshotRecordOf(row)]));
  if (walletIds.length === 0) {
    return { customer, wallets, lots: [], purchases: [], latestPurchaseSettledAt: new Map(), rules: [], snapshots };
  }
  const lots = (await run(db, LOTS, [organizationId, walletIds])).rows.map(entryRecordOf);
  const since = new Date(now.getTime() - THRESHOLD_BACKOFF_MS);
  const purchases = (await run(db, PURCHASES, [organizationId, walletIds, since])).rows.map(entryRecordOf);
  if (entryIds.length > 0) purchases.push(...(await run(db, ENTRIES_BY_ID, [organizationId, customer.id, entryIds])).rows.map(entryRecordOf));
  const latestPurchaseSettledAt = new Map<string, Date>();
  // Only a recently failed threshold purchase asks when purchases last settled.
  if (purchases.some((p) => p.status === 'failed')) {
    for (const row of (await run(db, LATEST_SETTLED_PURCHASES, [organizationId, walletIds])).rows) {
      latestPurchaseSettledAt.set(row.wallet_id as string, new Date(row.settled_at as Date));
    }
  }
  const rules = (await run(db, RULES, [organizationId, walletIds])).rows.map(ruleRecordOf);
  return { customer, wallets, lots, purchases, latestPurchaseSettledAt, rules, snapshots };
}
