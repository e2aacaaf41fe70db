/**
 * The wallet export's stream over COPY, on a database of its own (its rows are seeded by SQL, with
 * no events, which the shared database's audits would rightly flag): records cut out of COPY's
 * binary framing whatever the chunk boundaries, and a reader that stops early ends the connection
 * instead of handing it back to the pool mid-COPY.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createMigratedDatabase, dropDatabase } from '../src/testing/index.js';
import { exportWalletTransactions } from './finance-export.js';
import { createOrganization, type Orm, openOrm } from './index.js';

const ROWS = 20_000;
/** A CRLF that ends a record: the next one starts with its id (a CRLF inside a quoted name never does here). */
const RECORD_END = /\r\n(?=[0-9a-f]{8}-)/;
let url: string;
let orm: Orm;
let db: pg.Client;
let organizationId: string;
const walletId = '6f1c1f2a-0000-4000-8000-000000000001';

beforeAll(async () => {
  url = await createMigratedDatabase(inject('serverUrl'), 'wallets_export');
  orm = await openOrm({ databaseUrl: url, poolMax: 2 });
  organizationId = (await createOrganization(orm.em.fork() as EntityManager, 'export')).organization.id;
  db = new pg.Client({ connectionString: url });
  await db.connect();
  await db.query(
    `insert into customers (id, organization_id, external_id, currency, timezone, created_at, updated_at)
     values ('6f1c1f2a-0000-4000-8000-000000000002', $1, 'c', 'JPY', 'UTC', '2026-01-01', '2026-01-01')`,
    [organizationId],
  );
  await db.query(
    `insert into wallets (id, organization_id, customer_id, code, currency, rate_amount, created_at, updated_at)
     values ($2, $1, '6f1c1f2a-0000-4000-8000-000000000002', 'w', 'JPY', 1, '2026-01-01', '2026-01-01')`,
    [organizationId, walletId],
  );
  // Names of every length from 0 to 96 bytes, some with a quote, a comma, CRLF or a character
  // outside ASCII: records of many sizes, so records and their framing fall across chunk boundaries.
  await db.query(
    `insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
       credit_amount, amount_cents, remaining_credit_amount, remaining_amount_cents, settled_at, created_at, name)
     select gen_random_uuid(), $1, $2, '6f1c1f2a-0000-4000-8000-000000000002', 'inbound', 'settled', 'granted', 'manual', i, i, i, i, t, t,
            repeat(case i % 4 when 0 then 'a' when 1 then '"' when 2 then 'é' else E'\\r\\n' end, i % 48)
       from generate_series(1, $3::int) i, lateral (select timestamptz '2026-01-01' + make_interval(secs => i / 3) as t) x`,
    [organizationId, walletId, ROWS],
  );
}, 120_000);

afterAll(async () => {
  await db?.end();
  await orm?.close();
  if (url) await dropDatabase(inject('serverUrl'), url);
});

async function exportAll(input: { from?: Date; to?: Date } = {}): Promise<string> {
  const exported = await exportWalletTransactions(orm.em.fork() as EntityManager, organizationId, { walletId, ...input });
  const chunks: Buffer[] = [];
  for await (const chunk of exported.chunks) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

describe('exportWalletTransactions over COPY', () => {
  it('yields every record, oldest first, exactly as PostgreSQL formats it', async () => {
    const text = await exportAll();
    const expected = await db.query<{ id: string; amount: string; name: string | null }>(
      `select id, amount_cents::text as amount, name from wallet_transactions where wallet_id = $1 order by created_at, id`,
      [walletId],
    );
    // Records end with CRLF outside quotes; names with CRLF inside are quoted.
    const records = text.split(RECORD_END);
    expect(records.at(-1)?.endsWith('\r\n')).toBe(true);
    expect(records).toHaveLength(ROWS);
    records.forEach((record, i) => {
      const row = expected.rows[i];
      expect(record.startsWith(`${row?.id},${walletId},JPY,`)).toBe(true);
      const name = row?.name ?? '';
      const field = /[",\r\n]/.test(name) ? `"${name.replaceAll('"', '""')}"` : name;
      expect(record).toContain(`,${row?.amount},${row?.amount},`);
      expect(record).toContain(`,${field},[],`);
    });
  });

  it('limits by (from, to] and yields nothing for an empty range', async () => {
    const from = new Date('2026-01-01T00:00:10Z');
    const to = new Date('2026-01-01T00:00:20Z');
    const text = await exportAll({ from, to });
    const { rows } = await db.query<{ n: number }>(
      'select count(*)::int as n from wallet_transactions where wallet_id = $1 and created_at > $2 and created_at <= $3',
      [walletId, from, to],
    );
    expect(text.split(RECORD_END)).toHaveLength(rows[0]?.n ?? -1);
    expect(await exportAll({ from: to, to })).toBe('');
  });

  it('ends the connection of a reader that stops early, and the pool serves what follows', async () => {
    for (let i = 0; i < 3; i++) {
      const exported = await exportWalletTransactions(orm.em.fork() as EntityManager, organizationId, { walletId });
      const first = await exported.chunks.next();
      expect(first.done).toBe(false);
      await exported.chunks.return();
    }
    // Two connections in the pool: had one gone back mid-COPY, these would fail or hang.
    for (let i = 0; i < 3; i++) expect((await exportAll()).split(RECORD_END)).toHaveLength(ROWS);
    expect(await orm.em.getConnection().execute('select 1 as n')).toEqual([{ n: 1 }]);
  });
});
