/**
 * What every bench shares: a throw-away database (a fresh one on DATABASE_URL's server, dropped at
 * the end, else an embedded PostgreSQL in a temporary folder with fsync and synchronous_commit off,
 * as for the tests), the real server in a process of its own (bench/server.ts, driven over IPC), and
 * a log line with the seconds elapsed. Benches assert nothing about time.
 */
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres } from '@wallets/db';
import { createMigratedDatabase, dropDatabase } from '@wallets/db/testing';
import pg from 'pg';
import { transformer } from '../src/transformer.js';
import type { ServerReply, ServerRequest } from './protocol.js';

/** The pool size of the server (and of a baseline beside it): BENCH_POOL_MAX, default 10. */
export const POOL_MAX = Math.max(1, Number(process.env.BENCH_POOL_MAX ?? 10) || 10);
export const ADMIN_TOKEN = `bench-admin-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;

export type Log = (line: string) => void;

/** The machine a bench ran on, for its results file (load averages: 1, 5, 15 minutes). */
export function machineFacts(loadBefore: number[], loadAfter: number[]) {
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverageAtStart: loadBefore.map(round),
    loadAverageAtEnd: loadAfter.map(round),
  };
}

export function benchLog(name: string): Log {
  const started = Date.now();
  return (line) => console.log(`[${name} ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
}

export interface BenchDatabase {
  url: string;
  name: string;
  source: 'DATABASE_URL' | 'embedded';
  /** server_version, fsync, synchronous_commit, max_connections, shared_buffers. */
  settings: Record<string, string>;
  /** CPU used so far by the embedded server's processes (postmaster and backends), in ms; null on DATABASE_URL's server. */
  cpuMs(): number | null;
  close(): Promise<void>;
}

/** Linux: user + system CPU (ms) of the process whose command line names `dataDir`, of its children, and of its children that exited. */
function processTreeCpuMs(dataDir: string): number | null {
  try {
    const ticks = 100; // USER_HZ on Linux
    const stats = fs
      .readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map((pid) => {
        try {
          const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          // utime + stime, and cutime + cstime: the CPU of children already reaped (autovacuum workers and
          // backends that exited), counted by the postmaster that waited for them.
          return {
            pid: Number(pid),
            ppid: Number(fields[1]),
            cpu: Number(fields[11]) + Number(fields[12]),
            reaped: Number(fields[13]) + Number(fields[14]),
          };
        } catch {
          return null;
        }
      })
      .filter((entry) => entry !== null);
    const root = stats.find((entry) => {
      try {
        return fs.readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8').includes(dataDir);
      } catch {
        return false;
      }
    });
    if (!root) return null;
    const total = stats.filter((entry) => entry.pid === root.pid || entry.ppid === root.pid).reduce((sum, entry) => sum + entry.cpu, root.reaped);
    return (total * 1000) / ticks;
  } catch {
    return null;
  }
}

