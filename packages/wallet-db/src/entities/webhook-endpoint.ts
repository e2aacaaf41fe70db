import { BigIntType, EntitySchema } from '@mikro-orm/core';
import { createdAt, id, org, timestamp } from './column-types.js';
import type { Organization } from './organization.js';

/**
 * A URL that receives the organization's events as signed POSTs. `eventCursor` is the position of
 * the last event already turned into deliveries for it; it starts at the newest event when the
 * endpoint is created, so an endpoint gets exactly the events created after it. Deleting sets
 * `deletedAt` (its history of deliveries stays listable).
 */
export class WebhookEndpoint {
  id!: string;
  organization!: Organization;
  url!: string;
  /** `whsec_<base64>`: the signing key, shown once on creation. */
  secret!: string;
  eventCursor!: bigint;
  createdAt: Date = new Date();
  deletedAt: Date | null = null;
  /** When one of its deliveries was last claimed (database time): senders serve the longest-waiting endpoint first. */
  lastClaimedAt: Date | null = null;
  /** How deliveries are shaped and signed: `standard` (Standard Webhooks) or `lago` (Lago's envelope and X-Lago-Signature). */
  format: 'standard' | 'lago' = 'standard';
}

export const WebhookEndpointSchema = new EntitySchema<WebhookEndpoint>({
  class: WebhookEndpoint,
  tableName: 'webhook_endpoints',
  indexes: [
    {
      name: 'webhook_endpoints_live_idx',
      expression: 'create index "webhook_endpoints_live_idx" on "webhook_endpoints" ("organization_id") where "deleted_at" is null',
    },
  ],
  properties: {
    id,
    organization: org,
    url: { type: 'string', length: 2048 },
    secret: { type: 'string', length: 128 },
    eventCursor: { type: new BigIntType('bigint'), fieldName: 'event_cursor' },
    createdAt,
    deletedAt: timestamp(),
    lastClaimedAt: timestamp(),
    format: { type: 'string', length: 16, default: 'standard' },
  },
});
