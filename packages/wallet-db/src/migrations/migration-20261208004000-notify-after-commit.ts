import { Migration } from '@mikro-orm/migrations';

/**
 * Live events are notified by the writers after their commit (events.ts `notifyCommittedEvents`),
 * no longer by a trigger inside the writing transaction: a NOTIFY there holds PostgreSQL's
 * notification lock through the commit's WAL flush, so every commit that wrote events waited for
 * the one before it to reach the disk.
 */
export class Migration20261208004000_notify_after_commit extends Migration {

  override async up(): Promise<void> {
    this.addSql(`drop trigger if exists "events_notify" on "events";`);
    this.addSql(`drop function if exists "wallet_events_notify"();`);
  }

  override async down(): Promise<void> {
    this.addSql(`create or replace function "wallet_events_notify"() returns trigger language plpgsql as $$
      declare org uuid;
      begin
        for org in select distinct organization_id from new_events loop
          perform pg_notify('wallet_events', org::text);
        end loop;
        return null;
      end $$;`);
    this.addSql(`create trigger "events_notify" after insert on "events" referencing new table as new_events for each statement execute function "wallet_events_notify"();`);
  }

}
