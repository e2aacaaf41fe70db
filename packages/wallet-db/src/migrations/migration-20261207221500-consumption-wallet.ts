import { Migration } from '@mikro-orm/migrations';

/**
 * A consumption row also names its wallet and the kind of the lot it took from (copied from the lot
 * by a trigger as the row is inserted, so no writer can forget them), with an index by wallet and
 * time: a wallet's balances in the past (wallets.get with asOf, wallets.balanceHistory) read its
 * lots and its consumptions as two range scans instead of one lookup per outbound transaction.
 * The copies never change (the rows are append-only) and the ledger audit compares them with the
 * lot. Existing rows are filled in once, with the append-only guard set aside for that statement.
 */
export class Migration20261207221500_consumption_wallet extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "wallet_transaction_consumptions" add column "wallet_id" uuid null, add column "lot_kind" varchar(16) null;`);
    this.addSql(`alter table "wallet_transaction_consumptions" disable trigger wallet_transaction_consumptions_guard;`);
    this.addSql(`update "wallet_transaction_consumptions" c set "wallet_id" = i."wallet_id", "lot_kind" = i."transaction_status"
      from "wallet_transactions" i where i."id" = c."inbound_wallet_transaction_id";`);
    this.addSql(`alter table "wallet_transaction_consumptions" enable trigger wallet_transaction_consumptions_guard;`);
    this.addSql(`alter table "wallet_transaction_consumptions" alter column "wallet_id" set not null, alter column "lot_kind" set not null;`);
    this.addSql(`create function wallet_transaction_consumptions_lot() returns trigger language plpgsql as $$
begin
  select i.wallet_id, i.transaction_status into new.wallet_id, new.lot_kind
    from wallet_transactions i where i.id = new.inbound_wallet_transaction_id;
  return new;
end $$;`);
    this.addSql(`create trigger wallet_transaction_consumptions_lot before insert on "wallet_transaction_consumptions" for each row execute function wallet_transaction_consumptions_lot();`);
    this.addSql(`create index "consumptions_wallet_time_idx" on "wallet_transaction_consumptions" ("organization_id", "wallet_id", "created_at") include ("lot_kind", "amount_cents", "credit_amount");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger wallet_transaction_consumptions_lot on "wallet_transaction_consumptions";`);
    this.addSql(`drop function wallet_transaction_consumptions_lot();`);
    this.addSql(`drop index "consumptions_wallet_time_idx";`);
    this.addSql(`alter table "wallet_transaction_consumptions" drop column "wallet_id", drop column "lot_kind";`);
  }

}
