import { Migration } from '@mikro-orm/migrations';

export class Migration20261125172404_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "organizations" ("id" uuid not null, "name" varchar(255) not null, "created_at" timestamptz(3) not null, constraint "organizations_pkey" primary key ("id"));`);

    this.addSql(`create table "idempotency_records" ("id" uuid not null, "organization_id" uuid not null, "procedure" varchar(128) not null, "key" varchar(255) not null, "request_hash" varchar(64) not null, "response" jsonb null, "created_at" timestamptz(3) not null, constraint "idempotency_records_pkey" primary key ("id"));`);
    this.addSql(`alter table "idempotency_records" add constraint "idempotency_org_procedure_key_unique" unique ("organization_id", "procedure", "key");`);

    this.addSql(`create table "customers" ("id" uuid not null, "organization_id" uuid not null, "external_id" varchar(255) not null, "currency" varchar(3) null, "timezone" varchar(64) not null default 'UTC', "created_at" timestamptz(3) not null, "updated_at" timestamptz(3) not null, constraint "customers_pkey" primary key ("id"));`);
    this.addSql(`alter table "customers" add constraint "customers_org_external_id_unique" unique ("organization_id", "external_id");`);

    this.addSql(`create table "api_keys" ("id" uuid not null, "organization_id" uuid not null, "key_hash" varchar(64) not null, "prefix" varchar(32) not null, "created_at" timestamptz(3) not null, constraint "api_keys_pkey" primary key ("id"));`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_key_hash_unique" unique ("key_hash");`);

    this.addSql(`create table "events" ("position" bigserial primary key, "id" uuid not null, "organization_id" uuid not null, "type" varchar(64) not null, "data" jsonb not null, "created_at" timestamptz(3) not null);`);
    this.addSql(`alter table "events" add constraint "events_org_id_unique" unique ("organization_id", "id");`);

    this.addSql(`create table "wallets" ("id" uuid not null, "organization_id" uuid not null, "customer_id" uuid not null, "name" varchar(255) null, "code" varchar(255) not null, "status" varchar(16) not null default 'active', "currency" varchar(3) not null, "rate_amount" numeric(30,5) not null, "priority" int not null default 50, "balance_cents" bigint not null default 0, "credits_balance" numeric(30,5) not null default 0, "ongoing_balance_cents" bigint not null default 0, "credits_ongoing_balance" numeric(30,5) not null default 0, "ongoing_usage_balance_cents" bigint not null default 0, "credits_ongoing_usage_balance" numeric(30,5) not null default 0, "consumed_credits" numeric(30,5) not null default 0, "consumed_amount_cents" bigint not null default 0, "expiration_at" timestamptz(3) null, "terminated_at" timestamptz(3) null, "invoice_requires_successful_payment" boolean not null default false, "paid_top_up_min_amount_cents" bigint null, "paid_top_up_max_amount_cents" bigint null, "applies_to_fee_types" text[] not null default '{}', "applies_to_billable_metric_codes" text[] not null default '{}', "created_at" timestamptz(3) not null, "updated_at" timestamptz(3) not null, constraint "wallets_pkey" primary key ("id"));`);
    this.addSql(`create index "wallets_customer_status_idx" on "wallets" ("organization_id", "customer_id", "status");`);
    this.addSql(`create index "wallets_expiration_due_idx" on "wallets" ("organization_id", "expiration_at");`);

    this.addSql(`create table "recurring_transaction_rules" ("id" uuid not null, "organization_id" uuid not null, "wallet_id" uuid not null, "status" varchar(16) not null default 'active', "trigger" varchar(16) not null, "interval" varchar(16) null, "method" varchar(16) not null default 'fixed', "paid_credits" numeric(30,5) not null default 0, "granted_credits" numeric(30,5) not null default 0, "threshold_credits" numeric(30,5) not null default 0, "target_ongoing_balance" numeric(30,5) null, "grants_target_top_up" boolean not null default false, "ignore_paid_top_up_limits" boolean not null default false, "invoice_requires_successful_payment" boolean not null default false, "started_at" timestamptz(3) null, "expiration_at" timestamptz(3) null, "transaction_metadata" jsonb not null default '[]', "transaction_name" varchar(255) null, "terminated_at" timestamptz(3) null, "created_at" timestamptz(3) not null, constraint "recurring_transaction_rules_pkey" primary key ("id"));`);
    this.addSql(`create index "rules_wallet_status_idx" on "recurring_transaction_rules" ("organization_id", "wallet_id", "status");`);

    this.addSql(`create table "wallet_transactions" ("id" uuid not null, "organization_id" uuid not null, "wallet_id" uuid not null, "customer_id" uuid not null, "transaction_type" varchar(16) not null, "status" varchar(16) not null, "transaction_status" varchar(16) not null, "source" varchar(32) not null default 'manual', "credit_amount" numeric(30,5) not null, "amount_cents" bigint not null, "remaining_credit_amount" numeric(30,5) null, "remaining_amount_cents" bigint null, "priority" int not null default 50, "expiration_at" timestamptz(3) null, "name" varchar(255) null, "metadata" jsonb not null default '[]', "invoice_id" varchar(255) null, "voided_invoice_id" varchar(255) null, "voided_transaction_id" uuid null, "invoice_requires_successful_payment" boolean not null default false, "settled_at" timestamptz(3) null, "failed_at" timestamptz(3) null, "clawed_back_at" timestamptz(3) null, "created_at" timestamptz(3) not null, constraint "wallet_transactions_pkey" primary key ("id"));`);
    this.addSql(`create index "wallet_transactions_wallet_idx" on "wallet_transactions" ("organization_id", "wallet_id", "created_at");`);
    this.addSql(`create index "wallet_transactions_lot_expiry_idx" on "wallet_transactions" ("organization_id", "expiration_at");`);

    this.addSql(`create table "wallet_transaction_consumptions" ("id" uuid not null, "organization_id" uuid not null, "inbound_wallet_transaction_id" uuid not null, "outbound_wallet_transaction_id" uuid not null, "credit_amount" numeric(30,5) not null, "amount_cents" bigint not null, "created_at" timestamptz(3) not null, constraint "wallet_transaction_consumptions_pkey" primary key ("id"));`);
    this.addSql(`create index "consumptions_outbound_idx" on "wallet_transaction_consumptions" ("organization_id", "outbound_wallet_transaction_id");`);
    this.addSql(`alter table "wallet_transaction_consumptions" add constraint "consumptions_pair_unique" unique ("organization_id", "inbound_wallet_transaction_id", "outbound_wallet_transaction_id");`);

    this.addSql(`alter table "idempotency_records" add constraint "idempotency_records_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "customers" add constraint "customers_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "api_keys" add constraint "api_keys_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "events" add constraint "events_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "wallets" add constraint "wallets_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "wallets" add constraint "wallets_customer_id_foreign" foreign key ("customer_id") references "customers" ("id") on update cascade;`);

    this.addSql(`alter table "recurring_transaction_rules" add constraint "recurring_transaction_rules_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "recurring_transaction_rules" add constraint "recurring_transaction_rules_wallet_id_foreign" foreign key ("wallet_id") references "wallets" ("id") on update cascade;`);

    this.addSql(`alter table "wallet_transactions" add constraint "wallet_transactions_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "wallet_transactions" add constraint "wallet_transactions_wallet_id_foreign" foreign key ("wallet_id") references "wallets" ("id") on update cascade;`);
    this.addSql(`alter table "wallet_transactions" add constraint "wallet_transactions_customer_id_foreign" foreign key ("customer_id") references "customers" ("id") on update cascade;`);

    this.addSql(`alter table "wallet_transaction_consumptions" add constraint "wallet_transaction_consumptions_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "wallet_transaction_consumptions" add constraint "wallet_transaction_consumptions_inbound_wallet_t_c9ac3_foreign" foreign key ("inbound_wallet_transaction_id") references "wallet_transactions" ("id") on update cascade;`);
    this.addSql(`alter table "wallet_transaction_consumptions" add constraint "wallet_transaction_consumptions_outbound_wallet__6d316_foreign" foreign key ("outbound_wallet_transaction_id") references "wallet_transactions" ("id") on update cascade;`);
    // Reviewed additions: what must never happen, enforced by the database itself.
    this.addSql(`create unique index "wallets_active_code_unique" on "wallets" ("organization_id", "customer_id", "code") where "status" = 'active';`);
    this.addSql(`alter table "wallets" add constraint "wallets_balances_non_negative" check ("balance_cents" >= 0 and "credits_balance" >= 0 and "consumed_credits" >= 0 and "consumed_amount_cents" >= 0 and "ongoing_usage_balance_cents" >= 0);`);
    this.addSql(`alter table "wallets" add constraint "wallets_rate_positive" check ("rate_amount" > 0);`);
    this.addSql(`alter table "wallets" add constraint "wallets_state_valid" check (("status" = 'active' or "status" = 'terminated') and "priority" >= 1 and "priority" <= 50);`);
    this.addSql(`alter table "wallets" add constraint "wallets_top_up_limits_valid" check (("paid_top_up_min_amount_cents" is null or "paid_top_up_min_amount_cents" > 0) and ("paid_top_up_max_amount_cents" is null or "paid_top_up_max_amount_cents" > 0) and ("paid_top_up_min_amount_cents" is null or "paid_top_up_max_amount_cents" is null or "paid_top_up_max_amount_cents" >= "paid_top_up_min_amount_cents"));`);
    this.addSql(`alter table "wallet_transactions" add constraint "wallet_transactions_amounts_valid" check ("credit_amount" >= 0 and "amount_cents" >= 0 and ("credit_amount" > 0 or "amount_cents" > 0));`);
    this.addSql(`alter table "wallet_transactions" add constraint "wallet_transactions_remaining_valid" check (("remaining_credit_amount" is null and "remaining_amount_cents" is null) or ("transaction_type" = 'inbound' and "remaining_credit_amount" >= 0 and "remaining_credit_amount" <= "credit_amount" and "remaining_amount_cents" >= 0 and "remaining_amount_cents" <= "amount_cents"));`);
    this.addSql(`alter table "wallet_transactions" add constraint "wallet_transactions_kinds_valid" check (("transaction_type" = 'inbound' or "transaction_type" = 'outbound') and ("status" = 'pending' or "status" = 'settled' or "status" = 'failed') and ("transaction_status" = 'purchased' or "transaction_status" = 'granted' or "transaction_status" = 'voided' or "transaction_status" = 'invoiced') and "priority" >= 1 and "priority" <= 50);`);
    this.addSql(`alter table "wallet_transaction_consumptions" add constraint "consumptions_amounts_valid" check ("credit_amount" >= 0 and "amount_cents" >= 0 and ("credit_amount" > 0 or "amount_cents" > 0));`);
    this.addSql(`create index "wallet_transactions_available_lots_idx" on "wallet_transactions" ("organization_id", "wallet_id") where "transaction_type" = 'inbound' and "status" = 'settled' and ("remaining_amount_cents" > 0 or "remaining_credit_amount" > 0);`);
    this.addSql(`create index "wallet_transactions_invoice_idx" on "wallet_transactions" ("organization_id", "invoice_id") where "invoice_id" is not null;`);
    this.addSql(`create index "events_org_position_idx" on "events" ("organization_id", "position");`);
    // The ledger is append-only: amounts never change, rows are never deleted. Only a purchase's
    // status (pending -> settled|failed, failed -> settled) and a lot's remainder (downwards) move.
    this.addSql(`create function wallet_transactions_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'wallet_transactions rows are never deleted';
  end if;
  if new.credit_amount <> old.credit_amount or new.amount_cents <> old.amount_cents
     or new.transaction_type <> old.transaction_type or new.transaction_status <> old.transaction_status
     or new.wallet_id <> old.wallet_id or new.organization_id <> old.organization_id then
    raise exception 'wallet_transactions amounts and kinds never change';
  end if;
  if new.status <> old.status and not (
       (old.status = 'pending' and new.status in ('settled', 'failed'))
       or (old.status = 'failed' and new.status = 'settled')) then
    raise exception 'wallet transaction status % cannot become %', old.status, new.status;
  end if;
  if old.remaining_amount_cents is not null and (new.remaining_amount_cents > old.remaining_amount_cents
       or new.remaining_credit_amount > old.remaining_credit_amount) then
    raise exception 'a lot remainder only goes down';
  end if;
  return new;
end $$;`);
    this.addSql(`create trigger wallet_transactions_guard before update or delete on "wallet_transactions" for each row execute function wallet_transactions_guard();`);
    this.addSql(`create function wallet_transaction_consumptions_guard() returns trigger language plpgsql as $$
begin
  raise exception 'wallet_transaction_consumptions rows are never changed or deleted';
end $$;`);
    this.addSql(`create trigger wallet_transaction_consumptions_guard before update or delete on "wallet_transaction_consumptions" for each row execute function wallet_transaction_consumptions_guard();`);
  }

}
