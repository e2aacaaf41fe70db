/**
 * The ledger recorder's eyes: what each step wrote, read with plain SQL of its own (no ORM entity,
 * no code under test), normalised so that two runs of the same seed give the same text.
 *
 * - Changes are found by AFTER triggers that the recorder installs in its own throw-away database
 *   (`recorder_changes`: table and key of every inserted, updated or deleted row); per step the
 *   recorder reads those rows with an explicit column list (a column added later does not change
 *   the recording) and writes per row either `+` (new, every column), `~` (changed, only the
 *   columns that differ from the row as last recorded) or `-` (deleted). A write that changes
 *   nothing records nothing.
 * - Ids: every UUID, wherever it appears (keys, references, answers, event payloads, strings that
 *   embed one), becomes a label in order of first appearance: C customers, W wallets, T wallet
 *   transactions, R recurring rules, O organizations, U anything else. Rows nobody references are
 *   keyed by their natural key instead (consumptions by their lot pair, usage snapshots by customer
 *   and currency, invoice applications by invoice id, idempotency records by procedure and key,
 *   events by their ordinal in the organization).
 * - Size: an event's payload after the first one of its wallet or transaction is recorded as what
 *   changed since that object's previous event (`data~`); a wallet or transaction in an answer, after
 *   its first answer, as what changed since its previous answer (`~`); an idempotency record's stored
 *   answer, when it is the step's answer, as "(the answer)".
 * - Times: every recorded time comes from the injected clock; columns the database fills with
 *   now() (idempotency_records.created_at) and random or hashed values (ids of unreferenced rows,
 *   request hashes, api keys) are left out. Bookkeeping rows of the job queue (`jobs.*` idempotency
 *   records, graphile_worker) are left out: what the jobs did is in the ledger rows and events.
 * - Values: numerics and bigints as exact text, times as ISO 8601 UTC, jsonb with sorted keys.
 */
import type pg from 'pg';

type Kind = 'text' | 'num' | 'time' | 'json' | 'plain' | 'ref';

interface TableSpec {
  table: string;
  /** Column the change triggers log (the primary key). */
  pk: string;
  /** Label prefix when the primary key is a labelled UUID; null when rows are keyed by `naturalKey`. */
  prefix: string | null;
  /** Columns recorded, with how they are read. */
  columns: [string, Kind][];
  /** Natural key of an unlabelled row (from its normalised columns). */
  naturalKey?: (row: Record<string, unknown>) => string;
  /** Rows left out of the recording. */
  skip?: (row: Record<string, unknown>) => boolean;
  /** Columns read for the key or the filter but not recorded. */
  hidden?: string[];
}

