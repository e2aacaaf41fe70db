/**
 * The outbox as an endless stream, for live subscriptions: pages of `listEvents` (so the outbox
 * reader rule holds: no event that commits late with an earlier position is ever skipped). Between
 * pages a stream waits for its organization's notification (an `EventHub` fed by the process's one
 * LISTEN connection: writers notify `wallet_events` after their commit, events.ts), so an idle
 * stream costs the database nothing. Without a hub (an in-process client) it looks every `pollMs`
 * for anything newer than the last event seen. Either only decides when to read; what is yielded
 * always comes from the locked read.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import { EVENTS_LOCK_CLASS, type EventItem, encodeEventCursor, findEventCursor, listEvents } from './events.js';
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

/** Caps on open streams: past them a new stream is refused with STREAM_LIMIT_REACHED. */
export interface StreamLimits {
  perProcess: number;
  perOrganization: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { perProcess: 5_000, perOrganization: 2_000 };

/** One stream's registration with the hub: `pending` is set by a notification, cleared before each read. */
interface Subscriber {
  pending: boolean;
  wake: (() => void) | null;
}

/**
 * A process's fan-out of `wallet_events` notifications to its open streams, and the count of them.
 * Feed it with `notify(organizationId)` from the LISTEN connection and `wakeAll()` when that
 * connection comes back after a gap (notifications sent meanwhile are lost: everyone reads once).
 */
export class EventHub {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly reads = new Map<string, Promise<Awaited<ReturnType<typeof listEvents>>>>();
  private open = 0;

  constructor(public limits: StreamLimits = DEFAULT_STREAM_LIMITS) {}

  /** Open streams in this process, and of one organization. */
  openStreams(organizationId?: string): number {
    return organizationId === undefined ? this.open : (this.subscribers.get(organizationId)?.size ?? 0);
  }

  notify(organizationId: string): void {
    for (const subscriber of this.subscribers.get(organizationId) ?? []) this.mark(subscriber);
  }

  wakeAll(): void {
    for (const set of this.subscribers.values()) for (const subscriber of set) this.mark(subscriber);
  }

  private mark(subscriber: Subscriber): void {
    subscriber.pending = true;
    const wake = subscriber.wake;
    subscriber.wake = null;
    wake?.();
  }

  /** Registers a stream (refused past the caps); `release` unregisters it. */
  join(organizationId: string): { subscriber: Subscriber; release: () => void } {
    const own = this.subscribers.get(organizationId)?.size ?? 0;
    if (this.open >= this.limits.perProcess || own >= this.limits.perOrganization) {
      const perProcess = this.open >= this.limits.perProcess;
      throw new WalletError(
        'STREAM_LIMIT_REACHED',
        perProcess
          ? `this server holds ${this.limits.perProcess} open event streams, its limit; retry later or on another server`
          : `this organization holds ${this.limits.perOrganization} open event streams on this server, its limit`,
        { limit: perProcess ? this.limits.perProcess : this.limits.perOrganization, scope: perProcess ? 'process' : 'organization' },
      );
    }
    const subscriber: Subscriber = { pending: true, wake: null };
    let set = this.subscribers.get(organizationId);
    if (!set) {
      set = new Set();
      this.subscribers.set(organizationId, set);
    }
    set.add(subscriber);
    this.open++;
    let released = false;
    return {
      subscriber,
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        set.delete(subscriber);
        if (set.size === 0) this.subscribers.delete(organizationId);
        this.mark(subscriber);
      },
    };
  }

  /**
   * One page of the outbox after `after`: streams of an organization at the same position (all of
   * them, once caught up) share one read instead of each taking the outbox lock in turn.
   */
  read(em: EntityManager, organizationId: string, after: string | null): Promise<Awaited<ReturnType<typeof listEvents>>> {
    const key = `${organizationId}:${after ?? ''}`;
    let read = this.reads.get(key);
    if (!read) {
      read = listEvents(em, organizationId, { after, limit: 100 }).finally(() => this.reads.delete(key));
      this.reads.set(key, read);
    }
    return read;
  }

