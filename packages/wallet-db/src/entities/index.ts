/**
 * The tables. Every row carries organization_id (tenancy, and the future Citus distribution column).
 * Ledger rows (wallet_transactions, wallet_transaction_consumptions) are never deleted and their
 * amounts never change; only a purchase's status and a lot's remainder move (DESIGN.md).
 */
import { BigIntType, EntitySchema } from '@mikro-orm/core';
import { cents, credits } from './column-types.js';

const id = { type: 'uuid', primary: true } as const;
const org = { kind: 'm:1', entity: 'Organization', fieldName: 'organization_id', deleteRule: 'restrict' } as const;
const createdAt = { type: 'Date', columnType: 'timestamptz(3)', onCreate: () => new Date() } as const;
const timestamp = (nullable = true) => ({ type: 'Date', columnType: 'timestamptz(3)', nullable }) as const;

export class Organization {
  id!: string;
  name!: string;
  createdAt: Date = new Date();
}

export const OrganizationSchema = new EntitySchema<Organization>({
  class: Organization,
  tableName: 'organizations',
  properties: { id, name: { type: 'string', length: 255 }, createdAt },
});

/**
 * An organization's API keys: several at once, so a key can be rotated (create, deploy, revoke).
 * Only the SHA-256 hash of the secret is kept; a revoked key stays as a record and never comes back.
 */
export class ApiKey {
  id!: string;
  organization!: Organization;
  keyHash!: string;
  prefix!: string;
  name: string | null = null;
  createdAt: Date = new Date();
  lastUsedAt: Date | null = null;
  revokedAt: Date | null = null;
}

export const ApiKeySchema = new EntitySchema<ApiKey>({
  class: ApiKey,
  tableName: 'api_keys',
  indexes: [{ name: 'api_keys_organization_idx', properties: ['organization', 'createdAt'] }],
  properties: {
    id,
    organization: org,
    keyHash: { type: 'string', length: 64, unique: 'api_keys_key_hash_unique' },
    prefix: { type: 'string', length: 32 },
    name: { type: 'string', length: 255, nullable: true },
    createdAt,
    lastUsedAt: timestamp(),
    revokedAt: timestamp(),
  },
});

export class Customer {
  id!: string;
  organization!: Organization;
  externalId!: string;
  currency: string | null = null;
  timezone = 'UTC';
  createdAt: Date = new Date();
  updatedAt: Date = new Date();
}

export const CustomerSchema = new EntitySchema<Customer>({
  class: Customer,
  tableName: 'customers',
  uniques: [{ name: 'customers_org_external_id_unique', properties: ['organization', 'externalId'] }],
  properties: {
    id,
    organization: org,
    externalId: { type: 'string', length: 255 },
    currency: { type: 'string', length: 3, nullable: true },
    timezone: { type: 'string', length: 64, default: 'UTC' },
    createdAt,
    updatedAt: { type: 'Date', columnType: 'timestamptz(3)' },
  },
});

export type WalletStatus = 'active' | 'terminated';

export class Wallet {
  id!: string;
  organization!: Organization;
  customer!: Customer;
  name: string | null = null;
  code!: string;
  status: WalletStatus = 'active';
  currency!: string;
  rateAmount!: bigint;
  priority = 50;
  balanceCents = 0n;
  creditsBalance = 0n;
  ongoingBalanceCents = 0n;
  creditsOngoingBalance = 0n;
  ongoingUsageBalanceCents = 0n;
  creditsOngoingUsageBalance = 0n;
  consumedCredits = 0n;
  consumedAmountCents = 0n;
  /** Latch: the depletion event fires when this flips to true, never twice in a row. */
  depletedOngoingBalance = false;
  expirationAt: Date | null = null;
  terminatedAt: Date | null = null;
  invoiceRequiresSuccessfulPayment = false;
  paidTopUpMinAmountCents: bigint | null = null;
  paidTopUpMaxAmountCents: bigint | null = null;
  appliesToFeeTypes: string[] = [];
  appliesToBillableMetricCodes: string[] = [];
  createdAt: Date = new Date();
  updatedAt: Date = new Date();
}

