/**
 * Live updates: the console subscribes to the API's event stream (`events.onEvent`, SSE through
 * the typed client) and refreshes the queries an event concerns, so balances change on screen
 * without a reload. Refreshes are gathered for a moment, so a burst of events costs one refetch per
 * list. A new session starts after the newest event (`startAt: 'now'`); the last event id is kept
 * for the browser session, so a reload resumes right after it.
 */
import { type QueryClient, useQueryClient } from '@tanstack/react-query';
import { createContext, useContext, useEffect, useState } from 'react';
import { queryKeys, useClient } from './api.js';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'unavailable';

const LIVE_LABELS: Record<LiveState, string> = {
  connecting: 'Live updates: connecting…',
  live: 'Live updates: on',
  reconnecting: 'Live updates: reconnecting…',
  unavailable: 'Live updates: unavailable',
};

const LAST_EVENT_KEY = 'wallets-console.lastEventId';
const GATHER_MS = 100;

export function forgetLastEventId(): void {
  window.sessionStorage.removeItem(LAST_EVENT_KEY);
}

interface LiveEvent {
  type: string;
  data: Record<string, unknown>;
}

/** One line of the live event log (Operations): the newest events this session received. */
export interface LoggedEvent {
  id: string;
  type: string;
  createdAt: Date | null;
  data: Record<string, unknown>;
}

/** How many events the log keeps. */
export const EVENT_LOG_SIZE = 100;

export const EventLogContext = createContext<readonly LoggedEvent[]>([]);

export function useEventLog(): readonly LoggedEvent[] {
  return useContext(EventLogContext);
}

/**
 * The queries an event makes stale: the customer's wallets, a wallet's transactions (and, under
 * them, its pending purchases and balance history), a wallet's page, and the totals that sum
 * balances (the customers list, the reports).
 */
export function staleKeysOf(event: LiveEvent): (readonly unknown[])[] {
  const { data } = event;
  const totals = [queryKeys.allCustomers, queryKeys.allReports];
  if (event.type.startsWith('wallet_transaction.')) {
    return typeof data.walletId === 'string'
      ? [queryKeys.transactions(data.walletId), queryKeys.allWallets, ...totals]
      : [queryKeys.allWallets, ...totals];
  }
  if (event.type.startsWith('wallet.') && typeof data.externalCustomerId === 'string') {
    // A first wallet sets the customer's currency.
    const page = typeof data.id === 'string' ? [queryKeys.wallet(data.id)] : [];
    return [queryKeys.wallets(data.externalCustomerId), ...page, queryKeys.customer(data.externalCustomerId), ...totals];
  }
  return [queryKeys.allWallets, ...totals];
}

/** Invalidates the gathered keys, and adds the gathered events to the log, once per window. */
function gatherer(queryClient: QueryClient, onEvents: (events: LoggedEvent[]) => void) {
  const pending = new Map<string, readonly unknown[]>();
  let events: LoggedEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    timer = null;
    for (const key of pending.values()) void queryClient.invalidateQueries({ queryKey: key });
    pending.clear();
    if (events.length > 0) onEvents(events);
    events = [];
  };
  return {
    add(keys: (readonly unknown[])[], event: LoggedEvent) {
      for (const key of keys) pending.set(JSON.stringify(key), key);
      events.push(event);
      if (events.length > EVENT_LOG_SIZE) events.shift();
      timer ??= setTimeout(flush, GATHER_MS);
    },
    stop() {
      if (timer) clearTimeout(timer);
    },
  };
}

export function useLiveEvents(): { state: LiveState; events: readonly LoggedEvent[] } {
  const client = useClient();
  const queryClient = useQueryClient();
  const [state, setState] = useState<LiveState>('connecting');
  const [events, setEvents] = useState<readonly LoggedEvent[]>([]);
  // Where to resume: the session's last event id, or the start when the server does not know it.
  const [resumeAfter, setResumeAfter] = useState(() => window.sessionStorage.getItem(LAST_EVENT_KEY));

  useEffect(() => {
    const gathered = gatherer(queryClient, (received) => setEvents((log) => [...received.reverse(), ...log].slice(0, EVENT_LOG_SIZE)));
    const subscription = client.events.onEvent.subscribe(
      // A new session starts after the newest event: queries load the present, no history replay.
      resumeAfter ? { lastEventId: resumeAfter } : { startAt: 'now' },
      {
        onStarted: () => setState('live'),
        onData: (message) => {
          window.sessionStorage.setItem(LAST_EVENT_KEY, message.id);
          const event = message.data as LiveEvent & { id?: string; createdAt?: Date };
          gathered.add(staleKeysOf(event), {
            id: message.id,
            type: event.type,
            createdAt: event.createdAt instanceof Date ? event.createdAt : null,
            data: event.data,
          });
        },
        onConnectionStateChange: (connection) => {
          if (connection.state === 'pending') setState('live');
          else if (connection.state === 'connecting') setState(connection.error ? 'reconnecting' : 'connecting');
          else setState('unavailable');
        },
        onError: (error) => {
          // A remembered id the server does not know (another organization, a new database): start over.
          if (resumeAfter && (error as { data?: { walletErrorCode?: string } }).data?.walletErrorCode === 'VALIDATION_FAILED') {
            forgetLastEventId();
            setResumeAfter(null);
            return;
          }
          setState('unavailable');
        },
      },
    );
    return () => {
      subscription.unsubscribe();
      gathered.stop();
    };
  }, [client, queryClient, resumeAfter]);

  return { state, events };
}

export function LiveStatus({ state }: { state: LiveState }) {
  return (
    <p className={`live live-${state}`} role="status">
      {LIVE_LABELS[state]}
    </p>
  );
}
