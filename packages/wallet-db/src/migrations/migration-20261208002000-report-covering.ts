import { Migration } from '@mikro-orm/migrations';

/** The report line of an outbound transaction `o` (finance.ts's classification; the audit has its own). */
const OUTFLOW_OF = `case when o.transaction_status = 'invoiced' then 'consumed'
       when o.source = 'expiration' then 'expired'
       when o.source = 'termination' then 'terminated'
       when o.source = 'payment_failure' then 'clawedBack'
       else 'voided' end`;

/**
 * reports.credits over many wallets reads index-only, without a lookup per row (over 10,000 wallets
 * it spent most of its time fetching each consumption's outbound by id, at random):
 * - a consumption row also carries its outbound's report line (`outflow`: consumed, voided, expired,
 *   terminated or clawedBack), copied by the insert trigger that already copies the lot's wallet and
 *   kind; the outbound's status and source never change, and the audit compares the copy;
 * - the consumptions-by-wallet index and the lots-by-settlement index include what the report
 *   classifies by (`outflow`; a lot's `source`), rebuilt with them;
 * - purchases get an index of their own (creation time, wallet, amount, settlement and failure
 *   times) for the report's pending purchases, which read the organization's whole heap before.
 * Existing rows are filled in once, with the append-only guard set aside for that statement.
 */
export class Migration20261208002000_report_covering extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "wallet_transaction_consumptions" add column "outflow" varchar(16) null;`);
    this.addSql(`alter table "wallet_transaction_consumptions" disable trigger wallet_transaction_consumptions_guard;`);
    this.addSql(`update "wallet_transaction_consumptions" c set "outflow" = ${OUTFLOW_OF}
      from "wallet_transactions" o where o."id" = c."outbound_wallet_transaction_id";`);
    this.addSql(`alter table "wallet_transaction_consumptions" enable trigger wallet_transaction_consumptions_guard;`);
    this.addSql(`alter table "wallet_transaction_consumptions" alter column "outflow" set not null;`);
    this.addSql(`create or replace function wallet_transaction_consumptions_lot() returns trigger language plpgsql as $$
begin
  select i.wallet_id, i.transaction_status into new.wallet_id, new.lot_kind
    from wallet_transactions i where i.id = new.inbound_wallet_transaction_id;
  select ${OUTFLOW_OF} into new.outflow
    from wallet_transactions o where o.id = new.outbound_wallet_transaction_id;
  return new;
end $$;`);
    this.addSql(`drop index "consumptions_wallet_time_idx";`);
    this.addSql(`create index "consumptions_wallet_time_idx" on "wallet_transaction_consumptions" ("organization_id", "wallet_id", "created_at") include ("lot_kind", "outflow", "amount_cents", "credit_amount");`);
    this.addSql(`drop index "wallet_transactions_lots_settled_idx";`);
    this.addSql(`create index "wallet_transactions_lots_settled_idx" on "wallet_transactions" ("organization_id", "wallet_id", "settled_at") include ("transaction_status", "source", "amount_cents", "credit_amount") where "transaction_type" = 'inbound' and "status" = 'settled';`);
    this.addSql(`create index "wallet_transactions_purchases_idx" on "wallet_transactions" ("organization_id", "created_at") include ("wallet_id", "amount_cents", "settled_at", "failed_at") where "transaction_type" = 'inbound' and "transaction_status" = 'purchased';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "wallet_transactions_purchases_idx";`);
    this.addSql(`drop index "wallet_transactions_lots_settled_idx";`);
    this.addSql(`create index "wallet_transactions_lots_settled_idx" on "wallet_transactions" ("organization_id", "wallet_id", "settled_at") include ("transaction_status", "amount_cents", "credit_amount") where "transaction_type" = 'inbound' and "status" = 'settled';`);
    this.addSql(`drop index "consumptions_wallet_time_idx";`);
    this.addSql(`create index "consumptions_wallet_time_idx" on "wallet_transaction_consumptions" ("organization_id", "wallet_id", "created_at") include ("lot_kind", "amount_cents", "credit_amount");`);
    this.addSql(`create or replace function wallet_transaction_consumptions_lot() returns trigger language plpgsql as $$
begin
  select i.wallet_id, i.transaction_status into new.wallet_id, new.lot_kind
    from wallet_transactions i where i.id = new.inbound_wallet_transaction_id;
  return new;
end $$;`);
    this.addSql(`alter table "wallet_transaction_consumptions" drop column "outflow";`);
  }

}