export const WalletSchema = new EntitySchema<Wallet>({
  class: Wallet,
  tableName: 'wallets',
  checks: [
    {
      name: 'wallets_balances_non_negative',
      expression:
        '"balance_cents" >= 0 and "credits_balance" >= 0 and "consumed_credits" >= 0 and "consumed_amount_cents" >= 0 and "ongoing_usage_balance_cents" >= 0',
    },
    { name: 'wallets_rate_positive', expression: '"rate_amount" > 0' },
    { name: 'wallets_state_valid', expression: '("status" = \'active\' or "status" = \'terminated\') and "priority" >= 1 and "priority" <= 50' },
    {
      name: 'wallets_top_up_limits_valid',
      expression:
        '("paid_top_up_min_amount_cents" is null or "paid_top_up_min_amount_cents" > 0) and ("paid_top_up_max_amount_cents" is null or "paid_top_up_max_amount_cents" > 0) and ("paid_top_up_min_amount_cents" is null or "paid_top_up_max_amount_cents" is null or "paid_top_up_max_amount_cents" >= "paid_top_up_min_amount_cents")',
    },
  ],
  indexes: [
    {
      name: 'wallets_active_code_unique',
      expression:
        'create unique index "wallets_active_code_unique" on "wallets" ("organization_id", "customer_id", "code") where "status" = \'active\'',
    },
    { name: 'wallets_customer_status_idx', properties: ['organization', 'customer', 'status'] },
    { name: 'wallets_expiration_due_idx', properties: ['organization', 'expirationAt'] },
  ],
  properties: {
    id,
    organization: org,
    customer: { kind: 'm:1', entity: 'Customer', fieldName: 'customer_id' },
    name: { type: 'string', length: 255, nullable: true },
    code: { type: 'string', length: 255 },
    status: { type: 'string', length: 16, default: 'active' },
    currency: { type: 'string', length: 3 },
    rateAmount: credits(),
    priority: { type: 'integer', default: 50 },
    balanceCents: cents(),
    creditsBalance: credits(),
    ongoingBalanceCents: cents(),
    creditsOngoingBalance: credits(),
    ongoingUsageBalanceCents: cents(),
    creditsOngoingUsageBalance: credits(),
    consumedCredits: credits(),
    consumedAmountCents: cents(),
    depletedOngoingBalance: { type: 'boolean', default: false },
    expirationAt: timestamp(),
    terminatedAt: timestamp(),
    invoiceRequiresSuccessfulPayment: { type: 'boolean', default: false },
    paidTopUpMinAmountCents: { ...cents(), nullable: true },
    paidTopUpMaxAmountCents: { ...cents(), nullable: true },
    appliesToFeeTypes: { type: 'string[]', columnType: 'text[]', default: '{}' },
    appliesToBillableMetricCodes: { type: 'string[]', columnType: 'text[]', default: '{}' },
    createdAt,
    updatedAt: { type: 'Date', columnType: 'timestamptz(3)' },
  },
});

export type TransactionType = 'inbound' | 'outbound';
export type TransactionState = 'pending' | 'settled' | 'failed';
export type TransactionStatus = 'purchased' | 'granted' | 'voided' | 'invoiced';
export type TransactionSource = 'manual' | 'interval' | 'threshold' | 'expiration' | 'termination' | 'invoice_void' | 'payment_failure';

export interface MetadataItem {
  key: string;
  value: string;
}

