import { Migration } from '@mikro-orm/migrations';

/**
 * Webhook endpoints choose how their deliveries are shaped and signed: `standard` (Standard
 * Webhooks, as before) or `lago` (Lago's envelope, X-Lago-Signature). Existing endpoints stay standard.
 */
export class Migration20261207210939_webhook_format extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "webhook_endpoints" add column "format" varchar(16) not null default 'standard';`);
    this.addSql(`alter table "webhook_endpoints" add constraint "webhook_endpoints_format_valid" check ("format" in ('standard', 'lago'));`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "webhook_endpoints" drop column "format";`);
  }

}
