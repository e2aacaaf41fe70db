import { Migration } from '@mikro-orm/migrations';

/**
 * Several API keys per organization (issue 17): a name, when a key was last used, when it was
 * revoked. Existing keys stay as they are (active, unnamed), so they keep working.
 */
export class Migration20261207173243_api_key_rotation extends Migration {

  override async up(): Promise<void> {
    this.addSql(`alter table "api_keys" add column "name" varchar(255) null, add column "last_used_at" timestamptz(3) null, add column "revoked_at" timestamptz(3) null;`);
    this.addSql(`create index "api_keys_organization_idx" on "api_keys" ("organization_id", "created_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "api_keys_organization_idx";`);
    this.addSql(`alter table "api_keys" drop column "name", drop column "last_used_at", drop column "revoked_at";`);
  }

}
