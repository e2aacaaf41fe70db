import { Migration } from '@mikro-orm/migrations';

/**
 * The group functions' migration created `wallet_transactions_live_lots_idx`, the same partial index
 * as the initial `wallet_transactions_available_lots_idx`: one of them is enough, and every insert
 * paid for both.
 */
export class Migration20261207233000_drop_duplicate_lots_index extends Migration {

  override async up(): Promise<void> {
    this.addSql(`drop index if exists "wallet_transactions_live_lots_idx";`);
  }

  override async down(): Promise<void> {
    this.addSql(`create index "wallet_transactions_live_lots_idx" on "wallet_transactions" ("organization_id", "wallet_id")
  where "transaction_type" = 'inbound' and "status" = 'settled' and ("remaining_amount_cents" > 0 or "remaining_credit_amount" > 0);`);
  }

}
