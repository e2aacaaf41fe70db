import { Migration } from '@mikro-orm/migrations';

export class Migration20261125200746_webhooks extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "webhook_endpoints" ("id" uuid not null, "organization_id" uuid not null, "url" varchar(2048) not null, "secret" varchar(128) not null, "event_cursor" bigint not null, "created_at" timestamptz(3) not null, "deleted_at" timestamptz(3) null, constraint "webhook_endpoints_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_endpoints_live_idx" on "webhook_endpoints" ("organization_id") where "deleted_at" is null;`);

    this.addSql(`create table "webhook_deliveries" ("id" uuid not null, "organization_id" uuid not null, "endpoint_id" uuid not null, "event_position" bigint not null, "event_id" uuid not null, "status" varchar(16) not null default 'pending', "attempts" int not null default 0, "next_attempt_at" timestamptz(3) null, "last_attempt_at" timestamptz(3) null, "created_at" timestamptz(3) not null, constraint "webhook_deliveries_pkey" primary key ("id"), constraint webhook_deliveries_state_valid check ("status" in ('pending', 'delivered', 'failed', 'cancelled') and ("status" <> 'pending' or "next_attempt_at" is not null) and "attempts" >= 0));`);
    this.addSql(`create index "webhook_deliveries_due_idx" on "webhook_deliveries" ("next_attempt_at") where "status" = 'pending';`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_endpoint_event_unique" unique ("organization_id", "endpoint_id", "event_position");`);

    this.addSql(`create table "webhook_attempts" ("id" uuid not null, "organization_id" uuid not null, "delivery_id" uuid not null, "attempt_number" int not null, "attempted_at" timestamptz(3) not null, "status_code" int null, "error" varchar(1000) null, "duration_ms" int not null, constraint "webhook_attempts_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_attempts_delivery_idx" on "webhook_attempts" ("organization_id", "delivery_id");`);

    this.addSql(`alter table "webhook_endpoints" add constraint "webhook_endpoints_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_endpoint_id_foreign" foreign key ("endpoint_id") references "webhook_endpoints" ("id") on update cascade;`);

    this.addSql(`alter table "webhook_attempts" add constraint "webhook_attempts_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "webhook_attempts" add constraint "webhook_attempts_delivery_id_foreign" foreign key ("delivery_id") references "webhook_deliveries" ("id") on update cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "webhook_deliveries" drop constraint "webhook_deliveries_endpoint_id_foreign";`);

    this.addSql(`alter table "webhook_attempts" drop constraint "webhook_attempts_delivery_id_foreign";`);

    this.addSql(`drop table if exists "webhook_endpoints" cascade;`);

    this.addSql(`drop table if exists "webhook_deliveries" cascade;`);

    this.addSql(`drop table if exists "webhook_attempts" cascade;`);
  }

}
