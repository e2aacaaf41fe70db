/**
 * Webhook signing secrets at rest: `resealWebhookSecrets` runs at start and rewrites every stored
 * secret that is plain (a key was configured since) or sealed under an older key (rotation), each
 * row compared-and-set, so several processes starting at once agree.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SecretBox } from './secret-box.js';

/** How many secrets were rewritten. */
export async function resealWebhookSecrets(em: EntityManager, box: SecretBox): Promise<number> {
  if (!box.encrypts) return 0;
  const connection = em.getConnection();
  const rows = await connection.execute<{ id: string; secret: string }[]>('select id, secret from webhook_endpoints');
  let rewritten = 0;
  for (const { id, secret } of rows) {
    if (!box.needsReseal(secret)) continue;
    const result = await connection.execute(
      'update webhook_endpoints set secret = ? where id = ? and secret = ?',
      [box.seal(box.open(secret)), id, secret],
      'run',
    );
    rewritten += Number((result as { affectedRows?: number }).affectedRows ?? 0);
  }
  return rewritten;
}

/** How many stored secrets are plain (for the warning at start when no key is configured). */
export async function countPlainWebhookSecrets(em: EntityManager): Promise<number> {
  const rows = await em
    .getConnection()
    .execute<{ n: string }[]>(`select count(*)::text as n from webhook_endpoints where secret not like 'sealed1.%'`);
  return Number(rows[0]?.n ?? 0);
}
