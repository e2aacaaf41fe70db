import { TRPCError } from '@trpc/server';
import { createApiKey, createOrganization, type EntityManager } from '@wallets/db';
import { z } from 'zod';
import { apiKeyName, idInput, organizationName } from '../schemas.js';
import { adminProcedure, router } from '../trpc.js';

export const adminRouter = router({
  createOrganization: adminProcedure
    .input(z.object({ name: organizationName }))
    .mutation(({ ctx, input }) => createOrganization(ctx.services.orm.em as EntityManager, input.name, ctx.services.clock.now())),
  /** A new key for any organization (an operator replacing a lost key); the secret is shown once. */
  createApiKey: adminProcedure
    .input(z.object({ organizationId: idInput, name: apiKeyName.nullish() }))
    .mutation(({ ctx, input }) =>
      createApiKey(ctx.services.orm.em as EntityManager, input.organizationId, { name: input.name }, ctx.services.clock.now()),
    ),
  runScheduledJobs: adminProcedure.input(z.object({ asOf: z.date().optional() }).default({})).mutation(async ({ ctx, input }) => {
    const jobs = ctx.services.jobs;
    if (!jobs) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this process runs no job queue' });
    return jobs.runScheduledJobs(input.asOf ?? ctx.services.clock.now());
  }),
});
