import { Migration } from '@mikro-orm/migrations';

/**
 * A wallet's lots by settlement time, with what a past balance needs from them, so wallets.get with
 * asOf and wallets.balanceHistory read them by an index-only range scan (as they read the wallet's
 * consumptions, migration 20261207221500). Partial: outbound rows and unsettled purchases are not in it.
 */
export class Migration20261207223000_lots_by_settlement extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index "wallet_transactions_lots_settled_idx" on "wallet_transactions" ("organization_id", "wallet_id", "settled_at") include ("transaction_status", "amount_cents", "credit_amount") where "transaction_type" = 'inbound' and "status" = 'settled';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "wallet_transactions_lots_settled_idx";`);
  }

}
