/**
 * The one loader of a customer's ledger group (DESIGN "Inside a mutation"): one call of the
 * migrated `group_load` function, which claims what the command claims (its idempotency key, an
 * invoice id), locks the customer row and reads its wallets, their lots, pending and recently failed
 * purchases, active rules and usage snapshots. Each statement inside the function takes a fresh
 * snapshot, so in READ COMMITTED the reads after the lock see what the transaction the lock waited
 * for committed. The call is a named (prepared) statement with parameters; rows arrive as JSON with
 * numbers as strings and become wallet-core records through records.ts.
 */
import {
  type EntryKind,
  type EntryRecord,
  type GroupRecords,
  lotKind,
  type PaidPart,
  THRESHOLD_BACKOFF_MS,
  type UsageSnapshotRecord,
} from '@wallets/core';
import type pg from 'pg';
import { creditsOf, customerRecordOf, entryRecordOf, ruleRecordOf, snapshotRecordOf, walletRecordOf } from './records.js';

/** A connection (or transaction client) that runs query configs. */
export interface Queryable {
  query(config: pg.QueryConfig): Promise<pg.QueryResult>;
}

/**
 * The customer by its external id (`createAs`: created with that id when it has none yet) or id, as
 * the owner of a wallet, as the owner of an entry (loaded as a named entry, its wallet as the named
 * wallet: scope `{ walletOfEntry: true }`), or as the one a voided invoice was applied to.
 */
export type CustomerKey =
  | { externalId: string; createAs?: string }
  | { id: string }
  | { ownerOf: string }
  | { ownerOfEntry: string }
  | { ofClaimedInvoice: true };

/** Which wallets of the customer a command works on. */
export type WalletScope = { currency: string } | { walletId: string } | { allCurrencies: true } | { walletOfEntry: true };

/**
 * Which lots to load: every live lot; for a command that consumes none, only those due to expire by
 * now (which it voids first), or those and every lot of a wallet past its own expiry (for a command
 * that expires such a wallet first); none for a command that neither consumes nor expires lots.
 */
export type LotsToLoad = 'all' | 'due' | 'expiring' | 'none';

/** What a load claims before it reads: an idempotency key, an invoice id to apply or to void. */
export interface GroupClaims {
  idempotency?: { id: string; procedure: string; key: string; hash: string } | undefined;
  apply?: { id: string; invoiceId: string; hash: string; now: Date } | undefined;
  void?: { id: string; invoiceId: string; now: Date } | undefined;
}

/** The invoice row a claim found: its own new row (`claimed`), or the earlier one, as committed. */
export type InvoiceClaim =
  | { claimed: true; id?: string }
  | { claimed: false; id: string; status: 'applied' | 'voided'; requestHash?: string; allocation?: unknown; customerId?: string | null };

export interface LoadedGroup {
  /** The idempotency key was used before: what that request stored. */
  replay: { requestHash: string; response: unknown } | null;
  invoice: InvoiceClaim | null;
  /** A void's outbound invoiced entries, oldest first, and what paid each by lot kind. */
  outbound: EntryRecord[];
  paidBy: Map<string, PaidPart[]>;
  /** Null: no such customer (or the claims ended the load). */
  records: GroupRecords | null;
}

const GROUP_LOAD: pg.QueryConfig = {
  name: 'group_load',
  text: 'select * from group_load($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)',
};

type Row = Record<string, unknown>;

const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

/**
 * Claims, locks and loads in one round trip. `now` places the threshold back-off window and the lots
 * due; `entryIds` are entries the command names (loaded with the purchases, whatever their state).
 * The answer is a header row (JSON) and the entries as typed rows, each tagged with its part.
 */
export async function loadGroupClaimed(
  db: Queryable,
  organizationId: string,
  customer: CustomerKey,
  scope: WalletScope,
  now: Date,
  options: { entryIds?: readonly string[]; claims?: GroupClaims; lots?: LotsToLoad } = {},
): Promise<LoadedGroup> {
  const claims = options.claims ?? {};
  // The entry whose owner is the customer comes first: group_load takes the owner of the first one.
  const entryIds = 'ownerOfEntry' in customer ? [customer.ownerOfEntry, ...(options.entryIds ?? [])] : (options.entryIds ?? []);
  const result = await db.query({
    ...GROUP_LOAD,
    values: [
      organizationId,
      'externalId' in customer ? customer.externalId : null,
      'id' in customer ? customer.id : 'createAs' in customer ? (customer.createAs ?? null) : null,
      'ownerOf' in customer ? customer.ownerOf : 'walletId' in scope ? scope.walletId : null,
      'currency' in scope ? scope.currency : null,
      'allCurrencies' in scope,
      new Date(now.getTime() - THRESHOLD_BACKOFF_MS),
      now,
      entryIds.length > 0 ? entryIds : null,
      json(claims.idempotency),
      json(claims.apply && { ...claims.apply, now: claims.apply.now.toISOString() }),
      json(claims.void && { ...claims.void, now: claims.void.now.toISOString() }),
      options.lots ?? 'all',
    ],
  });
  return loadedGroupOf(result.rows as Row[]);
}

