import { EntitySchema } from '@mikro-orm/core';
import { id, org } from './column-types.js';
import type { Customer } from './customer.js';
import type { Organization } from './organization.js';

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
