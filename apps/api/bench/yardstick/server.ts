/**
 * The yardstick: a small hand-written HTTP server (node:http + pg) doing, per procedure, the same
 * logical work as the project's server, as lean as a careful engineer would write it by hand. The
 * bench measures our server beside it on the same machine, database server and run. It shares no
 * code with the project (it imports node builtins and `pg` only) and never replays our statements.
 *
 * - One process, one `pg.Pool` of the given size, prepared statements (query configs with a
 *   `name`), set-based writes (`unnest` of arrays), one statement per round trip.
 * - Authentication as ours: `Authorization: Bearer <key>`, the key's SHA-256 looked up in
 *   `api_keys`, cached for a minute.
 * - Plain JSON on the wire: cents as numbers, credits and rates as decimal strings.
 *
 * Routes and their round trips (BEGIN and COMMIT count):
 * - POST /v1/invoices/apply {invoice}: lock the customer; claim the invoice and read the customer's
 *   wallets with their live lots (one statement); write the outbound rows, their consumptions, the
 *   lot remainders, the balances, the events and the stored answer (one statement); 5. A repeat of
 *   the invoice returns the stored answer; the same id with other content is 409.
 * - POST /v1/usage/sync {externalCustomerId, currency, asOf?, fees}: lock; upsert the snapshot
 *   (unless a newer one is stored) and read the wallets (one statement); write their ongoing
 *   fields and one event; 5.
 * - POST /v1/wallet-transactions {walletId, grantedCredits}: lock the wallet's customer; insert the
 *   inbound row (a lot), raise the balance, two events (one statement); 4.
 * - POST /v1/wallet-transactions/:id/payment {status: 'succeeded'}: lock the purchase's customer (reading
 *   what never changes of it); settle it if pending or failed, raise the balance, two events (one
 *   statement); 4 (5 for a repeat, which reads the purchase as it is).
 * - DELETE /v1/wallets/:id: lock the wallet's customer; void what its lots hold (one outbound row,
 *   a consumption per lot, the remainders to zero), fail its pending purchases, end it, its
 *   balances and ongoing fields to zero, the events (one statement); 4 (5 for a repeat).
 * - GET /v1/wallets/:id: one select; 1.
 *
 * Simplifications, each the same for every call of the bench: no wallet expiry, rules or paid
 * top-ups beyond the payments reported; apply, grant and a payment move the ongoing balance by the
 * amount they move the balance (usage.sync recomputes the usage allocation in full), and
 * termination leaves the other wallets' ongoing balances as they are.
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import {
  allocateInvoice,
  allocateUsage,
  centsToCredits,
  consumeLots,
  creditsToCents,
  currencyExponent,
  type FeeIn,
  formatScaled,
  InputError,
  type Lot,
  minOf,
  parseScaled,
  type UsageFeeIn,
  wireCents,
} from './allocation.js';
import { checkSchemaName, DEFAULT_SCHEMA } from './schema.js';

export type YardstickProcedure = 'apply' | 'usage.sync' | 'grant' | 'wallets.get' | 'payment' | 'terminate';

export interface YardstickStats {
  calls: Record<string, number>;
  roundTrips: Record<string, number>;
  /** Round trips of key look-ups (cache misses), not counted in any procedure. */
  authRoundTrips: number;
  cpu: NodeJS.CpuUsage;
}

export interface Yardstick {
  url: string;
  stats(): YardstickStats;
  stop(): Promise<void>;
}

export interface YardstickOptions {
  databaseUrl: string;
  poolMax: number;
  schema?: string;
  host?: string;
  port?: number;
}

class NotFound extends Error {}
class Conflict extends Error {}

