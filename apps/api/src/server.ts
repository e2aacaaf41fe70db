/** The HTTP server: GET /health, tRPC at /trpc (bodies up to MAX_BODY_BYTES), and the console's built files when given their folder. */
import http from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { appRouter } from './router.js';
import { staticFiles } from './static-files.js';
import { type AppServices, bearerToken, createContextInner } from './trpc.js';

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

export function createServer(services: AppServices, options: { staticDir?: string | null; maxBodyBytes?: number } = {}): http.Server {
  const serveStatic = options.staticDir ? staticFiles(options.staticDir) : null;
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: options.maxBodyBytes ?? MAX_BODY_BYTES,
    createContext: ({ req, info }) => {
      const token = bearerToken(req.headers.authorization) ?? (info.connectionParams?.apiKey as string | undefined) ?? null;
      return createContextInner(services, token);
    },
  });
  return http.createServer((req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    const url = req.url ?? '/';
    if (url === '/health' || url.startsWith('/health?')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      return;
    }
    if (url.startsWith('/trpc/')) {
      trpc(req, res);
      return;
    }
    if (serveStatic?.(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
  });
}
