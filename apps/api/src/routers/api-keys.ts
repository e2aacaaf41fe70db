/**
 * The calling organization's API keys (CONTRACT.md "API keys"): the secret is returned by `create`
 * only; `list` and `revoke` never show it or its hash. Rotation: create a key, deploy it, revoke
 * the old one; every server process refuses a revoked key within seconds.
 */
import { createApiKey, listApiKeys, revokeApiKey } from '@wallets/db';
import { z } from 'zod';
import { apiKeyName, idInput } from '../schemas.js';
import { forgetApiKey, orgProcedure, router } from '../trpc.js';

export const apiKeysRouter = router({
  create: orgProcedure
    .input(z.object({ name: apiKeyName.nullish() }).default({}))
    .mutation(({ ctx, input }) => createApiKey(ctx.org.em, ctx.org.organizationId, { name: input.name }, ctx.org.now)),
  list: orgProcedure.query(({ ctx }) => listApiKeys(ctx.org.em, ctx.org.organizationId)),
  revoke: orgProcedure.input(z.object({ id: idInput })).mutation(async ({ ctx, input }) => {
    const apiKey = await revokeApiKey(ctx.org.em, ctx.org.organizationId, input.id, ctx.org.now);
    forgetApiKey(ctx.services, apiKey.id);
    return apiKey;
  }),
});
