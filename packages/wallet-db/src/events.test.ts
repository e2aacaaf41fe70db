import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../test/helpers.js';
import { EVENTS_LOCK_CLASS } from './events.js';
import {
  createWallet,
  createWalletTransactions,
  type EventItem,
  listEvents,
  recordPayment,
  terminateWallet,
  updateWallet,
  upsertCustomer,
} from './index.js';
import type { Orm } from './orm.js';
import { auditLedger } from './testing/index.js';

let orm: Orm;
let pool: pg.Pool;
const now = new Date('2026-09-01T00:00:00Z');
const em = () => orm.em.fork() as EntityManager;

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

interface RawEvent {
  position: string;
  txid: string;
  id: string;
  type: string;
  data: Record<string, unknown>;
}

/** Every committed event of an organization, read directly (no visibility rule), in outbox order. */
async function rawEvents(organizationId: string, afterPosition = '0'): Promise<RawEvent[]> {
  return sql<RawEvent>(
    `select position::text, xmin::text as txid, id, type, data from events
      where organization_id = $1 and position > $2::bigint order by position`,
    [organizationId, afterPosition],
  );
}

async function pageAll(organizationId: string, after: string | null, limit: number): Promise<{ pages: EventItem[][]; last: string | null }> {
  const pages: EventItem[][] = [];
  let cursor = after;
  let last = after;
  for (let i = 0; i < 100; i++) {
    const page = await listEvents(em(), organizationId, { after: cursor, limit });
    pages.push(page.items);
    last = page.items[page.items.length - 1]?.cursor ?? last;
    if (page.nextCursor === null) return { pages, last };
    cursor = page.nextCursor;
  }
  throw new Error('paging did not end');
}

