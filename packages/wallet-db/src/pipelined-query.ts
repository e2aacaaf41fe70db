/**
 * Several parameterized statements in one round trip to PostgreSQL (the extended protocol's
 * pipelining), on a node-pg client: for each statement Parse (unless the connection already holds
 * that named statement), Bind, Describe and Execute, then ONE Sync, written in one corked write; the
 * answers are read back in order. The door uses it to send BEGIN with its load and its write with
 * COMMIT (group-mutation.ts): two round trips per mutation instead of four.
 *
 * When a statement fails, PostgreSQL skips every later message up to the Sync: the statements after
 * it do not run (in a transaction, the transaction is aborted and the caller must ROLLBACK), and the
 * promise rejects with the driver's own error (its SQLSTATE and constraint name, for db-errors.ts).
 *
 * It is a node-pg "submittable" (what `client.query(object with submit())` runs, as pg-cursor does),
 * following the driver's Query (pg/lib/query.js) message by message:
 * - rows are parsed by pg's Result with the client's type parsers (the client hands them over in
 *   `_result._types`), so they are what a plain `client.query` returns;
 * - named statements are remembered per connection in `connection.parsedStatements`, written by the
 *   client when ParseComplete arrives, from the active query's `name` and `text`: here those name the
 *   statement whose answers are being read, so a statement parsed once is never parsed again on that
 *   connection (also when a later statement of the same round trip failed: prepared statements
 *   outlive an aborted transaction);
 * - the client ends a submittable with `handleError` (it forgets it at once, so nothing more arrives
 *   for it) or with `handleReadyForQuery`; queries queued meanwhile (a ROLLBACK) wait for the
 *   ReadyForQuery that follows the Sync.
 * Each statement keeps its own text and parameters: no SQL is built from values.
 */
import pg from 'pg';

/** One statement of a round trip: a name makes it a prepared statement, parsed once per connection. */
export interface PipelinedStatement {
  name?: string | undefined;
  text: string;
  values?: readonly unknown[] | undefined;
}

/** A node-pg client (the door's connections are knex's pool clients). */
export interface PipelineClient {
  query(submittable: pg.Submittable): unknown;
}

/** The parts of pg's Connection a submittable uses (not all in @types/pg). */
interface Connection {
  stream: { cork?: () => void; uncork?: () => void };
  parsedStatements: Record<string, string>;
  parse(message: { name: string; text: string }): void;
  bind(message: { statement: string; portal: string; values: unknown[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string }): void;
  sync(): void;
}

/** pg's Result (the rows and command of one statement) and value encoding, not typed by @types/pg. */
interface ResultBuilder extends pg.QueryResult {
  _types: unknown;
  addFields(fields: unknown): void;
  parseRow(fields: unknown): pg.QueryResultRow;
  addRow(row: pg.QueryResultRow): void;
  addCommandComplete(message: unknown): void;
}
const driver = pg as unknown as {
  Result: new (rowMode: undefined, types: unknown) => ResultBuilder;
  utils: { prepareValue(value: unknown): unknown };
};

type Callback = (error: Error | null, results?: pg.QueryResult[]) => void;

/** The submittable: one round trip of statements, answered through `callback` (which the client may wrap for its query_timeout). */
class PipelinedQuery {
  /** The first statement's result; the client sets its `_types` to the client's type parsers. */
  readonly _result: ResultBuilder;
  private results: ResultBuilder[] = [];
  /** The statement whose answers are being read (ParseComplete, rows, CommandComplete arrive in order). */
  private current = 0;
  private rowError: Error | null = null;
  private finished = false;

  constructor(
    readonly statements: readonly PipelinedStatement[],
    public callback: Callback,
  ) {
    this._result = new driver.Result(undefined, undefined);
  }

  /** Read by the client on ParseComplete, to remember the statement parsed on this connection. */
  get name(): string | undefined {
    return this.statements[this.current]?.name;
  }

  get text(): string | undefined {
    return this.statements[this.current]?.text;
  }

  submit(connection: Connection): Error | null {
    let values: unknown[][];
    try {
      values = this.statements.map((statement) => (statement.values ?? []).map((value) => driver.utils.prepareValue(value)));
    } catch (error) {
      return error as Error;
    }
    const parsing = new Map<string, string>();
    for (const { name, text } of this.statements) {
      const known = name ? (parsing.get(name) ?? connection.parsedStatements[name]) : undefined;
      if (known !== undefined && known !== text)
        return new Error(`Prepared statements must be unique - '${name}' was used for a different statement`);
      if (name) parsing.set(name, text);
    }
    this.results = this.statements.map((_, i) => (i === 0 ? this._result : new driver.Result(undefined, this._result._types)));
    const parsed = new Set<string>();
    connection.stream.cork?.();
    try {
      this.statements.forEach(({ name = '', text }, i) => {
        if (!name || (!connection.parsedStatements[name] && !parsed.has(name))) connection.parse({ name, text });
        if (name) parsed.add(name);
        connection.bind({ statement: name, portal: '', values: values[i]! });
        connection.describe({ type: 'P', name: '' });
        connection.execute({ portal: '' });
      });
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(message: { fields: unknown }): void {
    this.results[this.current]!.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown }): void {
    if (this.rowError) return;
    const result = this.results[this.current]!;
    try {
      result.addRow(result.parseRow(message.fields));
    } catch (error) {
      // As the driver does: the statements run on; the round trip fails when it ends.
      this.rowError = error as Error;
    }
  }

  handleCommandComplete(message: unknown): void {
    this.results[this.current]!.addCommandComplete(message);
    this.current += 1;
  }

  handleEmptyQuery(): void {
    this.current += 1;
  }

  handleError(error: Error): void {
    this.finish(this.rowError ?? error);
  }

  handleReadyForQuery(): void {
    if (this.rowError) this.finish(this.rowError);
    else this.finish(null, this.results);
  }

  private finish(error: Error | null, results?: pg.QueryResult[]): void {
    if (this.finished) return;
    this.finished = true;
    this.callback(error, results);
  }
}

/**
 * Runs the statements in one round trip and resolves with their results, in order. Rejects with the
 * error of the first statement that failed; the ones after it did not run.
 */
export function queryPipelined(client: PipelineClient, statements: readonly PipelinedStatement[]): Promise<pg.QueryResult[]> {
  return new Promise((resolve, reject) => {
    const query = new PipelinedQuery(statements, (error, results) => (error ? reject(error) : resolve(results!)));
    // The client calls `submit` with its Connection (typed above as far as it is used here).
    client.query(query as unknown as pg.Submittable);
  });
}