/** The tables the ledger writes, in the order a step's rows are listed. */
export const TABLES: TableSpec[] = [
  {
    table: 'customers',
    pk: 'id',
    prefix: 'C',
    columns: [
      ['external_id', 'text'],
      ['currency', 'text'],
      ['timezone', 'text'],
      ['created_at', 'time'],
      ['updated_at', 'time'],
    ],
  },
  {
    table: 'wallets',
    pk: 'id',
    prefix: 'W',
    columns: [
      ['customer_id', 'ref'],
      ['name', 'text'],
      ['code', 'text'],
      ['status', 'text'],
      ['currency', 'text'],
      ['rate_amount', 'num'],
      ['priority', 'plain'],
      ['balance_cents', 'num'],
      ['credits_balance', 'num'],
      ['ongoing_balance_cents', 'num'],
      ['credits_ongoing_balance', 'num'],
      ['ongoing_usage_balance_cents', 'num'],
      ['credits_ongoing_usage_balance', 'num'],
      ['consumed_credits', 'num'],
      ['consumed_amount_cents', 'num'],
      ['depleted_ongoing_balance', 'plain'],
      ['expiration_at', 'time'],
      ['terminated_at', 'time'],
      ['invoice_requires_successful_payment', 'plain'],
      ['paid_top_up_min_amount_cents', 'num'],
      ['paid_top_up_max_amount_cents', 'num'],
      ['applies_to_fee_types', 'plain'],
      ['applies_to_billable_metric_codes', 'plain'],
      ['created_at', 'time'],
      ['updated_at', 'time'],
    ],
  },
  {
    table: 'recurring_transaction_rules',
    pk: 'id',
    prefix: 'R',
    columns: [
      ['wallet_id', 'ref'],
      ['status', 'text'],
      ['trigger', 'text'],
      ['interval', 'text'],
      ['method', 'text'],
      ['paid_credits', 'num'],
      ['granted_credits', 'num'],
      ['threshold_credits', 'num'],
      ['target_ongoing_balance', 'num'],
      ['grants_target_top_up', 'plain'],
      ['ignore_paid_top_up_limits', 'plain'],
      ['invoice_requires_successful_payment', 'plain'],
      ['started_at', 'time'],
      ['expiration_at', 'time'],
      ['transaction_metadata', 'json'],
      ['transaction_name', 'text'],
      ['terminated_at', 'time'],
      ['created_at', 'time'],
    ],
  },
  {
    table: 'wallet_transactions',
    pk: 'id',
    prefix: 'T',
    columns: [
      ['wallet_id', 'ref'],
      ['customer_id', 'ref'],
      ['transaction_type', 'text'],
      ['status', 'text'],
      ['transaction_status', 'text'],
      ['source', 'text'],
      ['credit_amount', 'num'],
      ['amount_cents', 'num'],
      ['remaining_credit_amount', 'num'],
      ['remaining_amount_cents', 'num'],
      ['priority', 'plain'],
      ['expiration_at', 'time'],
      ['name', 'text'],
      ['metadata', 'json'],
      ['invoice_id', 'text'],
      ['voided_invoice_id', 'text'],
      ['voided_transaction_id', 'ref'],
      ['invoice_requires_successful_payment', 'plain'],
      ['settled_at', 'time'],
      ['failed_at', 'time'],
      ['clawed_back_at', 'time'],
      ['created_at', 'time'],
    ],
  },
  {
    table: 'wallet_transaction_consumptions',
    pk: 'id',
    prefix: null,
    columns: [
      ['inbound_wallet_transaction_id', 'ref'],
      ['outbound_wallet_transaction_id', 'ref'],
      ['credit_amount', 'num'],
      ['amount_cents', 'num'],
      ['created_at', 'time'],
    ],
    naturalKey: (row) => `${row.inbound_wallet_transaction_id}>${row.outbound_wallet_transaction_id}`,
  },
  {
    table: 'usage_snapshots',
    pk: 'id',
    prefix: null,
    columns: [
      ['customer_id', 'ref'],
      ['currency', 'text'],
      ['as_of', 'time'],
      ['fees', 'json'],
      ['draft_invoices', 'json'],
      ['billed_fees', 'json'],
      ['updated_at', 'time'],
    ],
    naturalKey: (row) => `${row.customer_id}/${row.currency}`,
  },
  {
    table: 'invoice_applications',
    pk: 'id',
    prefix: null,
    columns: [
      ['invoice_id', 'text'],
      ['customer_id', 'ref'],
      ['status', 'text'],
      ['allocation', 'json'],
      ['voided_at', 'time'],
      ['created_at', 'time'],
    ],
    naturalKey: (row) => String(row.invoice_id),
  },
  {
    table: 'events',
    pk: 'position',
    prefix: null,
    columns: [
      ['type', 'text'],
      ['data', 'json'],
      ['created_at', 'time'],
    ],
  },
  {
    table: 'idempotency_records',
    pk: 'id',
    prefix: null,
    columns: [
      ['procedure', 'text'],
      ['key', 'text'],
      ['response', 'json'],
    ],
    naturalKey: (row) => `${row.procedure}:${row.key}`,
    skip: (row) => String(row.procedure).startsWith('jobs.'),
  },
];

const SPEC_BY_TABLE = new Map(TABLES.map((spec) => [spec.table, spec]));