beforeAll(async () => {
  orm = await openTestOrm();
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 4 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

describe('outbox events', () => {
  it('writes each mutation’s Lago-named events in its own transaction', async () => {
    const org = await newOrganization(orm);
    let mark = '0';
    /** The events a mutation wrote: all in one database transaction, in outbox order. */
    const eventsOf = async <T>(run: () => Promise<T>) => {
      const result = await run();
      const rows = await rawEvents(org, mark);
      mark = rows.reduce((max, r) => (BigInt(r.position) > BigInt(max) ? r.position : max), mark);
      expect(new Set(rows.map((r) => r.txid)).size).toBeLessThanOrEqual(1);
      return { result, rows, types: rows.map((r) => r.type) };
    };

    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'ev', currency: 'EUR' }));
    const created = await eventsOf(() =>
      mutate(orm, org, now, (w) =>
        createWallet(w, {
          externalCustomerId: 'ev',
          rateAmount: cr('1'),
          paidCredits: cr('4'),
          grantedCredits: cr('6'),
          invoiceRequiresSuccessfulPayment: true,
        }),
      ),
    );
    const wallet = created.result;
    expect(created.types).toEqual(['wallet_transaction.created', 'wallet_transaction.created', 'wallet.created']);
    // wallet.created comes after its initial transactions and already shows the granted credits.
    expect(created.rows[2]?.data).toMatchObject({ id: wallet.id, balanceCents: 600, creditsBalance: '6', status: 'active' });
    const purchaseEvent = created.rows.find((r) => r.data.transactionStatus === 'purchased');
    expect(purchaseEvent?.data).toMatchObject({ status: 'pending', amountCents: 400, currency: 'EUR', invoiceRequiresSuccessfulPayment: true });
    const purchaseId = String(purchaseEvent?.data.id);

    // A grant and a void in one request: one event per transaction, one wallet.updated.
    const moved = await eventsOf(() =>
      mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('2'), voidedCredits: cr('1') })),
    );
    expect(moved.types).toEqual(['wallet_transaction.created', 'wallet_transaction.created', 'wallet.updated']);
    expect(moved.rows[2]?.data).toMatchObject({ balanceCents: 700 });
    // The event row and the ledger row were written by the same database transaction.
    const grantId = moved.result.transactions[0]?.id;
    const sameTx = await sql<{ same: boolean }>(
      `select e.xmin::text = t.xmin::text as same
         from events e join wallet_transactions t on t.id::text = e.data->>'id'
        where e.organization_id = $1 and t.id = $2`,
      [org, grantId],
    );
    expect(sameTx).toEqual([{ same: true }]);

    const updated = await eventsOf(() => mutate(orm, org, now, (w) => updateWallet(w, { id: wallet.id, name: 'Renamed', priority: 3 })));
    expect(updated.types).toEqual(['wallet.updated']);
    expect(updated.rows[0]?.data).toMatchObject({ name: 'Renamed', priority: 3 });

    const settled = await eventsOf(() => mutate(orm, org, now, (w) => recordPayment(w, { id: purchaseId, status: 'succeeded' })));
    expect(settled.types).toEqual(['wallet_transaction.updated', 'wallet.updated']);
    expect(settled.rows[0]?.data).toMatchObject({ id: purchaseId, status: 'settled' });
    const repeated = await eventsOf(() => mutate(orm, org, now, (w) => recordPayment(w, { id: purchaseId, status: 'succeeded' })));
    expect(repeated.types).toEqual([]);

    const clawback = await eventsOf(() => mutate(orm, org, now, (w) => recordPayment(w, { id: purchaseId, status: 'failed' })));
    expect(clawback.types).toEqual(['wallet_transaction.created', 'wallet_transaction.payment_failure', 'wallet.updated']);
    expect(clawback.rows[0]?.data).toMatchObject({ transactionStatus: 'voided', source: 'payment_failure' });

    const topUp = await eventsOf(() => mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId: wallet.id, paidCredits: cr('5') })));
    // A pending top-up moves no balance: no wallet.updated.
    expect(topUp.types).toEqual(['wallet_transaction.created']);
    const transactions = topUp.result.transactions;
    const failed = await eventsOf(() => mutate(orm, org, now, (w) => recordPayment(w, { id: transactions[0]?.id ?? '', status: 'failed' })));
    expect(failed.types).toEqual(['wallet_transaction.updated', 'wallet_transaction.payment_failure']);
    expect(failed.rows[0]?.data).toMatchObject({ status: 'failed' });

    await eventsOf(() => mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId: wallet.id, paidCredits: cr('5') })));
    const terminated = await eventsOf(() => mutate(orm, org, now, (w) => terminateWallet(w, wallet.id)));
    expect(terminated.types.filter((t) => t === 'wallet.terminated')).toHaveLength(1);
    expect(terminated.types).not.toContain('wallet.updated');
    expect(terminated.types.slice(0, 2)).toEqual(['wallet_transaction.created', 'wallet_transaction.updated']);
    expect(terminated.rows.find((r) => r.type === 'wallet.terminated')?.data).toMatchObject({ status: 'terminated', balanceCents: 0 });
    const again = await eventsOf(() => mutate(orm, org, now, (w) => terminateWallet(w, wallet.id)));
    expect(again.types).toEqual([]);
  });

  it('lists events oldest first, page by page with `after`, one organization only', async () => {
    const org = await newOrganization(orm);
    const other = await newOrganization(orm);
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'pager', currency: 'EUR' }));
    await mutate(orm, other, now, (w) => upsertCustomer(w, { externalId: 'pager', currency: 'EUR' }));
    const wallet = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'pager', rateAmount: cr('1'), grantedCredits: cr('1') }));
    await mutate(orm, other, now, (w) => createWallet(w, { externalCustomerId: 'pager', rateAmount: cr('1'), grantedCredits: cr('1') }));
    for (let i = 0; i < 3; i++) {
      await mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('1') }));
    }
    const expected = (await rawEvents(org)).map((r) => r.id);
    expect(expected).toHaveLength(8);

    expect((await listEvents(em(), org, { limit: 100 })).items.map((e) => e.id)).toEqual(expected);
    const { pages } = await pageAll(org, null, 3);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
    expect(pages.flat().map((e) => e.id)).toEqual(expected);
    expect(pages.flat()[0]).toMatchObject({ type: 'wallet_transaction.created', createdAt: expect.any(Date), data: expect.any(Object) });
    // Exactly a multiple of the limit: the last full page already says it is the end (nextCursor null).
    const exact = await pageAll(org, null, 4);
    expect(exact.pages.map((p) => p.length)).toEqual([4, 4]);
    // Resuming after the last event gives nothing new.
    expect((await listEvents(em(), org, { after: pages.flat()[7]?.cursor, limit: 10 })).items).toEqual([]);
    await expect(listEvents(em(), org, { after: 'not-a-cursor', limit: 10 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('never lets a reader miss an event that commits late with an earlier position', async () => {
    const org = await newOrganization(orm);
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'late', currency: 'EUR' }));
    const wallet = await mutate(orm, org, now, (w) => createWallet(w, { externalCustomerId: 'late', rateAmount: cr('1'), grantedCredits: cr('1') }));
    const seen = await listEvents(em(), org, { limit: 100 });
    expect(seen.items.map((e) => e.type)).toEqual(['wallet_transaction.created', 'wallet.created']);
    const cursor = seen.items[1]?.cursor ?? null;

    // A writer draws its position and writes an event the way every writer does, but does not commit yet.
    const slow = new pg.Client({ connectionString: inject('databaseUrl') });
    await slow.connect();
    const lateId = randomUUID();
    try {
      await slow.query('begin');
      await slow.query('select pg_advisory_xact_lock_shared($1, hashtext($2))', [EVENTS_LOCK_CLASS, org]);
      await slow.query(`insert into events (id, organization_id, type, data, created_at) values ($1, $2, 'wallet.updated', '{"late":true}', now())`, [
        lateId,
        org,
      ]);
      // Meanwhile a later transaction commits its own events, with later positions.
      await mutate(orm, org, now, (w) => createWalletTransactions(w, { walletId: wallet.id, grantedCredits: cr('2') }));
      const committedLater = (await rawEvents(org)).map((r) => r.type);
      expect(committedLater).toEqual(['wallet_transaction.created', 'wallet.created', 'wallet_transaction.created', 'wallet.updated']);

      // A reader now waits for the open writer instead of reading past its event.
      let settled = false;
      const reading = listEvents(em(), org, { after: cursor, limit: 100 }).finally(() => {
        settled = true;
      });
      const waiting = async () => {
        const { rows } = await pool.query<{ n: string }>(
          `select count(*)::text as n from pg_locks where locktype = 'advisory' and classid = $1 and objid = hashtext($2)::oid and not granted`,
          [EVENTS_LOCK_CLASS, org],
        );
        return rows[0]?.n === '1';
      };
      const started = Date.now();
      while (!(await waiting())) {
        if (Date.now() - started > 30_000) throw new Error('the reader never queued behind the writer');
      }
      expect(settled).toBe(false);
      await slow.query('commit');

      const delivered = await reading;
      const raw = await rawEvents(org);
      expect(raw.map((r) => r.id).slice(2)).toEqual(delivered.items.map((e) => e.id));
      expect(delivered.items[0]?.id).toBe(lateId);
      expect(delivered.items.map((e) => e.type)).toEqual(['wallet.updated', 'wallet_transaction.created', 'wallet.updated']);
      const last = delivered.items[delivered.items.length - 1]?.cursor;
      expect((await listEvents(em(), org, { after: last, limit: 100 })).items).toEqual([]);
    } finally {
      await slow.end();
    }
  });

  it('ledger audit is clean', async () => {
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
