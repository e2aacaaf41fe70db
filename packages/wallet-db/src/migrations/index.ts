import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261125172404_initial } from './migration-20261125172404-initial.js';
import { Migration20261125174206_invoice_applications } from './migration-20261125174206-invoice-applications.js';
import { Migration20261125174944_usage_snapshots } from './migration-20261125174944-usage-snapshots.js';
import { Migration20261125200746_webhooks } from './migration-20261125200746-webhooks.js';
import { Migration20261207173243_api_key_rotation } from './migration-20261207173243-api-key-rotation.js';
import { Migration20261207180000_webhook_leases } from './migration-20261207180000-webhook-leases.js';
import { Migration20261207210939_webhook_format } from './migration-20261207210939-webhook-format.js';
import { Migration20261207220000_event_notify } from './migration-20261207220000-event-notify.js';
import { Migration20261207221500_consumption_wallet } from './migration-20261207221500-consumption-wallet.js';
import { Migration20261207223000_lots_by_settlement } from './migration-20261207223000-lots-by-settlement.js';
import { Migration20261207230000_group_functions } from './migration-20261207230000-group-functions.js';
import { Migration20261207233000_drop_duplicate_lots_index } from './migration-20261207233000-drop-duplicate-lots-index.js';
import { Migration20261207234500_group_load_lot_order } from './migration-20261207234500-group-load-lot-order.js';
import { Migration20261208000000_group_load_entry_owner } from './migration-20261208000000-group-load-entry-owner.js';
import { Migration20261208000500_group_write_wallets } from './migration-20261208000500-group-write-wallets.js';
import { Migration20261208001000_group_load_batch } from './migration-20261208001000-group-load-batch.js';
import { Migration20261208002000_report_covering } from './migration-20261208002000-report-covering.js';
import { Migration20261208004000_notify_after_commit } from './migration-20261208004000-notify-after-commit.js';
import { Migration20261208005000_customer_upsert } from './migration-20261208005000-customer-upsert.js';

/** Every migration, in order. Generated, reviewed, never edited after it lands. */
export const migrationsList: MigrationObject[] = [
  { name: 'migration-20261125172404-initial', class: Migration20261125172404_initial },
  { name: 'migration-20261125174206-invoice-applications', class: Migration20261125174206_invoice_applications },
  { name: 'migration-20261125174944-usage-snapshots', class: Migration20261125174944_usage_snapshots },
  { name: 'migration-20261125200746-webhooks', class: Migration20261125200746_webhooks },
  { name: 'migration-20261207173243-api-key-rotation', class: Migration20261207173243_api_key_rotation },
  { name: 'migration-20261207180000-webhook-leases', class: Migration20261207180000_webhook_leases },
  { name: 'migration-20261207210939-webhook-format', class: Migration20261207210939_webhook_format },
  { name: 'migration-20261207220000-event-notify', class: Migration20261207220000_event_notify },
  { name: 'migration-20261207221500-consumption-wallet', class: Migration20261207221500_consumption_wallet },
  { name: 'migration-20261207223000-lots-by-settlement', class: Migration20261207223000_lots_by_settlement },
  { name: 'migration-20261207230000-group-functions', class: Migration20261207230000_group_functions },
  { name: 'migration-20261207233000-drop-duplicate-lots-index', class: Migration20261207233000_drop_duplicate_lots_index },
  { name: 'migration-20261207234500-group-load-lot-order', class: Migration20261207234500_group_load_lot_order },
  { name: 'migration-20261208000000-group-load-entry-owner', class: Migration20261208000000_group_load_entry_owner },
  { name: 'migration-20261208000500-group-write-wallets', class: Migration20261208000500_group_write_wallets },
  { name: 'migration-20261208001000-group-load-batch', class: Migration20261208001000_group_load_batch },
  { name: 'migration-20261208002000-report-covering', class: Migration20261208002000_report_covering },
  { name: 'migration-20261208004000-notify-after-commit', class: Migration20261208004000_notify_after_commit },
  { name: 'migration-20261208005000-customer-upsert', class: Migration20261208005000_customer_upsert },
];
