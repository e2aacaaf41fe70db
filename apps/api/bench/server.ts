/**
 * The bench's server process: the real app (`startApp`) on a random port, in its own process as in
 * production, so its event loop does not share a thread with the callers. The `pg` driver that
 * MikroORM loads is wrapped (Client.prototype.query) to count every round trip the server makes and
 * to record them, with their parameters, between `capture-start` and `capture-stop`. The bench
 * drives it over the IPC channel (see `ServerRequest`).
 */
import { createRequire } from 'node:module';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { startApp } from '../src/app.js';
import { readEnv } from '../src/env.js';
import type { CapturedStatement, Probe, ServerReply, ServerRequest } from './protocol.js';

type QueryFn = (this: object, config: unknown, values?: unknown, callback?: unknown) => unknown;

/**
 * The `pg` Client classes the ORM may load: the one beside @mikro-orm/postgresql and the one knex
 * (through @mikro-orm/knex) requires. With pnpm these can be other copies than apps/api's `pg`.
 */
function ormPgClients(): { prototype: { query: QueryFn } }[] {
  const requireFromDb = createRequire(import.meta.resolve('@wallets/db'));
  const postgresql = requireFromDb.resolve('@mikro-orm/postgresql');
  const requireFromPostgresql = createRequire(postgresql);
  const requireFromKnex = createRequire(createRequire(requireFromPostgresql.resolve('@mikro-orm/knex')).resolve('knex'));
  const clients = [requireFromPostgresql('pg'), requireFromKnex('pg')].map((pg: { Client: { prototype: { query: QueryFn } } }) => pg.Client);
  return [...new Set(clients)];
}

let statements = 0;
let queryNanos = 0n;
let capture: CapturedStatement[] | null = null;
let captureStarted = 0n;
const connectionIds = new WeakMap<object, number>();
let nextConnectionId = 1;

function installRecorder(): void {
  for (const Client of ormPgClients()) wrapQuery(Client);
}

function wrapQuery(Client: { prototype: { query: QueryFn } }): void {
  const original = Client.prototype.query;
  Client.prototype.query = function recordedQuery(this: object, config: unknown, values?: unknown, callback?: unknown) {
    const submittable = typeof config === 'object' && config !== null && typeof (config as { submit?: unknown }).submit === 'function';
    if (submittable) {
      // A round trip of several statements (wallet-db pipelined-query.ts): one round trip, its statements recorded one by one.
      const pipelined = config as { statements?: { text: string; values?: unknown[] }[]; callback?: (...a: unknown[]) => void };
      if (!pipelined.statements || !pipelined.callback) return original.call(this, config, values, callback);
      const done = recordRoundTrip(this, pipelined.statements);
      const cb = pipelined.callback;
      pipelined.callback = (...a: unknown[]) => {
        done();
        cb(...a);
      };
      return original.call(this, config, values, callback);
    }
    const text = typeof config === 'string' ? config : String((config as { text?: unknown }).text ?? '');
    const params = (
      typeof config === 'object' && config !== null && Array.isArray((config as { values?: unknown }).values)
        ? (config as { values: unknown[] }).values
        : Array.isArray(values)
          ? values
          : []
    ) as unknown[];
    const done = recordRoundTrip(this, [{ text, values: params }]);
    // knex passes a callback as the last argument; other callers may use the promise.
    const args = [config, values, callback];
    const last = typeof callback === 'function' ? 2 : typeof values === 'function' ? 1 : -1;
    if (last >= 0) {
      const cb = args[last] as (...a: unknown[]) => void;
      args[last] = (...a: unknown[]) => {
        done();
        cb(...a);
      };
      return original.apply(this, args.slice(0, last + 1) as [unknown, unknown?, unknown?]);
    }
    const result = original.call(this, config, values);
    if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(done, done);
    return result;
  };
}

