import { EntitySchema } from '@mikro-orm/core';
import { createdAt, id, org } from './column-types.js';
import type { Organization } from './organization.js';

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
