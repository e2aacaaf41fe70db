import { Migration } from '@mikro-orm/migrations';

/**
 * Live events by notification: every statement that inserts events notifies `wallet_events` once
 * per organization it wrote for (payload: the organization id). PostgreSQL delivers it at commit,
 * so a listener reads the outbox only once there is something committed to read.
 */
export class Migration20261207220000_event_notify extends Migration {

  override async up(): Promise<void> {
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

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "events_notify" on "events";`);
    this.addSql(`drop function if exists "wallet_events_notify"();`);
  }

}