const ELIGIBLE_INVOICE_TYPES = new Set(['subscription', 'progressive_billing', 'pay_in_advance']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_BODY_BYTES = 1024 * 1024;
const KEY_CACHE_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Statements. Every one is prepared (named); the schema comes from the connection's search_path.

const KEY = 'select organization_id from api_keys where key_hash = $1';

const LOCK_CUSTOMER = 'select id, currency from customers where organization_id = $1 and external_id = $2 for update';

const WALLET_COLUMNS = `w.id, w.name, w.status, w.currency, w.rate_amount, w.priority, w.balance_cents, w.credits_balance,
  w.ongoing_balance_cents, w.credits_ongoing_balance, w.ongoing_usage_balance_cents, w.credits_ongoing_usage_balance,
  w.consumed_credits, w.consumed_amount_cents, w.fee_types, w.billable_metric_codes, w.created_at`;

/** $1 org, $2 customer, $3 currency, $4 now, $5 claim id, $6 invoice id, $7 request hash. */
const CLAIM_AND_READ = `
with claim as (
  insert into invoice_claims (id, organization_id, invoice_id, customer_id, request_hash, created_at)
  values ($5, $1, $6, $2, $7, $4)
  on conflict (organization_id, invoice_id) do nothing
  returning id
), claimed as (select count(*)::int as claimed from claim)
select claimed.claimed, x.* from claimed left join lateral (
  select ${WALLET_COLUMNS}, l.id as lot_id, l.transaction_status as lot_kind, l.remaining_amount_cents, l.remaining_credit_amount
  from wallets w
  left join wallet_transactions l on l.organization_id = w.organization_id and l.wallet_id = w.id
    and l.transaction_type = 'inbound' and l.status = 'settled' and (l.remaining_amount_cents > 0 or l.remaining_credit_amount > 0)
    and (l.expiration_at is null or l.expiration_at > $4)
  where w.organization_id = $1 and w.customer_id = $2 and w.status = 'active' and w.currency = $3
  order by w.priority, w.created_at, w.id, l.priority, l.expiration_at nulls last, (l.transaction_status = 'granted') desc, l.created_at, l.id
) x on true`;

const READ_CLAIM = 'select request_hash, answer from invoice_claims where organization_id = $1 and invoice_id = $2';

/**
 * $1 org, $2 customer, $3 invoice id, $4 now; outbound rows $5 ids, $6 wallets, $7 credits, $8 cents;
 * consumptions $9 lots, $10 outbound ids, $11 credits, $12 cents; events $13 types, $14 data; $15 the answer.
 */
const WRITE_APPLY = `
with outbound as (
  insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
    credit_amount, amount_cents, invoice_id, created_at)
  select t.id, $1, t.wallet_id, $2, 'outbound', 'settled', 'invoiced', 'invoice', t.credits, t.cents, $3, $4
  from unnest($5::uuid[], $6::uuid[], $7::numeric[], $8::bigint[]) as t(id, wallet_id, credits, cents)
), consumed as (
  insert into consumptions (id, organization_id, inbound_id, outbound_id, credit_amount, amount_cents, created_at)
  select gen_random_uuid(), $1, c.lot_id, c.outbound_id, c.credits, c.cents, $4
  from unnest($9::uuid[], $10::uuid[], $11::numeric[], $12::bigint[]) as c(lot_id, outbound_id, credits, cents)
), lots as (
  update wallet_transactions l
  set remaining_credit_amount = l.remaining_credit_amount - c.credits, remaining_amount_cents = l.remaining_amount_cents - c.cents
  from unnest($9::uuid[], $11::numeric[], $12::bigint[]) as c(lot_id, credits, cents)
  where l.organization_id = $1 and l.id = c.lot_id
), balances as (
  update wallets w
  set balance_cents = w.balance_cents - t.cents, credits_balance = w.credits_balance - t.credits,
    ongoing_balance_cents = w.ongoing_balance_cents - t.cents, credits_ongoing_balance = w.credits_ongoing_balance - t.credits,
    consumed_credits = w.consumed_credits + t.credits, consumed_amount_cents = w.consumed_amount_cents + t.cents, updated_at = $4
  from unnest($6::uuid[], $7::numeric[], $8::bigint[]) as t(wallet_id, credits, cents)
  where w.organization_id = $1 and w.id = t.wallet_id
), events as (
  insert into events (id, organization_id, type, data, created_at)
  select gen_random_uuid(), $1, e.type, e.data, $4 from unnest($13::text[], $14::jsonb[]) with ordinality as e(type, data, n) order by e.n
)
update invoice_claims set answer = $15 where organization_id = $1 and invoice_id = $3`;

/** $1 org, $2 customer, $3 id, $4 currency, $5 as of, $6 fees, $7 now. */
const UPSERT_SNAPSHOT_AND_READ = `
with upserted as (
  insert into usage_snapshots (id, organization_id, customer_id, currency, as_of, fees, updated_at)
  values ($3, $1, $2, $4, $5, $6, $7)
  on conflict (organization_id, customer_id, currency) do update
    set as_of = excluded.as_of, fees = excluded.fees, updated_at = excluded.updated_at
    where usage_snapshots.as_of < excluded.as_of
  returning fees
), snapshot as (
  select coalesce((select fees from upserted),
    (select fees from usage_snapshots where organization_id = $1 and customer_id = $2 and currency = $4)) as fees
)
select snapshot.fees, x.* from snapshot left join lateral (
  select ${WALLET_COLUMNS} from wallets w
  where w.organization_id = $1 and w.customer_id = $2 and w.status = 'active' and w.currency = $4
  order by w.priority, w.created_at, w.id
) x on true`;

/** $1 org, $2 now, $3 wallet ids, $4..$7 ongoing fields, $8 event data. */
const WRITE_ONGOING = `
with ongoing as (
  update wallets w
  set ongoing_balance_cents = t.ongoing_cents, credits_ongoing_balance = t.ongoing_credits,
    ongoing_usage_balance_cents = t.usage_cents, credits_ongoing_usage_balance = t.usage_credits, updated_at = $2
  from unnest($3::uuid[], $4::bigint[], $5::numeric[], $6::bigint[], $7::numeric[]) as t(id, ongoing_cents, ongoing_credits, usage_cents, usage_credits)
  where w.organization_id = $1 and w.id = t.id
)
insert into events (id, organization_id, type, data, created_at) values (gen_random_uuid(), $1, 'customer.usage_synced', $8, $2)`;

/** Locks the wallet's customer; the wallet's rate and currency never change. $1 org, $2 wallet. */
const LOCK_WALLET_CUSTOMER = `
select w.customer_id, w.currency, w.rate_amount, w.status, c.external_id
from wallets w join customers c on c.organization_id = w.organization_id and c.id = w.customer_id
where w.organization_id = $1 and w.id = $2
for update of c`;

/** A wallet event's data from a wallet row `r` (as it is after the statement's change). */
const walletEventData = (r: string, externalId: string, updatedAt: string) => `jsonb_build_object(
  'id', ${r}.id, 'externalCustomerId', ${externalId}, 'name', ${r}.name, 'status', ${r}.status, 'currency', ${r}.currency,
  'rateAmount', trim_scale(${r}.rate_amount)::text, 'priority', ${r}.priority,
  'balanceCents', ${r}.balance_cents, 'creditsBalance', trim_scale(${r}.credits_balance)::text,
  'ongoingBalanceCents', ${r}.ongoing_balance_cents, 'creditsOngoingBalance', trim_scale(${r}.credits_ongoing_balance)::text,
  'ongoingUsageBalanceCents', ${r}.ongoing_usage_balance_cents, 'creditsOngoingUsageBalance', trim_scale(${r}.credits_ongoing_usage_balance)::text,
  'consumedCredits', trim_scale(${r}.consumed_credits)::text, 'consumedAmountCents', ${r}.consumed_amount_cents,
  'appliesTo', jsonb_build_object('feeTypes', ${r}.fee_types, 'billableMetricCodes', ${r}.billable_metric_codes),
  'createdAt', ${r}.created_at, 'updatedAt', ${updatedAt})`;

/** $1 org, $2 wallet, $3 customer, $4 transaction id, $5 credits, $6 cents, $7 now, $8 transaction data, $9 external customer id. */
const WRITE_GRANT = `
with lot as (
  insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
    credit_amount, amount_cents, remaining_credit_amount, remaining_amount_cents, created_at)
  values ($4, $1, $2, $3, 'inbound', 'settled', 'granted', 'manual', $5, $6, $5, $6, $7)
), raised as (
  update wallets w
  set balance_cents = w.balance_cents + $6, credits_balance = w.credits_balance + $5,
    ongoing_balance_cents = w.ongoing_balance_cents + $6, credits_ongoing_balance = w.credits_ongoing_balance + $5, updated_at = $7
  where w.organization_id = $1 and w.id = $2
  returning ${WALLET_COLUMNS}
)
insert into events (id, organization_id, type, data, created_at)
select gen_random_uuid(), $1, 'wallet_transaction.created', $8::jsonb, $7::timestamptz
union all
select gen_random_uuid(), $1, 'wallet.updated', ${walletEventData('r', '$9::text', '$7::timestamptz')}, $7::timestamptz
from raised r`;

/** Locks a purchase's customer and reads what never changes of the purchase. $1 org, $2 transaction. */
const LOCK_PURCHASE_CUSTOMER = `
select t.wallet_id, t.credit_amount, t.amount_cents, t.created_at, w.currency, c.external_id
from wallet_transactions t
join wallets w on w.organization_id = t.organization_id and w.id = t.wallet_id
join customers c on c.organization_id = t.organization_id and c.id = t.customer_id
where t.organization_id = $1 and t.id = $2 and t.transaction_status = 'purchased'
for update of c`;

/**
 * A payment that succeeded: the purchase (pending or failed) settles into a lot, the balance rises,
 * two events; nothing when it had settled already. $1 org, $2 transaction, $3 now, $4 transaction
 * data, $5 external customer id.
 */
const WRITE_SETTLE = `
with settled as (
  update wallet_transactions t
  set status = 'settled', settled_at = $3, remaining_credit_amount = t.credit_amount, remaining_amount_cents = t.amount_cents
  where t.organization_id = $1 and t.id = $2 and t.status in ('pending', 'failed')
  returning t.wallet_id, t.credit_amount, t.amount_cents
), raised as (
  update wallets w
  set balance_cents = w.balance_cents + s.amount_cents, credits_balance = w.credits_balance + s.credit_amount,
    ongoing_balance_cents = w.ongoing_balance_cents + s.amount_cents, credits_ongoing_balance = w.credits_ongoing_balance + s.credit_amount,
    updated_at = $3
  from settled s
  where w.organization_id = $1 and w.id = s.wallet_id
  returning w.*
), events as (
  insert into events (id, organization_id, type, data, created_at)
  select gen_random_uuid(), $1, 'wallet_transaction.updated', $4::jsonb, $3::timestamptz from settled
  union all
  select gen_random_uuid(), $1, 'wallet.updated', ${walletEventData('r', '$5::text', '$3::timestamptz')}, $3::timestamptz from raised r
)
select count(*)::int as settled from settled`;

const READ_TRANSACTION = `
select t.id, t.wallet_id, w.currency, t.transaction_type, t.status, t.transaction_status, t.source, t.credit_amount, t.amount_cents,
  t.remaining_credit_amount, t.invoice_id, t.settled_at, t.created_at
from wallet_transactions t join wallets w on w.organization_id = t.organization_id and w.id = t.wallet_id
where t.organization_id = $1 and t.id = $2`;

/**
 * Termination of an active wallet (after its customer's lock, so this statement reads the ledger as
 * the last writer left it): what its lots hold voided by one outbound row consuming each of them,
 * pending purchases failed, status terminated, balances and ongoing fields down to zero, events.
 * $1 org, $2 wallet, $3 customer, $4 void id, $5 now, $6 external customer id.
 */
const WRITE_TERMINATE = `
with wallet as (
  select w.id from wallets w where w.organization_id = $1 and w.id = $2 and w.status = 'active'
), lots as (
  select l.id, l.remaining_credit_amount as credits, l.remaining_amount_cents as cents
  from wallet_transactions l join wallet on wallet.id = l.wallet_id
  where l.organization_id = $1 and l.wallet_id = $2 and l.transaction_type = 'inbound' and l.status = 'settled'
    and (l.remaining_amount_cents > 0 or l.remaining_credit_amount > 0)
), total as (
  select coalesce(sum(credits), 0) as credits, coalesce(sum(cents), 0) as cents, count(*) as n from lots
), voided as (
  insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
    credit_amount, amount_cents, settled_at, created_at)
  select $4, $1, $2, $3, 'outbound', 'settled', 'voided', 'termination', t.credits, t.cents, $5, $5 from total t where t.n > 0
  returning id, wallet_id, credit_amount, amount_cents
), consumed as (
  insert into consumptions (id, organization_id, inbound_id, outbound_id, credit_amount, amount_cents, created_at)
  select gen_random_uuid(), $1, l.id, v.id, l.credits, l.cents, $5 from lots l cross join voided v
), emptied as (
  update wallet_transactions l set remaining_credit_amount = 0, remaining_amount_cents = 0
  from lots where l.organization_id = $1 and l.id = lots.id
), failed as (
  update wallet_transactions p set status = 'failed', failed_at = $5
  from wallet
  where p.organization_id = $1 and p.wallet_id = wallet.id and p.transaction_status = 'purchased' and p.status = 'pending'
  returning p.id, p.credit_amount, p.amount_cents, p.created_at
), ended as (
  update wallets w
  set status = 'terminated', terminated_at = $5, updated_at = $5,
    balance_cents = w.balance_cents - t.cents, credits_balance = w.credits_balance - t.credits,
    consumed_amount_cents = w.consumed_amount_cents + t.cents, consumed_credits = w.consumed_credits + t.credits,
    ongoing_balance_cents = 0, credits_ongoing_balance = 0, ongoing_usage_balance_cents = 0, credits_ongoing_usage_balance = 0
  from total t, wallet
  where w.organization_id = $1 and w.id = wallet.id
  returning w.*
), events as (
  insert into events (id, organization_id, type, data, created_at)
  select gen_random_uuid(), $1, 'wallet_transaction.created', jsonb_build_object('id', v.id, 'walletId', v.wallet_id,
    'transactionType', 'outbound', 'status', 'settled', 'transactionStatus', 'voided', 'source', 'termination',
    'creditAmount', trim_scale(v.credit_amount)::text, 'amountCents', v.amount_cents, 'settledAt', $5::timestamptz, 'createdAt', $5::timestamptz),
    $5::timestamptz from voided v
  union all
  select gen_random_uuid(), $1, 'wallet_transaction.updated', jsonb_build_object('id', f.id, 'walletId', $2::uuid, 'transactionType', 'inbound',
    'status', 'failed', 'transactionStatus', 'purchased', 'creditAmount', trim_scale(f.credit_amount)::text, 'amountCents', f.amount_cents,
    'failedAt', $5::timestamptz, 'createdAt', f.created_at), $5::timestamptz from failed f
  union all
  select gen_random_uuid(), $1, 'wallet.terminated', ${walletEventData('r', '$6::text', '$5::timestamptz')}, $5::timestamptz from ended r
)
select ${WALLET_COLUMNS} from ended w`;

const GET_WALLET = `
select ${WALLET_COLUMNS}, c.external_id
from wallets w join customers c on c.organization_id = w.organization_id and c.id = w.customer_id
where w.organization_id = $1 and w.id = $2`;

// ---------------------------------------------------------------------------------------------
// Rows and answers.

interface WalletRow {
  id: string;
  name: string | null;
  status: string;
  currency: string;
  rate_amount: string;
  priority: number;
  balance_cents: string;
  credits_balance: string;
  ongoing_balance_cents: string;
  credits_ongoing_balance: string;
  ongoing_usage_balance_cents: string;
  credits_ongoing_usage_balance: string;
  consumed_credits: string;
  consumed_amount_cents: string;
  fee_types: string[];
  billable_metric_codes: string[];
  created_at: Date;
}

/** A wallet as numbers: cents as bigints, credits and the rate scaled by 1e5. */
interface Wallet {
  id: string;
  externalCustomerId: string;
  name: string | null;
  status: string;
  currency: string;
  rate: bigint;
  priority: number;
  balanceCents: bigint;
  credits: bigint;
  ongoingCents: bigint;
  ongoingCredits: bigint;
  usageCents: bigint;
  usageCredits: bigint;
  consumedCredits: bigint;
  consumedCents: bigint;
  feeTypes: string[];
  billableMetricCodes: string[];
  createdAt: Date;
}

const dbDecimal = (value: string) => parseScaled(value.includes('.') ? value.replace(/0+$/, '').replace(/\.$/, '') : value, 'numeric');

function walletOf(row: WalletRow, externalCustomerId: string): Wallet {
  return {
    id: row.id,
    externalCustomerId,
    name: row.name,
    status: row.status,
    currency: row.currency,
    rate: dbDecimal(row.rate_amount),
    priority: row.priority,
    balanceCents: BigInt(row.balance_cents),
    credits: dbDecimal(row.credits_balance),
    ongoingCents: BigInt(row.ongoing_balance_cents),
    ongoingCredits: dbDecimal(row.credits_ongoing_balance),
    usageCents: BigInt(row.ongoing_usage_balance_cents),
    usageCredits: dbDecimal(row.credits_ongoing_usage_balance),
    consumedCredits: dbDecimal(row.consumed_credits),
    consumedCents: BigInt(row.consumed_amount_cents),
    feeTypes: row.fee_types,
    billableMetricCodes: row.billable_metric_codes,
    createdAt: row.created_at,
  };
}

function walletJson(w: Wallet, updatedAt: Date | null = null) {
  return {
    id: w.id,
    externalCustomerId: w.externalCustomerId,
    name: w.name,
    status: w.status,
    currency: w.currency,
    rateAmount: formatScaled(w.rate),
    priority: w.priority,
    balanceCents: wireCents(w.balanceCents),
    creditsBalance: formatScaled(w.credits),
    ongoingBalanceCents: wireCents(w.ongoingCents),
    creditsOngoingBalance: formatScaled(w.ongoingCredits),
    ongoingUsageBalanceCents: wireCents(w.usageCents),
    creditsOngoingUsageBalance: formatScaled(w.usageCredits),
    consumedCredits: formatScaled(w.consumedCredits),
    consumedAmountCents: wireCents(w.consumedCents),
    appliesTo: { feeTypes: w.feeTypes, billableMetricCodes: w.billableMetricCodes },
    createdAt: w.createdAt,
    ...(updatedAt ? { updatedAt } : {}),
  };
}

function transactionJson(t: {
  id: string;
  walletId: string;
  currency: string;
  type: 'inbound' | 'outbound';
  kind: 'granted' | 'invoiced' | 'purchased' | 'voided';
  status?: string;
  settledAt?: Date | null;
  source: string;
  credits: bigint;
  cents: bigint;
  remainingCredits: bigint | null;
  invoiceId: string | null;
  createdAt: Date;
}) {
  return {
    id: t.id,
    walletId: t.walletId,
    currency: t.currency,
    transactionType: t.type,
    status: t.status ?? 'settled',
    transactionStatus: t.kind,
    source: t.source,
    creditAmount: formatScaled(t.credits),
    amountCents: wireCents(t.cents),
    remainingCreditAmount: t.remainingCredits === null ? null : formatScaled(t.remainingCredits),
    priority: 50,
    expirationAt: null,
    invoiceId: t.invoiceId,
    settledAt: t.settledAt === undefined ? t.createdAt : t.settledAt,
    createdAt: t.createdAt,
  };
}

// ---------------------------------------------------------------------------------------------
// Input checks (what the bench and the comparison test send; anything else is a 400).

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InputError(`${field}: an object`);
  return value as Record<string, unknown>;
}

