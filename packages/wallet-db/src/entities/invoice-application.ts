import { EntitySchema } from '@mikro-orm/core';
import { createdAt, id, org, timestamp } from './column-types.js';
import type { Customer } from './customer.js';
import type { Organization } from './organization.js';

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
