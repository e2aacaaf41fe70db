import { TRPCError } from '@trpc/server';
import { createOrganization, type EntityManager } from '@wallets/db';
import { z } from 'zod';
import { text } from '../schemas.js';
import { adminProcedure, router } from '../trpc.js';

export const adminRouter = router({
  createOrganization: adminProcedure
    .input(z.object({ name: text().trim().min(1).max(255) }))
    .mutation(({ ctx, input }) => createOrganization(ctx.services.orm.em as EntityManager, input.name)),
  runScheduledJobs: adminProcedure.input(z.object({ asOf: z.date().optional() }).default({})).mutation(async ({ ctx, input }) => {
    const jobs = ctx.services.jobs;
    if (!jobs) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'this process runs no job queue' });
    return jobs.runScheduledJobs(input.asOf ?? ctx.services.clock.now());
  }),
});
