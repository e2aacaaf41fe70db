import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestOrm } from '../test/helpers.js';
import type { Orm } from './orm.js';
import { inlineParams, sendStatements } from './sql-statements.js';

let orm: Orm;
beforeAll(async () => {
  orm = await openTestOrm();
});
afterAll(async () => {
  await orm.close(true);
});

describe('sendStatements', () => {
  it('inlines parameters so that PostgreSQL reads back exactly what was sent', async () => {
    const strings = ["it's", 'back\\slash', "both \\' and ''", '?', '', 'ünïcødé €', '{"json": "with \\"quotes\\" and \\\\n"}', '\n\t'];
    const time = new Date('2026-11-25T12:34:56.789Z');
    const rows = await (orm.em.fork() as EntityManager).transactional((em) =>
      sendStatements(em, [
        ...strings.map((text) => ({ sql: 'select ?::text as value', params: [text] })),
        {
          sql: 'select ?::bigint as big, ?::int as n, ?::boolean as yes, ?::text as nothing, ?::timestamptz as at',
          params: [2n ** 62n, -7, true, null, time],
        },
      ]),
    );
    expect(rows.slice(0, strings.length).map((r) => r[0]?.value)).toEqual(strings);
    // Times come back as the ORM's connection parses them (text, hydrated later): the same instant.
    const [row] = rows[strings.length]!;
    expect({ ...row, at: new Date(String(row?.at)) }).toEqual({ big: String(2n ** 62n), n: -7, yes: true, nothing: null, at: time });
  });

  it('refuses a parameter count that does not match the placeholders, and values it cannot write', () => {
    expect(() => inlineParams('select ?, ?', [1])).toThrow('2 placeholders for 1 parameters');
    expect(() => inlineParams('select ?', [{ a: 1 }])).toThrow('no SQL literal for object parameters');
    expect(() => inlineParams('select ?', [Number.NaN])).toThrow('no SQL literal');
  });
});
