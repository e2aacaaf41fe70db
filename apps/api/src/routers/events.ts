/**
 * The outbox for sibling apps: `list` pages it, `onEvent` streams it over SSE. Each message is the
 * event `{ id, type, createdAt, data }`, tracked by its id, so a reconnecting EventSource (or a
 * caller passing `lastEventId`) resumes right after the last event it got, without gaps.
 */
import { tracked } from '@trpc/server';
import { listEvents, openEventStream, type StreamedEvent } from '@wallets/db';
import { z } from 'zod';
import { text } from '../schemas.js';
import { orgProcedure, router } from '../trpc.js';

async function* trackedEvents(events: AsyncIterable<StreamedEvent>) {
  for await (const event of events) yield tracked(event.id, event);
}

export const eventsRouter = router({
  list: orgProcedure
    .input(z.object({ after: text().max(128).nullish(), limit: z.number().int().min(1).max(100).default(20) }).default({ limit: 20 }))
    .query(({ ctx, input }) => listEvents(ctx.org.em, ctx.org.organizationId, input)),
  onEvent: orgProcedure.input(z.object({ lastEventId: text().max(64).nullish() }).default({})).subscription(async ({ ctx, input, signal }) => {
    const events = await openEventStream(ctx.org.em, ctx.org.organizationId, {
      lastEventId: input.lastEventId ?? null,
      signal,
      pollMs: ctx.services.eventPollMs ?? 500,
    });
    return trackedEvents(events);
  }),
});
