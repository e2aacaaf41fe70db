/**
 * The REST facade as a Fastify plugin: Lago's wallet API at /api/v1 (routes.ts), its OpenAPI
 * document at /api/v1/openapi.json and a reference page at /api/docs, served from local files
 * (swagger-ui-dist; the page's script is a file, so `default-src 'self'` holds).
 *
 * Every answer is JSON with Lago's status codes: 200 on success, Lago's error envelope otherwise
 * (errors.ts). `Authorization: Bearer <apiKey>` with the same keys as tRPC. An `Idempotency-Key`
 * header makes a POST, PUT or DELETE idempotent, scoped to the organization and the route (method
 * and path template), with tRPC's rules: a replay answers the first result, the same key with
 * another request is 409 `idempotency_key_reused`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { text } from '../schemas.js';
import { type AppServices, bearerToken, loggerOf, openOrgContext, type RequestRecord } from '../trpc.js';
import { badRequest, LagoError, type MappedError, mapError, notFound } from './errors.js';
import { openApiDocument } from './openapi.js';
import { REST_ROUTES, type RestRoute } from './routes.js';

export const REST_PREFIX = '/api/v1';

export interface RestPluginOptions {
  services: AppServices;
  /** The request's record (id, organization, error codes) kept by the server for its log line. */
  recordOf?: (request: FastifyRequest) => RequestRecord | undefined;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (!value || !IDEMPOTENCY_KEY.test(value)) {
    throw new LagoError({ status: 400, error: 'BadRequest: Idempotency-Key must be 1 to 255 visible ASCII characters' });
  }
  return value;
}

const swaggerDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const DOC_FILES: Record<string, { file: string; type: string }> = {
  'swagger-ui.css': { file: path.join(swaggerDir, 'swagger-ui.css'), type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: path.join(swaggerDir, 'swagger-ui-bundle.js'), type: 'text/javascript; charset=utf-8' },
  'favicon-32x32.png': { file: path.join(swaggerDir, 'favicon-32x32.png'), type: 'image/png' },
};

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Wallets REST API (Lago-compatible)</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '${REST_PREFIX}/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;

/**
 * The API itself; register it with `{ prefix: REST_PREFIX }`. It answers its own 404s and errors
 * in Lago's envelope.
 */
export async function restPlugin(app: FastifyInstance, options: RestPluginOptions): Promise<void> {
  const { services } = options;
  const logger = loggerOf(services);
  const recordOf = (request: FastifyRequest): RequestRecord =>
    options.recordOf?.(request) ?? { id: String(request.id), organizationId: null, walletErrorCodes: [] };

  const send = (request: FastifyRequest, reply: FastifyReply, mapped: MappedError) => {
    const record = recordOf(request);
    if (mapped.walletErrorCode) record.walletErrorCodes.push(mapped.walletErrorCode);
    if (mapped.internal) logger.error({ requestId: record.id, err: mapped.internal }, 'internal error');
    return reply.code(mapped.body.status).type('application/json').send(mapped.body);
  };

  app.setErrorHandler((error, request, reply) => send(request, reply, mapError(error, recordOf(request).id)));
  app.setNotFoundHandler((request, reply) => send(request, reply, mapError(notFound('route_not_found'), recordOf(request).id)));

  let document: unknown = null;
  app.get('/openapi.json', async (_request, reply) => {
    document ??= openApiDocument();
    return reply.type('application/json').send(document);
  });

  for (const route of REST_ROUTES) register(app, route);

  function register(instance: FastifyInstance, route: RestRoute): void {
    const url = route.path.replace(/\{(\w+)\}/g, ':$1');
    // Idempotency scope: the organization and the route, method (as sent) and path template.
    const procedureOf = (method: string) => `rest:${method} ${REST_PREFIX}${route.path}`;
    instance.route({
      // Lago's server takes PATCH wherever it takes PUT.
      method: route.method === 'PUT' ? ['PUT', 'PATCH'] : route.method,
      url,
      handler: async (request, reply) => {
        const record = recordOf(request);
        try {
          const org = await openOrgContext(services, bearerToken(request.headers.authorization), record, procedureOf(request.method));
          const idempotencyKey = route.method === 'GET' ? undefined : idempotencyKeyOf(request);
          const params = request.params as Record<string, string>;
          const query = request.query as Record<string, unknown>;
          const hostile = [...Object.values(params), ...Object.values(query)].some(
            (value) => typeof value === 'string' && !text().safeParse(value).success,
          );
          if (hostile) throw badRequest('path and query values must not contain NUL characters or unpaired UTF-16 surrogates');
          const body = request.body;
          const result = await route.handle({
            org,
            params,
            query,
            body,
            door: () => org.door({ idempotencyKey, params, body: body ?? null }),
          });
          return reply.code(200).type('application/json').send(result);
        } catch (error) {
          return send(request, reply, mapError(error, record.id, route.asField));
        }
      },
    });
  }
}

export const DOCS_PREFIX = '/api/docs';

/** The reference page and its files; register it with `{ prefix: DOCS_PREFIX }`. No key needed. */
export async function restDocsPlugin(app: FastifyInstance): Promise<void> {
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(DOCS_PAGE));
  app.get('/init.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(DOCS_INIT));
  app.get<{ Params: { file: string } }>('/:file', async (request, reply) => {
    const entry = DOC_FILES[request.params.file];
    if (!entry) return reply.code(404).type('application/json').send({ status: 404, error: 'Not Found', code: 'route_not_found' });
    return reply.type(entry.type).header('cache-control', 'public, max-age=3600').send(fs.createReadStream(entry.file));
  });
}
