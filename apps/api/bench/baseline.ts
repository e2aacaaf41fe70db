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
 * - the template invoice id becomes the call's invoice id (claim row, allocation, event payloads);
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

/** A statement's text cut once at every UUID and invoice id, so a call only joins the pieces. */
type Piece = string | { id: string } | { invoice: true };

export interface BaselineTemplate {
  steps: (TemplateStep & { pieces: Piece[] })[];
  invoiceId: string;
}

function cut(text: string, invoiceId: string): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  for (const match of text.matchAll(UUID_RE)) {
    pieces.push(...cutInvoice(text.slice(last, match.index), invoiceId), { id: match[0].toLowerCase() });
    last = match.index + match[0].length;
  }
  pieces.push(...cutInvoice(text.slice(last), invoiceId));
  return pieces.filter((p) => p !== '');
}

function cutInvoice(text: string, invoiceId: string): Piece[] {
  return text.split(invoiceId).flatMap((part, i) => (i === 0 ? [part] : [{ invoice: true as const }, part]));
}

export function buildTemplate(captured: CapturedStatement[], invoiceId: string): BaselineTemplate {
  const begin = captured.findIndex((s) => /^\s*begin\b/i.test(s.text));
  const commit = captured.findIndex((s, i) => i > begin && /^\s*commit\b/i.test(s.text));
  if (begin < 0 || commit < 0) throw new Error('the captured apply has no BEGIN..COMMIT');
  return {
    invoiceId,
    steps: captured.map((s, i) => ({ text: s.text, pieces: cut(s.text, invoiceId), values: s.values, inTransaction: i >= begin && i <= commit })),
  };
}

/** Rewrites one captured parameter for a new call (see the module comment). */
interface Call {
  ids: Map<string, string>;
  fresh: Map<string, string>;
  from: string;
  to: string;
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
    const text = value.replace(UUID_RE, (id) => mapId(id, call));
    return text.includes(call.from) ? text.split(call.from).join(call.to) : text;
  }
  if (Array.isArray(value)) return value.map((v) => rewrite(v, call));
  if (value && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, rewrite(v, call)]));
  }
  return value;
}

/** The template's statements for one new call: ids mapped to `ids` (template id -> caller's id), others fresh. */
export function instantiate(template: BaselineTemplate, ids: Map<string, string>, invoiceId: string): TemplateStep[] {
  const call: Call = { ids, fresh: new Map<string, string>(), from: template.invoiceId, to: invoiceId };
  return template.steps.map((step) => ({
    text: step.pieces.map((p) => (typeof p === 'string' ? p : 'id' in p ? mapId(p.id, call) : invoiceId)).join(''),
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