/** One group of a `group_load` answer: its header row, then its entry rows. */
function loadedGroupOf(rows: readonly Row[]): LoadedGroup {
  const [head, ...entryRows] = rows;
  const g = head!.header as Row;
  const parts: Record<string, EntryRecord[]> = { lot: [], purchase: [], named: [], outbound: [] };
  for (const row of entryRows) parts[row.part as string]!.push(entryRecordOf(row));
  const replay = (g.replay as LoadedGroup['replay']) ?? null;
  const invoice = (g.invoice as InvoiceClaim | null | undefined) ?? null;
  const outbound = parts.outbound!;
  const paidBy = new Map<string, PaidPart[]>();
  for (const row of (g.outboundParts as Row[] | undefined) ?? []) {
    const parts = paidBy.get(row.outbound_id as string) ?? [];
    parts.push({
      kind: lotKind({ transactionStatus: row.kind as EntryKind }),
      creditAmount: creditsOf(row.credit_amount),
      amountCents: BigInt(row.amount_cents as string),
    });
    paidBy.set(row.outbound_id as string, parts);
  }
  if (!g.customer) return { replay, invoice, outbound, paidBy, records: null };
  const latestPurchaseSettledAt = new Map<string, Date>(
    (g.latestSettled as Row[]).map((row) => [row.wallet_id as string, new Date(row.settled_at as string)]),
  );
  const snapshots = new Map<string, UsageSnapshotRecord>((g.snapshots as Row[]).map((row) => [row.currency as string, snapshotRecordOf(row)]));
  const purchases = [...parts.purchase!, ...parts.named!];
  const records: GroupRecords = {
    customer: customerRecordOf(g.customer as Row),
    wallets: (g.wallets as Row[]).map(walletRecordOf),
    lots: parts.lot!,
    purchases,
    latestPurchaseSettledAt,
    rules: (g.rules as Row[]).map(ruleRecordOf),
    snapshots,
  };
  return { replay, invoice, outbound, paidBy, records };
}

const GROUP_LOAD_BATCH: pg.QueryConfig = { name: 'group_load_batch', text: 'select * from group_load_batch($1, $2, $3, $4, $5, $6)' };

/** The groups of a batch of wallets, loaded under their customers' locks. */
export interface LoadedBatch {
  /** The batch's idempotency key was used before: what that batch stored (and no group). */
  replay: LoadedGroup['replay'];
  /** One group per customer, each with the wallet it was loaded for, in wallet id order. */
  groups: { walletId: string; records: GroupRecords }[];
  /** Wallets whose customer already has a group in this load: a later load takes them, after this one is written. */
  rest: string[];
}

/**
 * Claims the batch's key (if any), locks the customers of the wallets in customer id order and loads
 * each wallet's group as `group_load` does for `{ ownerOf: walletId }` (one group per customer per
 * load), in one round trip of `group_load_batch`: each group is a marker row naming its wallet, then
 * `group_load`'s own rows (its header, then its entries).
 */
export async function loadWalletGroups(
  db: Queryable,
  organizationId: string,
  walletIds: readonly string[],
  now: Date,
  options: { idempotency?: GroupClaims['idempotency']; lots?: LotsToLoad } = {},
): Promise<LoadedBatch> {
  const result = await db.query({
    ...GROUP_LOAD_BATCH,
    values: [organizationId, walletIds, new Date(now.getTime() - THRESHOLD_BACKOFF_MS), now, json(options.idempotency), options.lots ?? 'all'],
  });
  const rows = result.rows as Row[];
  if (rows[0]?.part === 'header') return { replay: loadedGroupOf(rows.slice(0, 1)).replay, groups: [], rest: [] };
  const batch: LoadedBatch = { replay: null, groups: [], rest: [] };
  for (let start = 0; start < rows.length; ) {
    const marker = rows[start]!;
    if (marker.part === 'rest') {
      batch.rest = (marker.header as { walletIds: string[] }).walletIds;
      start += 1;
      continue;
    }
    let end = start + 1;
    while (end < rows.length && rows[end]!.part !== 'group' && rows[end]!.part !== 'rest') end += 1;
    const { records } = loadedGroupOf(rows.slice(start + 1, end));
    if (records) batch.groups.push({ walletId: (marker.header as { walletId: string }).walletId, records });
    start = end;
  }
  return batch;
}

/** Locks the customer and loads its group as records (null: no such customer). */
export async function loadGroup(
  db: Queryable,
  organizationId: string,
  customer: CustomerKey,
  scope: WalletScope,
  now: Date,
  entryIds: readonly string[] = [],
): Promise<GroupRecords | null> {
  return (await loadGroupClaimed(db, organizationId, customer, scope, now, { entryIds })).records;
}
