/**
 * `events.onEvent` over SSE through the typed client (Node 20: EventSource from the `eventsource`
 * package; the key in `connectionParams`): every event oldest first, each tracked by its id, and a
 * resume from `lastEventId` without gap or repeat. And the outbox reader rule under racing writers:
 * transactions commit events late with earlier positions (one held open on purpose while a later
 * one commits, others sleeping at random between insert and commit), and every reader, the
 * subscription and an `events.list` pager, sees every event exactly once, in position order.
 *
 * The racing writers insert with SQL of their own that follows the writers' protocol of the outbox
 * (events.ts): the shared per-organization advisory lock, taken before the insert, held to commit.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { EVENTS_CHANNEL } from '@wallets/db';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWalletClient, type RouterOutputs, type WalletClient } from '../src/client/index.js';
import { transformer } from '../src/transformer.js';
import { streamSettings } from '../src/trpc.js';
import { errorOf, type Harness, listAllEvents, startHarness } from './harness.js';
import { pollUntil } from './processes.js';

type EventItem = RouterOutputs['events']['list']['items'][number];
type Streamed = Omit<EventItem, 'cursor'>;

let h: Harness;
let db: pg.Pool;
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Pool({ connectionString: inject('databaseUrl'), max: 30 });
});
afterAll(async () => {
  await db.end();
  await h.stop();
});

/** A live subscription collecting what arrives, with waits on what it has seen. */
function subscribe(client: WalletClient, lastEventId: string | null = null, startAt?: 'first' | 'now') {
  const received: { trackedId: string; event: Streamed }[] = [];
  let failure: unknown = null;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  const subscription = client.events.onEvent.subscribe(
    { lastEventId, ...(startAt ? { startAt } : {}) },
    {
      onData: ({ id, data }) => {
        received.push({ trackedId: id, event: data });
        notify();
      },
      onError: (error) => {
        failure = error;
        notify();
      },
    },
  );
  const until = (check: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const listener = () => {
        if (failure) reject(failure);
        else if (check()) resolve();
        else return;
        listeners.delete(listener);
      };
      listeners.add(listener);
      listener();
    });
  return {
    received,
    events: () => received.map((r) => r.event),
    waitForCount: (n: number) => until(() => received.length >= n),
    failed: () => until(() => failure !== null).then(() => failure),
    stop: () => subscription.unsubscribe(),
  };
}

const ids = (events: { id: string }[]) => events.map((e) => e.id);
const withoutCursor = ({ cursor: _cursor, ...event }: EventItem): Streamed => event;

async function tenantWithWallet() {
  const t = await h.newTenant();
  await t.client.customers.upsert.mutate({ externalId: 'cus_1', currency: 'EUR' });
  const wallet = await t.client.wallets.create.mutate({ externalCustomerId: 'cus_1', rateAmount: '1', grantedCredits: '10' });
  return { ...t, wallet };
}

