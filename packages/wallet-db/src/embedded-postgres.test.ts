import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgres, ensureDatabase, startEmbeddedPostgres } from './embedded-postgres.js';

const base = process.getuid?.() === 0 ? '/var/tmp' : fs.realpathSync(process.env.TMPDIR ?? '/tmp');
const parent = fs.mkdtempSync(path.join(base, 'wallets-embedded-test-'));
fs.chmodSync(parent, 0o755); // as root, the server runs as the postgres user, which must enter it
const dataDir = path.join(parent, 'pg');
const started: EmbeddedPostgres[] = [];

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

function postmasterPid(): number {
  return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const server of started) await server.stop();
  fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
});

describe('embedded PostgreSQL', () => {
  it('keeps its data between starts', async () => {
    const first = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    started.push(first);
    const url = await ensureDatabase(first.url, 'kept');
    await query(url, 'create table kept_rows (n int); insert into kept_rows values (42)');
    await first.stop();
    const second = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    started.push(second);
    expect(await query(await ensureDatabase(second.url, 'kept'), 'select n from kept_rows')).toEqual([{ n: 42 }]);
  });

  it('stops a stale server left in its data folder by a crashed start', async () => {
    // The previous test's server is still running: to the next start it is a leftover.
    const stalePid = postmasterPid();
    expect(alive(stalePid)).toBe(true);
    const next = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    started.push(next);
    expect(alive(stalePid)).toBe(false);
    expect(postmasterPid()).not.toBe(stalePid);
    expect(await query(await ensureDatabase(next.url, 'kept'), 'select n from kept_rows')).toEqual([{ n: 42 }]);
  });
});
