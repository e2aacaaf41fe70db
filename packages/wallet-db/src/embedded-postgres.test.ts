import { execFileSync, spawn } from 'node:child_process';
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

  it('uses the server already answering in its folder and never stops it', async () => {
    // The previous test's server is still running: the next start shares it.
    const pid = postmasterPid();
    const lines: string[] = [];
    const shared = await startEmbeddedPostgres({ dataDir, ephemeral: true, log: (line) => lines.push(line) });
    expect(shared.owned).toBe(false);
    expect(lines.join('\n')).toContain(`using the PostgreSQL already running in ${dataDir} (pid ${pid}`);
    expect(await query(await ensureDatabase(shared.url, 'kept'), 'select n from kept_rows')).toEqual([{ n: 42 }]);
    await shared.stop();
    expect(alive(pid)).toBe(true);
    expect(postmasterPid()).toBe(pid);
  });

  it('leaves its own server running at stop while another process is connected', async () => {
    await (started[started.length - 1] as EmbeddedPostgres).stop(); // a throw-away server stops regardless
    const owner = await startEmbeddedPostgres({ dataDir }); // a kept one (as pnpm start's) does not
    expect(owner.owned).toBe(true);
    const pid = postmasterPid();
    const other = new pg.Client({ connectionString: owner.url });
    await other.connect();
    try {
      await owner.stop();
      expect(alive(pid)).toBe(true);
      expect((await other.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await other.end();
    }
  });

  it('stops and replaces a server that does not answer (hung), keeping the data', async () => {
    const hung = postmasterPid();
    process.kill(hung, 'SIGSTOP');
    const lines: string[] = [];
    const next = await startEmbeddedPostgres({ dataDir, ephemeral: true, answerTimeoutMs: 300, log: (line) => lines.push(line) });
    started.push(next);
    expect(next.owned).toBe(true);
    expect(lines.join('\n')).toContain(`stopping a PostgreSQL that does not answer (pid ${hung})`);
    expect(alive(hung)).toBe(false);
    expect(postmasterPid()).not.toBe(hung);
    expect(await query(await ensureDatabase(next.url, 'kept'), 'select n from kept_rows')).toEqual([{ n: 42 }]);
  });

  it('removes a pid file whose pid now belongs to another program, without touching it', async () => {
    await (started[started.length - 1] as EmbeddedPostgres).stop();
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pidFile = path.join(dataDir, 'postmaster.pid');
      fs.writeFileSync(pidFile, `${stranger.pid}\n${dataDir}\n0\n5999\n`);
      if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', pidFile]);
      const next = await startEmbeddedPostgres({ dataDir, ephemeral: true });
      started.push(next);
      expect(next.owned).toBe(true);
      expect(alive(stranger.pid as number)).toBe(true);
      expect(postmasterPid()).not.toBe(stranger.pid);
    } finally {
      stranger.kill();
    }
  });

  it('asks for a password kept beside the cluster (mode 0600), on 127.0.0.1 only', async () => {
    const server = started[started.length - 1] as EmbeddedPostgres;
    const url = new URL(server.url);
    expect(url.password).toMatch(/^[0-9a-f]{48}$/);
    expect(fs.readFileSync(`${dataDir}.password`, 'utf8').trim()).toBe(url.password);
    expect(fs.statSync(`${dataDir}.password`).mode & 0o777).toBe(0o600);
    await expect(query(withoutPassword(server.url), 'select 1')).rejects.toThrow();
    await expect(query(withPassword(server.url, 'wrong'), 'select 1')).rejects.toThrow(/password authentication failed/);
    expect(await query(server.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('switches a folder that trusts local connections to a password at its next start, keeping its data', async () => {
    const running = started[started.length - 1] as EmbeddedPostgres;
    const oldPassword = new URL(running.url).password;
    await running.stop();
    // As an older version left it: initdb's trust rules, no password file.
    fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n');
    fs.rmSync(`${dataDir}.password`);
    const lines: string[] = [];
    const converted = await startEmbeddedPostgres({ dataDir, ephemeral: true, log: (line) => lines.push(line) });
    started.push(converted);
    expect(lines.join('\n')).toContain('switching the embedded PostgreSQL to password authentication');
    const password = new URL(converted.url).password;
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(password).not.toBe(oldPassword);
    expect(await query(await ensureDatabase(converted.url, 'kept'), 'select n from kept_rows')).toEqual([{ n: 42 }]);
    await expect(query(withoutPassword(converted.url), 'select 1')).rejects.toThrow();
    await expect(query(withPassword(converted.url, oldPassword), 'select 1')).rejects.toThrow(/password authentication failed/);
  });
});

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

function withoutPassword(url: string): string {
  return withPassword(url, '');
}