describe('events.onEvent', () => {
  it('streams every event through the typed client, tracked by id, and resumes after lastEventId', async () => {
    const { client, wallet } = await tenantWithWallet();
    const live = subscribe(client);
    const initial = await listAllEvents(client);
    await live.waitForCount(initial.length);
    await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '5' });
    await client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '2' });
    const afterWrites = await listAllEvents(client);
    await live.waitForCount(afterWrites.length);
    live.stop();
    expect(live.events()).toEqual(afterWrites.map(withoutCursor));
    expect(live.received.map((r) => r.trackedId)).toEqual(ids(afterWrites));

    // Events written while nobody listens arrive on resume, and nothing before them again.
    const lastSeen = afterWrites.at(-1)?.id ?? null;
    await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1' });
    await client.wallets.update.mutate({ id: wallet.id, name: 'resumed' });
    const all = await listAllEvents(client);
    const missed = all.slice(afterWrites.length);
    expect(missed.length).toBeGreaterThanOrEqual(2);
    const resumed = subscribe(client, lastSeen);
    await resumed.waitForCount(missed.length);
    await client.wallets.update.mutate({ id: wallet.id, name: 'live again' });
    const final = await listAllEvents(client);
    await resumed.waitForCount(final.length - afterWrites.length);
    resumed.stop();
    expect(resumed.events()).toEqual(final.slice(afterWrites.length).map(withoutCursor));
    expect(resumed.events().at(-1)).toMatchObject({ type: 'wallet.updated', data: { name: 'live again' } });
  });

  it("starts after the newest event with startAt: 'now', and leaves the process's count of streams when it ends", async () => {
    const { client, wallet, organizationId } = await tenantWithWallet();
    const before = await listAllEvents(client);
    expect(before.length).toBeGreaterThan(0);
    const live = subscribe(client, null, 'now');
    await pollUntil('the stream to open', async () => (h.app.events.openStreams(organizationId) === 1 ? true : undefined), 10_000, 10);
    await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '3' });
    const after = await listAllEvents(client);
    await live.waitForCount(after.length - before.length);
    expect(live.events()).toEqual(after.slice(before.length).map(withoutCursor));
    live.stop();
    await pollUntil('the stream to close', async () => (h.app.events.openStreams(organizationId) === 0 ? true : undefined), 10_000, 10);
  });

  it('closes a stream past its maximum duration; the client resumes after its last event, nothing lost or repeated', async () => {
    const { client, wallet } = await tenantWithWallet();
    const saved = streamSettings.maxDurationMs;
    streamSettings.maxDurationMs = 300;
    try {
      const live = subscribe(client);
      for (let i = 0; i < 4; i++) {
        await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1' });
        // Each write lands on a later connection than the last (the previous one has timed out).
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const all = await listAllEvents(client);
      await live.waitForCount(all.length);
      live.stop();
      expect(live.received.map((r) => r.trackedId)).toEqual(ids(all));
    } finally {
      streamSettings.maxDurationMs = saved;
    }
  });

  it('refuses an unknown lastEventId and a missing or unknown key', async () => {
    const { client } = await tenantWithWallet();
    const other = await tenantWithWallet();
    const otherEvent = (await listAllEvents(other.client))[0];
    for (const lastEventId of [randomUUID(), 'not-an-id', otherEvent?.id ?? '']) {
      const sub = subscribe(client, lastEventId);
      expect(await errorOf(sub.failed().then((e) => Promise.reject(e)))).toMatchObject({
        code: 'BAD_REQUEST',
        walletErrorCode: 'VALIDATION_FAILED',
        issues: [{ path: ['lastEventId'], message: 'unknown event id' }],
      });
      sub.stop();
    }
    for (const apiKey of ['', 'wk_unknown']) {
      const stranger = subscribe(createWalletClient({ url: h.app.url, apiKey }));
      expect(await errorOf(stranger.failed().then((e) => Promise.reject(e)))).toMatchObject({ code: 'UNAUTHORIZED' });
      expect(stranger.received).toEqual([]);
      stranger.stop();
    }
  });
});

