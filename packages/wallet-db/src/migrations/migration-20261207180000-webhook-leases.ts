import { Migration } from '@mikro-orm/migrations';

/**
 * Webhook deliveries are claimed with a lease instead of a row lock held across the POST: a
 * claimed delivery carries its sender's token and the (database) time its lease ends; endpoints
 * remember when one of their deliveries was last claimed, for round-robin among them.
 */
export class Migration20261207180000_webhook_leases extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "webhook_deliveries" add column "lease_token" uuid null, add column "lease_until" timestamptz(3) null;`);
    this.addSql(`create index "webhook_deliveries_leased_idx" on "webhook_deliveries" ("organization_id", "endpoint_id") where "status" = 'pending' and "lease_until" is not null;`);
    this.addSql(`alter table "webhook_endpoints" add column "last_claimed_at" timestamptz(3) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "webhook_deliveries_leased_idx";`);
    this.addSql(`alter table "webhook_deliveries" drop column "lease_token", drop column "lease_until";`);
    this.addSql(`alter table "webhook_endpoints" drop column "last_claimed_at";`);
  }

}
