import { EntitySchema } from '@mikro-orm/core';
import { createdAt, id, org, timestamp } from './column-types.js';
import type { Organization } from './organization.js';

/**
 * An organization's API keys: several at once, so a key can be rotated (create, deploy, revoke).
 * Only the SHA-256 hash of the secret is kept; a revoked key stays as a record and never comes back.
 */
export class ApiKey {
  id!: string;
  organization!: Organization;
  keyHash!: string;
  prefix!: string;
  name: string | null = null;
  createdAt: Date = new Date();
  lastUsedAt: Date | null = null;
  revokedAt: Date | null = null;
}

export const ApiKeySchema = new EntitySchema<ApiKey>({
  class: ApiKey,
  tableName: 'api_keys',
  indexes: [{ name: 'api_keys_organization_idx', properties: ['organization', 'createdAt'] }],
  properties: {
    id,
    organization: org,
    keyHash: { type: 'string', length: 64, unique: 'api_keys_key_hash_unique' },
    prefix: { type: 'string', length: 32 },
    name: { type: 'string', length: 255, nullable: true },
    createdAt,
    lastUsedAt: timestamp(),
    revokedAt: timestamp(),
  },
});
