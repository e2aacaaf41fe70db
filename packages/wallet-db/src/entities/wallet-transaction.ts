import { EntitySchema } from '@mikro-orm/core';
import type { EntryKind, EntrySource, EntryState, EntryType, MetadataPair } from '@wallets/core';
import { cents, createdAt, credits, id, org, timestamp } from './column-types.js';
import type { Customer } from './customer.js';
import type { Organization } from './organization.js';
import type { Wallet } from './wallet.js';

/** The kinds of a ledger entry are wallet-core's (records.ts): one place to add one. */
export type {
  EntryKind as TransactionStatus,
  EntrySource as TransactionSource,
  EntryState as TransactionState,
  EntryType as TransactionType,
  MetadataPair as MetadataItem,
} from '@wallets/core';

export class WalletTransaction {
  id!: string;
  organization!: Organization;
  wallet!: Wallet;
  customer!: Customer;
  transactionType!: EntryType;
  status!: EntryState;
  transactionStatus!: EntryKind;
  source: EntrySource = 'manual';
  creditAmount!: bigint;
  amountCents!: bigint;
  /** Lots only (inbound): what is left to consume. Null on outbound rows and unsettled purchases. */
  remainingCreditAmount: bigint | null = null;
  remainingAmountCents: bigint | null = null;
  priority = 50;
  expirationAt: Date | null = null;
  name: string | null = null;
  metadata: MetadataPair[] = [];
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
