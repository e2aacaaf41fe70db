/**
 * One mutation = one database transaction: the idempotency record, the customer lock, the ledger
 * rows, the balances and the outbox events commit together or not at all.
 *
 * Idempotency: the record is inserted first with ON CONFLICT DO NOTHING. A concurrent replay blocks
 * on the unique index until the first transaction ends; then it reads the committed record and
 * returns the stored result (or IDEMPOTENCY_KEY_REUSED when the request differs). If the first
 * transaction failed, its record is gone and the replay runs as a first attempt.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import superjson from 'superjson';
import type { CommandContext } from './context.js';
import { translateDbError } from './db-errors.js';
import { EventRecorder } from './events.js';
import { type Door, type GroupDb, groupDbOf } from './group-mutation.js';
import { type MutationScope, requestHash } from './mutation-scope.js';

export { type MutationScope, requestHash } from './mutation-scope.js';

import { Ledger } from './ledger.js';
import type { SqlStatement } from './sql-statements.js';

export interface Work {
  em: EntityManager;
  ctx: CommandContext;
  events: EventRecorder;
  ledger: Ledger;
  /** A write nobody reads back in this request: sent with the outbox rows, in the last round trip before commit. */
  defer(statement: SqlStatement): void;
  /**
   * The one door (group-mutation.ts) for the commands that moved onto it, for callers without an
   * idempotency key: they run in a transaction of their own. Under a key it refuses (the answer
   * would be stored in another transaction than the one that moved the balance): such callers pass
   * `{ door }` with the key in its scope.
   */
  door: Door;
}

function refusingDb(procedure: string): GroupDb {
  return {
    eventsCommitted: () => undefined,
    acquire: () => Promise.reject(new Error(`${procedure}: a door command under an idempotency key must be given { door } with the key, not a Work`)),
  };
}

export async function runMutation<T>(em: EntityManager, scope: MutationScope, fn: (work: Work) => Promise<T>): Promise<T> {
  const ctx: CommandContext = { organizationId: scope.organizationId, now: scope.now };
  try {
    let wroteEvents = false;
    const result = await em.fork().transactional(async (tx) => {
      const key = scope.idempotencyKey;
      const hash = key ? requestHash(scope.request) : '';
      if (key) {
        const inserted: unknown[] = await tx.getConnection().execute(
          `insert into idempotency_records (id, organization_id, procedure, key, request_hash, created_at)
           values (?, ?, ?, ?, ?, now()) on conflict (organization_id, procedure, key) do nothing returning id`,
          [randomUUID(), scope.organizationId, scope.procedure, key, hash],
          'all',
          tx.getTransactionContext(),
        );
        if (inserted.length === 0) {
          const rows: { request_hash: string; response: unknown }[] = await tx
            .getConnection()
            .execute(
              'select request_hash, response from idempotency_records where organization_id = ? and procedure = ? and key = ?',
              [scope.organizationId, scope.procedure, key],
              'all',
              tx.getTransactionContext(),
            );
          const record = rows[0];
          if (!record || record.request_hash !== hash) {
            throw new WalletError('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for another request', { idempotencyKey: key });
          }
          return superjson.deserialize(record.response as never) as T;
        }
      }
      const events = new EventRecorder();
      const ledger = new Ledger(tx, ctx, events);
      const deferred: SqlStatement[] = [];
      const door: Door = {
        db: key ? refusingDb(scope.procedure) : groupDbOf(em),
        scope: { ...scope, idempotencyKey: null },
      };
      const result = await fn({ em: tx, ctx, events, ledger, defer: (statement) => deferred.push(statement), door });
      await ledger.settleOngoing();
      await tx.flush();
      if (key) {
        deferred.push({
          sql: 'update idempotency_records set response = ?::jsonb where organization_id = ? and procedure = ? and key = ?',
          params: [JSON.stringify(superjson.serialize(result)), scope.organizationId, scope.procedure, key],
        });
      }
      // Ledger writes made on detached rows (a journaled ledger) go in the same last round trip.
      wroteEvents = await events.flush(tx, scope.organizationId, scope.now, [...ledger.journalStatements(), ...deferred]);
      return result;
    });
    if (wroteEvents) groupDbOf(em).eventsCommitted(scope.organizationId);
    return result;
  } catch (error) {
    throw translateDbError(error);
  }
}
