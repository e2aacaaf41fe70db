/**
 * The one door of a balance-moving command (DESIGN "Inside a mutation"): BEGIN, one load
 * (claims, the customer's lock, the group as records), wallet-core decides, one write (the delta,
 * the outbox events, the invoice row, the idempotent answer), COMMIT. Two round trips, on a
 * connection of the ORM's pool, without the ORM's unit of work: BEGIN goes with the load and COMMIT
 * with the write, each pair pipelined (pipelined-query.ts). After a COMMIT that wrote events,
 * live streams are told (events.ts `eventNotifier`), off the request's path.
 *
 * Idempotency: the key is claimed inside the load (insert, or wait for a concurrent first request
 * and read what it stored). A replay with the same request answers the stored result; another
 * request under the same key is IDEMPOTENCY_KEY_REUSED. A failed request rolls back its claim.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { type DraftClock, type GroupRecords, type LedgerDelta, WalletError } from '@wallets/core';
import superjson from 'superjson';
import { translateDbError } from './db-errors.js';
import { eventNotifier } from './events.js';
import {
  type CustomerKey,
  type GroupClaims,
  type LoadedGroup,
  type LotsToLoad,
  loadGroupClaimed,
  loadWalletGroups,
  type Queryable,
  type WalletScope,
} from './group-loader.js';
import { EMPTY_DELTA, type WriteExtras, writeDelta, writeDeltas } from './group-writer.js';
import { type MutationScope, requestHash } from './mutation-scope.js';
import type { Orm } from './orm.js';
import { type PipelineClient, queryPipelined } from './pipelined-query.js';

/** A connection of the door: runs statements one by one, or several in one round trip. */
export type DoorClient = Queryable & PipelineClient;

/** Connections for the door: one per mutation, back to the pool after COMMIT or ROLLBACK. */
export interface GroupDb {
  acquire(): Promise<{ client: DoorClient; release: () => void }>;
  /** Called after a COMMIT that wrote the organization's events: tells live streams (events.ts `eventNotifier`). */
  eventsCommitted(organizationId: string): void;
}

/** What a balance-moving command needs: where to run, and the request it runs for. */
export interface Door {
  db: GroupDb;
  scope: MutationScope;
  /** A job runs as of its given time (`scope.now`), kept even where the group holds later times. */
  asOf?: boolean;
}

interface KnexLike {
  client: { acquireConnection(): Promise<DoorClient>; releaseConnection(connection: DoorClient): Promise<void> };
}

const groupDbs = new WeakMap<KnexLike, GroupDb>();

/** The door's connections come from the ORM's pool (one pool per process, sized once), one GroupDb per pool. */
export function groupDbOf(orm: Orm | EntityManager): GroupDb {
  const em = 'em' in orm ? orm.em : orm;
  const knex = (em as EntityManager).getConnection().getKnex() as unknown as KnexLike;
  let db = groupDbs.get(knex);
  if (!db) {
    const acquire = async () => {
      const client = await knex.client.acquireConnection();
      return { client, release: () => void knex.client.releaseConnection(client) };
    };
    db = { acquire, eventsCommitted: eventNotifier(acquire) };
    groupDbs.set(knex, db);
  }
  return db;
}

/** What a command loads: whose group, which wallets, which entries it names, what it claims. */
export interface GroupLoad {
  customer: CustomerKey;
  scope: WalletScope;
  entryIds?: readonly string[];
  lots?: LotsToLoad;
  applyInvoice?: { invoiceId: string; hash: string };
  voidInvoice?: { invoiceId: string };
}

export type Loaded = Omit<LoadedGroup, 'replay'>;

/** What a command decided: its answer, the delta to write (none: nothing moves), the invoice row's new state. */
export interface Decision<T> {
  answer: T;
  delta?: LedgerDelta | undefined;
  invoice?: WriteExtras['invoice'];
}

const BEGIN = { text: 'begin' };
const COMMIT = { text: 'commit' };
const ROLLBACK = { text: 'rollback' };

/**
 * Runs one command through the door. `preview`: the same load (claims included) and decision, then
 * ROLLBACK instead of the write: the answer the command would give now, with no effect.
 */
