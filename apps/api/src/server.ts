/**
 * The HTTP server, on Fastify: tRPC at /trpc (bodies up to MAX_BODY_BYTES), GET /health, GET /ready,
 * GET /metrics (admin token), the Lago-compatible REST API at /api/v1 and its reference at /api/docs
 * (rest/plugin.ts), the CSV exports (exports/), the console's built files when given their folder,
 * and whatever Fastify plugins the caller registers; anything else is a 404 JSON. Every response,
 * on every route, carries the security headers and an `x-request-id` (the caller's when it sent a
 * well-formed one); every request is logged once, as JSON, and counted in the metrics.
 *
 * Registering routes: pass `plugins` (each registered in order, before the server listens), or
 * call `register` on the returned instance before `listen`. A plugin's routes get the headers, the
 * request id (`request.id`, also `requestRecord(request).id`), the log line and the metrics label
 * `${method} ${routeUrl}` without doing anything. Bodies are parsed by Fastify's JSON parser with
 * the same 1 MiB limit (413 past it).
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import {
  callProcedure,
  getErrorShape,
  getHTTPStatusCodeFromError,
  getTRPCErrorFromUnknown,
  isTrackedEnvelope,
  parseConnectionParamsFromString,
  sseHeaders,
  transformTRPCResponse,
} from '@trpc/server/unstable-core-do-not-import';
import { WalletError } from '@wallets/core';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyRequest } from 'fastify';
import { EXPORT_PATHS, serveExport } from './exports/index.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import type { Readiness } from './observability/readiness.js';
import { DOCS_PREFIX, REST_PREFIX, restDocsPlugin, restPlugin } from './rest/plugin.js';
import { appRouter } from './router.js';
import { isConsoleRoute, staticFiles } from './static-files.js';
import { transformer } from './transformer.js';
import { type AppServices, bearerToken, createContextInner, loggerOf, type RequestRecord, sameSecret } from './trpc.js';

/**
 * Request bodies above this are refused with 413 PAYLOAD_TOO_LARGE: the adapter counts the bytes
 * as they stream in and stops at the limit, so an oversized body is never held in memory.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * At most this many calls in one batched tRPC request (`/trpc/a,b,c?batch=1`); past it the whole
 * request is refused with 400 BAD_REQUEST / BATCH_TOO_LARGE before anything runs, so one request
 * cannot hold the server for seconds while every other caller waits.
 */
export const MAX_BATCH_CALLS = 10;

/**
 * On every response. The console is built to same-origin files only (one script, one stylesheet,
 * tRPC and its event stream on this origin), so the policy allows nothing else and no framing.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

export interface ServerOptions {
  staticDir?: string | null;
  maxBodyBytes?: number;
  metrics?: Metrics;
  readiness?: () => Promise<Readiness>;
  /** Fastify plugins registered on the server (e.g. the REST API with `{ prefix: '/api/v1' }`). */
  plugins?: (FastifyPluginAsync | { plugin: FastifyPluginAsync; prefix?: string })[];
}

/** A caller's request id is kept when it is short and plain; otherwise the server makes one. */
const CALLER_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && CALLER_REQUEST_ID.test(value) ? value : randomUUID();
}

const PROCEDURES = new Set(Object.keys(appRouter._def.procedures));

/** A bounded label for logs and metrics: the procedure, `batch`, or `unknown` (never a caller's text). */
function procedureOf(pathname: string): string {
  const name = pathname.slice('/trpc/'.length);
  if (name.includes(',')) return 'batch';
  return PROCEDURES.has(name) ? name : 'unknown';
}

/** What the server knows of a request beside Fastify's: its record (id, organization, error codes) and its log/metrics label. */
interface RequestState {
  record: RequestRecord;
  route: string;
}

const states = new WeakMap<http.IncomingMessage, RequestState>();

const proceduresOfType = (type: 'query' | 'mutation') =>
  new Set(
    Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)
      .filter(([, procedure]) => procedure._def.type === type)
      .map(([name]) => name),
  );
const QUERIES = proceduresOfType('query');
const MUTATIONS = proceduresOfType('mutation');