describe('readers and racing writers', () => {
  /** One writer transaction following the outbox protocol; resolves with its position once inserted. */
  async function openWriter(organizationId: string) {
    const conn = await db.connect();
    await conn.query('begin');
    await conn.query('select pg_advisory_xact_lock_shared(7246, hashtext($1))', [organizationId]);
    const id = randomUUID();
    const { rows } = await conn.query<{ position: string }>(
      `insert into events (id, organization_id, type, data, created_at) values ($1, $2, 'wallet.updated', $3, now()) returning position::text`,
      [id, organizationId, JSON.stringify({ racing: id })],
    );
    return {
      id,
      position: BigInt(rows[0]?.position ?? '0'),
      async commit(sleepMs = 0) {
        try {
          if (sleepMs > 0) await conn.query('select pg_sleep($1)', [sleepMs / 1000]);
          await conn.query('commit');
          // Writers tell live streams after their commit (events.ts eventNotifier).
          await conn.query('select pg_notify($1, $2)', [EVENTS_CHANNEL, organizationId]);
        } finally {
          conn.release();
        }
      },
    };
  }

  /** Requests queued on the organization's outbox lock. */
  async function waitingOnOutbox(organizationId: string): Promise<number> {
    const { rows } = await db.query<{ n: string }>(
      `select count(*)::text as n from pg_locks
        where locktype = 'advisory' and not granted and classid = 7246 and objsubid = 2
          and objid::bigint = (hashtext($1)::bigint + 4294967296) % 4294967296
          and database = (select oid from pg_database where datname = current_database())`,
      [organizationId],
    );
    return Number(rows[0]?.n);
  }

  it('every reader sees every event exactly once, in position order, although commits come late', async () => {
    const { client, organizationId, wallet } = await tenantWithWallet();
    const before = await listAllEvents(client);

    // A late commit with an earlier position: A inserts first, B after it and commits first.
    const a = await openWriter(organizationId);
    const b = await openWriter(organizationId);
    expect(b.position).toBeGreaterThan(a.position);
    await b.commit();

    // Readers start now: B is committed, A (earlier) is not. They must wait for A, not skip it.
    const live = subscribe(client);
    const paged: EventItem[] = [];
    let target = Number.POSITIVE_INFINITY;
    const pager = (async () => {
      let after: string | null = null;
      while (paged.length < target) {
        const page: RouterOutputs['events']['list'] = await client.events.list.query({ after, limit: 7 });
        paged.push(...page.items);
        after = page.items.at(-1)?.cursor ?? after;
      }
    })();
    // Both readers are queued on the outbox lock behind A.
    await pollUntil('both readers to queue on the outbox lock', async () => ((await waitingOnOutbox(organizationId)) >= 2 ? true : undefined));
    expect(live.received).toEqual([]);
    expect(paged).toEqual([]);

    // More racing writers: raw ones that sleep between insert and commit, and real API calls.
    const racing = Promise.all([
      ...Array.from({ length: 12 }, async (_, i) => {
        const writer = await openWriter(organizationId);
        await writer.commit(((i * 7) % 5) * 10);
      }),
      ...Array.from({ length: 6 }, () => client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1' })),
    ]);
    await a.commit();
    await racing;

    const { rows } = await db.query<{ id: string }>('select id from events where organization_id = $1 order by position', [organizationId]);
    const expected = rows.map((row) => row.id);
    expect(expected).toHaveLength(before.length + 2 + 12 + 6 * 2);
    expect(expected.indexOf(a.id)).toBeLessThan(expected.indexOf(b.id));
    target = expected.length;
    await pager;
    await live.waitForCount(expected.length);
    live.stop();
    expect(ids(paged)).toEqual(expected);
    expect(ids(live.events())).toEqual(expected);
    expect(ids(await listAllEvents(client))).toEqual(expected);
  });

  it("is answered with the same headers and bytes as tRPC's own SSE handler: events with their ids, a resume, an error", async () => {
    const { apiKey, client, wallet } = await tenantWithWallet();
    await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '2' });
    const all = await listAllEvents(client);
    const query = (input: unknown) =>
      `/trpc/events.onEvent?input=${encodeURIComponent(JSON.stringify(transformer.serialize(input)))}&connectionParams=${encodeURIComponent(JSON.stringify({ apiKey }))}`;
    // `trpc-accept` (any value) sends a request to tRPC's handler; without it the server's own path answers.
    const both = async (path: string, frames: number, headers: Record<string, string> = {}) => {
      const [lean, trpc] = await Promise.all([
        sse(h.app.url + path, headers, frames),
        sse(h.app.url + path, { ...headers, 'trpc-accept': 'x' }, frames),
      ]);
      expect(lean).toEqual(trpc);
      return lean;
    };
    const fromFirst = await both(query({}), 1 + all.length);
    expect(fromFirst.headers).toMatchObject({
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      vary: 'trpc-accept, accept',
    });
    expect(fromFirst.frames[0]).toBe('event: connected\ndata: {}');
    expect(fromFirst.frames.slice(1).map((frame) => /\nid: (.+)$/.exec(frame)?.[1])).toEqual(ids(all));
    // A resume: the id in the query or in Last-Event-ID joins the input.
    const resumed = await both(`${query({})}&lastEventId=${all[0]!.id}`, all.length);
    expect(resumed.frames.slice(1)).toEqual(fromFirst.frames.slice(2));
    expect(await both(query({}), all.length, { 'last-event-id': all[0]!.id })).toEqual(resumed);
    // An error: the stream says so and ends.
    const failed = await both(query({ lastEventId: randomUUID() }), 10);
    expect(failed.frames).toHaveLength(2);
    expect(failed.frames[1]).toMatch(/^event: serialized-error\ndata: .*VALIDATION_FAILED/);
    expect(failed.ended).toBe(true);
  });
});

/** An SSE response's headers and its first `frames` frames (each without its closing blank lines); `ended`: the server closed it. */
function sse(
  url: string,
  headers: Record<string, string>,
  frames: number,
): Promise<{ headers: Record<string, unknown>; frames: string[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
      let text = '';
      const picked = () => ({
        headers: Object.fromEntries(
          ['content-type', 'cache-control', 'x-accel-buffering', 'vary', 'connection'].map((name) => [name, response.headers[name]]),
        ),
        frames: text.split('\n\n\n').slice(0, -1).slice(0, frames),
      });
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
        if (text.split('\n\n\n').length > frames) {
          request.destroy();
          resolve({ ...picked(), ended: false });
        }
      });
      response.on('end', () => resolve({ ...picked(), ended: true }));
    });
    request.on('error', reject);
  });
}
