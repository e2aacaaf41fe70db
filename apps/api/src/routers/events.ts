/**
 * The outbox for sibling apps: `list` pages it, `onEvent` streams it over SSE. Each message is the
 * event `{ id, type, createdAt, data }`, tracked by its id, so a reconnecting EventSource (or a
 * caller passing `lastEventId`) resumes right after the last event it got, without gaps; without
 * one it starts at the first event, or with `startAt: 'now'` after the newest. Idle streams wait
 * for a notification (no polling). A subscription ends with UNAUTHORIZED within seconds of its API
 * key being revoked; past the server's caps on open streams it is refused with STREAM_LIMIT_REACHED;
 * after WALLET_STREAM_MAX_SECONDS the connection closes and the client resumes from its last id.
 */
import { TRPCError, tracked } from '@trpc/server';
import { type EntityManager, listEvents, openEventStream, type StreamedEvent } from '@wallets/db';
import { z } from 'zod';
import { text } from '../schemas.js';
import { type KeyWatch, orgProcedure, router } from '../trpc.js';

/** The stream ends when the client goes or the key is revoked; the latter as UNAUTHORIZED. */
async function* trackedEvents(events: AsyncIterable<StreamedEvent>, watch: KeyWatch) {
  try {
    for await (const event of events) yield tracked(event.id, event);
  } finally {
    watch.stop();
  }
  if (watch.revoked()) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the API key of this subscription was revoked' });
}

export const eventsRouter = router({
  list: orgProcedure
    .input(z.object({ after: text().max(128).nullish(), limit: z.number().int().min(1).max(100).default(20) }).default({ limit: 20 }))
    .query(({ ctx, input }) => listEvents(ctx.org.em, ctx.org.organizationId, input)),
  onEvent: orgProcedure
    .input(z.object({ lastEventId: text().max(64).nullish(), startAt: z.enum(['first', 'now']).optional() }).default({}))
    .subscription(async ({ ctx, input, signal }) => {
      const watch = ctx.org.watchKey(signal);
      try {
        // The root EntityManager (every read forks its own): a stream holds no EntityManager of its own for hours.
        const events = await openEventStream(ctx.services.orm.em as EntityManager, ctx.org.organizationId, {
          lastEventId: input.lastEventId ?? null,
          startAt: input.startAt ?? 'first',
          signal: watch.signal,
          pollMs: ctx.services.eventPollMs ?? 500,
          hub: ctx.services.events,
        });
        return trackedEvents(events, watch);
      } catch (error) {
        watch.stop();
        throw error;
      }
    }),
});
