import { EntitySchema } from '@mikro-orm/core';
import { id, org } from './column-types.js';
import type { Organization } from './organization.js';
import type { WebhookDelivery } from './webhook-delivery.js';

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