export async function runGroupMutation<T>(
  door: Door,
  load: GroupLoad,
  decide: (loaded: Loaded, clock: DraftClock) => Decision<T>,
  { preview = false }: { preview?: boolean } = {},
): Promise<T> {
  const { scope } = door;
  const key = scope.idempotencyKey ?? null;
  const hash = key ? requestHash(scope.request) : '';
  const claims: GroupClaims = {
    idempotency: key ? { id: randomUUID(), procedure: scope.procedure, key, hash } : undefined,
    apply: load.applyInvoice && { id: randomUUID(), ...load.applyInvoice, now: scope.now },
    void: load.voidInvoice && { id: randomUUID(), ...load.voidInvoice, now: scope.now },
  };
  return inTransaction(
    door.db,
    scope.organizationId,
    async (tx) => {
      const loaded = await loadGroupClaimed(tx.work, scope.organizationId, load.customer, load.scope, scope.now, {
        entryIds: load.entryIds,
        lots: load.lots,
        claims,
      });
      if (loaded.replay) return { answer: replayed<T>(loaded.replay, hash, key), wroteEvents: false };
      const now = door.asOf ? scope.now : groupNow(loaded.records, scope.now);
      const decision = decide(loaded, { now, newId: randomUUID });
      const delta = decision.delta ?? EMPTY_DELTA;
      const idempotency = key ? { procedure: scope.procedure, key, response: superjson.serialize(decision.answer) } : undefined;
      if (!preview && (!isEmpty(delta) || decision.invoice || idempotency)) {
        await writeDelta(tx.last, scope.organizationId, loaded.records, delta, now, { invoice: decision.invoice, idempotency });
      }
      return { answer: decision.answer, wroteEvents: delta.events.length > 0 };
    },
    { preview },
  );
}

/** What a batch loads: wallets (each group loaded as for a command on that wallet), and which lots. */
export interface BatchLoad {
  walletIds: readonly string[];
  lots?: LotsToLoad;
}

/**
 * The door for many groups in one transaction (the batched expiry): BEGIN, one load of every
 * wallet's group (`group_load_batch`: the key claimed, the customers locked in id order),
 * wallet-core decides per group, one write of all their deltas (`group_write`), COMMIT. A customer
 * with a second wallet in the batch takes one more load and write in the same transaction (that
 * group must see what the first plan wrote). The batch's answer combines the groups' answers; it is
 * stored under the key and replayed as `runGroupMutation` replays.
 */
export async function runBatchMutation<T, R>(
  door: Door,
  load: BatchLoad,
  decide: (walletId: string, records: GroupRecords, clock: DraftClock) => Omit<Decision<T>, 'invoice'>,
  combine: (answers: T[]) => R,
): Promise<R> {
  const { scope } = door;
  const key = scope.idempotencyKey ?? null;
  const hash = key ? requestHash(scope.request) : '';
  return inTransaction(door.db, scope.organizationId, async (tx) => {
    let claim: GroupClaims['idempotency'] = key ? { id: randomUUID(), procedure: scope.procedure, key, hash } : undefined;
    const answers: T[] = [];
    let wroteEvents = false;
    for (let walletIds = load.walletIds; ; ) {
      const batch = await loadWalletGroups(tx.work, scope.organizationId, walletIds, scope.now, { idempotency: claim, lots: load.lots });
      if (batch.replay) return { answer: replayed<R>(batch.replay, hash, key), wroteEvents: false };
      claim = undefined;
      // One time for the whole transaction: the latest any of its groups asks for (see groupNow).
      let now = scope.now;
      if (!door.asOf) {
        for (const { records } of batch.groups) {
          const groupTime = groupNow(records, scope.now);
          if (groupTime > now) now = groupTime;
        }
      }
      const writes: { records: GroupRecords; delta: LedgerDelta }[] = [];
      for (const { walletId, records } of batch.groups) {
        const decision = decide(walletId, records, { now, newId: randomUUID });
        answers.push(decision.answer);
        if (decision.delta && !isEmpty(decision.delta)) writes.push({ records, delta: decision.delta });
        if (decision.delta && decision.delta.events.length > 0) wroteEvents = true;
      }
      walletIds = batch.rest;
      if (walletIds.length > 0) {
        if (writes.length > 0) await writeDeltas(tx.work, scope.organizationId, writes, now);
        continue;
      }
      const answer = combine(answers);
      const idempotency = key ? { procedure: scope.procedure, key, response: superjson.serialize(answer) } : undefined;
      if (writes.length > 0 || idempotency) await writeDeltas(tx.last, scope.organizationId, writes, now, { idempotency });
      return { answer, wroteEvents };
    }
  });
}

