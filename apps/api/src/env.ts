/** The only reader of the environment. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSecretKey } from '@wallets/db';
import { z } from 'zod';
import { LOG_LEVELS } from './observability/logger.js';
import { parseAllowedNetworks } from './webhook-targets.js';

const secretKey = z.string().transform((text, ctx) => {
  try {
    return parseSecretKey(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const validNetworks = (text: string) => {
  try {
    parseAllowedNetworks(text);
    return true;
  } catch {
    return false;
  }
};

const schema = z.object({
  DATABASE_URL: z.string().url().optional(),
  /** A connection straight to PostgreSQL, for session state (LISTEN); default DATABASE_URL. */
  WALLET_DIRECT_DATABASE_URL: z.string().url().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  WALLET_ADMIN_TOKEN: z.string().min(16, 'WALLET_ADMIN_TOKEN must be at least 16 characters').optional(),
  WALLET_DATA_DIR: z.string().optional(),
  WALLET_DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /**
   * HTTP processes sharing the port (node:cluster). Above 1 the first process serves no HTTP: it
   * migrates, creates the first organization, runs the one set of job workers and starts, stops
   * and restarts the HTTP processes.
   */
  WALLET_HTTP_WORKERS: z.coerce.number().int().min(1).max(64).default(1),
  /** Set by the cluster's first process for its HTTP processes: the embedded database's folder (its secret key). */
  WALLET_CLUSTER_DATA_ROOT: z.string().optional(),
  WALLET_WORKER_CONCURRENCY: z.coerce.number().int().min(0).max(64).default(2),
  WALLET_JOBS_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(60),
  WALLET_WEBHOOK_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(5),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** On SIGTERM: how long requests already received may take to be answered before their connections are cut. */
  /** Open `events.onEvent` streams one process holds, in all and per organization; past them STREAM_LIMIT_REACHED. */
  WALLET_STREAMS_PER_PROCESS: z.coerce.number().int().min(1).default(5_000),
  WALLET_STREAMS_PER_ORGANIZATION: z.coerce.number().int().min(1).default(2_000),
  /** The longest an event stream stays open; then the client reconnects and resumes after its last event. */
  WALLET_STREAM_MAX_SECONDS: z.coerce.number().int().min(1).default(3_600),
  WALLET_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  WALLET_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** Seals webhook signing secrets at rest (AES-256-GCM); 32 bytes as base64 or hex. */
  WALLET_SECRET_KEY: secretKey.optional(),
  /** Older keys, comma-separated, still read while their secrets are resealed under the current one. */
  WALLET_SECRET_KEY_PREVIOUS: z
    .string()
    .transform((text, ctx) =>
      text
        .split(',')
        .filter((part) => part.trim() !== '')
        .map((part) => {
          try {
            return parseSecretKey(part, 'WALLET_SECRET_KEY_PREVIOUS');
          } catch (error) {
            ctx.addIssue({ code: 'custom', message: (error as Error).message });
            return Buffer.alloc(0);
          }
        }),
    )
    .default([]),

  /** Private networks webhooks may reach on purpose (comma-separated CIDRs); by default none. */
  WALLET_WEBHOOK_ALLOWED_NETWORKS: z
    .string()
    .default('')
    .refine(validNetworks, 'must be comma-separated IP networks in CIDR form, for example 10.0.0.0/8,::1/128')
    .transform(parseAllowedNetworks),
});

export type Env = z.infer<typeof schema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(source).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    throw new Error(`invalid environment: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/**
 * The repository root (for the default embedded data folder and the console's files): the nearest
 * folder above this module with pnpm-workspace.yaml, the same from src/ (tsx) and dist/ (built).
 */
export const repositoryRoot = findRepositoryRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRepositoryRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(start, '../../..');
  }
}
