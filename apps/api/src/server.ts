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

export function createServer(services: AppServices, options: { staticDir?: string | null; maxBodyBytes?: number } = {}): http.Server {
  const serveStatic = options.staticDir ? staticFiles(options.staticDir) : null;
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: options.maxBodyBytes ?? MAX_BODY_BYTES,
    createContext: ({ req, info }) => {
      // connectionParams travel in the URL (where proxies log them): only subscriptions, which a
      // browser's EventSource opens without headers, may carry the key there.
      const fromParams = info.type === 'subscription' ? (info.connectionParams?.apiKey as string | undefined) : undefined;
      const token = bearerToken(req.headers.authorization) ?? fromParams ?? null;
      return createContextInner(services, token);
    },
  });
  return http.createServer((req, res) => {
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