/** Procedures answered as a stream (Server-Sent Events): ended at once by a drain, the client resumes elsewhere. */
const STREAMING = new Set(
  Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)
    .filter(([, procedure]) => procedure._def.type === 'subscription')
    .map(([name]) => name),
);

/** One Server-Sent Event as tRPC's SSE producer writes it: its field lines, then a blank line and one more newline. */
function sseFrame(fields: { event?: string; data: string; id?: string | undefined }): string {
  return `${fields.event === undefined ? '' : `event: ${fields.event}\n`}data: ${fields.data}\n${fields.id === undefined ? '' : `id: ${fields.id}\n`}\n\n`;
}

/** Resolves when the response can take more (or is gone). */
function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** What a drain needs of a server: its responses not finished yet. */
interface Tracker {
  open: Map<http.ServerResponse, RequestState>;
  draining: boolean;
}

const trackers = new WeakMap<FastifyInstance, Tracker>();

/**
 * Stops the server gracefully: no new connections; every request received (also one arriving on
 * a connection that was open) is answered within `graceMs`, and its connection closes after it; open event streams end at once (their clients resume
 * from their last id). Connections still open after `graceMs` are cut. Resolves with the number of
 * requests cut that way.
 */
export async function drainServer(app: FastifyInstance, graceMs: number): Promise<{ cut: number }> {
  const tracker = trackers.get(app);
  if (!tracker) throw new Error('drainServer: not a server made by createServer');
  tracker.draining = true;
  for (const [res, state] of tracker.open) {
    if (STREAMING.has(state.route)) res.destroy();
    else if (!res.headersSent) res.shouldKeepAlive = false;
  }
  const closed = app.close();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), graceMs);
  });
  const outcome = await Promise.race([closed.then(() => 'closed' as const), expired]);
  clearTimeout(timer);
  if (outcome === 'closed') return { cut: 0 };
  const cut = tracker.open.size;
  app.server.closeAllConnections();
  await closed;
  return { cut };
}

/** The request's record: its id, the organization once known, the wallet error codes answered (for plugins' own logging). */
export function requestRecord(request: FastifyRequest): RequestRecord {
  const state = states.get(request.raw);
  if (!state) throw new Error('requestRecord: not a request of this server');
  return state.record;
}

/** Sets the label a request is logged and counted under (bounded: a route, never a caller's text). */
export function setRouteLabel(request: FastifyRequest, label: string): void {
  const state = states.get(request.raw);
  if (state) state.route = label;
}