export class WalletTransaction {
  id!: string;
  organization!: Organization;
  wallet!: Wallet;
  customer!: Customer;
  transactionType!: TransactionType;
  status!: TransactionState;
  transactionStatus!: TransactionStatus;
  source: TransactionSource = 'manual';
  creditAmount!: bigint;
  amountCents!: bigint;
  /** Lots only (inbound): what is left to consume. Null on outbound rows and unsettled purchases. */
  remainingCreditAmount: bigint | null = null;
  remainingAmountCents: bigint | null = null;
  priority = 50;
  expirationAt: Date | null = null;
  name: string | null = null;
  metadata: MetadataItem[] = [];
  invoiceId: string | null = null;
  voidedInvoiceId: string | null = null;
  /** For a claw-back or lot expiry: the lot it voided. */
  voidedTransactionId: string | null = null;
  invoiceRequiresSuccessfulPayment = false;
  settledAt: Date | null = null;
  failedAt: Date | null = null;
  /** Set when a payment failed after settlement and what was left of the lot was voided. */
  clawedBackAt: Date | null = null;
  createdAt: Date = new Date();
}

export const WalletTransactionSchema = new EntitySchema<WalletTransaction>({
  class: WalletTransaction,
  tableName: 'wallet_transactions',
  checks: [
    {
      name: 'wallet_transactions_amounts_valid',
      expression: '"credit_amount" >= 0 and "amount_cents" >= 0 and ("credit_amount" > 0 or "amount_cents" > 0)',
    },
    {
      name: 'wallet_transactions_remaining_valid',
      expression:
        '("remaining_credit_amount" is null and "remaining_amount_cents" is null) or ("transaction_type" = \'inbound\' and "remaining_credit_amount" >= 0 and "remaining_credit_amount" <= "credit_amount" and "remaining_amount_cents" >= 0 and "remaining_amount_cents" <= "amount_cents")',
    },
    {
      name: 'wallet_transactions_kinds_valid',
      expression:
        '("transaction_type" = \'inbound\' or "transaction_type" = \'outbound\') and ("status" = \'pending\' or "status" = \'settled\' or "status" = \'failed\') and ("transaction_status" = \'purchased\' or "transaction_status" = \'granted\' or "transaction_status" = \'voided\' or "transaction_status" = \'invoiced\') and "priority" >= 1 and "priority" <= 50',
    },
  ],
  indexes: [
    {
      name: 'wallet_transactions_invoice_idx',
      expression:
        'create index "wallet_transactions_invoice_idx" on "wallet_transactions" ("organization_id", "invoice_id") where "invoice_id" is not null',
    },
    {
      name: 'wallet_transactions_available_lots_idx',
      expression:
        'create index "wallet_transactions_available_lots_idx" on "wallet_transactions" ("organization_id", "wallet_id") where "transaction_type" = \'inbound\' and "status" = \'settled\' and ("remaining_amount_cents" > 0 or "remaining_credit_amount" > 0)',
    },
    { name: 'wallet_transactions_wallet_idx', properties: ['organization', 'wallet', 'createdAt'] },
    {
      name: 'wallet_transactions_lots_settled_idx',
      expression:
        'create index "wallet_transactions_lots_settled_idx" on "wallet_transactions" ("organization_id", "wallet_id", "settled_at") include ("transaction_status", "source", "amount_cents", "credit_amount") where "transaction_type" = \'inbound\' and "status" = \'settled\'',
    },
    {
      name: 'wallet_transactions_purchases_idx',
      expression:
        'create index "wallet_transactions_purchases_idx" on "wallet_transactions" ("organization_id", "created_at") include ("wallet_id", "amount_cents", "settled_at", "failed_at") where "transaction_type" = \'inbound\' and "transaction_status" = \'purchased\'',
    },
    { name: 'wallet_transactions_lot_expiry_idx', properties: ['organization', 'expirationAt'] },
  ],
  properties: {
    id,
    organization: org,
    wallet: { kind: 'm:1', entity: 'Wallet', fieldName: 'wallet_id' },
    customer: { kind: 'm:1', entity: 'Customer', fieldName: 'customer_id' },
    transactionType: { type: 'string', length: 16 },
    status: { type: 'string', length: 16 },
    transactionStatus: { type: 'string', length: 16 },
    source: { type: 'string', length: 32, default: 'manual' },
    creditAmount: credits(),
    amountCents: cents(),
    remainingCreditAmount: { ...credits(), nullable: true },
    remainingAmountCents: { ...cents(), nullable: true },
    priority: { type: 'integer', default: 50 },
    expirationAt: timestamp(),
    name: { type: 'string', length: 255, nullable: true },
    metadata: { type: 'json', columnType: 'jsonb', defaultRaw: "'[]'::jsonb" },
    invoiceId: { type: 'string', length: 255, nullable: true },
    voidedInvoiceId: { type: 'string', length: 255, nullable: true },
    voidedTransactionId: { type: 'uuid', nullable: true },
    invoiceRequiresSuccessfulPayment: { type: 'boolean', default: false },
    settledAt: timestamp(),
    failedAt: timestamp(),
    clawedBackAt: timestamp(),
    createdAt,
  },
});

