/** Organizations (tenants) and their API keys. Keys are shown once and stored as SHA-256 hashes. */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiKey, Organization } from '../entities/index.js';

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

export async function createOrganization(em: EntityManager, name: string) {
  return em.fork().transactional(async (tx) => {
    const organization = tx.create(Organization, { id: randomUUID(), name, createdAt: new Date() });
    const apiKey = `wk_${randomBytes(24).toString('base64url')}`;
    tx.create(ApiKey, { id: randomUUID(), organization, keyHash: hashApiKey(apiKey), prefix: apiKey.slice(0, 8), createdAt: new Date() } as never);
    await tx.flush();
    return { organization: { id: organization.id, name: organization.name }, apiKey };
  });
}

export async function findOrganizationByApiKey(em: EntityManager, apiKey: string): Promise<{ id: string; name: string } | null> {
  const rows: { id: string; name: string }[] = await em
    .getConnection()
    .execute('select o.id, o.name from api_keys k join organizations o on o.id = k.organization_id where k.key_hash = ?', [hashApiKey(apiKey)]);
  return rows[0] ?? null;
}

export async function countOrganizations(em: EntityManager): Promise<number> {
  return em.count(Organization, {});
}
