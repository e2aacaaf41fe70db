/**
 * The HTTP server: tRPC at /trpc (bodies up to MAX_BODY_BYTES), GET /health, GET /ready, GET /metrics
 * (admin token), the Lago-compatible REST API under /api/ (rest/plugin.ts), the CSV exports
 * (exports/), and the console's built files when given their folder; anything else is a 404 JSON.
 * Every response carries the security headers and an `x-request-id` (the caller's when it sent a
 * well-formed one); every request is logged once, as JSON, and counted in the metrics.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { isExportPath, serveExport } from './exports/index.js';
import type { Logger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
import type { Readiness } from './observability/readiness.js';
import { restHandler } from './rest/plugin.js';
import { appRouter } from './router.js';
import { isConsoleRoute, staticFiles } from './static-files.js';
import { type AppServices, bearerToken, createContextInner, loggerOf, type RequestRecord, sameSecret } from './trpc.js';

/**
 * Request bodies above this are refused with 413 PAYLOAD_TOO_LARGE: the adapter counts the bytes
 * as they stream in and stops at the limit, so an oversized body is never held in memory.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

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

const json = (res: http.ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

export function createServer(services: AppServices, options: ServerOptions = {}): http.Server {
  const logger: Logger = loggerOf(services);
  const serveStatic = options.staticDir ? staticFiles(options.staticDir, isConsoleRoute) : null;
  const records = new WeakMap<http.IncomingMessage, RequestRecord>();
  const rest = restHandler({ services, bodyLimit: options.maxBodyBytes ?? MAX_BODY_BYTES, recordOf: (request) => records.get(request.raw) });
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: options.maxBodyBytes ?? MAX_BODY_BYTES,
    createContext: ({ req, info }) => {
      // connectionParams travel in the URL (where proxies log them): only subscriptions, which a
      // browser's EventSource opens without headers, may carry the key there.
      const fromParams = info.type === 'subscription' ? (info.connectionParams?.apiKey as string | undefined) : undefined;
      const token = bearerToken(req.headers.authorization) ?? fromParams ?? null;
      return createContextInner(services, token, records.get(req));
    },
  });

  return http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const record: RequestRecord = { id: requestIdOf(req.headers['x-request-id']), organizationId: null, walletErrorCodes: [] };
    res.setHeader('x-request-id', record.id);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query < 0 ? url : url.slice(0, query);
    let route = 'not_found';
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.statusCode;
      options.metrics?.observeRequest(route, status, seconds);
      logger.info(
        {
          requestId: record.id,
          method: req.method,
          procedure: route,
          organizationId: record.organizationId,
          status,
          walletErrorCode: record.walletErrorCodes[0] ?? null,
          durationMs: Math.round(seconds * 10_000) / 10,
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'request',
      );
    });

    if (pathname.startsWith('/trpc/')) {
      route = procedureOf(pathname);
      records.set(req, record);
      trpc(req, res);
      return;
    }
    if (isExportPath(pathname)) {
      route = pathname.slice(1);
      void serveExport(services, req, res, record);
      return;
    }
    if (pathname === '/health') {
      route = 'health';
      json(res, 200, { status: 'ok' });
      return;
    }
    if (pathname === '/ready' && options.readiness) {
      route = 'ready';
      options.readiness().then(
        (readiness) =>
          json(res, readiness.ready ? 200 : 503, readiness.ready ? { status: 'ready' } : { status: 'not ready', reason: readiness.reason }),
        () => json(res, 503, { status: 'not ready', reason: 'readiness check failed' }),
      );
      return;
    }
    if (pathname === '/metrics' && options.metrics) {
      route = 'metrics';
      const token = bearerToken(req.headers.authorization);
      if (!services.adminToken || !token || !sameSecret(token, services.adminToken)) {
        json(res, 401, { error: 'GET /metrics needs Authorization: Bearer <WALLET_ADMIN_TOKEN>' });
        return;
      }
      const { registry } = options.metrics;
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error) => {
          logger.error({ requestId: record.id, err: error }, 'metrics failed');
          json(res, 500, { error: `internal error (request ${record.id})` });
        },
      );
      return;
    }
    if (pathname.startsWith('/api/')) {
      route = 'rest';
      records.set(req, record);
      rest(req, res);
      return;
    }
    if (serveStatic?.(req, res)) {
      route = 'console';
      return;
    }
    json(res, 404, { error: 'not found' });
  });
}