export class WalletTransactionConsumption {
  id!: string;
  organization!: Organization;
  inbound!: WalletTransaction;
  outbound!: WalletTransaction;
  creditAmount!: bigint;
  amountCents!: bigint;
  /** Copied from the lot by a trigger on insert (migration 20261207221500): for reads of past balances. */
  walletId?: string;
  lotKind?: 'purchased' | 'granted';
  /** The outbound's line in reports.credits, copied by the same trigger (migration 20261208002000). */
  outflow?: 'consumed' | 'voided' | 'expired' | 'terminated' | 'clawedBack';
  createdAt: Date = new Date();
}

export const WalletTransactionConsumptionSchema = new EntitySchema<WalletTransactionConsumption>({
  class: WalletTransactionConsumption,
  tableName: 'wallet_transaction_consumptions',
  checks: [
    {
      name: 'consumptions_amounts_valid',
      expression: '"credit_amount" >= 0 and "amount_cents" >= 0 and ("credit_amount" > 0 or "amount_cents" > 0)',
    },
  ],
  uniques: [{ name: 'consumptions_pair_unique', properties: ['organization', 'inbound', 'outbound'] }],
  indexes: [
    { name: 'consumptions_outbound_idx', properties: ['organization', 'outbound'] },
    {
      name: 'consumptions_wallet_time_idx',
      expression:
        'create index "consumptions_wallet_time_idx" on "wallet_transaction_consumptions" ("organization_id", "wallet_id", "created_at") include ("lot_kind", "outflow", "amount_cents", "credit_amount")',
    },
  ],
  properties: {
    id,
    organization: org,
    inbound: { kind: 'm:1', entity: 'WalletTransaction', fieldName: 'inbound_wallet_transaction_id' },
    outbound: { kind: 'm:1', entity: 'WalletTransaction', fieldName: 'outbound_wallet_transaction_id' },
    creditAmount: credits(),
    amountCents: cents(),
    // Filled by the database (trigger), never by the ORM.
    walletId: { type: 'uuid', fieldName: 'wallet_id', persist: false, nullable: true },
    lotKind: { type: 'string', length: 16, fieldName: 'lot_kind', persist: false, nullable: true },
    outflow: { type: 'string', length: 16, fieldName: 'outflow', persist: false, nullable: true },
    createdAt,
  },
});

export type RuleTrigger = 'interval' | 'threshold';
export type RuleInterval = 'weekly' | 'monthly' | 'quarterly' | 'semiannual' | 'yearly';
export type RuleMethod = 'fixed' | 'target';

