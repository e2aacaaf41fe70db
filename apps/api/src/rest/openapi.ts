/**
 * The OpenAPI 3.1 document of the REST facade, built from the route table and the same zod schemas
 * that validate the requests (wire.ts), by zod-openapi. Served at /api/v1/openapi.json.
 */
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject } from 'zod-openapi';
import { REST_ROUTES } from './routes.js';

const errorBody = z
  .object({
    status: z.number().int(),
    error: z.string(),
    code: z.string().optional(),
    error_details: z.record(z.string(), z.array(z.string())).optional(),
  })
  .meta({ id: 'ApiError', description: "Lago's error envelope" });

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad request: a missing root key, malformed JSON, a malformed Idempotency-Key, or NUL in a path or query value',
  401: 'Missing or unknown API key',
  404: 'Not found (code: customer_not_found, wallet_not_found, wallet_transaction_not_found)',
  409: 'Conflict (code: idempotency_key_reused; ours)',
  422: 'validation_errors: error_details maps each field to its error codes',
};

export function openApiDocument() {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of REST_ROUTES) {
    const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
    const responses: Record<string, ZodOpenApiResponseObject> = {
      '200': { description: 'Success', content: { 'application/json': { schema: route.response } } },
    };
    for (const status of new Set([400, 401, ...route.errors])) {
      responses[String(status)] = { description: ERROR_TEXT[status] ?? 'Error', content: { 'application/json': { schema: errorBody } } };
    }
    const operation: ZodOpenApiOperationObject = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      requestParams: {
        ...(pathParams.length > 0 ? { path: z.object(Object.fromEntries(pathParams.map((p) => [p, z.string()]))) } : {}),
        ...(route.query ? { query: route.query } : {}),
        ...(route.method === 'GET'
          ? {}
          : {
              header: z.object({
                'Idempotency-Key': z
                  .string()
                  .min(1)
                  .max(255)
                  .optional()
                  .meta({ description: 'Ours: makes the call idempotent (scope: organization + route); a replay answers the first result.' }),
              }),
            }),
      },
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: route.body } } } } : {}),
      responses,
      ...(route.extension ? { 'x-extension': 'not in Lago: ours' } : {}),
    };
    const item = (paths[route.path] ??= {});
    item[route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'] = operation;
    // Lago's server takes PATCH wherever it takes PUT; so do we.
    if (route.method === 'PUT') item.patch = { ...operation, operationId: `${route.operationId}Patch`, summary: `${route.summary} (PATCH, as PUT)` };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Wallets REST API (Lago-compatible)',
      version: '1.0.0',
      description:
        "Lago's wallet endpoints, answered by this service. Differences from Lago: initial credits are in the create answer, " +
        'Idempotency-Key makes writes idempotent, and POST /wallet_transactions/{lago_id}/payment settles a purchase. See docs/rest-api.md.',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearerAuth: [] }],
    components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An organization API key' } } },
    paths,
  });
}
