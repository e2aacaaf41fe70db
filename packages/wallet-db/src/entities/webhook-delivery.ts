import { BigIntType, EntitySchema } from '@mikro-orm/core';
import { createdAt, id, org, timestamp } from './column-types.js';
import type { Organization } from './organization.js';
import type { WebhookEndpoint } from './webhook-endpoint.js';

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