export class RecurringTransactionRule {
  id!: string;
  organization!: Organization;
  wallet!: Wallet;
  status: 'active' | 'terminated' = 'active';
  trigger!: RuleTrigger;
  interval: RuleInterval | null = null;
  method: RuleMethod = 'fixed';
  paidCredits = 0n;
  grantedCredits = 0n;
  thresholdCredits = 0n;
  targetOngoingBalance: bigint | null = null;
  grantsTargetTopUp = false;
  ignorePaidTopUpLimits = false;
  invoiceRequiresSuccessfulPayment = false;
  startedAt: Date | null = null;
  expirationAt: Date | null = null;
  transactionMetadata: MetadataItem[] = [];
  transactionName: string | null = null;
  terminatedAt: Date | null = null;
  createdAt: Date = new Date();
}

export const RecurringTransactionRuleSchema = new EntitySchema<RecurringTransactionRule>({
  class: RecurringTransactionRule,
  tableName: 'recurring_transaction_rules',
  indexes: [{ name: 'rules_wallet_status_idx', properties: ['organization', 'wallet', 'status'] }],
  properties: {
    id,
    organization: org,
    wallet: { kind: 'm:1', entity: 'Wallet', fieldName: 'wallet_id' },
    status: { type: 'string', length: 16, default: 'active' },
    trigger: { type: 'string', length: 16 },
    interval: { type: 'string', length: 16, nullable: true },
    method: { type: 'string', length: 16, default: 'fixed' },
    paidCredits: credits(),
    grantedCredits: credits(),
    thresholdCredits: credits(),
    targetOngoingBalance: { ...credits(), nullable: true },
    grantsTargetTopUp: { type: 'boolean', default: false },
    ignorePaidTopUpLimits: { type: 'boolean', default: false },
    invoiceRequiresSuccessfulPayment: { type: 'boolean', default: false },
    startedAt: timestamp(),
    expirationAt: timestamp(),
    transactionMetadata: { type: 'json', columnType: 'jsonb', defaultRaw: "'[]'::jsonb" },
    transactionName: { type: 'string', length: 255, nullable: true },
    terminatedAt: timestamp(),
    createdAt,
  },
});

export class OutboxEvent {
  position!: bigint;
  id!: string;
  organization!: Organization;
  type!: string;
  data!: Record<string, unknown>;
  createdAt: Date = new Date();
}

export const OutboxEventSchema = new EntitySchema<OutboxEvent>({
  class: OutboxEvent,
  tableName: 'events',
  indexes: [{ name: 'events_org_position_idx', properties: ['organization', 'position'] }],
  uniques: [{ name: 'events_org_id_unique', properties: ['organization', 'id'] }],
  properties: {
    position: { type: 'bigint', primary: true, autoincrement: true, columnType: 'bigserial' },
    id: { type: 'uuid' },
    organization: org,
    type: { type: 'string', length: 64 },
    data: { type: 'json', columnType: 'jsonb' },
    createdAt,
  },
});

export class IdempotencyRecord {
  id!: string;
  organization!: Organization;
  procedure!: string;
  key!: string;
  requestHash!: string;
  response: unknown = null;
  createdAt: Date = new Date();
}

export const IdempotencyRecordSchema = new EntitySchema<IdempotencyRecord>({
  class: IdempotencyRecord,
  tableName: 'idempotency_records',
  uniques: [{ name: 'idempotency_org_procedure_key_unique', properties: ['organization', 'procedure', 'key'] }],
  properties: {
    id,
    organization: org,
    procedure: { type: 'string', length: 128 },
    key: { type: 'string', length: 255 },
    requestHash: { type: 'string', length: 64 },
    response: { type: 'json', columnType: 'jsonb', nullable: true },
    createdAt,
  },
});

/**
 * One row per invoice the host asked about (applied, or voided before or after): makes the hook
 * idempotent per invoice id and keeps the allocation it answered.
 */
export class InvoiceApplication {
  id!: string;
  organization!: Organization;
  invoiceId!: string;
  customer: Customer | null = null;
  requestHash!: string;
  status: 'applied' | 'voided' = 'applied';
  allocation: unknown = null;
  voidedAt: Date | null = null;
  createdAt: Date = new Date();
}

