/**
 * Webhook endpoints of the calling organization (CONTRACT.md "Events"). The signing secret is
 * returned by `createEndpoint` only; `list` and `deliveries` never show it. A URL pointing inside
 * (see webhook-targets.ts) is WEBHOOK_URL_NOT_ALLOWED; at most WEBHOOK_ENDPOINT_LIMIT live
 * endpoints per organization. `format: 'lago'` makes its deliveries Lago's (rest/lago-webhooks.ts).
 */
import { WalletError } from '@wallets/core';
import { createWebhookEndpoint, deleteWebhookEndpoint, listWebhookDeliveries, listWebhookEndpoints } from '@wallets/db';
import { z } from 'zod';
import { idInput, text } from '../schemas.js';
import { orgProcedure, router } from '../trpc.js';
import { webhookUrlRefusal } from '../webhook-targets.js';

const endpointUrl = text()
  .max(2048)
  .pipe(z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }));

export const webhooksRouter = router({
  createEndpoint: orgProcedure.input(z.object({ url: endpointUrl, format: z.enum(['standard', 'lago']).optional() })).mutation(({ ctx, input }) => {
    const reason = webhookUrlRefusal(input.url, ctx.services.webhookAllowedNetworks ?? []);
    if (reason) throw new WalletError('WEBHOOK_URL_NOT_ALLOWED', `url is not allowed: ${reason}`, { field: 'url', reason });
    const secrets = ctx.services.secrets;
    return createWebhookEndpoint(
      ctx.org.em,
      ctx.org.organizationId,
      input.url,
      ctx.org.now,
      secrets ? (secret) => secrets.seal(secret) : undefined,
      input.format ?? 'standard',
    );
  }),
  list: orgProcedure.query(({ ctx }) => listWebhookEndpoints(ctx.org.em, ctx.org.organizationId)),
  delete: orgProcedure
    .input(z.object({ id: idInput }))
    .mutation(({ ctx, input }) => deleteWebhookEndpoint(ctx.org.em, ctx.org.organizationId, input.id, ctx.org.now)),
  deliveries: orgProcedure
    .input(z.object({ endpointId: idInput, cursor: text().max(128).nullish(), limit: z.number().int().min(1).max(100).default(20) }))
    .query(({ ctx, input }) => listWebhookDeliveries(ctx.org.em, ctx.org.organizationId, input)),
});
