import { Migration } from '@mikro-orm/migrations';

export class Migration20261125174944_usage_snapshots extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "usage_snapshots" ("id" uuid not null, "organization_id" uuid not null, "customer_id" uuid not null, "currency" varchar(3) not null, "as_of" timestamptz(3) not null, "fees" jsonb not null default '[]', "draft_invoices" jsonb not null default '[]', "billed_fees" jsonb not null default '[]', "updated_at" timestamptz(3) not null, constraint "usage_snapshots_pkey" primary key ("id"));`);
    this.addSql(`alter table "usage_snapshots" add constraint "usage_snapshots_customer_currency_unique" unique ("organization_id", "customer_id", "currency");`);

    this.addSql(`alter table "usage_snapshots" add constraint "usage_snapshots_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "usage_snapshots" add constraint "usage_snapshots_customer_id_foreign" foreign key ("customer_id") references "customers" ("id") on update cascade;`);

    this.addSql(`alter table "wallets" add column "depleted_ongoing_balance" boolean not null default false;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "usage_snapshots" cascade;`);

    this.addSql(`alter table "wallets" drop column "depleted_ongoing_balance";`);
  }

}