function selectList(spec: TableSpec): string {
  const parts = [`${spec.pk}::text as "__key"`];
  for (const [column, kind] of spec.columns) {
    const c = `"${column}"`;
    if (kind === 'num') parts.push(`${c}::text as ${c}`);
    else if (kind === 'time') parts.push(`to_char(${c} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as ${c}`);
    else if (kind === 'json') parts.push(`${c}::text as ${c}`);
    else if (kind === 'ref') parts.push(`${c}::text as ${c}`);
    else parts.push(c);
  }
  return parts.join(', ');
}

/** Takes the change log and reads, per logged key, the row as it is now (row null: deleted). */
const CAPTURE_SQL = `with taken as (delete from recorder_changes returning table_name, row_key),
  logged as (select distinct table_name, row_key from taken)
${TABLES.map(
  (spec) => `select k.table_name, k.row_key, to_jsonb(r) as row from logged k
  left join lateral (select ${selectList(spec)} from "${spec.table}" t where t.${spec.pk} = k.row_key::${spec.pk === 'position' ? 'bigint' : 'uuid'}) r on true
  where k.table_name = '${spec.table}'`,
).join('\nunion all\n')}`;

/** Installs the change log in the recorder's own database (never in a shared one). */
export async function installChangeLog(db: pg.Pool): Promise<void> {
  await db.query(`create table if not exists recorder_changes (seq bigserial primary key, table_name text not null, row_key text not null)`);
  await db.query(`create or replace function recorder_log() returns trigger language plpgsql as $$
begin
  insert into recorder_changes (table_name, row_key) values (tg_table_name, coalesce(to_jsonb(new), to_jsonb(old)) ->> tg_argv[0]);
  return null;
end $$`);
  for (const spec of TABLES) {
    await db.query(`drop trigger if exists recorder_log on "${spec.table}"`);
    await db.query(
      `create trigger recorder_log after insert or update or delete on "${spec.table}" for each row execute function recorder_log('${spec.pk}')`,
    );
  }
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

export type Row = Record<string, unknown>;
/** One recorded row change: table, op, key, columns (all for `+`, the changed ones for `~`). */
export type RowChange = [string, '+' | '~' | '-', string, Row?];

function canonical(value: unknown, label: (uuid: string) => string): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.replace(UUID, (uuid) => label(uuid.toLowerCase()));
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => canonical(item, label));
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, canonical(v, label)]));
  }
  return value;
}

