/**
 * Test support: a fresh, migrated database per test run (on DATABASE_URL's server when set,
 * otherwise on a throw-away embedded PostgreSQL), and the ledger audit (audit.ts: plain SQL that
 * does not use the code under test).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type EmbeddedPostgres, startEmbeddedPostgres, withDatabase } from '../embedded-postgres.js';
import { migrate, openOrm } from '../orm.js';

export { auditLedger, type LedgerMismatch, ledgerSummary } from '../audit.js';

export interface TestDatabase {
  url: string;
  /** URL of the server's maintenance database, for creating more databases. */
  serverUrl: string;
  teardown(): Promise<void>;
}

export async function createMigratedDatabase(serverUrl: string, prefix = 'wallets_test'): Promise<string> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  const orm = await openOrm({ databaseUrl: url, poolMax: 2 });
  try {
    await migrate(orm);
  } finally {
    await orm.close(true);
  }
  return url;
}

/** Drops a database made by `createMigratedDatabase` (connections still open are closed). */
export async function dropDatabase(serverUrl: string, databaseUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${new URL(databaseUrl).pathname.slice(1)}" with (force)`);
  } finally {
    await admin.end();
  }
}

/**
 * A small seeded generator (mulberry32): numbers in [0, 1), the same sequence for the same seed, so
 * a random test or workload replays exactly.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export async function startTestDatabase(): Promise<TestDatabase> {
  let server: EmbeddedPostgres | null = null;
  let dataDir: string | null = null;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const base = process.getuid?.() === 0 ? '/var/tmp' : os.tmpdir();
    dataDir = fs.mkdtempSync(path.join(base, 'wallets-test-pg-'));
    server = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    serverUrl = server.url;
  }
  const url = await createMigratedDatabase(serverUrl);
  return {
    url,
    serverUrl,
    async teardown() {
      if (server) await server.stop();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    serverUrl: string;
  }
}

/** vitest globalSetup: one fresh migrated database per test run, handed to tests by `inject`. */
export async function provideTestDatabase(project: { provide(key: 'databaseUrl' | 'serverUrl', value: string): void }) {
  const db = await startTestDatabase();
  project.provide('databaseUrl', db.url);
  project.provide('serverUrl', db.serverUrl);
  return () => db.teardown();
}
