/**
 * An organization's API keys (several at once, for rotation: create a new key, deploy it, revoke
 * the old one). The secret is returned once, at creation; only its SHA-256 hash is stored, and no
 * read ever returns the hash.
 *
 * - Revocation is final and idempotent (revoking a revoked key returns it unchanged). The last
 *   active key of an organization cannot be revoked (LAST_ACTIVE_API_KEY): the organization would
 *   lock itself out. Revocations of one organization take turns on its key rows, so two racing
 *   revocations of its last two keys cannot both succeed.
 * - A revocation notifies `API_KEY_REVOKED_CHANNEL` with the key's id in its transaction
 *   (PostgreSQL delivers it at commit), so every process drops the key from its cache at once.
 * - `lastUsedAt` is written at most once a minute per key: `touchApiKey` changes the row only when
 *   the stored time is a minute old, and callers call it at most once a minute per key.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { isUuid } from '../repositories.js';

/** The NOTIFY channel of revocations; the payload is the revoked key's id. */
export const API_KEY_REVOKED_CHANNEL = 'wallet_api_key_revoked';

/** How long `lastUsedAt` may lag behind: at most one write per key in this time. */
export const API_KEY_LAST_USED_RESOLUTION_MS = 60_000;

export interface ApiKeyDto {
  id: string;
  name: string | null;
  /** The first characters of the secret, to tell keys apart (`wk_` + 5 characters). */
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** An active key, as the authentication of a request needs it. */
export interface ActiveApiKey {
  keyId: string;
  organization: { id: string; name: string };
  lastUsedAt: Date | null;
}

type Row = Record<string, unknown>;
type Sql = (text: string, params?: unknown[]) => Promise<Row[]>;

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex');
}

/** A new secret: `wk_` + 32 base64url characters (24 random bytes). */
export function newApiKeySecret(): string {
  return `wk_${randomBytes(24).toString('base64url')}`;
}

const date = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(value as string));

function apiKeyDto(row: Row): ApiKeyDto {
  return {
    id: String(row.id),
    name: (row.name as string | null) ?? null,
    prefix: String(row.prefix),
    createdAt: new Date(row.created_at as string),
    lastUsedAt: date(row.last_used_at),
    revokedAt: date(row.revoked_at),
  };
}

const COLUMNS = 'id, name, prefix, created_at, last_used_at, revoked_at';

function apiKeyNotFound(id: string): WalletError {
  return new WalletError('API_KEY_NOT_FOUND', `API key ${id} not found`, { id });
}

function inTransaction<T>(em: EntityManager, fn: (sql: Sql) => Promise<T>): Promise<T> {
  return em
    .fork()
    .transactional((tx) => fn((text, params = []) => tx.getConnection().execute(text, params as never[], 'all', tx.getTransactionContext())));
}

/** Inserts a key for an organization (inside the caller's transaction); returns it and its secret. */
export async function insertApiKey(sql: Sql, organizationId: string, name: string | null, now: Date): Promise<{ apiKey: ApiKeyDto; secret: string }> {
  const secret = newApiKeySecret();
  const [row] = await sql(
    `insert into api_keys (id, organization_id, key_hash, prefix, name, created_at) values (?, ?, ?, ?, ?, ?) returning ${COLUMNS}`,
    [randomUUID(), organizationId, hashApiKey(secret), secret.slice(0, 8), name, now],
  );
  return { apiKey: apiKeyDto(row as Row), secret };
}

/**
 * A new key for the organization. `ORGANIZATION_NOT_FOUND` when there is no such organization
 * (admins name the organization; an organization's own call always finds itself).
 */
export async function createApiKey(
  em: EntityManager,
  organizationId: string,
  input: { name?: string | null | undefined },
  now: Date,
): Promise<{ apiKey: ApiKeyDto; secret: string }> {
  if (!isUuid(organizationId)) throw organizationNotFound(organizationId);
  return inTransaction(em, async (sql) => {
    const [organization] = await sql('select id from organizations where id = ? for share', [organizationId]);
    if (!organization) throw organizationNotFound(organizationId);
    return insertApiKey(sql, organizationId, input.name ?? null, now);
  });
}

function organizationNotFound(id: string): WalletError {
  return new WalletError('ORGANIZATION_NOT_FOUND', `organization ${id} not found`, { id });
}

/** Every key of the organization, revoked ones too, newest first. */
export async function listApiKeys(em: EntityManager, organizationId: string): Promise<{ items: ApiKeyDto[] }> {
  const rows: Row[] = await em
    .getConnection()
    .execute(`select ${COLUMNS} from api_keys where organization_id = ? order by created_at desc, id desc`, [organizationId]);
  return { items: rows.map(apiKeyDto) };
}

/** Revokes one of the organization's keys (see the module comment for the rules). */
export async function revokeApiKey(em: EntityManager, organizationId: string, id: string, now: Date): Promise<ApiKeyDto> {
  if (!isUuid(id)) throw apiKeyNotFound(id);
  return inTransaction(em, async (sql) => {
    // Every key row of the organization, locked: concurrent revocations of one organization take turns.
    const rows = await sql(`select ${COLUMNS} from api_keys where organization_id = ? order by id for update`, [organizationId]);
    const key = rows.find((row) => row.id === id);
    if (!key) throw apiKeyNotFound(id);
    if (key.revoked_at !== null) return apiKeyDto(key);
    if (!rows.some((row) => row.id !== id && row.revoked_at === null)) {
      throw new WalletError('LAST_ACTIVE_API_KEY', 'the last active API key of an organization cannot be revoked: create another one first', {
        id,
      });
    }
    const [revoked] = await sql(`update api_keys set revoked_at = ? where organization_id = ? and id = ? returning ${COLUMNS}`, [
      now,
      organizationId,
      id,
    ]);
    await sql('select pg_notify(?, ?)', [API_KEY_REVOKED_CHANNEL, id]);
    return apiKeyDto(revoked as Row);
  });
}

/** The organization a key (revoked or not) belongs to, by the key's id; null when there is none (operators). */
export async function findApiKeyOrganizationId(em: EntityManager, id: string): Promise<string | null> {
  if (!isUuid(id)) return null;
  const rows: Row[] = await em.getConnection().execute('select organization_id from api_keys where id = ?', [id]);
  return rows[0] ? String(rows[0].organization_id) : null;
}

/** The active (unrevoked) key with this hash, with its organization; null when none. */
export async function findActiveApiKey(em: EntityManager, keyHash: string): Promise<ActiveApiKey | null> {
  const rows: Row[] = await em.getConnection().execute(
    `select k.id as key_id, k.last_used_at, o.id, o.name
       from api_keys k join organizations o on o.id = k.organization_id
      where k.key_hash = ? and k.revoked_at is null`,
    [keyHash],
  );
  const row = rows[0];
  if (!row) return null;
  return { keyId: String(row.key_id), organization: { id: String(row.id), name: String(row.name) }, lastUsedAt: date(row.last_used_at) };
}

/**
 * Records that the key was used at `now`, unless it was recorded less than a minute before (by
 * any process). Returns whether the row changed.
 */
export async function touchApiKey(em: EntityManager, keyId: string, now: Date): Promise<boolean> {
  const rows: Row[] = await em.getConnection().execute(
    `update api_keys set last_used_at = ?
      where id = ? and revoked_at is null and (last_used_at is null or last_used_at <= ?)
      returning id`,
    [now, keyId, new Date(now.getTime() - API_KEY_LAST_USED_RESOLUTION_MS)],
  );
  return rows.length > 0;
}
