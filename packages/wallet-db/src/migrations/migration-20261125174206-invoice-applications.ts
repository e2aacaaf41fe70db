import { Migration } from '@mikro-orm/migrations';

export class Migration20261125174206_invoice_applications extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "invoice_applications" ("id" uuid not null, "organization_id" uuid not null, "invoice_id" varchar(255) not null, "customer_id" uuid null, "request_hash" varchar(64) not null, "status" varchar(16) not null default 'applied', "allocation" jsonb null, "voided_at" timestamptz(3) null, "created_at" timestamptz(3) not null, constraint "invoice_applications_pkey" primary key ("id"));`);
    this.addSql(`alter table "invoice_applications" add constraint "invoice_applications_org_invoice_unique" unique ("organization_id", "invoice_id");`);

    this.addSql(`alter table "invoice_applications" add constraint "invoice_applications_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "invoice_applications" add constraint "invoice_applications_customer_id_foreign" foreign key ("customer_id") references "customers" ("id") on update cascade on delete set null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "invoice_applications" cascade;`);
  }

}