/** Peak resident set size of a process so far in MiB (Linux: VmHWM of /proc/<pid>/status), or null where unknown. */
export function peakRssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const line = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmHWM:'));
    const kib = Number(line?.split(/\s+/)[1]);
    return Number.isFinite(kib) ? Math.round((kib / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

/** A fresh migrated database for one bench run; `close` drops it (or stops the embedded server). */
export async function openBenchDatabase(prefix: string, log: Log): Promise<BenchDatabase> {
  const externalServer = process.env.DATABASE_URL || null;
  let serverUrl: string;
  let stopEmbedded: (() => Promise<void>) | null = null;
  let embeddedDir: string | null = null;
  if (externalServer) {
    serverUrl = externalServer;
    log('using the PostgreSQL server of DATABASE_URL (a fresh database)');
  } else {
    const dataDir = fs.mkdtempSync(path.join(process.getuid?.() === 0 ? '/var/tmp' : os.tmpdir(), 'wallets-bench-pg-'));
    const embedded = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    serverUrl = embedded.url;
    stopEmbedded = async () => {
      await embedded.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    };
    embeddedDir = dataDir;
    log(`embedded PostgreSQL in ${dataDir}`);
  }
  const url = await createMigratedDatabase(serverUrl, prefix);
  const name = new URL(url).pathname.slice(1);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const settings = await c
    .query<{ name: string; setting: string }>(
      `select name, setting from pg_settings where name in ('server_version', 'fsync', 'synchronous_commit', 'max_connections', 'shared_buffers')`,
    )
    .then(({ rows }) => Object.fromEntries(rows.map((r) => [r.name, r.setting])))
    .finally(() => c.end());
  log(`database ${name}: PostgreSQL ${settings.server_version}, fsync=${settings.fsync}, synchronous_commit=${settings.synchronous_commit}`);
  return {
    url,
    name,
    source: externalServer ? 'DATABASE_URL' : 'embedded',
    settings,
    cpuMs: () => (embeddedDir ? processTreeCpuMs(embeddedDir) : null),
    async close() {
      if (externalServer) await dropDatabase(externalServer, url).catch((error) => console.error(`could not drop ${name}`, error));
      await stopEmbedded?.();
    },
  };
}

/** The real server (startApp) in a process of its own, with no job worker, on `databaseUrl`. */
export class ServerProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: ServerReply) => void>();

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.on('message', (reply: ServerReply) => {
      if ('id' in reply) {
        this.waiting.get(reply.id)?.(reply);
        this.waiting.delete(reply.id);
      }
    });
  }

  /** `cpuProfileDir`: the process writes a V8 CPU profile there when it stops. */
  static async start(databaseUrl: string, options: { cpuProfileDir?: string | undefined } = {}): Promise<ServerProcess> {
    const child = fork(fileURLToPath(new URL('./server.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx', ...(options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(options.cpuProfileDir)}`] : [])],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        PORT: '0',
        HOST: '127.0.0.1',
        WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
        WALLET_WORKER_CONCURRENCY: '0',
        WALLET_DB_POOL_MAX: String(POOL_MAX),
        // No line per request (the yardstick logs nothing either); BENCH_LOG_LEVEL=info measures with them.
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      },
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`bench server exited during start (${code})`)));
      child.on('message', (reply: ServerReply) => {
        if (reply.type === 'ready') resolve(reply.url);
      });
    });
    child.removeAllListeners('exit');
    child.removeAllListeners('message');
    return new ServerProcess(child, url);
  }

  request<T extends ServerReply['type']>(type: ServerRequest['type']): Promise<Extract<ServerReply, { type: T }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench server did not answer ${type}`)), 30_000);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply as Extract<ServerReply, { type: T }>);
      });
      this.child.send({ type, id } as ServerRequest);
    });
  }

  stats() {
    return this.request<'stats'>('stats');
  }

  /** CPU time the server process has used so far, in ms. */
  async cpuMs(): Promise<number> {
    const { cpu } = await this.stats();
    return (cpu.user + cpu.system) / 1000;
  }

  /** Peak resident set size so far in MiB (Linux: VmHWM), or null where /proc is missing. */
  peakRssMiB(): number | null {
    return peakRssMiB(this.child.pid);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    await this.request<'ok'>('stop').catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Keep-alive connections that the client closes after 2 s unused, before a server's idle timeout
 * (Node's default is 5 s) can close one just as a call is sent on it ("socket hang up"): between
 * the rounds of a comparison a side's connections sit idle while the other side runs.
 */
function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, timeout: 2_000 });
}

/** Destroys the agent's sockets and fails the requests still waiting for one. */
function closeAgent(agent: http.Agent): void {
  for (const queue of Object.values(agent.requests)) for (const request of queue ?? []) request.destroy(new Error('caller closed'));
  agent.destroy();
}

interface HttpCallOptions {
  maxSockets: number;
  timeoutMs: number;
}

/**
 * One HTTP exchange over a keep-alive agent with node:http: resolves with the parsed JSON answer of
 * a 200, rejects with `describeError(status, payload)` otherwise. Shared by the tRPC and the plain
 * JSON callers, so both sides of a comparison pay the same client costs.
 */
