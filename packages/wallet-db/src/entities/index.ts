/**
 * The tables, one file each holding only the table's shape. Every row carries organization_id
 * (tenancy, and the future Citus distribution column). Ledger rows (wallet_transactions,
 * wallet_transaction_consumptions) are never deleted and their amounts never change; only a
 * purchase's status and a lot's remainder move (DESIGN.md). The kinds of an entry, a wallet and a
 * rule are wallet-core's types.
 */
import { ApiKeySchema } from './api-key.js';
import { CustomerSchema } from './customer.js';
import { IdempotencyRecordSchema } from './idempotency-record.js';
import { InvoiceApplicationSchema } from './invoice-application.js';
import { OrganizationSchema } from './organization.js';
import { OutboxEventSchema } from './outbox-event.js';
import { RecurringTransactionRuleSchema } from './recurring-transaction-rule.js';
import { UsageSnapshotSchema } from './usage-snapshot.js';
import { WalletSchema } from './wallet.js';
import { WalletTransactionSchema } from './wallet-transaction.js';
import { WalletTransactionConsumptionSchema } from './wallet-transaction-consumption.js';
import { WebhookAttemptSchema } from './webhook-attempt.js';
import { WebhookDeliverySchema } from './webhook-delivery.js';
import { WebhookEndpointSchema } from './webhook-endpoint.js';

export * from './api-key.js';
export * from './customer.js';
export * from './idempotency-record.js';
export * from './invoice-application.js';
export * from './organization.js';
export * from './outbox-event.js';
export * from './recurring-transaction-rule.js';
export * from './usage-snapshot.js';
export * from './wallet.js';
export * from './wallet-transaction.js';
export * from './wallet-transaction-consumption.js';
export * from './webhook-attempt.js';
export * from './webhook-delivery.js';
export * from './webhook-endpoint.js';

export const ALL_ENTITIES = [
  OrganizationSchema,
  ApiKeySchema,
  CustomerSchema,
  WalletSchema,
  WalletTransactionSchema,
  WalletTransactionConsumptionSchema,
  RecurringTransactionRuleSchema,
  OutboxEventSchema,
  IdempotencyRecordSchema,
  InvoiceApplicationSchema,
  UsageSnapshotSchema,
  WebhookEndpointSchema,
  WebhookDeliverySchema,
  WebhookAttemptSchema,
];
