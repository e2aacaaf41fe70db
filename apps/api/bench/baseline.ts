/**
 * The baseline: the statements the real path sent for one apply, captured from the server's
 * driver, replayed through a plain `pg.Pool` with no HTTP, tRPC, zod, superjson or ORM in between.
 *
 * MikroORM inlines the parameters into the SQL text (the driver gets no parameters), so the rules
 * below apply to the text, and to parameters when there are any. Replay rules, so that each replay
 * is a new apply of the same shape:
 * - the ids of the template customer's rows (organization, customer, wallets, lots) become the
 *   caller's customer's rows, so the lock, the selects and the updates hit the caller's customer;
 * - every other UUID (the claim, the outbound transactions, the consumptions, the events) becomes
 *   a fresh UUID per call, the same one everywhere it appears in that call (JSON texts included);
 * - the template invoice id becomes the call's invoice id (claim row, allocation, event payloads),
 *   and the template customer's external id (quoted, as the lock and the claim look it up) the
 *   caller's;
 * - everything else (amounts, balances, hashes, times) is sent as captured. Updates therefore write
 *   the captured balances again: the same work for PostgreSQL, not a correct ledger, which is why
 *   the baseline runs on customers of its own.
 * Statements before BEGIN and after COMMIT (the API key lookup) go through `pool.query` (a
 * checkout each, as the server's knex pool does); BEGIN..COMMIT run on one checked-out client.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { CapturedStatement } from './protocol.js';

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

export interface TemplateStep {
  text: string;
  values: unknown[];
  inTransaction: boolean;
}

/** The template's literals a call replaces: its invoice id and its customer's quoted external id. */
export interface CallLiterals {
  invoiceId: string;
  externalId: string;
}

const quoted = (literals: CallLiterals): [string, string] => [literals.invoiceId, `'${literals.externalId}'`];

/** A statement's text cut once at every UUID and literal, so a call only joins the pieces. */
type Piece = string | { id: string } | { literal: number };

export interface BaselineTemplate {
  steps: (TemplateStep & { pieces: Piece[] })[];
  literals: CallLiterals;
}

function cut(text: string, literals: string[]): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  for (const match of text.matchAll(UUID_RE)) {
    pieces.push(...cutLiterals(text.slice(last, match.index), literals), { id: match[0].toLowerCase() });
    last = match.index + match[0].length;
  }
  pieces.push(...cutLiterals(text.slice(last), literals));
  return pieces.filter((p) => p !== '');
}

function cutLiterals(text: string, literals: string[], index = 0): Piece[] {
  if (index === literals.length) return [text];
  return text.split(literals[index]!).flatMap((part, i) => [...(i === 0 ? [] : [{ literal: index }]), ...cutLiterals(part, literals, index + 1)]);
}

export function buildTemplate(captured: CapturedStatement[], literals: CallLiterals): BaselineTemplate {
  const begin = captured.findIndex((s) => /^\s*begin\b/i.test(s.text));
  const commit = captured.findIndex((s, i) => i > begin && /^\s*commit\b/i.test(s.text));
  if (begin < 0 || commit < 0) throw new Error('the captured apply has no BEGIN..COMMIT');
  return {
    literals,
    steps: captured.map((s, i) => ({
      text: s.text,
      pieces: cut(s.text, quoted(literals)),
      values: s.values,
      inTransaction: i >= begin && i <= commit,
    })),
  };
}

/** Rewrites one captured parameter for a new call (see the module comment). */
interface Call {
  ids: Map<string, string>;
  fresh: Map<string, string>;
  from: [string, string];
  to: [string, string];
}

function mapId(id: string, call: Call): string {
  const key = id.toLowerCase();
  const known = call.ids.get(key);
  if (known) return known;
  let fresh = call.fresh.get(key);
  if (!fresh) call.fresh.set(key, (fresh = randomUUID()));
  return fresh;
}

function rewrite(value: unknown, call: Call): unknown {
  if (typeof value === 'string') {
    let text = value.replace(UUID_RE, (id) => mapId(id, call));
    for (const [i, from] of call.from.entries()) if (text.includes(from)) text = text.split(from).join(call.to[i]!);
    return text;
  }
  if (Array.isArray(value)) return value.map((v) => rewrite(v, call));
  if (value && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, rewrite(v, call)]));
  }
  return value;
}

/** The template's statements for one new call: ids mapped to `ids` (template id -> caller's id), others fresh. */
export function instantiate(template: BaselineTemplate, ids: Map<string, string>, literals: CallLiterals): TemplateStep[] {
  const call: Call = { ids, fresh: new Map<string, string>(), from: quoted(template.literals), to: quoted(literals) };
  return template.steps.map((step) => ({
    text: step.pieces.map((p) => (typeof p === 'string' ? p : 'id' in p ? mapId(p.id, call) : call.to[p.literal]!)).join(''),
    values: step.values.map((v) => rewrite(v, call)),
    inTransaction: step.inTransaction,
  }));
}

/** Runs one call's statements as the server would: a checkout per statement outside, one client for BEGIN..COMMIT. */
export async function replay(pool: pg.Pool, steps: TemplateStep[]): Promise<void> {
  let client: pg.PoolClient | null = null;
  try {
    for (const step of steps) {
      if (step.inTransaction) {
        client ??= await pool.connect();
        await client.query(step.text, step.values);
        if (/^\s*commit\b/i.test(step.text)) {
          client.release();
          client = null;
        }
      } else {
        await pool.query(step.text, step.values);
      }
    }
  } catch (error) {
    if (client) {
      await client.query('rollback').catch(() => undefined);
      client.release();
      client = null;
    }
    throw error;
  }
}