  /** Resolves once the subscriber has something pending (at once if it has), or the signal aborts. */
  wait(subscriber: Subscriber, signal: AbortSignal | undefined): Promise<void> {
    if (subscriber.pending || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        subscriber.wake = null;
        resolve();
      };
      subscriber.wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * The cursor of the organization's newest committed event, read under the outbox lock (so no
 * event with an earlier position can still commit after it), or null when it has none.
 */
export async function currentEventCursor(em: EntityManager, organizationId: string): Promise<string | null> {
  const rows: { position: string | null }[] = await em.fork().transactional(async (tx) => {
    await tx
      .getConnection()
      .execute('select pg_advisory_xact_lock(?, hashtext(?))', [EVENTS_LOCK_CLASS, organizationId], 'all', tx.getTransactionContext());
    return tx
      .getConnection()
      .execute('select max(position)::text as position from events where organization_id = ?', [organizationId], 'all', tx.getTransactionContext());
  });
  const position = rows[0]?.position;
  return position ? encodeEventCursor(position) : null;
}

/**
 * Every event of the organization after `lastEventId` (from the first when null, or from the
 * current position with `startAt: 'now'`), oldest first, until the signal aborts. An id the
 * organization does not have is a validation error, and past the hub's caps STREAM_LIMIT_REACHED,
 * raised here (before streaming starts) so the caller gets it as the answer to its request.
 */
export async function openEventStream(
  em: EntityManager,
  organizationId: string,
  {
    lastEventId,
    startAt = 'first',
    signal,
    pollMs,
    hub,
  }: { lastEventId: string | null; startAt?: 'first' | 'now'; signal: AbortSignal | undefined; pollMs: number; hub?: EventHub | undefined },
): Promise<AsyncGenerator<StreamedEvent>> {
  const membership = hub?.join(organizationId) ?? null;
  // Released when the stream ends, or when the request goes before the stream was ever read.
  if (membership) signal?.addEventListener('abort', membership.release, { once: true });
  try {
    let after: string | null = null;
    if (lastEventId) {
      after = isUuid(lastEventId) ? await findEventCursor(em, organizationId, lastEventId) : null;
      if (!after) {
        throw new WalletError('VALIDATION_FAILED', 'lastEventId is not an event of this organization', {
          issues: [{ path: ['lastEventId'], message: 'unknown event id' }],
        });
      }
    } else if (startAt === 'now') {
      after = await currentEventCursor(em, organizationId);
    }
    return stream(em, organizationId, { after, lastId: lastEventId, signal, pollMs, hub: hub && membership ? { hub, ...membership } : null });
  } catch (error) {
    membership?.release();
    throw error;
  }
}

async function* stream(
  em: EntityManager,
  organizationId: string,
  start: {
    after: string | null;
    lastId: string | null;
    signal: AbortSignal | undefined;
    pollMs: number;
    hub: { hub: EventHub; subscriber: Subscriber; release: () => void } | null;
  },
): AsyncGenerator<StreamedEvent> {
  let { after, lastId } = start;
  const { signal, pollMs, hub } = start;
  try {
    while (!signal?.aborted) {
      // Cleared before the read: a notification during it makes the next wait return at once.
      if (hub) hub.subscriber.pending = false;
      const page = hub ? await hub.hub.read(em, organizationId, after) : await listEvents(em, organizationId, { after, limit: 100 });
      for (const { cursor, ...event } of page.items) {
        if (signal?.aborted) return;
        yield event;
        after = cursor;
        lastId = event.id;
      }
      if (page.nextCursor) {
        if (hub) hub.subscriber.pending = true;
        continue;
      }
      if (hub) await hub.hub.wait(hub.subscriber, signal);
      else while (!signal?.aborted && !(await anyEventAfter(em, organizationId, lastId))) await pause(pollMs, signal);
    }
  } finally {
    hub?.release();
  }
}
