/**
 * The outbox as an endless stream, for live subscriptions: pages of `listEvents` (so the outbox
 * reader rule holds: no event that commits late with an earlier position is ever skipped), and
 * between pages a cheap unlocked look for anything newer than the last event seen, every `pollMs`.
 * The look only decides when to read; what is yielded always comes from the locked read.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { type EventItem, findEventCursor, listEvents } from './events.js';
import { isUuid } from './repositories.js';

export interface StreamedEvent {
  id: string;
  type: EventItem['type'];
  createdAt: Date;
  data: Record<string, unknown>;
}

async function anyEventAfter(em: EntityManager, organizationId: string, lastEventId: string | null): Promise<boolean> {
  const rows: { found: boolean }[] = await em.getConnection().execute(
    `select exists (select 1 from events where organization_id = ?
                      and position > coalesce((select position from events where organization_id = ? and id = ?), 0)) as found`,
    [organizationId, organizationId, lastEventId],
  );
  return rows[0]?.found === true;
}

/** Resolves after `ms`, or at once when the signal aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Every event of the organization after `lastEventId` (from the first when null), oldest first,
 * until the signal aborts. An id the organization does not have is a validation error, raised here
 * (before streaming starts) so the caller gets it as the answer to its request.
 */
export async function openEventStream(
  em: EntityManager,
  organizationId: string,
  { lastEventId, signal, pollMs }: { lastEventId: string | null; signal: AbortSignal | undefined; pollMs: number },
): Promise<AsyncGenerator<StreamedEvent>> {
  const after = lastEventId && isUuid(lastEventId) ? await findEventCursor(em, organizationId, lastEventId) : null;
  if (lastEventId && !after) {
    throw new WalletError('VALIDATION_FAILED', 'lastEventId is not an event of this organization', {
      issues: [{ path: ['lastEventId'], message: 'unknown event id' }],
    });
  }
  return stream(em, organizationId, { after, lastId: lastEventId, signal, pollMs });
}

async function* stream(
  em: EntityManager,
  organizationId: string,
  start: { after: string | null; lastId: string | null; signal: AbortSignal | undefined; pollMs: number },
): AsyncGenerator<StreamedEvent> {
  let { after, lastId } = start;
  const { signal, pollMs } = start;
  while (!signal?.aborted) {
    const page = await listEvents(em, organizationId, { after, limit: 100 });
    for (const { cursor, ...event } of page.items) {
      if (signal?.aborted) return;
      yield event;
      after = cursor;
      lastId = event.id;
    }
    if (page.nextCursor) continue;
    while (!signal?.aborted && !(await anyEventAfter(em, organizationId, lastId))) await pause(pollMs, signal);
  }
}
