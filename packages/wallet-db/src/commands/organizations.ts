/** Organizations (tenants). Their API keys are in api-keys.ts. */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiKey, Organization } from '../entities/index.js';
import { findActiveApiKey, hashApiKey, newApiKeySecret } from './api-keys.js';

/** A new organization with its first API key (unnamed); the key's secret is returned once. */
export async function createOrganization(em: EntityManager, name: string, now: Date = new Date()) {
  return em.fork().transactional(async (tx) => {
    const organization = tx.create(Organization, { id: randomUUID(), name, createdAt: now });
    const apiKey = newApiKeySecret();
    tx.create(ApiKey, { id: randomUUID(), organization, keyHash: hashApiKey(apiKey), prefix: apiKey.slice(0, 8), createdAt: now } as never);
    await tx.flush();
    return { organization: { id: organization.id, name: organization.name }, apiKey };
  });
}

/** The organization of an active (unrevoked) API key; null when the key is unknown or revoked. */
export async function findOrganizationByApiKey(em: EntityManager, apiKey: string): Promise<{ id: string; name: string } | null> {
  return (await findActiveApiKey(em, hashApiKey(apiKey)))?.organization ?? null;
}

export async function countOrganizations(em: EntityManager): Promise<number> {
  return em.count(Organization, {});
}

export interface OrganizationListItem {
  id: string;
  name: string;
  createdAt: Date;
  /** Unrevoked API keys. */
  activeApiKeys: number;
}

/** Every organization, oldest first, with its number of active keys (for operators). */
export async function listOrganizations(em: EntityManager): Promise<OrganizationListItem[]> {
  const rows: Record<string, unknown>[] = await em.getConnection().execute(
    `select o.id, o.name, o.created_at,
            (select count(*) from api_keys k where k.organization_id = o.id and k.revoked_at is null)::int as active_api_keys
       from organizations o order by o.created_at, o.id`,
  );
  return rows.map((row) => ({
    id: String(row.id),
    name: String(row.name),
    createdAt: new Date(row.created_at as string),
    activeApiKeys: Number(row.active_api_keys),
  }));
}
