/** The HTTP server: GET /health, tRPC at /trpc. */
import http from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { appRouter } from './router.js';
import { type AppServices, bearerToken, createContextInner } from './trpc.js';

export function createServer(services: AppServices): http.Server {
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    createContext: ({ req, info }) => {
      const token = bearerToken(req.headers.authorization) ?? (info.connectionParams?.apiKey as string | undefined) ?? null;
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
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
  });
}
