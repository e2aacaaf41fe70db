export type { EntityManager } from '@mikro-orm/postgresql';
export * from './api-key-revocations.js';
export * from './audit.js';
export * from './commands/api-keys.js';
export * from './commands/customers.js';
export * from './commands/expiration.js';
export * from './commands/expiration-batch.js';
export * from './commands/interval-rules.js';
export * from './commands/invoices.js';
export * from './commands/organizations.js';
export * from './commands/usage.js';
export * from './commands/wallet-transactions.js';
export * from './commands/wallets.js';
export * from './dto.js';
export * from './embedded-postgres.js';
export * from './entities/index.js';
export {
  currentEventCursor,
  DEFAULT_STREAM_LIMITS,
  EventHub,
  openEventStream,
  type StreamedEvent,
  type StreamLimits,
} from './event-stream.js';
export { EVENTS_CHANNEL, type EventItem, type EventType, eventNotifier, findEventCursor, listEvents } from './events.js';
export * from './finance.js';
export * from './finance-export.js';
export { type Door, type GroupDb, groupDbOf } from './group-mutation.js';
export { migrationsList } from './migrations/index.js';
export { type MutationScope, requestHash } from './mutation-scope.js';
export * from './numbered-pages.js';
export * from './orm.js';
export {
  readCustomer,
  readCustomers,
  readTransaction,
  readTransactions,
  readWallet,
  readWallets,
  type TransactionWire,
  type WalletWire,
} from './reads.js';
export * from './secret-box.js';
export * from './webhook-secrets.js';
export * from './webhooks.js';