/** Orders labels naturally (W2 before W10). */
export function compareLabels(a: string, b: string): number {
  const pa = /^([A-Za-z#]*)(\d+)$/.exec(a);
  const pb = /^([A-Za-z#]*)(\d+)$/.exec(b);
  if (pa && pb && pa[1] === pb[1]) return Number(pa[2]) - Number(pb[2]);
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface StepRecord {
  rows: RowChange[];
}

export class LedgerRecorder {
  private readonly labels = new Map<string, string>();
  private readonly ids = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  /** uuid -> label prefix, for ids seen as primary keys of labelled tables. */
  private readonly kinds = new Map<string, string>();
  /** table -> key -> the row as last recorded (normalised). */
  readonly state = new Map<string, Map<string, Row>>();
  /** The last recorded payload per event object (`wallet:W1`, `wallet_transaction:T3`). */
  private readonly lastEventData = new Map<string, Record<string, unknown>>();
  /** The last recorded answer per object (`wallet:W1`, `wallet_transaction:T3`). */
  private readonly lastAnswerData = new Map<string, Record<string, unknown>>();
  /** events position -> ordinal label. */
  private readonly eventOrdinals = new Map<string, string>();
  /** table -> db key -> recording key (for rows keyed naturally). */
  private readonly rowKeys = new Map<string, Map<string, string>>();

  constructor(private readonly db: pg.Pool) {
    for (const spec of TABLES) {
      this.state.set(spec.table, new Map());
      this.rowKeys.set(spec.table, new Map());
    }
  }

  /** The label of a UUID, assigned now if it is new. */
  label = (uuid: string): string => {
    const id = uuid.toLowerCase();
    const known = this.labels.get(id);
    if (known) return known;
    const prefix = this.kinds.get(id) ?? 'U';
    const n = (this.counters.get(prefix) ?? 0) + 1;
    this.counters.set(prefix, n);
    const label = `${prefix}${n}`;
    this.labels.set(id, label);
    this.ids.set(label, id);
    return label;
  };

  /** The UUID behind a label. */
  idOf(label: string): string {
    const id = this.ids.get(label);
    if (!id) throw new Error(`no id has the label ${label}`);
    return id;
  }

  hasLabel(uuid: string): boolean {
    return this.labels.has(uuid.toLowerCase());
  }

  /** Any value with UUIDs replaced by labels, Dates as ISO text, bigints as text, keys sorted. */
  normalise(value: unknown): unknown {
    return canonical(value, this.label);
  }

  /**
   * An event's payload is the wallet or transaction as it was then; after the first event of an
   * object, only what changed since its previous event is recorded (`data~`; a key gone: null).
   */
  private compactEvent(event: Row): Row {
    const data = event.data as Record<string, unknown>;
    const key = `${String(event.type).split('.')[0]}:${String(data.id)}`;
    const before = this.lastEventData.get(key);
    this.lastEventData.set(key, data);
    if (!before) return event;
    const delta: Record<string, unknown> = {};
    for (const field of new Set([...Object.keys(before), ...Object.keys(data)])) {
      if (JSON.stringify(before[field]) !== JSON.stringify(data[field])) delta[field] = data[field] ?? null;
    }
    const { data: _data, ...rest } = event;
    return { ...rest, 'data~': delta };
  }

  /**
   * A wallet or transaction in an answer, after the first answer that showed it, is recorded as
   * `{ id, "~": { what changed since that object's previous answer } }` (answers and events are
   * compacted apart, so a change in one never shows in the other).
   */
  private compactAnswer(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((item) => this.compactAnswer(item));
    if (!value || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    const kind = 'transactionType' in object ? 'wallet_transaction' : 'balanceCents' in object ? 'wallet' : null;
    if (!kind || typeof object.id !== 'string') return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, this.compactAnswer(v)]));
    const key = `${kind}:${object.id}`;
    const before = this.lastAnswerData.get(key);
    this.lastAnswerData.set(key, object);
    if (!before) return object;
    const delta: Record<string, unknown> = {};
    for (const field of new Set([...Object.keys(before), ...Object.keys(object)])) {
      if (JSON.stringify(before[field]) !== JSON.stringify(object[field])) delta[field] = object[field] ?? null;
    }
    return { id: object.id, '~': delta };
  }

  /** Discards what was logged so far (the organization's creation, before step 1). */
  async reset(): Promise<void> {
    await this.db.query('delete from recorder_changes');
  }

  /**
   * Reads the rows written since the last call. `labelFirst` is normalised first (the call's
   * answer), so ids take their labels in order of appearance: answer, events, then rows.
   * `eventOrder` may reorder the step's events (stable) before they are labelled.
   */
  async capture(labelFirst: unknown, eventOrder?: (a: Row, b: Row) => number): Promise<{ answer: unknown; rows: RowChange[] }> {
    // One round trip: take the change log and read every row it names, as it is now (null: deleted).
    const { rows: changed } = await this.db.query<{ table_name: string; row_key: string; row: Row | null }>(CAPTURE_SQL);
    const fetched = new Map<string, Map<string, Row>>();
    for (const { table_name, row_key, row } of changed) {
      const spec = SPEC_BY_TABLE.get(table_name)!;
      let byKey = fetched.get(table_name);
      if (!byKey) fetched.set(table_name, (byKey = new Map()));
      byKey.set(row_key, row ?? { __deleted: true });
      if (spec.prefix && !this.kinds.has(row_key)) this.kinds.set(row_key, spec.prefix);
    }
    const parse = (spec: TableSpec, raw: Row): Row => {
      const row: Row = {};
      for (const [column, kind] of spec.columns) {
        const value = raw[column];
        row[column] = kind === 'json' && typeof value === 'string' ? JSON.parse(value) : value;
      }
      return row;
    };

    const answer = this.normalise(labelFirst);

    // Events: new ones in position order (or the step's canonical order), labelled before other rows.
    const out: RowChange[] = [];
    const eventSpec = SPEC_BY_TABLE.get('events')!;
    const newEvents = [...(fetched.get('events') ?? new Map<string, Row>()).entries()]
      .filter(([position]) => !this.eventOrdinals.has(position))
      .sort(([a], [b]) => Number(BigInt(a) - BigInt(b)))
      .map(([position, raw]) => ({ position, row: parse(eventSpec, raw) }));
    if (eventOrder) newEvents.sort((a, b) => eventOrder(a.row, b.row));
    for (const { position, row } of newEvents) {
      const ordinal = `#${this.eventOrdinals.size + 1}`;
      this.eventOrdinals.set(position, ordinal);
      const normalised = this.normalise(row) as Row;
      this.state.get('events')!.set(ordinal, normalised);
      out.push(['events', '+', ordinal, this.compactEvent(normalised)]);
    }

    // An idempotency record's stored answer is the step's answer: said once.
    const sameAsAnswer = (row: Row) => {
      const response = row.response as { json?: unknown } | null;
      if (response && JSON.stringify(this.normalise(response.json)) === JSON.stringify(answer)) row.response = { ...response, json: '(the answer)' };
      return row;
    };

    const tableRows: RowChange[] = [];
    for (const spec of TABLES) {
      if (spec.table === 'events') continue;
      const byKey = fetched.get(spec.table);
      if (!byKey) continue;
      const previous = this.state.get(spec.table)!;
      const keyMap = this.rowKeys.get(spec.table)!;
      // Rows whose key is not labelled yet are labelled in the order of their content (their key masked).
      const entries = [...byKey.entries()].map(([dbKey, raw]) => ({ dbKey, raw }));
      const masked = (entry: { dbKey: string; raw: Row }) =>
        JSON.stringify(canonical(entry.raw.__deleted ? {} : parse(spec, entry.raw), (uuid) => this.labels.get(uuid.toLowerCase()) ?? '?'));
      entries.sort((a, b) => {
        const ka = spec.prefix && this.hasLabel(a.dbKey) ? this.labels.get(a.dbKey)! : null;
        const kb = spec.prefix && this.hasLabel(b.dbKey) ? this.labels.get(b.dbKey)! : null;
        if (ka && kb) return compareLabels(ka, kb);
        if (ka) return -1;
        if (kb) return 1;
        const ma = masked(a);
        const mb = masked(b);
        return ma < mb ? -1 : ma > mb ? 1 : 0;
      });
      const changesOfTable: RowChange[] = [];
      for (const { dbKey, raw } of entries) {
        if (raw.__deleted) {
          const key = keyMap.get(dbKey);
          if (key && previous.has(key)) {
            previous.delete(key);
            changesOfTable.push([spec.table, '-', key]);
          }
          continue;
        }
        let row = this.normalise(parse(spec, raw)) as Row;
        if (spec.table === 'idempotency_records') row = sameAsAnswer(row);
        if (spec.skip?.(row)) continue;
        let key = keyMap.get(dbKey);
        if (!key) {
          key = spec.prefix ? this.label(dbKey) : spec.naturalKey!(row);
          keyMap.set(dbKey, key);
        }
        const before = previous.get(key);
        previous.set(key, row);
        if (!before) {
          changesOfTable.push([spec.table, '+', key, row]);
          continue;
        }
        const changed: Row = {};
        for (const [column] of spec.columns) {
          if (JSON.stringify(before[column]) !== JSON.stringify(row[column])) changed[column] = row[column];
        }
        if (Object.keys(changed).length > 0) changesOfTable.push([spec.table, '~', key, changed]);
      }
      changesOfTable.sort((a, b) => compareLabels(a[2], b[2]));
      tableRows.push(...changesOfTable);
    }
    // Events last in the listing (they were labelled first).
    return { answer: this.compactAnswer(answer), rows: [...tableRows, ...out] };
  }
}
