import { EntitySchema } from '@mikro-orm/core';
import { createdAt, org } from './column-types.js';
import type { Organization } from './organization.js';

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
