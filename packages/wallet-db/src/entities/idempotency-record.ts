import { EntitySchema } from '@mikro-orm/core';
import { createdAt, id, org } from './column-types.js';
import type { Organization } from './organization.js';

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
