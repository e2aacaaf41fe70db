import { EntitySchema } from '@mikro-orm/core';
import type { WalletStatus } from '@wallets/core';
import { cents, createdAt, credits, id, org, timestamp } from './column-types.js';
import type { Customer } from './customer.js';
import type { Organization } from './organization.js';

export type { WalletStatus } from '@wallets/core';

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
