/**
 * `GET /ready`: whether this process can serve now. Ready when the database answers a query within
 * 1 s and every migration of this build is applied; otherwise the reason. Nothing is cached, so it
 * recovers by itself when the database is back.
 */
import { migrationsList, type Orm } from '@wallets/db';
import { withTimeout } from './metrics.js';

export type Readiness = { ready: true } | { ready: false; reason: string };

const READY_TIMEOUT_MS = 1000;

export async function checkReadiness(orm: Orm): Promise<Readiness> {
  let applied: Set<string>;
  try {
    const rows = await withTimeout(orm.em.getConnection().execute<{ name: string }[]>('select name from mikro_orm_migrations'), READY_TIMEOUT_MS);
    applied = new Set(rows.map((row) => row.name));
  } catch {
    // The detail (which may name the database) stays out of this unauthenticated answer.
    return { ready: false, reason: 'the database did not answer within 1 s' };
  }
  const missing = migrationsList.filter((migration) => !applied.has(migration.name) && !applied.has(`${migration.name}.ts`));
  if (missing.length > 0) return { ready: false, reason: `migrations not applied: ${missing.map((m) => m.name).join(', ')}` };
  return { ready: true };
}