export const InvoiceApplicationSchema = new EntitySchema<InvoiceApplication>({
  class: InvoiceApplication,
  tableName: 'invoice_applications',
  uniques: [{ name: 'invoice_applications_org_invoice_unique', properties: ['organization', 'invoiceId'] }],
  properties: {
    id,
    organization: org,
    invoiceId: { type: 'string', length: 255 },
    customer: { kind: 'm:1', entity: 'Customer', fieldName: 'customer_id', nullable: true },
    requestHash: { type: 'string', length: 64 },
    status: { type: 'string', length: 16, default: 'applied' },
    allocation: { type: 'json', columnType: 'jsonb', nullable: true },
    voidedAt: timestamp(),
    createdAt,
  },
});

export interface UsageFeeRecord {
  feeType: string;
  billableMetricCode: string | null;
  /** Decimal strings of cents (sub-cent precision kept). */
  amountCents: string;
  couponsAmountCents: string;
  taxesAmountCents: string;
}

/**
 * The host's latest view of a customer's not-yet-invoiced usage in one currency, from which ongoing
 * balances are computed. Replaced whole by each newer sync.
 */
export class UsageSnapshot {
  id!: string;
  organization!: Organization;
  customer!: Customer;
  currency!: string;
  asOf!: Date;
  fees: UsageFeeRecord[] = [];
  draftInvoices: { id: string; fees: UsageFeeRecord[] }[] = [];
  billedFees: UsageFeeRecord[] = [];
  updatedAt: Date = new Date();
}

export const UsageSnapshotSchema = new EntitySchema<UsageSnapshot>({
  class: UsageSnapshot,
  tableName: 'usage_snapshots',
  uniques: [{ name: 'usage_snapshots_customer_currency_unique', properties: ['organization', 'customer', 'currency'] }],
  properties: {
    id,
    organization: org,
    customer: { kind: 'm:1', entity: 'Customer', fieldName: 'customer_id' },
    currency: { type: 'string', length: 3 },
    asOf: { type: 'Date', columnType: 'timestamptz(3)' },
    fees: { type: 'json', columnType: 'jsonb', defaultRaw: "'[]'::jsonb" },
    draftInvoices: { type: 'json', columnType: 'jsonb', defaultRaw: "'[]'::jsonb" },
    billedFees: { type: 'json', columnType: 'jsonb', defaultRaw: "'[]'::jsonb" },
    updatedAt: { type: 'Date', columnType: 'timestamptz(3)' },
  },
});

/**
 * A URL that receives the organization's events as signed POSTs. `eventCursor` is the position of
 * the last event already turned into deliveries for it; it starts at the newest event when the
 * endpoint is created, so an endpoint gets exactly the events created after it. Deleting sets
 * `deletedAt` (its history of deliveries stays listable).
 */
export class WebhookEndpoint {
  id!: string;
  organization!: Organization;
  url!: string;
  /** `whsec_<base64>`: the signing key, shown once on creation. */
  secret!: string;
  eventCursor!: bigint;
  createdAt: Date = new Date();
  deletedAt: Date | null = null;
  /** When one of its deliveries was last claimed (database time): senders serve the longest-waiting endpoint first. */
  lastClaimedAt: Date | null = null;
  /** How deliveries are shaped and signed: `standard` (Standard Webhooks) or `lago` (Lago's envelope and X-Lago-Signature). */
  format: 'standard' | 'lago' = 'standard';
}

