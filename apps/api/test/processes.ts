/**
 * Real child processes for multi-process tests: `pnpm start`, `node --import tsx src/main.ts` and
 * the crash worker, each in its own process group so that a kill reaches everything it started.
 * Output is captured (and shown when a test fails); waits poll a condition with a deadline, never
 * sleep for correctness. `stopAll` kills whatever is still running, for `afterAll`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const apiRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repositoryRoot = path.resolve(apiRoot, '../..');

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProcessHandle {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr interleaved). */
  output(): string;
  /** Null while running. */
  exitStatus(): ExitStatus | null;
  exited: Promise<ExitStatus>;
  /** Sends a signal to the process itself (not its group), as a container runtime does. */
  signal(signal: NodeJS.Signals): void;
  /** Waits until the output matches, failing early if the process exits. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGKILL to the whole process group, then waits for the exit. */
  kill(): Promise<ExitStatus>;
}

const running = new Set<ProcessHandle>();

/** Only what a server needs from the environment, so the test runner's variables do not leak in. */
function baseEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'PNPM_HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}

export function spawnProcess(name: string, command: string, args: string[], options: { cwd: string; env: Record<string, string> }): ProcessHandle {
  const child = spawn(command, args, {
    cwd: options.cwd,
    // Request lines would fill the captured output; warnings and errors still show.
    env: { ...baseEnv(), LOG_LEVEL: 'warn', ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  const pid = child.pid;
  let out = '';
  let status: ExitStatus | null = null;
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<ExitStatus>((resolve) => {
    child.on('exit', (code, signal) => {
      status = { code, signal };
      running.delete(handle);
      for (const listener of listeners) listener();
      resolve(status);
    });
  });
  const handle: ProcessHandle = {
    name,
    pid,
    child,
    output: () => out,
    exitStatus: () => status,
    exited,
    signal(signal) {
      if (status === null) process.kill(pid, signal);
    },
    waitForOutput(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`${name}: no output matching ${pattern} within ${timeoutMs} ms; output:\n${out}`));
        }, timeoutMs);
        function check() {
          const match = pattern.exec(out);
          if (match) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(match);
          } else if (status !== null) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`${name}: exited (${JSON.stringify(status)}) before printing ${pattern}; output:\n${out}`));
          }
        }
        listeners.add(check);
        check();
      });
    },
    async kill() {
      if (status === null) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // the group is already gone
        }
      }
      return exited;
    },
  };
  running.add(handle);
  return handle;
}

/** Kills every process these helpers started that is still running (for afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((handle) => handle.kill()));
}

/** Whether any process of the group (leader pid) is still alive. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function pollUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface ServerProcess extends ProcessHandle {
  url: string;
  port: number;
}

/**
 * Starts the API as a real process on `databaseUrl`: `pnpm start` at the repository root, or
 * `node --import tsx src/main.ts` in apps/api. Resolves once GET /health answers 200.
 */
export async function startServerProcess(options: {
  name: string;
  via: 'pnpm' | 'node';
  databaseUrl: string;
  adminToken: string;
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  const port = await freePort();
  const env = {
    DATABASE_URL: options.databaseUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    WALLET_ADMIN_TOKEN: options.adminToken,
    WALLET_WORKER_CONCURRENCY: '0',
    ...options.env,
  };
  const handle =
    options.via === 'pnpm'
      ? spawnProcess(options.name, 'pnpm', ['start'], { cwd: repositoryRoot, env })
      : spawnProcess(options.name, process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: apiRoot, env });
  const url = `http://127.0.0.1:${port}`;
  await pollUntil(`${options.name} to answer ${url}/health`, async () => {
    const status = handle.exitStatus();
    if (status) throw new Error(`${options.name} exited (${JSON.stringify(status)}) before it was healthy; output:\n${handle.output()}`);
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      return response.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  // Guard against another process having taken the port between freePort() and listen(): the
  // process must say it listens there.
  await handle.waitForOutput(new RegExp(`listening on ${url.replaceAll('.', '\\.')}\\b`), 10_000);
  return Object.assign(handle, { url, port });
}