/**
 * The statements of a door transaction. `work` runs the work's statements, its first one (the load)
 * in one round trip with BEGIN; `last` runs the work's last statement (the write) in one round trip
 * with COMMIT. A work that writes nothing ends with COMMIT (ROLLBACK for a preview) alone.
 */
interface DoorTransaction {
  work: Queryable;
  last: Queryable;
}

/**
 * BEGIN, the work, COMMIT (ROLLBACK for a preview) on a connection of the door; ROLLBACK, and the
 * error mapped once, when it fails (also when the statement sent with COMMIT failed: PostgreSQL then
 * skipped the COMMIT and the transaction is aborted). After a COMMIT of events, live streams are told.
 */
async function inTransaction<T>(
  db: GroupDb,
  organizationId: string,
  work: (tx: DoorTransaction) => Promise<{ answer: T; wroteEvents: boolean }>,
  { preview = false }: { preview?: boolean } = {},
): Promise<T> {
  const { client, release } = await db.acquire();
  let begun = false;
  let committed = false;
  const tx: DoorTransaction = {
    work: {
      query: async (config) => {
        if (begun) return client.query(config);
        begun = true;
        return (await queryPipelined(client, [BEGIN, config]))[1]!;
      },
    },
    last: {
      query: async (config) => {
        if (preview || !begun || committed) throw new Error('the door writes last with COMMIT, once, after its load and not in a preview');
        const [result] = await queryPipelined(client, [config, COMMIT]);
        committed = true;
        return result!;
      },
    },
  };
  try {
    let done: { answer: T; wroteEvents: boolean };
    try {
      done = await work(tx);
      if (begun && !committed) await client.query(preview ? ROLLBACK : COMMIT);
    } catch (error) {
      await client.query(ROLLBACK).catch(() => undefined);
      throw error;
    }
    if (done.wroteEvents && !preview) db.eventsCommitted(organizationId);
    return done.answer;
  } catch (error) {
    throw translateDbError(error);
  } finally {
    release();
  }
}

/** What the first request under the key answered; another request under it is refused. */
function replayed<T>(replay: { requestHash: string; response: unknown }, hash: string, key: string | null): T {
  if (replay.requestHash !== hash) {
    throw new WalletError('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for another request', { idempotencyKey: key });
  }
  return superjson.deserialize(replay.response as never) as T;
}

/**
 * The time a mutation takes as now: its request's time, or, when a request that started later got
 * the customer's lock first, the latest time in the group it left, so that no entry is dated
 * before what it consumes or follows (a request waits for the lock after it took its time).
 */
function groupNow(records: GroupRecords | null, requestNow: Date): Date {
  let latest = requestNow.getTime();
  if (!records) return requestNow;
  for (const wallet of records.wallets) latest = Math.max(latest, wallet.updatedAt.getTime());
  for (const entry of [...records.lots, ...records.purchases]) {
    for (const time of [entry.createdAt, entry.settledAt, entry.failedAt, entry.clawedBackAt]) if (time) latest = Math.max(latest, time.getTime());
  }
  for (const snapshot of records.snapshots.values()) latest = Math.max(latest, snapshot.updatedAt.getTime());
  return latest === requestNow.getTime() ? requestNow : new Date(latest);
}

function isEmpty(delta: LedgerDelta): boolean {
  return (
    delta.entries.length === 0 &&
    delta.consumptions.length === 0 &&
    delta.changedEntries.length === 0 &&
    delta.newWallets.length === 0 &&
    delta.wallets.length === 0 &&
    delta.newRules.length === 0 &&
    delta.rules.length === 0 &&
    delta.customer === null &&
    delta.snapshot === null &&
    delta.events.length === 0
  );
}