export const WebhookEndpointSchema = new EntitySchema<WebhookEndpoint>({
  class: WebhookEndpoint,
  tableName: 'webhook_endpoints',
  indexes: [
    {
      name: 'webhook_endpoints_live_idx',
      expression: 'create index "webhook_endpoints_live_idx" on "webhook_endpoints" ("organization_id") where "deleted_at" is null',
    },
  ],
  properties: {
    id,
    organization: org,
    url: { type: 'string', length: 2048 },
    secret: { type: 'string', length: 128 },
    eventCursor: { type: new BigIntType('bigint'), fieldName: 'event_cursor' },
    createdAt,
    deletedAt: timestamp(),
    lastClaimedAt: timestamp(),
    format: { type: 'string', length: 16, default: 'standard' },
  },
});

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed' | 'cancelled';

/** One event owed to one endpoint: retried until delivered, or failed after the retry window. */
export class WebhookDelivery {
  id!: string;
  organization!: Organization;
  endpoint!: WebhookEndpoint;
  eventPosition!: bigint;
  eventId!: string;
  status: WebhookDeliveryStatus = 'pending';
  attempts = 0;
  /** Due time of the next attempt (compared with the injected clock); null once settled. */
  nextAttemptAt: Date | null = null;
  lastAttemptAt: Date | null = null;
  /** The sender holding the delivery and until when (database time); another may take it after. */
  leaseToken: string | null = null;
  leaseUntil: Date | null = null;
  createdAt: Date = new Date();
}

export const WebhookDeliverySchema = new EntitySchema<WebhookDelivery>({
  class: WebhookDelivery,
  tableName: 'webhook_deliveries',
  checks: [
    {
      name: 'webhook_deliveries_state_valid',
      expression:
        "\"status\" in ('pending', 'delivered', 'failed', 'cancelled') and (\"status\" <> 'pending' or \"next_attempt_at\" is not null) and \"attempts\" >= 0",
    },
  ],
  uniques: [{ name: 'webhook_deliveries_endpoint_event_unique', properties: ['organization', 'endpoint', 'eventPosition'] }],
  indexes: [
    {
      name: 'webhook_deliveries_due_idx',
      expression: 'create index "webhook_deliveries_due_idx" on "webhook_deliveries" ("next_attempt_at") where "status" = \'pending\'',
    },
    {
      name: 'webhook_deliveries_leased_idx',
      expression:
        'create index "webhook_deliveries_leased_idx" on "webhook_deliveries" ("organization_id", "endpoint_id") where "status" = \'pending\' and "lease_until" is not null',
    },
  ],
  properties: {
    id,
    organization: org,
    endpoint: { kind: 'm:1', entity: 'WebhookEndpoint', fieldName: 'endpoint_id' },
    eventPosition: { type: new BigIntType('bigint'), fieldName: 'event_position' },
    eventId: { type: 'uuid' },
    status: { type: 'string', length: 16, default: 'pending' },
    attempts: { type: 'integer', default: 0 },
    nextAttemptAt: timestamp(),
    lastAttemptAt: timestamp(),
    leaseToken: { type: 'uuid', nullable: true },
    leaseUntil: timestamp(),
    createdAt,
  },
});

/** One POST of a delivery, with what came back (status code, or the network error or timeout). */
export class WebhookAttempt {
  id!: string;
  organization!: Organization;
  delivery!: WebhookDelivery;
  attemptNumber!: number;
  attemptedAt!: Date;
  statusCode: number | null = null;
  error: string | null = null;
  durationMs!: number;
}

export const WebhookAttemptSchema = new EntitySchema<WebhookAttempt>({
  class: WebhookAttempt,
  tableName: 'webhook_attempts',
  indexes: [{ name: 'webhook_attempts_delivery_idx', properties: ['organization', 'delivery'] }],
  properties: {
    id,
    organization: org,
    delivery: { kind: 'm:1', entity: 'WebhookDelivery', fieldName: 'delivery_id' },
    attemptNumber: { type: 'integer' },
    attemptedAt: { type: 'Date', columnType: 'timestamptz(3)' },
    statusCode: { type: 'integer', nullable: true },
    error: { type: 'string', length: 1000, nullable: true },
    durationMs: { type: 'integer' },
  },
});

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
