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
