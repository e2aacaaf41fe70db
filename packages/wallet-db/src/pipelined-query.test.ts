/**
 * Several statements in one round trip, against a real PostgreSQL: the rows are what a plain query
 * returns, a named statement is parsed once per connection (also when the round trip failed after
 * parsing it), an error stops the statements after it, and the connection serves on afterwards.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { openTestOrm } from '../test/helpers.js';
import { groupDbOf } from './group-mutation.js';
import type { Orm } from './orm.js';
import { type PipelinedStatement, queryPipelined } from './pipelined-query.js';

let client: pg.Client;
let parses: string[];

beforeAll(async () => {
  client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  await client.query('create temporary table pipelined (id int primary key, amount bigint not null check (amount >= 0))');
  // Every Parse message the connection sends, by statement name ('' for unnamed).
  const connection = (client as unknown as { connection: { parse(message: { name?: string }): void } }).connection;
  const parse = connection.parse.bind(connection);
  connection.parse = (message) => {
    parses.push(message.name ?? '');
    parse(message);
  };
});

afterAll(async () => {
  await client.end();
});

beforeEach(async () => {
  parses = [];
  await client.query('truncate pipelined');
});

const parsedStatements = () => (client as unknown as { connection: { parsedStatements: Record<string, string> } }).connection.parsedStatements;
const rows = async () => (await client.query('select id, amount from pipelined order by id')).rows;
const insert = (name: string | undefined, id: number, amount: bigint): PipelinedStatement => ({
  name,
  text: 'insert into pipelined (id, amount) values ($1, $2) returning id, amount',
  values: [id, amount],
});

const TYPED = {
  text: `select $1::bigint as big, $2::numeric as num, $3::timestamptz as at, $4::jsonb as doc, $5::text[] as names,
                $6::bool as yes, null::int as nothing, $7::uuid as id`,
  values: [
    12345678901234n,
    '1.00001',
    new Date('2026-06-01T10:00:00.123Z'),
    JSON.stringify({ a: [1, '2'] }),
    ['x', 'y'],
    true,
    '6f1c0c52-97a4-4c43-9a4f-1d5a7c3c2d01',
  ],
};

describe('queryPipelined', () => {
  it('answers each statement as a plain query does: the same rows, types, fields and command', async () => {
    const plain = await client.query(TYPED);
    parses = [];
    const [begin, typed, named, commit] = await queryPipelined(client, [
      { text: 'begin' },
      TYPED,
      { ...TYPED, name: 'pipelined_typed' },
      { text: 'commit' },
    ]);
    expect(begin).toMatchObject({ command: 'BEGIN', rows: [] });
    for (const result of [typed!, named!]) {
      expect(result.rows).toEqual(plain.rows);
      expect(result.fields).toEqual(plain.fields);
      expect(result.command).toBe('SELECT');
      expect(result.rowCount).toBe(1);
    }
    expect(typed!.rows[0]).toMatchObject({
      big: '12345678901234',
      num: '1.00001',
      doc: { a: [1, '2'] },
      names: ['x', 'y'],
      yes: true,
      nothing: null,
    });
    expect(typed!.rows[0].at).toBeInstanceOf(Date);
    expect(commit).toMatchObject({ command: 'COMMIT' });
    expect(parses).toEqual(['', '', 'pipelined_typed', '']);
  });

  it('parses a named statement once per connection, even used twice in one round trip', async () => {
    await queryPipelined(client, [insert('pipelined_insert', 1, 10n), insert('pipelined_insert', 2, 20n)]);
    await queryPipelined(client, [insert('pipelined_insert', 3, 30n)]);
    expect(await client.query({ name: 'pipelined_insert', text: insert(undefined, 0, 0n).text, values: [4, 40n] })).toMatchObject({ rowCount: 1 });
    expect(parses).toEqual(['pipelined_insert']);
    expect(parsedStatements().pipelined_insert).toBe(insert(undefined, 0, 0n).text);
    expect(await rows()).toEqual([1, 2, 3, 4].map((id) => ({ id, amount: String(id * 10) })));
  });

  it('an error in the first statement: the driver error, and the statements after it not run nor parsed', async () => {
    const error = await queryPipelined(client, [insert(undefined, 1, -1n), insert('pipelined_after_error', 2, 20n)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(pg.DatabaseError);
    expect(error).toMatchObject({ code: '23514', constraint: 'pipelined_amount_check' });
    expect(parsedStatements().pipelined_after_error).toBeUndefined();
    expect(await rows()).toEqual([]);
    // The statement skipped is parsed when it next runs.
    await queryPipelined(client, [insert('pipelined_after_error', 2, 20n)]);
    expect(await rows()).toEqual([{ id: 2, amount: '20' }]);
  });

  it('an error in the second statement: the first ran, COMMIT did not, ROLLBACK undoes the transaction', async () => {
    await queryPipelined(client, [{ text: 'begin' }, insert(undefined, 1, 10n)]);
    const failing = queryPipelined(client, [insert('pipelined_in_transaction', 1, 20n), { text: 'commit' }]);
    // Queued behind the round trip, as the door queues its ROLLBACK.
    const rollback = client.query('rollback');
    await expect(failing).rejects.toMatchObject({ code: '23505', constraint: 'pipelined_pkey' });
    expect(await rollback).toMatchObject({ command: 'ROLLBACK' });
    expect(await rows()).toEqual([]);
    // Parsed before its execution failed: remembered, and not parsed again (prepared statements outlive the transaction).
    expect(parsedStatements().pipelined_in_transaction).toBeDefined();
    await queryPipelined(client, [insert('pipelined_in_transaction', 5, 50n)]);
    expect(parses.filter((name) => name === 'pipelined_in_transaction')).toHaveLength(1);
    expect(await rows()).toEqual([{ id: 5, amount: '50' }]);
  });

  it('refuses a name already parsed for another text, before sending anything', async () => {
    await queryPipelined(client, [insert('pipelined_unique', 1, 10n)]);
    await expect(queryPipelined(client, [{ name: 'pipelined_unique', text: 'select 1' }])).rejects.toThrow(/Prepared statements must be unique/);
    await expect(
      queryPipelined(client, [
        { name: 'pipelined_twice', text: 'select 1' },
        { name: 'pipelined_twice', text: 'select 2' },
      ]),
    ).rejects.toThrow(/Prepared statements must be unique/);
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });
});

describe("queryPipelined on the door's connections (the ORM's pool)", () => {
  let orm: Orm;
  beforeAll(async () => {
    orm = await openTestOrm();
  });
  afterAll(async () => {
    await orm.close(true);
  });

  it('answers as a plain query on the same connection, which serves on afterwards', async () => {
    const { client: door, release } = await groupDbOf(orm).acquire();
    try {
      const plain = await door.query(TYPED);
      const [, typed] = await queryPipelined(door, [{ text: 'begin' }, TYPED]);
      await expect(queryPipelined(door, [{ text: 'select 1 / 0' }, { text: 'commit' }])).rejects.toMatchObject({ code: '22012' });
      expect(await door.query({ text: 'rollback' })).toMatchObject({ command: 'ROLLBACK' });
      expect(typed!.rows).toEqual(plain.rows);
      expect(typed!.fields).toEqual(plain.fields);
      expect((await door.query({ text: 'select 2 as two' })).rows).toEqual([{ two: 2 }]);
    } finally {
      release();
    }
  });
});
