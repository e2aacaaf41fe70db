/**
 * The database a process works on, and the key that seals webhook secrets in it: shared by the
 * server (app.ts) and the command line (cli.ts), which loads nothing of the HTTP side.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  countPlainWebhookSecrets,
  defaultDataRoot,
  type EmbeddedPostgres,
  type EntityManager,
  ensureDatabase,
  newSecretKey,
  type Orm,
  parseSecretKey,
  resealWebhookSecrets,
  SecretBox,
  startEmbeddedPostgres,
} from '@wallets/db';
import { type Env, repositoryRoot } from './env.js';

/**
 * The key that seals webhook secrets: WALLET_SECRET_KEY, else (embedded database) a key made once in
 * the data folder (mode 0600), else none: secrets stay plain and the start says so. Secrets stored
 * plain or under a previous key are resealed under the current key here.
 */
export async function openSecrets(env: Env, dataRoot: string | null, orm: Orm, log: (line: string) => void): Promise<SecretBox> {
  let key = env.WALLET_SECRET_KEY ?? null;
  if (!key && dataRoot) {
    const file = path.join(dataRoot, 'secret-key');
    if (!fs.existsSync(file)) {
      fs.writeFileSync(file, `${newSecretKey()}\n`, { mode: 0o600, flag: 'wx' });
      log(`Created the key that seals webhook secrets: ${file}`);
    }
    key = parseSecretKey(fs.readFileSync(file, 'utf8'), file);
  }
  const box = new SecretBox(key, env.WALLET_SECRET_KEY_PREVIOUS);
  const em = orm.em.fork() as EntityManager;
  if (box.encrypts) {
    const resealed = await resealWebhookSecrets(em, box);
    if (resealed > 0) log(`Sealed ${resealed} webhook secret(s) under the current key.`);
  } else {
    const plain = await countPlainWebhookSecrets(em);
    log(`Webhook secrets are stored unencrypted (${plain} now): set WALLET_SECRET_KEY to seal them.`);
  }
  return box;
}

export interface DatabaseTarget {
  databaseUrl: string;
  /** The embedded server when DATABASE_URL is unset (its `stop` stops it only if this process started it). */
  embedded: EmbeddedPostgres | null;
  /** The embedded database's data folder (its secret key lives there); null with DATABASE_URL. */
  dataRoot: string | null;
}

/** The embedded database's data folder (WALLET_DATA_DIR, or the checkout's default). */
export function embeddedDataRoot(env: Env): string {
  return env.WALLET_DATA_DIR ?? defaultDataRoot(repositoryRoot);
}

/**
 * DATABASE_URL, or the embedded database: the folder's running server when one answers (shared
 * with `pnpm start`, the example host, the CLI), else one started here.
 */
export async function connectDatabase(env: Env, log: (line: string) => void): Promise<DatabaseTarget> {
  if (env.DATABASE_URL) return { databaseUrl: env.DATABASE_URL, embedded: null, dataRoot: null };
  const dataRoot = embeddedDataRoot(env);
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(dataRoot, 'pg'), log });
  try {
    return { databaseUrl: await ensureDatabase(embedded.url, 'wallets'), embedded, dataRoot };
  } catch (error) {
    await embedded.stop();
    throw error;
  }
}
