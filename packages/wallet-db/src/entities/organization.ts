import { EntitySchema } from '@mikro-orm/core';
import { createdAt, id } from './column-types.js';

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