/** Counts one round trip of a connection and, while capturing, records its statements; the returned function marks its answer. */
function recordRoundTrip(client: object, sent: readonly { text: string; values?: unknown[] | undefined }[]): () => void {
  statements++;
  let connection = connectionIds.get(client);
  if (connection === undefined) {
    connection = nextConnectionId++;
    connectionIds.set(client, connection);
  }
  const started = process.hrtime.bigint();
  const records: CapturedStatement[] = capture
    ? sent.map(({ text, values }) => ({
        connection,
        text,
        values: structuredClone(values ?? []),
        atMs: Number(started - captureStarted) / 1e6,
        ms: 0,
      }))
    : [];
  capture?.push(...records);
  return () => {
    const elapsed = process.hrtime.bigint() - started;
    queryNanos += elapsed;
    for (const record of records) record.ms = Number(elapsed) / 1e6;
  };
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Event-loop delay, GC pauses and pool waits between `start` and `stop` (see `Probe`). */
function prober(pool: { on(event: string, listener: (...args: unknown[]) => void): void }) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let gc: Probe['gc'] = {};
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[(entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
      const k = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      k.count++;
      k.totalMs += entry.duration;
      k.maxMs = Math.max(k.maxMs, entry.duration);
    }
  });
  let waits: number[] | null = null;
  const asked = new Map<unknown, number>();
  pool.on('acquireRequest', (eventId) => {
    if (waits) asked.set(eventId, performance.now());
  });
  pool.on('acquireSuccess', (eventId) => {
    const at = asked.get(eventId);
    if (at === undefined) return;
    asked.delete(eventId);
    waits?.push(performance.now() - at);
  });
  const ms = (nanos: number) => Math.round(nanos / 1e4) / 100;
  return {
    start() {
      loop.reset();
      loop.enable();
      gc = {};
      observer.observe({ entryTypes: ['gc'] });
      waits = [];
    },
    stop(): Probe {
      loop.disable();
      observer.disconnect();
      const sorted = (waits ?? []).sort((a, b) => a - b);
      waits = null;
      asked.clear();
      const at = (p: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) * 100) / 100;
      for (const k of Object.values(gc)) {
        k.totalMs = Math.round(k.totalMs * 10) / 10;
        k.maxMs = Math.round(k.maxMs * 10) / 10;
      }
      return {
        loopDelay: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
        gc,
        poolWait: { count: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) },
      };
    },
  };
}

function reply(message: ServerReply): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  installRecorder();
  const env = readEnv(process.env);
  const app = await startApp(env, { log: () => undefined });
  const probe = prober((app.orm.em.getConnection().getKnex() as unknown as { client: { pool: Parameters<typeof prober>[0] } }).client.pool);
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= app.stop());
  process.on('message', async (message: ServerRequest) => {
    switch (message.type) {
      case 'stats':
        reply({
          type: 'stats',
          id: message.id,
          statements,
          queryMs: Number(queryNanos) / 1e6,
          cpu: process.cpuUsage(),
          memory: process.memoryUsage(),
        });
        return;
      case 'capture-start':
        capture = [];
        captureStarted = process.hrtime.bigint();
        reply({ type: 'ok', id: message.id });
        return;
      case 'capture-stop': {
        const captured = capture ?? [];
        capture = null;
        reply({ type: 'captured', id: message.id, statements: captured });
        return;
      }
      case 'probe-start':
        probe.start();
        reply({ type: 'ok', id: message.id });
        return;
      case 'probe-stop':
        reply({ type: 'probed', id: message.id, probe: probe.stop() });
        return;
      case 'stop':
        await stop();
        reply({ type: 'ok', id: message.id });
        process.disconnect?.();
        return;
    }
  });
  // The bench going away (even by a crash) stops this server.
  process.on('disconnect', () => {
    void stop().finally(() => process.exit(0));
  });
  reply({ type: 'ready', url: app.url });
}

main().catch((error) => {
  console.error('bench server failed to start', error);
  process.exit(1);
});
