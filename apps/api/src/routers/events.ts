import { listEvents } from '@wallets/db';
import { z } from 'zod';
import { orgProcedure, router } from '../trpc.js';

export const eventsRouter = router({
  list: orgProcedure
    .input(z.object({ after: z.string().max(128).nullish(), limit: z.number().int().min(1).max(100).default(20) }).default({ limit: 20 }))
    .query(({ ctx, input }) => listEvents(ctx.org.em, ctx.org.organizationId, input)),
});
