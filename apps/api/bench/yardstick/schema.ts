/**
 * The yardstick's own schema: the same shape as the project's tables (tenancy column on every row,
 * foreign keys, CHECKs on amounts and remainders, the partial index on available lots, a unique
 * invoice claim, an append-only guard on the ledger), written by hand and kept in a schema of its
 * own (default `yardstick`) of the bench's database. Nothing here comes from the project.
 */
import type pg from 'pg';

export const DEFAULT_SCHEMA = 'yardstick';

/** Identifiers only: the schema name goes into DDL text and into each connection's search_path. */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`not a plain schema name: ${schema}`);
  return schema;
}

const TABLES = `
create table organizations (
  id uuid primary key,
  name text not null,
  created_at timestamptz(3) not null
);
create table api_keys (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  key_hash char(64) not null unique,
  created_at timestamptz(3) not null
);
create table customers (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  external_id varchar(255) not null,
  currency char(3),
  created_at timestamptz(3) not null,
  unique (organization_id, external_id)
);
create table wallets (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  customer_id uuid not null references customers (id),
  name varchar(255),
  status varchar(16) not null default 'active' check (status in ('active', 'terminated')),
  currency char(3) not null,
  rate_amount numeric(30,5) not null check (rate_amount > 0),
  priority int not null default 50 check (priority between 1 and 50),
  balance_cents bigint not null default 0 check (balance_cents >= 0),
  credits_balance numeric(30,5) not null default 0 check (credits_balance >= 0),
  ongoing_balance_cents bigint not null default 0,
  credits_ongoing_balance numeric(30,5) not null default 0,
  ongoing_usage_balance_cents bigint not null default 0 check (ongoing_usage_balance_cents >= 0),
  credits_ongoing_usage_balance numeric(30,5) not null default 0,
  consumed_credits numeric(30,5) not null default 0 check (consumed_credits >= 0),
  consumed_amount_cents bigint not null default 0 check (consumed_amount_cents >= 0),
  fee_types text[] not null default '{}',
  billable_metric_codes text[] not null default '{}',
  terminated_at timestamptz(3),
  created_at timestamptz(3) not null,
  updated_at timestamptz(3) not null
);
create index wallets_customer_idx on wallets (organization_id, customer_id, status);
create table wallet_transactions (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  wallet_id uuid not null references wallets (id),
  customer_id uuid not null references customers (id),
  transaction_type varchar(16) not null check (transaction_type in ('inbound', 'outbound')),
  status varchar(16) not null check (status in ('pending', 'settled', 'failed')),
  transaction_status varchar(16) not null check (transaction_status in ('purchased', 'granted', 'voided', 'invoiced')),
  source varchar(32) not null default 'manual',
  credit_amount numeric(30,5) not null,
  amount_cents bigint not null,
  remaining_credit_amount numeric(30,5),
  remaining_amount_cents bigint,
  priority int not null default 50 check (priority between 1 and 50),
  expiration_at timestamptz(3),
  invoice_id varchar(255),
  settled_at timestamptz(3),
  failed_at timestamptz(3),
  created_at timestamptz(3) not null,
  check (credit_amount >= 0 and amount_cents >= 0 and (credit_amount > 0 or amount_cents > 0)),
  check ((remaining_credit_amount is null and remaining_amount_cents is null)
    or (transaction_type = 'inbound' and remaining_credit_amount between 0 and credit_amount
        and remaining_amount_cents between 0 and amount_cents))
);
create index wallet_transactions_wallet_idx on wallet_transactions (organization_id, wallet_id, created_at);
create index wallet_transactions_available_lots_idx on wallet_transactions (organization_id, wallet_id)
  where transaction_type = 'inbound' and status = 'settled' and (remaining_amount_cents > 0 or remaining_credit_amount > 0);
create table consumptions (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  inbound_id uuid not null references wallet_transactions (id),
  outbound_id uuid not null references wallet_transactions (id),
  credit_amount numeric(30,5) not null,
  amount_cents bigint not null,
  created_at timestamptz(3) not null,
  check (credit_amount >= 0 and amount_cents >= 0 and (credit_amount > 0 or amount_cents > 0)),
  unique (organization_id, inbound_id, outbound_id)
);
create index consumptions_outbound_idx on consumptions (organization_id, outbound_id);
create table events (
  position bigserial primary key,
  id uuid not null,
  organization_id uuid not null references organizations (id),
  type varchar(64) not null,
  data jsonb not null,
  created_at timestamptz(3) not null,
  unique (organization_id, id)
);
create index events_position_idx on events (organization_id, position);
create table invoice_claims (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  invoice_id varchar(255) not null,
  customer_id uuid references customers (id),
  request_hash char(64) not null,
  answer jsonb,
  created_at timestamptz(3) not null,
  unique (organization_id, invoice_id)
);
create table usage_snapshots (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  customer_id uuid not null references customers (id),
  currency char(3) not null,
  as_of timestamptz(3) not null,
  fees jsonb not null,
  updated_at timestamptz(3) not null,
  unique (organization_id, customer_id, currency)
);
create function ledger_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then raise exception 'ledger rows are never deleted'; end if;
  if new.credit_amount <> old.credit_amount or new.amount_cents <> old.amount_cents or new.wallet_id <> old.wallet_id then
    raise exception 'ledger amounts never change';
  end if;
  if new.remaining_amount_cents > old.remaining_amount_cents or new.remaining_credit_amount > old.remaining_credit_amount then
    raise exception 'a lot remainder only goes down';
  end if;
  return new;
end $$;
create trigger ledger_guard before update or delete on wallet_transactions for each row execute function ledger_guard();
`;

/** Drops and recreates the schema (a bench run starts from empty tables). */
export async function createYardstickSchema(client: pg.ClientBase, schema = DEFAULT_SCHEMA): Promise<void> {
  const name = checkSchemaName(schema);
  // One simple-protocol round trip: PostgreSQL runs it as one implicit transaction.
  await client.query(`drop schema if exists ${name} cascade; create schema ${name}; set search_path to ${name}; ${TABLES} reset search_path;`);
}