function httpExchange(
  agent: http.Agent,
  base: URL,
  options: HttpCallOptions,
  request: { method: 'GET' | 'POST' | 'DELETE'; path: string; headers: Record<string, string>; body: string | null; label: string },
  describeError: (payload: unknown) => string,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body !== null) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(request.body);
    }
    const outgoing = http.request(
      { agent, host: base.hostname, port: base.port, path: request.path, method: request.method, headers, timeout: options.timeoutMs },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          try {
            const payload = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            if (response.statusCode !== 200) {
              reject(new Error(`${request.label}: HTTP ${response.statusCode} ${describeError(payload)}`));
              return;
            }
            resolve(payload);
          } catch (error) {
            reject(error);
          }
        });
        response.on('error', reject);
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${request.label}: no answer in ${options.timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(request.body ?? undefined);
  });
}

export interface TrpcCaller {
  mutate<T>(procedure: string, input: unknown): Promise<T>;
  query<T>(procedure: string, input: unknown): Promise<T>;
  /** Drops every connection and every call still queued for one (they fail). */
  close(): void;
}

/**
 * A lean caller for load loops: tRPC mutations (POST) and queries (GET, input in the query string)
 * with node:http over keep-alive connections (at most `maxSockets`), the input serialized with the
 * shared transformer (superjson, the real client's wire format), the answer parsed back with it.
 * The typed client's fetch stack costs 2-3 ms of CPU per call in the bench process, which on a
 * small machine competes with the server it measures; this costs a fraction of that. Errors
 * (non-2xx) reject with the server's message.
 */
export function trpcCaller(url: string, apiKey: string, options: HttpCallOptions): TrpcCaller {
  const agent = keepAliveAgent(options.maxSockets);
  const base = new URL(url.replace(/\/+$/, '').replace(/\/trpc$/, ''));
  const headers = { authorization: `Bearer ${apiKey}` };
  const message = (payload: unknown) => String((payload as { error?: { json?: { message?: unknown } } })?.error?.json?.message ?? '');
  const data = <T>(payload: unknown) => transformer.deserialize((payload as { result: { data: never } }).result.data) as T;
  return {
    close: () => closeAgent(agent),
    mutate: async (procedure, input) =>
      data(
        await httpExchange(
          agent,
          base,
          options,
          { method: 'POST', path: `/trpc/${procedure}`, headers, body: JSON.stringify(transformer.serialize(input)), label: procedure },
          message,
        ),
      ),
    query: async (procedure, input) =>
      data(
        await httpExchange(
          agent,
          base,
          options,
          {
            method: 'GET',
            path: `/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(transformer.serialize(input)))}`,
            headers,
            body: null,
            label: procedure,
          },
          message,
        ),
      ),
  };
}

/** `trpcCaller`'s mutations alone. */
export function mutationCaller(url: string, apiKey: string, options: HttpCallOptions): <T>(procedure: string, input: unknown) => Promise<T> {
  const caller = trpcCaller(url, apiKey, options);
  return (procedure, input) => caller.mutate(procedure, input);
}

export interface JsonCaller {
  post<T>(path: string, body: unknown): Promise<T>;
  get<T>(path: string): Promise<T>;
  delete<T>(path: string): Promise<T>;
  /** Drops every connection and every call still queued for one (they fail). */
  close(): void;
}

/** The same machinery for a plain JSON API (the yardstick): bodies and answers as JSON, no transformer. */
export function jsonCaller(url: string, apiKey: string, options: HttpCallOptions): JsonCaller {
  const agent = keepAliveAgent(options.maxSockets);
  const base = new URL(url);
  const headers = { authorization: `Bearer ${apiKey}` };
  const message = (payload: unknown) => String((payload as { error?: unknown })?.error ?? '');
  return {
    post: async (path, body) =>
      (await httpExchange(agent, base, options, { method: 'POST', path, headers, body: JSON.stringify(body), label: path }, message)) as never,
    get: async (path) => (await httpExchange(agent, base, options, { method: 'GET', path, headers, body: null, label: path }, message)) as never,
    delete: async (path) =>
      (await httpExchange(agent, base, options, { method: 'DELETE', path, headers, body: null, label: path }, message)) as never,
    close: () => closeAgent(agent),
  };
}