export function createServer(services: AppServices, options: ServerOptions = {}): FastifyInstance {
  const logger: Logger = loggerOf(services);
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const serveStatic = options.staticDir ? staticFiles(options.staticDir, isConsoleRoute) : null;
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: maxBodyBytes,
    createContext: ({ req, info }) => {
      // connectionParams travel in the URL (where proxies log them): only subscriptions, which a
      // browser's EventSource opens without headers, may carry the key there.
      const fromParams = info.type === 'subscription' ? (info.connectionParams?.apiKey as string | undefined) : undefined;
      const token = bearerToken(req.headers.authorization) ?? fromParams ?? null;
      return createContextInner(services, token, states.get(req)?.record);
    },
  });

  const config = appRouter._def._config;

  /** Calls one procedure as tRPC would and answers in its wire format (superjson, the same error shapes and statuses). */
  const answerCall = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    type: 'query' | 'mutation',
    parsed: () => unknown,
    record: RequestRecord | undefined,
  ): void => {
    const ctx = createContextInner(services, bearerToken(req.headers.authorization), record);
    let rawInput: unknown;
    new Promise((resolve) => resolve((rawInput = parsed())))
      .then(() => callProcedure({ router: appRouter, path, getRawInput: async () => rawInput, ctx, type, signal: undefined, batchIndex: 0 }))
      .then(
        (data) => ({ status: 200, body: { result: { data } } }),
        (cause) => {
          const error = getTRPCErrorFromUnknown(cause);
          return {
            status: getHTTPStatusCodeFromError(error),
            body: { error: getErrorShape({ config, ctx, error, input: rawInput, path, type }) },
          };
        },
      )
      .then(({ status, body }) => {
        const text = JSON.stringify(transformTRPCResponse(config, body as never));
        res.writeHead(status, { 'content-type': 'application/json', vary: 'trpc-accept, accept' }).end(text);
      })
      .catch((error) => {
        logger.error({ requestId: record?.id, err: error }, 'internal error');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end();
      });
  };

  /**
   * A subscription answered as tRPC's SSE producer would (the same headers and frames: `connected`,
   * each value with its tracked id, `return` at the end, `serialized-error` for an error, nothing
   * when the client goes or the maximum duration ends the stream), written straight to the response
   * instead of through tRPC's chain of web streams: an idle stream then holds its generators and
   * its socket, not a web Request and five web streams (1,500 idle streams: tens of MiB less).
   * Returns false when the query string does not parse, leaving the request to tRPC.
   */
  const leanStream = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    params: URLSearchParams,
    record: RequestRecord | undefined,
  ): boolean => {
    let rawInput: unknown;
    let apiKey: unknown;
    try {
      const input = params.get('input');
      rawInput = input === null ? undefined : transformer.deserialize(JSON.parse(input));
      const connectionParams = params.get('connectionParams');
      apiKey = connectionParams === null ? undefined : parseConnectionParamsFromString(connectionParams)?.apiKey;
    } catch {
      return false;
    }
    // As tRPC's handler: the id an EventSource sends back when it reconnects joins the input.
    const header = req.headers['last-event-id'];
    const lastEventId = (Array.isArray(header) ? header[0] : header) || params.get('lastEventId') || params.get('Last-Event-Id');
    if (lastEventId) rawInput = rawInput !== null && typeof rawInput === 'object' ? { ...rawInput, lastEventId } : (rawInput ?? { lastEventId });
    const token = bearerToken(req.headers.authorization) ?? (typeof apiKey === 'string' ? apiKey : null);
    const ctx = createContextInner(services, token, record);
    const ended = new AbortController();
    res.once('close', () => ended.abort());
    const maxDurationMs = config.sse?.maxDurationMs;
    const timer = maxDurationMs ? setTimeout(() => ended.abort(), maxDurationMs) : undefined;
    res.writeHead(200, { ...sseHeaders, vary: 'trpc-accept, accept' });
    res.write(sseFrame({ event: 'connected', data: JSON.stringify(config.sse?.client ?? {}) }));
    // Without an `id`, EventSource would give a value the last id it got: clear it, then restore it.
    let lastId = lastEventId && !/[\0\n\r]/.test(lastEventId) ? lastEventId : null;
    const send = async (value: unknown) => {
      const [id, data] = isTrackedEnvelope(value) ? [value[0] as string, value[1]] : [undefined, value];
      const text = JSON.stringify(transformer.serialize(data));
      if (id !== undefined) lastId = id;
      let frame = sseFrame({ data: text, id: id ?? (lastId === null ? undefined : '') });
      if (id === undefined && lastId !== null) frame += sseFrame({ event: 'restore-id', data: '', id: lastId });
      if (!res.write(frame)) await drained(res);
    };
    callProcedure({ router: appRouter, path, getRawInput: async () => rawInput, ctx, type: 'subscription', signal: ended.signal, batchIndex: 0 })
      .then(async (values) => {
        for await (const value of values as AsyncIterable<unknown>) {
          if (ended.signal.aborted) break;
          await send(value);
        }
        if (!ended.signal.aborted) res.write(sseFrame({ event: 'return', data: '' }));
      })
      .catch((cause) => {
        if (ended.signal.aborted) return;
        const error = getTRPCErrorFromUnknown(cause);
        const shape = getErrorShape({ config, ctx, error, input: rawInput, path, type: 'subscription' });
        res.write(sseFrame({ event: 'serialized-error', data: JSON.stringify(transformer.serialize(shape)) }));
      })
      .catch((error) => logger.error({ requestId: record?.id, err: error }, 'internal error'))
      .finally(() => {
        clearTimeout(timer);
        res.end();
      });
    return true;
  };

  /** A call tRPC's handler should take: batched, streamed, or asking for another format. */
  const forTrpc = (req: http.IncomingMessage, params: URLSearchParams) =>
    params.has('batch') || Boolean(req.headers['trpc-accept']) || Boolean(req.headers.accept?.includes('application/jsonl'));

  /**
   * A single call is answered here in tRPC's wire format without tRPC's conversion of the request
   * to a web Request and of its answer to a web Response: a GET query, or a POST mutation whose body
   * declares its length within the limit (the HTTP parser then reads exactly that much). Anything
   * else (batches, subscriptions, a query input that does not parse, a body without a length or over
   * the limit) goes to tRPC's own handler. Returns false when it leaves the request to tRPC.
   */
  const leanCall = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
    url: string,
    query: number,
    record: RequestRecord | undefined,
  ): boolean => {
    const path = pathname.slice('/trpc/'.length);
    const params = new URLSearchParams(query < 0 ? '' : url.slice(query + 1));
    if (forTrpc(req, params)) return false;
    if (req.method === 'GET' && STREAMING.has(path)) return leanStream(req, res, path, params, record);
    if (req.method === 'GET' && QUERIES.has(path)) {
      let rawInput: unknown;
      const input = params.get('input');
      try {
        rawInput = input === null ? undefined : transformer.deserialize(JSON.parse(input));
      } catch {
        return false;
      }
      answerCall(req, res, path, 'query', () => rawInput, record);
      return true;
    }
    const length = Number(req.headers['content-length']);
    if (req.method !== 'POST' || !MUTATIONS.has(path) || !Number.isSafeInteger(length) || length > maxBodyBytes) return false;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      answerCall(
        req,
        res,
        path,
        'mutation',
        () => {
          if (text === '') return undefined;
          try {
            return transformer.deserialize(JSON.parse(text));
          } catch (cause) {
            throw new TRPCError({ code: 'BAD_REQUEST', message: 'the request body is not JSON', cause });
          }
        },
        record,
      );
    });
    return true;
  };

  const app = Fastify({
    logger: false,
    bodyLimit: maxBodyBytes,
    genReqId: (req) => requestIdOf(req.headers['x-request-id']),
    // Connections with requests in flight are answered before close resolves; idle ones are closed at once.
    forceCloseConnections: 'idle',
    // While draining, a request arriving on an open connection is still answered (then the connection closes).
    return503OnClosing: false,
  });

  const tracker: Tracker = { open: new Map(), draining: false };
  trackers.set(app, tracker);

  // Every request, whatever its route (404s, plugins' routes, hijacked ones): headers, id, one log line, metrics.
  app.addHook('onRequest', (request, reply, done) => {
    const started = process.hrtime.bigint();
    const res = reply.raw;
    if (tracker.draining) res.shouldKeepAlive = false;
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const record: RequestRecord = { id: request.id, organizationId: null, walletErrorCodes: [] };
    res.setHeader('x-request-id', record.id);
    const state: RequestState = {
      record,
      route: request.routeOptions.url && request.routeOptions.url !== '/trpc/*' ? `${request.method} ${request.routeOptions.url}` : 'not_found',
    };
    states.set(request.raw, state);
    tracker.open.set(res, state);
    res.once('close', () => {
      tracker.open.delete(res);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.statusCode;
      options.metrics?.observeRequest(state.route, status, seconds);
      logger.info(
        {
          requestId: record.id,
          method: request.method,
          procedure: state.route,
          organizationId: record.organizationId,
          status,
          walletErrorCode: record.walletErrorCodes[0] ?? null,
          durationMs: Math.round(seconds * 10_000) / 10,
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'request',
      );
    });
    done();
  });

  // tRPC reads its own body (counting bytes, stopping at the limit): Fastify leaves the stream alone here.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    scope.all('/trpc/*', (request, reply) => {
      const state = states.get(request.raw);
      const url = request.raw.url ?? '/';
      const query = url.indexOf('?');
      const pathname = query < 0 ? url : url.slice(0, query);
      if (state) state.route = procedureOf(pathname);
      const calls = pathname.split(',').length;
      if (calls > MAX_BATCH_CALLS) {
        const error = new TRPCError({
          code: 'BAD_REQUEST',
          message: `a batch carries at most ${MAX_BATCH_CALLS} calls; this one carries ${calls}`,
          cause: new WalletError('BATCH_TOO_LARGE', `at most ${MAX_BATCH_CALLS} calls per request`, { calls, limit: MAX_BATCH_CALLS }),
        });
        const ctx = createContextInner(services, null, state?.record);
        const shape = getErrorShape({ config: appRouter._def._config, error, type: 'unknown', path: undefined, input: undefined, ctx });
        // The request's body (if any) is not read: the connection closes after the answer.
        return reply
          .code(400)
          .header('connection', 'close')
          .header('content-type', 'application/json')
          .send(JSON.stringify({ error: transformer.serialize(shape) }));
      }
      reply.hijack();
      if (leanCall(request.raw, reply.raw, pathname, url, query, state?.record)) return;
      trpc(request.raw, reply.raw);
    });
  });

  app.get('/health', async (request, reply) => {
    setRouteLabel(request, 'health');
    return reply.code(200).send({ status: 'ok' });
  });
  if (options.readiness) {
    const readiness = options.readiness;
    app.get('/ready', async (request, reply) => {
      setRouteLabel(request, 'ready');
      try {
        const state = await readiness();
        return reply.code(state.ready ? 200 : 503).send(state.ready ? { status: 'ready' } : { status: 'not ready', reason: state.reason });
      } catch {
        return reply.code(503).send({ status: 'not ready', reason: 'readiness check failed' });
      }
    });
  }
  if (options.metrics) {
    const { registry } = options.metrics;
    app.get('/metrics', async (request, reply) => {
      setRouteLabel(request, 'metrics');
      const token = bearerToken(request.headers.authorization);
      if (!services.adminToken || !token || !sameSecret(token, services.adminToken)) {
        return reply.code(401).send({ error: 'GET /metrics needs Authorization: Bearer <WALLET_ADMIN_TOKEN>' });
      }
      try {
        const text = await registry.metrics();
        return reply.code(200).header('content-type', registry.contentType).send(text);
      } catch (error) {
        logger.error({ requestId: request.id, err: error }, 'metrics failed');
        return reply.code(500).send({ error: `internal error (request ${request.id})` });
      }
    });
  }

  const recordOf = (request: FastifyRequest) => states.get(request.raw)?.record;
  app.register(restPlugin, { services, recordOf, prefix: REST_PREFIX });

  // The CSV exports (exports/): a handler over Node's request and response, streamed, so the reply
  // is hijacked; every method reaches it (anything but GET and HEAD is a 405 there).
  for (const path of EXPORT_PATHS) {
    app.all(path, (request, reply) => {
      const record = recordOf(request) ?? { id: request.id, organizationId: null, walletErrorCodes: [] };
      reply.hijack();
      return serveExport(services, request.raw, reply.raw, record);
    });
  }
  app.register(restDocsPlugin, { prefix: DOCS_PREFIX });

  for (const entry of options.plugins ?? []) {
    if (typeof entry === 'function') app.register(entry);
    else app.register(entry.plugin, entry.prefix ? { prefix: entry.prefix } : {});
  }

  app.setNotFoundHandler((request, reply) => {
    const url = request.raw.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query < 0 ? url : url.slice(0, query);
    if (!pathname.startsWith('/api/') && serveStatic?.(request.raw, reply.raw)) {
      setRouteLabel(request, 'console');
      reply.hijack();
      return;
    }
    setRouteLabel(request, 'not_found');
    if (pathname.startsWith('/api/')) {
      reply.code(404).send({ status: 404, error: 'Not Found', code: 'route_not_found' });
      return;
    }
    reply.code(404).send({ error: 'not found' });
  });

  // Errors outside tRPC (a plugin's, a body too large for Fastify's parser): JSON with the status, internal ones masked.
  app.setErrorHandler((error: { statusCode?: number; message: string; code?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) {
      logger.error({ requestId: request.id, err: error }, 'internal error');
      return reply.code(status).send({ error: `internal error (request ${request.id})` });
    }
    return reply.code(status).send({ error: error.message, ...(error.code ? { code: error.code } : {}) });
  });

  return app;
}
