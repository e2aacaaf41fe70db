/** What every command knows about its caller: the tenant, and the time it takes as now. */
export interface CommandContext {
  organizationId: string;
  now: Date;
}

/** One SQL statement with `?` placeholders, for code that sends several in one round trip. */
export interface SqlStatement {
  sql: string;
  params: unknown[];
}

/** Statements sent as one round trip (PostgreSQL runs them in order, in the current transaction). */
export function joinStatements(statements: readonly SqlStatement[]): SqlStatement {
  return { sql: statements.map((s) => s.sql).join(';\n'), params: statements.flatMap((s) => s.params) };
}
