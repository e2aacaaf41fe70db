/**
 * Hand-written SQL sent in few round trips: statements with `?` placeholders, joined into one
 * multi-statement text, with their parameters inlined as literals and sent on the transaction's own
 * connection.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';

/** One SQL statement with `?` placeholders, for code that sends several in one round trip. */
export interface SqlStatement {
  sql: string;
  params: unknown[];
}

/** Statements sent as one round trip (PostgreSQL runs them in order, in the current transaction). */
function joinStatements(statements: readonly SqlStatement[]): SqlStatement {
  return { sql: statements.map((s) => s.sql).join(';\n'), params: statements.flatMap((s) => s.params) };
}

/** A parameter as an SQL literal (strings as pg's `escapeLiteral` writes them, times as ISO text). */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') {
    const quoted = `'${value.replaceAll("'", "''")}'`;
    return value.includes('\\') ? ` E${quoted.replaceAll('\\', '\\\\')}` : quoted;
  }
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (value instanceof Date) return `'${value.toISOString()}'`;
  throw new TypeError(`no SQL literal for ${typeof value} parameters`);
}

/**
 * `?` placeholders replaced by literals, for a multi-statement round trip (the simple protocol takes
 * no parameters). The SQL of these statements is ours and has no other `?`.
 */
export function inlineParams(sql: string, params: readonly unknown[]): string {
  const parts = sql.split('?');
  if (parts.length !== params.length + 1) throw new TypeError(`${parts.length - 1} placeholders for ${params.length} parameters`);
  const out: string[] = [parts[0]!];
  for (let i = 0; i < params.length; i++) out.push(literal(params[i]), parts[i + 1]!);
  return out.join('');
}

/**
 * Runs statements as one round trip on the current transaction's own connection, without MikroORM's
 * and knex's per-query layers (query building, logging, response processing: a few tenths of a ms
 * per query, which hot paths notice; the ORM's literal escaping alone allocated 235 KB per invoice
 * application). The pg driver's type parsing is the connection's, so rows look the same. Returns
 * the rows of each statement, in order. Outside a transaction it falls back to `execute`.
 */
export async function sendStatements(em: EntityManager, statements: readonly SqlStatement[]): Promise<Record<string, unknown>[][]> {
  const { sql, params } = joinStatements(statements);
  const trx = em.getTransactionContext<{ client?: { acquireConnection?: () => Promise<unknown> } }>();
  const connection = (await trx?.client?.acquireConnection?.()) as pg.ClientBase | undefined;
  const rowsOf = (result: unknown) => (Array.isArray(result) ? result : [result]) as Record<string, unknown>[][];
  if (!connection || typeof connection.query !== 'function') return rowsOf(await em.getConnection().execute(sql, params, 'all', trx));
  const result = (await connection.query(inlineParams(sql, params))) as pg.QueryResult | pg.QueryResult[];
  return (Array.isArray(result) ? result : [result]).map((r) => r.rows);
}