function text(value: unknown, field: string, max = 255): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new InputError(`${field}: a string of 1 to ${max} characters`);
  return value;
}

function fees(value: unknown, field: string): FeeIn[] {
  if (!Array.isArray(value) || value.length > 1000) throw new InputError(`${field}: a list of at most 1000 fees`);
  return value.map((fee, i) => {
    const f = object(fee, `${field}.${i}`);
    text(f.feeType, `${field}.${i}.feeType`, 32);
    if (f.billableMetricCode !== undefined && f.billableMetricCode !== null) text(f.billableMetricCode, `${field}.${i}.billableMetricCode`);
    return f as unknown as FeeIn;
  });
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

// ---------------------------------------------------------------------------------------------

export async function startYardstick(options: YardstickOptions): Promise<Yardstick> {
  const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolMax, options: `-c search_path=${schema}` });
  const calls: Record<string, number> = {};
  const roundTrips: Record<string, number> = {};
  let authRoundTrips = 0;
  const keyCache = new Map<string, { organizationId: string; until: number }>();

  /** One round trip, counted for the call it serves. */
  const send = <R extends pg.QueryResultRow>(
    client: pg.ClientBase | pg.Pool,
    trips: { n: number },
    name: string,
    sql: string,
    values?: unknown[],
  ) => {
    trips.n++;
    return client.query<R>(values ? { name, text: sql, values } : sql);
  };

  async function inTransaction<T>(trips: { n: number }, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await send(client, trips, '', 'begin');
      const result = await work(client);
      await send(client, trips, '', 'commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async function organizationOf(header: string | undefined): Promise<string | null> {
    const key = /^Bearer\s+(\S+)$/i.exec(header?.trim() ?? '')?.[1];
    if (!key) return null;
    const cached = keyCache.get(key);
    if (cached && cached.until > Date.now()) return cached.organizationId;
    authRoundTrips++;
    const { rows } = await pool.query<{ organization_id: string }>({ name: 'ys_key', text: KEY, values: [sha256(key)] });
    const organizationId = rows[0]?.organization_id ?? null;
    if (organizationId) {
      if (keyCache.size > 10_000) keyCache.clear();
      keyCache.set(key, { organizationId, until: Date.now() + KEY_CACHE_MS });
    }
    return organizationId;
  }

  // --- applyPrepaidCredits --------------------------------------------------------------------

  async function apply(org: string, body: Record<string, unknown>, trips: { n: number }) {
    const invoice = object(body.invoice, 'invoice');
    const invoiceId = text(invoice.id, 'invoice.id');
    const externalId = text(invoice.externalCustomerId, 'invoice.externalCustomerId');
    const currency = text(invoice.currency, 'invoice.currency', 3);
    const exponent = currencyExponent(currency);
    const invoiceType = text(invoice.invoiceType, 'invoice.invoiceType', 32);
    if (!Number.isSafeInteger(invoice.totalAmountCents) || (invoice.totalAmountCents as number) < 0) {
      throw new InputError('invoice.totalAmountCents: a non-negative integer');
    }
    const total = BigInt(invoice.totalAmountCents as number);
    const invoiceFees = fees(invoice.fees, 'invoice.fees');
    const zero = {
      invoiceId,
      prepaidCreditAmountCents: 0,
      totalAfterCreditsCents: wireCents(total),
      prepaidGrantedCreditAmountCents: 0,
      prepaidPurchasedCreditAmountCents: 0,
      wallets: [],
    };
    if (!ELIGIBLE_INVOICE_TYPES.has(invoiceType)) return zero;
    const requestHash = sha256(JSON.stringify(invoice));
    return inTransaction(trips, async (client) => {
      const customer = (await send<{ id: string }>(client, trips, 'ys_lock_customer', LOCK_CUSTOMER, [org, externalId])).rows[0];
      if (!customer) return zero;
      const now = new Date();
      const { rows } = await send<
        WalletRow & { claimed: number; lot_id: string | null; lot_kind: string; remaining_amount_cents: string; remaining_credit_amount: string }
      >(client, trips, 'ys_claim_and_read', CLAIM_AND_READ, [org, customer.id, currency, now, randomUUID(), invoiceId, requestHash]);
      if (rows[0]?.claimed !== 1) {
        const stored = (await send<{ request_hash: string; answer: unknown }>(client, trips, 'ys_read_claim', READ_CLAIM, [org, invoiceId])).rows[0];
        if (stored?.request_hash !== requestHash || stored.answer === null) throw new Conflict(`invoice ${invoiceId} was applied with other content`);
        return stored.answer;
      }
      const wallets: Wallet[] = [];
      const lots = new Map<string, Lot[]>();
      for (const row of rows) {
        if (row.id === null) continue;
        if (wallets[wallets.length - 1]?.id !== row.id) {
          wallets.push(walletOf(row, externalId));
          lots.set(row.id, []);
        }
        if (row.lot_id) {
          lots.get(row.id)!.push({
            id: row.lot_id,
            kind: row.lot_kind === 'granted' ? 'granted' : 'purchased',
            remainingCents: BigInt(row.remaining_amount_cents),
            remainingCredits: dbDecimal(row.remaining_credit_amount),
          });
        }
      }
      const cents = allocateInvoice(total, invoiceFees, wallets);
      const outbound = { ids: [] as string[], wallets: [] as string[], credits: [] as string[], cents: [] as string[] };
      const consumed = { lots: [] as string[], outbound: [] as string[], credits: [] as string[], cents: [] as string[] };
      const events = { types: [] as string[], data: [] as string[] };
      const answerWallets: { walletId: string; amountCents: number; creditAmount: string; transactionId: string }[] = [];
      let granted = 0n;
      let purchased = 0n;
      for (const [i, wallet] of wallets.entries()) {
        const amount = cents[i]!;
        if (amount <= 0n) continue;
        const credits = minOf(centsToCredits(amount, wallet.rate, exponent), wallet.credits);
        const id = randomUUID();
        outbound.ids.push(id);
        outbound.wallets.push(wallet.id);
        outbound.credits.push(formatScaled(credits));
        outbound.cents.push(String(amount));
        for (const take of consumeLots(lots.get(wallet.id)!, amount, credits)) {
          consumed.lots.push(take.lot.id);
          consumed.outbound.push(id);
          consumed.credits.push(formatScaled(take.credits));
          consumed.cents.push(String(take.cents));
          if (take.lot.kind === 'granted') granted += take.cents;
          else purchased += take.cents;
        }
        wallet.balanceCents -= amount;
        wallet.credits -= credits;
        wallet.ongoingCents -= amount;
        wallet.ongoingCredits -= credits;
        wallet.consumedCents += amount;
        wallet.consumedCredits += credits;
        events.types.push('wallet_transaction.created', 'wallet.updated');
        events.data.push(
          JSON.stringify(
            transactionJson({
              id,
              walletId: wallet.id,
              currency,
              type: 'outbound',
              kind: 'invoiced',
              source: 'invoice',
              credits,
              cents: amount,
              remainingCredits: null,
              invoiceId,
              createdAt: now,
            }),
          ),
          JSON.stringify(walletJson(wallet, now)),
        );
        answerWallets.push({ walletId: wallet.id, amountCents: wireCents(amount), creditAmount: formatScaled(credits), transactionId: id });
      }
      const applied = cents.reduce((a, b) => a + b, 0n);
      const answer = {
        invoiceId,
        prepaidCreditAmountCents: wireCents(applied),
        totalAfterCreditsCents: wireCents(total - applied),
        prepaidGrantedCreditAmountCents: wireCents(granted),
        prepaidPurchasedCreditAmountCents: wireCents(purchased),
        wallets: answerWallets,
      };
      await send(client, trips, 'ys_write_apply', WRITE_APPLY, [
        org,
        customer.id,
        invoiceId,
        now,
        outbound.ids,
        outbound.wallets,
        outbound.credits,
        outbound.cents,
        consumed.lots,
        consumed.outbound,
        consumed.credits,
        consumed.cents,
        events.types,
        events.data,
        JSON.stringify(answer),
      ]);
      return answer;
    });
  }

  // --- usage.sync -----------------------------------------------------------------------------

  async function syncUsage(org: string, body: Record<string, unknown>, trips: { n: number }) {
    const externalId = text(body.externalCustomerId, 'externalCustomerId');
    const currency = text(body.currency, 'currency', 3);
    const exponent = currencyExponent(currency);
    const usageFees = fees(body.fees, 'fees') as UsageFeeIn[];
    for (const [i, fee] of usageFees.entries()) parseScaled(fee.amountCents, `fees.${i}.amountCents`);
    const now = new Date();
    const asOf = body.asOf === undefined ? now : new Date(text(body.asOf, 'asOf', 40));
    if (Number.isNaN(asOf.getTime())) throw new InputError('asOf: a date');
    return inTransaction(trips, async (client) => {
      const customer = (await send<{ id: string; currency: string | null }>(client, trips, 'ys_lock_customer', LOCK_CUSTOMER, [org, externalId]))
        .rows[0];
      if (!customer) throw new NotFound(`customer ${externalId}`);
      if (customer.currency !== null && customer.currency !== currency)
        throw new InputError(`customer ${externalId} is billed in ${customer.currency}`);
      const { rows } = await send<WalletRow & { fees: UsageFeeIn[] }>(client, trips, 'ys_upsert_snapshot_and_read', UPSERT_SNAPSHOT_AND_READ, [
        org,
        customer.id,
        randomUUID(),
        currency,
        asOf,
        JSON.stringify(usageFees),
        now,
      ]);
      const stored = rows[0]?.fees ?? [];
      const wallets = rows.filter((row) => row.id !== null).map((row) => walletOf(row, externalId));
      const usage = allocateUsage(stored, wallets);
      const ongoing = {
        ids: [] as string[],
        cents: [] as string[],
        credits: [] as string[],
        usageCents: [] as string[],
        usageCredits: [] as string[],
      };
      for (const [i, wallet] of wallets.entries()) {
        wallet.usageCents = usage[i]!;
        wallet.usageCredits = centsToCredits(wallet.usageCents, wallet.rate, exponent);
        wallet.ongoingCents = wallet.balanceCents - wallet.usageCents;
        wallet.ongoingCredits = wallet.credits - wallet.usageCredits;
        ongoing.ids.push(wallet.id);
        ongoing.cents.push(String(wallet.ongoingCents));
        ongoing.credits.push(formatScaled(wallet.ongoingCredits));
        ongoing.usageCents.push(String(wallet.usageCents));
        ongoing.usageCredits.push(formatScaled(wallet.usageCredits));
      }
      const answer = { wallets: wallets.map((w) => walletJson(w, now)) };
      await send(client, trips, 'ys_write_ongoing', WRITE_ONGOING, [
        org,
        now,
        ongoing.ids,
        ongoing.cents,
        ongoing.credits,
        ongoing.usageCents,
        ongoing.usageCredits,
        JSON.stringify({ externalCustomerId: externalId, currency, asOf, wallets: answer.wallets }),
      ]);
      return answer;
    });
  }

  // --- grant top-up ---------------------------------------------------------------------------

  async function grant(org: string, body: Record<string, unknown>, trips: { n: number }) {
    const walletId = text(body.walletId, 'walletId', 36);
    if (!UUID.test(walletId)) throw new NotFound(`wallet ${walletId}`);
    const requested = parseScaled(text(body.grantedCredits, 'grantedCredits', 40), 'grantedCredits');
    if (requested <= 0n) throw new InputError('grantedCredits: above zero');
    return inTransaction(trips, async (client) => {
      const wallet = (
        await send<{ customer_id: string; currency: string; rate_amount: string; status: string; external_id: string }>(
          client,
          trips,
          'ys_lock_wallet_customer',
          LOCK_WALLET_CUSTOMER,
          [org, walletId],
        )
      ).rows[0];
      if (!wallet) throw new NotFound(`wallet ${walletId}`);
      if (wallet.status !== 'active') throw new Conflict(`wallet ${walletId} is terminated`);
      const exponent = currencyExponent(wallet.currency.trim());
      const rate = dbDecimal(wallet.rate_amount);
      const cents = creditsToCents(requested, rate, exponent);
      if (cents <= 0n) throw new InputError('grantedCredits: worth less than a cent');
      const credits = centsToCredits(cents, rate, exponent);
      const now = new Date();
      const transaction = transactionJson({
        id: randomUUID(),
        walletId,
        currency: wallet.currency,
        type: 'inbound',
        kind: 'granted',
        source: 'manual',
        credits,
        cents,
        remainingCredits: credits,
        invoiceId: null,
        createdAt: now,
      });
      await send(client, trips, 'ys_write_grant', WRITE_GRANT, [
        org,
        walletId,
        wallet.customer_id,
        transaction.id,
        formatScaled(credits),
        String(cents),
        now,
        JSON.stringify(transaction),
        wallet.external_id,
      ]);
      return { transactions: [transaction] };
    });
  }

  // --- payment report (a success) -------------------------------------------------------------

  async function settlePayment(org: string, id: string, body: Record<string, unknown>, trips: { n: number }) {
    if (!UUID.test(id)) throw new NotFound(`transaction ${id}`);
    if (body.status !== 'succeeded') throw new InputError('status: succeeded (the only report the yardstick takes)');
    return inTransaction(trips, async (client) => {
      const purchase = (
        await send<{ wallet_id: string; credit_amount: string; amount_cents: string; created_at: Date; currency: string; external_id: string }>(
          client,
          trips,
          'ys_lock_purchase_customer',
          LOCK_PURCHASE_CUSTOMER,
          [org, id],
        )
      ).rows[0];
      if (!purchase) throw new NotFound(`purchase ${id}`);
      const now = new Date();
      const credits = dbDecimal(purchase.credit_amount);
      const transaction = transactionJson({
        id,
        walletId: purchase.wallet_id,
        currency: purchase.currency,
        type: 'inbound',
        kind: 'purchased',
        source: 'manual',
        credits,
        cents: BigInt(purchase.amount_cents),
        remainingCredits: credits,
        invoiceId: null,
        settledAt: now,
        createdAt: purchase.created_at,
      });
      const { rows } = await send<{ settled: number }>(client, trips, 'ys_write_settle', WRITE_SETTLE, [
        org,
        id,
        now,
        JSON.stringify(transaction),
        purchase.external_id,
      ]);
      if (rows[0]?.settled === 1) return transaction;
      // Settled before: the purchase as it is.
      const row = (
        await send<{
          id: string;
          wallet_id: string;
          currency: string;
          transaction_type: 'inbound';
          status: string;
          source: string;
          credit_amount: string;
          amount_cents: string;
          remaining_credit_amount: string | null;
          invoice_id: string | null;
          settled_at: Date | null;
          created_at: Date;
        }>(client, trips, 'ys_read_transaction', READ_TRANSACTION, [org, id])
      ).rows[0]!;
      return transactionJson({
        id,
        walletId: row.wallet_id,
        currency: row.currency,
        type: row.transaction_type,
        kind: 'purchased',
        status: row.status,
        source: row.source,
        credits: dbDecimal(row.credit_amount),
        cents: BigInt(row.amount_cents),
        remainingCredits: row.remaining_credit_amount === null ? null : dbDecimal(row.remaining_credit_amount),
        invoiceId: row.invoice_id,
        settledAt: row.settled_at,
        createdAt: row.created_at,
      });
    });
  }

  // --- terminate --------------------------------------------------------------------------------

  async function terminate(org: string, id: string, trips: { n: number }) {
    if (!UUID.test(id)) throw new NotFound(`wallet ${id}`);
    return inTransaction(trips, async (client) => {
      const wallet = (
        await send<{ customer_id: string; external_id: string }>(client, trips, 'ys_lock_wallet_customer', LOCK_WALLET_CUSTOMER, [org, id])
      ).rows[0];
      if (!wallet) throw new NotFound(`wallet ${id}`);
      const now = new Date();
      const { rows } = await send<WalletRow>(client, trips, 'ys_write_terminate', WRITE_TERMINATE, [
        org,
        id,
        wallet.customer_id,
        randomUUID(),
        now,
        wallet.external_id,
      ]);
      // Terminated before: the wallet as it is.
      const row = rows[0] ?? (await send<WalletRow>(client, trips, 'ys_get_wallet', GET_WALLET, [org, id])).rows[0]!;
      return walletJson(walletOf(row, wallet.external_id), now);
    });
  }

  // --- wallets.get ----------------------------------------------------------------------------

  async function getWallet(org: string, id: string, trips: { n: number }) {
    if (!UUID.test(id)) throw new NotFound(`wallet ${id}`);
    const row = (await send<WalletRow & { external_id: string }>(pool, trips, 'ys_get_wallet', GET_WALLET, [org, id])).rows[0];
    if (!row) throw new NotFound(`wallet ${id}`);
    return walletJson(walletOf(row, row.external_id));
  }

  // --- HTTP -----------------------------------------------------------------------------------

  function readBody(request: http.IncomingMessage): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      request.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          reject(new InputError('body above 1 MiB'));
          request.destroy();
          return;
        }
        chunks.push(chunk);
      });
      request.on('end', () => {
        try {
          resolve(object(JSON.parse(Buffer.concat(chunks).toString('utf8')), 'body'));
        } catch (error) {
          reject(error instanceof InputError ? error : new InputError('body: not JSON'));
        }
      });
      request.on('error', reject);
    });
  }

  const reply = (response: http.ServerResponse, status: number, payload: unknown) => {
    const body = JSON.stringify(payload);
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  };

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const path = request.url ?? '/';
    const organizationId = await organizationOf(request.headers.authorization);
    if (!organizationId) return reply(response, 401, { error: 'missing or unknown API key' });
    const trips = { n: 0 };
    let procedure: YardstickProcedure;
    let run: () => Promise<unknown>;
    if (request.method === 'POST' && path === '/v1/invoices/apply') {
      procedure = 'apply';
      const body = await readBody(request);
      run = () => apply(organizationId, body, trips);
    } else if (request.method === 'POST' && path === '/v1/usage/sync') {
      procedure = 'usage.sync';
      const body = await readBody(request);
      run = () => syncUsage(organizationId, body, trips);
    } else if (request.method === 'POST' && path === '/v1/wallet-transactions') {
      procedure = 'grant';
      const body = await readBody(request);
      run = () => grant(organizationId, body, trips);
    } else if (request.method === 'POST' && /^\/v1\/wallet-transactions\/[^/]+\/payment$/.test(path)) {
      procedure = 'payment';
      const body = await readBody(request);
      const id = decodeURIComponent(path.split('/')[3]!);
      run = () => settlePayment(organizationId, id, body, trips);
    } else if (request.method === 'DELETE' && path.startsWith('/v1/wallets/')) {
      procedure = 'terminate';
      const id = decodeURIComponent(path.slice('/v1/wallets/'.length));
      run = () => terminate(organizationId, id, trips);
    } else if (request.method === 'GET' && path.startsWith('/v1/wallets/')) {
      procedure = 'wallets.get';
      const id = decodeURIComponent(path.slice('/v1/wallets/'.length));
      run = () => getWallet(organizationId, id, trips);
    } else {
      return reply(response, 404, { error: `no route ${request.method} ${path}` });
    }
    try {
      reply(response, 200, await run());
    } finally {
      calls[procedure] = (calls[procedure] ?? 0) + 1;
      roundTrips[procedure] = (roundTrips[procedure] ?? 0) + trips.n;
    }
  }

  const server = http.createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
    handle(request, response).catch((error: unknown) => {
      const status = error instanceof InputError ? 400 : error instanceof NotFound ? 404 : error instanceof Conflict ? 409 : 500;
      if (status === 500) console.error('yardstick: internal error', error);
      if (!response.headersSent) reply(response, status, { error: error instanceof Error ? error.message : String(error) });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address}:${address.port}`,
    stats: () => ({ calls: { ...calls }, roundTrips: { ...roundTrips }, authRoundTrips, cpu: process.cpuUsage() }),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}
