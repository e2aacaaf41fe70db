/**
 * wallet-core's planners against today's commands: seeded random customers get wallets, lots, paid
 * top-ups, payments, usage syncs, invoice applications (with usage) and voids. Before each call of
 * a command that the planners cover (invoices apply and void, usage sync, walletTransactions.create)
 * the customer's group is loaded as records (group-loader.ts) and planned; then today's command runs.
 * What it wrote (new and changed rows, consumptions, the snapshot, the outbox events in order) and
 * what it answered must be what the delta and the planner's answer say, with the planner's new ids
 * mapped to the rows' ids by the order of their creation events. A refusal must be the same
 * refusal. Knobs: CORE_PLANNERS_RUNS (customers, default 10), CORE_PLANNERS_SEED.
 */
import { randomUUID } from 'node:crypto';
import {
  type DraftClock,
  type EntryRecord,
  formatDecimal,
  type GroupRecords,
  type LedgerDelta,
  type PaidPart,
  parseDecimal,
  planApplyInvoice,
  planExpireWallet,
  planIntervalTopUp,
  planRecordPayment,
  planTerminateWallet,
  planUsageSync,
  planVoidInvoice,
  planWalletTransactions,
  type RuleRecord,
  type UsageFee,
  WalletError,
  type WalletRecord,
} from '@wallets/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../test/helpers.js';
import { centsToNumber } from './dto.js';
import { loadGroup, type Queryable } from './group-loader.js';
import { writeDelta } from './group-writer.js';
import {
  applyPrepaidCredits,
  createWallet,
  createWalletTransactions,
  expireWallet,
  type InvoiceInput,
  recordPayment,
  runIntervalRule,
  syncUsage,
  terminateWallet,
  type UsageSyncInput,
  upsertCustomer,
  voidInvoice,
} from './index.js';
import type { Orm } from './orm.js';
import { entryRecordDto, entryRecordOf, ruleRecordOf, snapshotRecordOf, walletRecordDto, walletRecordOf } from './records.js';
import { auditLedger, seededRandom } from './testing/index.js';

const RUNS = Number(process.env.CORE_PLANNERS_RUNS ?? 10);
const SEED = Number(process.env.CORE_PLANNERS_SEED ?? 20_261_207);

let orm: Orm;
let pool: pg.Pool;
const t0 = new Date('2026-10-01T00:00:00Z');
const at = (hours: number) => new Date(t0.getTime() + hours * 3_600_000);

beforeAll(async () => {
  orm = await openTestOrm();
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

type Row = Record<string, unknown> & { id: string };

async function rowsOf(text: string, params: unknown[], db: Pick<pg.ClientBase, 'query'> = pool): Promise<Row[]> {
  return (await db.query<Row>(text, params)).rows;
}
const rows = (text: string, params: unknown[]) => rowsOf(text, params);

/** The organization's rows that a ledger move may touch, by id, and the last event position. */
async function tableState(org: string, db: Pick<pg.ClientBase, 'query'> = pool) {
  const rows = (text: string, params: unknown[]) => rowsOf(text, params, db);
  const byId = (list: Row[]) => new Map(list.map((row) => [row.id, row]));
  return {
    wallets: byId(await rows('select * from wallets where organization_id = $1', [org])),
    entries: byId(await rows('select * from wallet_transactions where organization_id = $1', [org])),
    rules: byId(await rows('select * from recurring_transaction_rules where organization_id = $1', [org])),
    snapshots: byId(await rows('select * from usage_snapshots where organization_id = $1', [org])),
    consumptions: byId(await rows('select * from wallet_transaction_consumptions where organization_id = $1', [org])),
    customers: byId(await rows('select * from customers where organization_id = $1', [org])),
    lastEvent: String((await rows('select coalesce(max(position), 0)::text as id from events where organization_id = $1', [org]))[0]!.id),
  };
}
type TableState = Awaited<ReturnType<typeof tableState>>;

const newRows = (before: Map<string, Row>, after: Map<string, Row>) => [...after.values()].filter((row) => !before.has(row.id));
const changedRows = (before: Map<string, Row>, after: Map<string, Row>) =>
  [...after.values()].filter((row) => before.has(row.id) && JSON.stringify(before.get(row.id)) !== JSON.stringify(row));
const byId = <T extends { id: string }>(list: T[]) => [...list].sort((a, b) => (a.id < b.id ? -1 : 1));

/**
 * Loads the group in a transaction of its own, plans, writes the delta with the one writer and
 * reads what that left, then rolls back (today's command runs right after, alone, on the same rows).
 */
async function planAndWrite<P>(
  org: string,
  now: Date,
  loader: (db: Queryable) => Promise<GroupRecords | null>,
  plan: (records: GroupRecords, clock: DraftClock) => { delta: LedgerDelta; answer: P },
): Promise<{ records: GroupRecords; planned: Outcome<{ delta: LedgerDelta; answer: P }>; written: TableState | null; writtenEvents: Row[] }> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const records = await loader(client);
    expect(records).not.toBeNull();
    const clock: DraftClock = { now, newId: randomUUID };
    const before = await tableState(org, client);
    const planned = await outcome(() => plan(records!, clock));
    if ('error' in planned) return { records: records!, planned, written: null, writtenEvents: [] };
    await writeDelta(client, org, records!, planned.ok.delta, now);
    const written = await tableState(org, client);
    const writtenEvents = await rowsOf(
      'select type, data from events where organization_id = $1 and position > $2::bigint order by position',
      [org, before.lastEvent],
      client,
    );
    return { records: records!, planned, written, writtenEvents };
  } finally {
    await client.query('rollback');
    client.release();
  }
}

type Outcome<T> = { ok: T } | { error: string };
async function outcome<T>(fn: () => T | Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await fn() };
  } catch (error) {
    if (error instanceof WalletError) return { error: `${error.code}: ${error.message}` };
    throw error;
  }
}

/** Replaces every planner id by the row id it became. */
function mapIds<T>(value: T, ids: Map<string, string>): T {
  if (typeof value === 'string') return (ids.get(value) ?? value) as T;
  if (value instanceof Date || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => mapIds(item, ids)) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapIds(v, ids)])) as T;
}

const walletCredits = (value: unknown) => {
  const parsed = parseDecimal(String(value), { excess: 'reject' });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
};

const json = (value: unknown) => JSON.parse(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)));

let compared = 0;
let planned = { entries: 0, thresholdTopUps: 0, events: 0 };
const sources = new Map<string, number>();
const eventTypes = new Set<string>();

/**
 * Plans with the core, runs today's command, and compares what it wrote and answered with the
 * delta. `answerOf` renders the planner's answer as the command's (after ids are mapped).
 */
async function differential<P, A>(
  org: string,
  now: Date,
  loader: (db: Queryable) => Promise<GroupRecords | null>,
  plan: (records: GroupRecords, clock: DraftClock) => { delta: LedgerDelta; answer: P },
  answerOf: (answer: P, records: GroupRecords) => unknown,
  command: () => Promise<A>,
): Promise<Outcome<A>> {
  const before = await tableState(org);
  const { records, planned: planOutcome, written, writtenEvents } = await planAndWrite(org, now, loader, plan);
  const actual = await outcome(command);
  if ('error' in planOutcome || 'error' in actual) {
    expect(planOutcome).toEqual(actual);
    return actual;
  }
  const after = await tableState(org);
  const idMap = await compareDelta(records, planOutcome.ok.delta, before, after, org, (ids) =>
    expect(json(actual.ok)).toEqual(json(mapIds(answerOf(planOutcome.ok.answer, records), ids))),
  );
  // The one writer left exactly the rows and events today's command left.
  const footprint = (state: TableState) =>
    json({
      wallets: byId([...state.wallets.values()]),
      entries: byId([...state.entries.values()]),
      rules: byId([...state.rules.values()]),
      snapshots: [...state.snapshots.values()]
        .map(({ id, ...rest }) => rest)
        .sort((a, b) => (`${a.customer_id}/${a.currency}` < `${b.customer_id}/${b.currency}` ? -1 : 1)),
      consumptions: [...state.consumptions.values()]
        .map(({ id, ...rest }) => rest)
        .sort((a, b) =>
          `${a.inbound_wallet_transaction_id}/${a.outbound_wallet_transaction_id}` <
          `${b.inbound_wallet_transaction_id}/${b.outbound_wallet_transaction_id}`
            ? -1
            : 1,
        ),
    });
  const mappedWritten = mapIds(footprint(written!), idMap);
  mappedWritten.entries.sort((a: Row, b: Row) => (a.id < b.id ? -1 : 1));
  mappedWritten.consumptions.sort((a: Row, b: Row) =>
    `${a.inbound_wallet_transaction_id}/${a.outbound_wallet_transaction_id}` <
    `${b.inbound_wallet_transaction_id}/${b.outbound_wallet_transaction_id}`
      ? -1
      : 1,
  );
  expect(mappedWritten).toEqual(footprint(after));
  const afterEvents = await rows('select type, data from events where organization_id = $1 and position > $2::bigint order by position', [
    org,
    before.lastEvent,
  ]);
  expect(mapIds(json(writtenEvents), idMap)).toEqual(json(afterEvents));
  compared++;
  return actual;
}

async function compareDelta(
  records: GroupRecords,
  delta: LedgerDelta,
  before: TableState,
  after: TableState,
  org: string,
  checkAnswer: (idMap: Map<string, string>) => void,
): Promise<Map<string, string>> {
  const events = await rows(
    'select position::text as id, type, data from events where organization_id = $1 and position > $2::bigint order by position',
    [org, before.lastEvent],
  );
  // Planner ids -> row ids: new entries by the order of their creation events, consumptions by their pair, the snapshot by currency.
  const idMap = new Map<string, string>();
  const createdIds = events.filter((e) => e.type === 'wallet_transaction.created').map((e) => (e.data as { id: string }).id);
  expect(createdIds).toHaveLength(delta.entries.length);
  for (const [i, entry] of delta.entries.entries()) idMap.set(entry.id, createdIds[i]!);
  const insertedSnapshots = newRows(before.snapshots, after.snapshots);
  if (delta.snapshot?.created) idMap.set(delta.snapshot.record.id, insertedSnapshots[0]!.id);
  const mapped = mapIds(delta, idMap);

  const inserted = newRows(before.entries, after.entries);
  const insertedById = new Map(inserted.map((row) => [row.id, entryRecordOf(row)]));
  expect(createdIds.map((id) => insertedById.get(id))).toEqual(mapped.entries);
  expect(inserted).toHaveLength(mapped.entries.length);
  expect(byId(changedRows(before.entries, after.entries).map(entryRecordOf))).toEqual(byId(mapped.changedEntries));
  expect(byId(changedRows(before.wallets, after.wallets).map(walletRecordOf))).toEqual(byId(mapped.wallets));
  expect(byId(changedRows(before.rules, after.rules).map(ruleRecordOf))).toEqual(byId(mapped.rules));
  const snapshotRows = [...insertedSnapshots, ...changedRows(before.snapshots, after.snapshots)].map(snapshotRecordOf);
  expect(snapshotRows).toEqual(mapped.snapshot ? [mapped.snapshot.record] : []);
  const consumption = (c: { inboundId: string; outboundId: string; creditAmount: bigint; amountCents: bigint; createdAt: Date }) =>
    json({ inbound: c.inboundId, outbound: c.outboundId, credits: c.creditAmount, cents: c.amountCents, at: c.createdAt });
  const insertedConsumptions = newRows(before.consumptions, after.consumptions).map((row) =>
    consumption({
      inboundId: row.inbound_wallet_transaction_id as string,
      outboundId: row.outbound_wallet_transaction_id as string,
      creditAmount: walletCredits(row.credit_amount),
      amountCents: BigInt(row.amount_cents as string),
      createdAt: row.created_at as Date,
    }),
  );
  const sortKey = (c: { inbound: string; outbound: string }) => `${c.inbound}/${c.outbound}`;
  expect(insertedConsumptions.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1))).toEqual(
    mapped.consumptions.map(consumption).sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1)),
  );

  // Events: wallet events show the wallet as it ends, with its active rules.
  const finalWallets = new Map<string, WalletRecord>([...after.wallets.values()].map((row) => [row.id, walletRecordOf(row)]));
  const finalRules = [...after.rules.values()].map(ruleRecordOf).filter((r) => r.status === 'active');
  const customerRow = [...after.customers.values()].find((c) => c.id === records.customer.id)!;
  const rulesOf = (walletId: string): RuleRecord[] =>
    finalRules.filter((r) => r.walletId === walletId).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1));
  const rendered = mapped.events.map((event) =>
    'entry' in event
      ? { type: event.type, data: json(entryRecordDto(event.entry, finalWallets.get(event.entry.walletId)!.currency)) }
      : {
          type: event.type,
          data: json(walletRecordDto(finalWallets.get(event.walletId)!, customerRow.external_id as string, rulesOf(event.walletId))),
        },
  );
  expect(events.map((e) => ({ type: e.type, data: e.data }))).toEqual(rendered);
  checkAnswer(idMap);
  planned.entries += delta.entries.length;
  planned.thresholdTopUps += delta.entries.filter((e) => e.source === 'threshold').length;
  for (const e of delta.entries) sources.set(`${e.source}/${e.transactionStatus}`, (sources.get(`${e.source}/${e.transactionStatus}`) ?? 0) + 1);
  for (const e of delta.events) eventTypes.add(e.type);
  planned.events += delta.events.length;
  return idMap;
}

// ---------------------------------------------------------------------------------------------
// The scenario.

function prng(seed: number) {
  const next = seededRandom(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rand = ReturnType<typeof prng>;
const METRICS = ['api_calls', 'storage_gb', null] as const;
const FEE_TYPES = ['charge', 'subscription', 'commitment'] as const;
const amountText = (rand: Rand, max: number, decimals: number, salt: number) =>
  `${rand.int(0, max)}.${String((salt * 7919 + 13) % 10 ** decimals).padStart(decimals, '0')}`;

function randomInvoice(rand: Rand, id: string, externalCustomerId: string): InvoiceInput {
  const fees = Array.from({ length: rand.int(1, 4) }, (_, i) => {
    const amount = BigInt(rand.int(0, 4_000_00000));
    return {
      id: `${id}-fee-${i}`,
      feeType: rand.pick(FEE_TYPES),
      billableMetricCode: rand.pick(METRICS),
      amount,
      coupons: rand.chance(0.3) ? BigInt(rand.int(0, Number(amount / 2n))) : 0n,
      taxes: rand.chance(0.6) ? BigInt(rand.int(0, 900_00000)) : 0n,
      creditNotes: rand.chance(0.2) ? BigInt(rand.int(0, Number(amount / 3n))) : 0n,
    };
  });
  const capped = fees.reduce((sum, f) => sum + f.amount - f.coupons + f.taxes - f.creditNotes, 0n);
  const total = capped > 0n ? (capped + 50_000n) / 100_000n : 0n;
  return {
    id,
    externalCustomerId,
    currency: 'EUR',
    invoiceType: rand.pick(['subscription', 'subscription', 'progressive_billing', 'pay_in_advance', 'one_off']),
    totalAmountCents: rand.chance(0.2) && total > 0n ? total - BigInt(rand.int(0, Number(total))) : total,
    fees,
  };
}

function randomUsage(rand: Rand, externalCustomerId: string, invoiceIds: string[], asOf: Date): UsageSyncInput {
  const usageFees = () =>
    Array.from({ length: rand.int(0, 3) }, () => ({
      feeType: rand.pick(FEE_TYPES),
      billableMetricCode: rand.pick(METRICS),
      amount: BigInt(rand.int(0, 3_000_00000)),
      coupons: 0n,
      taxes: rand.chance(0.5) ? BigInt(rand.int(0, 300_00000)) : 0n,
    }));
  return {
    externalCustomerId,
    currency: 'EUR',
    asOf,
    fees: usageFees(),
    draftInvoices: invoiceIds.filter(() => rand.chance(0.5)).map((id) => ({ id, fees: usageFees() })),
    billedFees: rand.chance(0.3) ? usageFees() : [],
  };
}

const usageFees = (fees: UsageSyncInput['fees']): UsageFee[] =>
  fees.map((f) => ({ feeType: f.feeType, billableMetricCode: f.billableMetricCode ?? null, amount: f.amount, coupons: f.coupons, taxes: f.taxes }));
const usageUpdate = (usage: UsageSyncInput) => ({
  asOf: usage.asOf,
  fees: usageFees(usage.fees),
  draftInvoices: (usage.draftInvoices ?? []).map((d) => ({ id: d.id, fees: usageFees(d.fees) })),
  billedFees: usageFees(usage.billedFees ?? []),
});

const entryAnswer = (records: GroupRecords, entry: EntryRecord) =>
  entryRecordDto(entry, records.wallets.find((w) => w.id === entry.walletId)!.currency);

type Step = { hour: number; run: (org: string) => Promise<unknown> };

function scenario(rand: Rand, n: number): Step[] {
  const customer = `cust-${n}`;
  const steps: Step[] = [];
  const walletIds = new Map<string, string>();
  const pendingIds: string[] = [];
  const applied = new Set<string>();
  steps.push({ hour: 0, run: (org) => mutate(orm, org, at(0), (w) => upsertCustomer(w, { externalId: customer, currency: 'EUR' })) });
  const wallets = Array.from({ length: rand.int(1, 4) }, (_, i) => `w${i}`);
  const threshold = rand.chance(0.4) ? rand.pick([250, 120]) : null;
  for (const [i, name] of wallets.entries()) {
    const scope = rand.pick(['none', 'none', 'fees', 'metrics'] as const);
    const input = {
      externalCustomerId: customer,
      name,
      rateAmount: cr(rand.pick(['1', '0.7', '2.5', '1.33333'])),
      priority: rand.int(1, 5),
      grantedCredits: cr(threshold !== null && i === 0 ? `${threshold + rand.int(20, 150)}.5` : amountText(rand, 300, 5, n * 10 + i)),
      paidCredits: rand.chance(0.4) ? cr(amountText(rand, 200, 2, n * 10 + i + 5)) : undefined,
      expirationAt: rand.chance(0.15) ? at(3.5) : rand.chance(0.2) ? at(400) : null,
      appliesTo:
        scope === 'fees'
          ? { feeTypes: [rand.pick(FEE_TYPES)] }
          : scope === 'metrics'
            ? { billableMetricCodes: rand.chance(0.5) ? ['api_calls'] : ['api_calls', 'storage_gb'] }
            : undefined,
      recurringTransactionRules: !(threshold !== null && i === 0)
        ? rand.chance(0.4)
          ? [
              rand.chance(0.5)
                ? {
                    trigger: 'interval' as const,
                    interval: 'monthly' as const,
                    method: 'fixed' as const,
                    grantedCredits: cr('5'),
                    paidCredits: cr('2'),
                  }
                : { trigger: 'interval' as const, interval: 'weekly' as const, method: 'target' as const, targetOngoingBalance: cr('180') },
            ]
          : []
        : [
            {
              trigger: 'threshold' as const,
              method: 'fixed' as const,
              grantedCredits: cr('7'),
              ...(rand.chance(0.5) ? { paidCredits: cr('5') } : {}),
              thresholdCredits: cr(String(threshold)),
            },
          ],
    };
    steps.push({
      hour: 0.1 + i / 100,
      run: async (org) => {
        const wallet = await mutate(orm, org, at(0.1 + i / 100), (w) => createWallet(w, input));
        walletIds.set(name, wallet.id);
        return wallet;
      },
    });
  }
  const createTransactions = (hour: number, name: string, input: Omit<Parameters<typeof createWalletTransactions>[1], 'walletId'>) => ({
    hour,
    run: async (org: string) => {
      const walletId = walletIds.get(name)!;
      const command = { walletId, ...input };
      const result = await differential(
        org,
        at(hour),
        (db) => loadGroup(db, org, { externalId: customer }, { walletId }, at(hour)),
        (records, clock) => {
          const { delta, created } = planWalletTransactions(records, command, clock);
          return { delta, answer: created };
        },
        (created, records) => ({ transactions: created.map((entry) => entryAnswer(records, entry)) }),
        () => mutate(orm, org, at(hour), (w) => createWalletTransactions(w, command)),
      );
      if ('ok' in result) pendingIds.push(...result.ok.transactions.filter((t) => t.status === 'pending').map((t) => t.id));
      return result;
    },
  });
  for (const [k, name] of wallets.entries()) {
    if (rand.chance(0.6)) {
      steps.push(
        createTransactions(1 + k / 100, name, {
          grantedCredits: cr(amountText(rand, 150, 5, n * 100 + k)),
          priority: rand.int(1, 50),
          expirationAt: rand.pick([at(2), at(5.5), at(1000), null]),
          name: rand.chance(0.5) ? `lot-${k}` : null,
        }),
      );
    }
    if (rand.chance(0.4)) steps.push(createTransactions(1.2 + k / 100, name, { paidCredits: cr(amountText(rand, 90, 2, n * 100 + k + 50)) }));
    if (rand.chance(0.3)) {
      steps.push(
        createTransactions(4.2 + k / 100, name, {
          voidedCredits: cr(amountText(rand, 60, 3, n * 100 + k + 70)),
          ...(rand.chance(0.5) ? { grantedCredits: cr('3.5') } : {}),
        }),
      );
    }
  }
  const pay = (hour: number, pick: (ids: string[]) => string[], status: 'succeeded' | 'failed', invoiceId?: string): Step => ({
    hour,
    run: async (org) => {
      for (const id of pick(pendingIds)) {
        const [row] = await rows('select wallet_id from wallet_transactions where organization_id = $1 and id = $2', [org, id]);
        const walletId = row!.wallet_id as string;
        const input = { id, status, ...(invoiceId ? { invoiceId } : {}) };
        await differential(
          org,
          at(hour),
          (db) => loadGroup(db, org, { externalId: customer }, { walletId }, at(hour), [id]),
          (records, clock) => {
            const { delta, entry } = planRecordPayment(records, { entryId: id, status, invoiceId }, clock);
            return { delta, answer: entry };
          },
          (entry, records) => entryAnswer(records, entry),
          () => mutate(orm, org, at(hour), (w) => recordPayment(w, input)),
        );
      }
    },
  });
  steps.push(pay(1.5, (ids) => ids.filter((_, i) => i % 2 === 0), 'succeeded', `topup-${n}`));
  steps.push(pay(1.6, (ids) => ids.filter((_, i) => i % 4 === 1), 'failed'));
  steps.push(pay(2.5, (ids) => ids.filter((_, i) => i % 4 === 0), 'failed')); // claw-backs
  steps.push(pay(2.6, (ids) => ids.filter((_, i) => i % 4 === 0 || i % 4 === 1), rand.chance(0.5) ? 'failed' : 'succeeded')); // repeats, a retry
  steps.push(pay(4.5, (ids) => ids, 'succeeded')); // some on wallets past their expiry
  const walletStep = <P, A>(
    hour: number,
    name: string,
    plan: (records: GroupRecords, walletId: string, clock: DraftClock) => { delta: LedgerDelta; answer: P },
    answerOf: (answer: P, records: GroupRecords) => unknown,
    command: (org: string, walletId: string) => Promise<A>,
  ): Step => ({
    hour,
    run: (org) => {
      const walletId = walletIds.get(name)!;
      return differential(
        org,
        at(hour),
        (db) => loadGroup(db, org, { externalId: customer }, { walletId }, at(hour)),
        (records, clock) => plan(records, walletId, clock),
        answerOf,
        () => command(org, walletId),
      );
    },
  });
  for (const name of wallets) {
    for (const hour of [2.4, 6.5]) {
      steps.push(
        walletStep(
          hour,
          name,
          (records, walletId, clock) => {
            const rule = records.rules.find((r) => r.walletId === walletId && r.trigger === 'interval');
            const { delta, intervalTopUps } = planIntervalTopUp(records, { walletId, ruleId: rule?.id ?? walletId }, clock);
            return { delta, answer: intervalTopUps };
          },
          (intervalTopUps) => ({ intervalTopUps }),
          async (org, walletId) => {
            const [rule] = await rows(
              `select id from recurring_transaction_rules where organization_id = $1 and wallet_id = $2 and trigger = 'interval' and status = 'active'`,
              [org, walletId],
            );
            return runIntervalRule(
              orm.em.fork() as never,
              { organizationId: org, ruleId: rule?.id ?? walletId, walletId, date: `d${hour}` },
              at(hour),
            );
          },
        ),
      );
    }
    if (rand.chance(0.5)) {
      steps.push(
        walletStep(
          6,
          name,
          (records, walletId, clock) => {
            const { delta, outcome } = planExpireWallet(records, walletId, clock);
            return { delta, answer: outcome };
          },
          (outcome) => outcome,
          (org, walletId) => expireWallet(orm.em.fork() as never, { organizationId: org, walletId }, at(6)),
        ),
      );
    }
    if (rand.chance(0.25)) {
      const hour = rand.pick([2.7, 7.5]);
      steps.push(
        walletStep(
          hour,
          name,
          (records, walletId, clock) => {
            const { delta, wallet, rules } = planTerminateWallet(records, walletId, clock);
            return { delta, answer: { wallet, rules } };
          },
          ({ wallet, rules }) => walletRecordDto(wallet, customer, rules),
          (org, walletId) => mutate(orm, org, at(hour), (w) => terminateWallet(w, walletId)),
        ),
      );
    }
  }
  const invoiceIds = Array.from({ length: rand.int(1, 4) }, (_, k) => `inv-${n}-${k}`);
  const sync = (hour: number, usage: UsageSyncInput): Step => ({
    hour,
    run: (org) =>
      differential(
        org,
        at(hour),
        (db) => loadGroup(db, org, { externalId: customer }, { currency: usage.currency }, at(hour)),
        (records, clock) => {
          const { delta, wallets } = planUsageSync(records, { currency: usage.currency, ...usageUpdate(usage) }, clock);
          return { delta, answer: wallets };
        },
        (list) => ({ wallets: list.map(({ wallet, rules }) => walletRecordDto(wallet, customer, rules)) }),
        () => mutate(orm, org, at(hour), (w) => syncUsage(w, usage)),
      ),
  });
  if (rand.chance(0.7)) steps.push(sync(1.8, randomUsage(rand, customer, invoiceIds, at(1.8))));
  for (const [k, id] of invoiceIds.entries()) {
    const hour = 3 + k * 1.5;
    const invoice = randomInvoice(rand, id, customer);
    const usage = rand.chance(0.3) ? randomUsage(rand, customer, invoiceIds.slice(k + 1), at(hour)) : undefined;
    steps.push({
      hour,
      run: (org) =>
        differential(
          org,
          at(hour),
          (db) => loadGroup(db, org, { externalId: customer }, { currency: invoice.currency }, at(hour)),
          (records, clock) => {
            const { delta, application } = planApplyInvoice(
              records,
              {
                id: invoice.id,
                currency: invoice.currency,
                invoiceType: invoice.invoiceType,
                totalAmountCents: invoice.totalAmountCents,
                fees: invoice.fees.map((f) => ({
                  feeType: f.feeType,
                  billableMetricCode: f.billableMetricCode ?? null,
                  amount: f.amount,
                  coupons: f.coupons,
                  taxes: f.taxes,
                  creditNotes: f.creditNotes,
                })),
              },
              usage ? usageUpdate(usage) : undefined,
              clock,
            );
            return { delta, answer: application };
          },
          (application) => ({
            invoiceId: invoice.id,
            prepaidCreditAmountCents: centsToNumber(application.totalCents),
            totalAfterCreditsCents: centsToNumber(invoice.totalAmountCents - application.totalCents),
            prepaidGrantedCreditAmountCents: centsToNumber(application.grantedCents),
            prepaidPurchasedCreditAmountCents: centsToNumber(application.purchasedCents),
            wallets: application.shares.map((share) => ({
              walletId: share.walletId,
              amountCents: centsToNumber(share.amount.amountCents),
              creditAmount: formatDecimal(share.amount.creditAmount),
              transactionId: share.entryId,
            })),
          }),
          async () => {
            const result = await mutate(orm, org, at(hour), (w) => applyPrepaidCredits(w, invoice, usage));
            applied.add(id);
            return result;
          },
        ),
    });
    if (rand.chance(0.35)) {
      steps.push({
        hour: hour + 0.2,
        run: async (org) => {
          if (!applied.has(id)) return mutate(orm, org, at(hour + 0.2), (w) => voidInvoice(w, id));
          const outboundRows = await rows(
            `select * from wallet_transactions where organization_id = $1 and invoice_id = $2 and transaction_type = 'outbound'
               and transaction_status = 'invoiced' order by created_at, id`,
            [org, id],
          );
          // What paid each outbound entry, by the kind of the lots it consumed.
          const paidBy = new Map<string, PaidPart[]>();
          for (const row of await rows(
            `select c.outbound_wallet_transaction_id as outbound, i.transaction_status as kind, sum(c.credit_amount)::text as credits,
                    sum(c.amount_cents)::text as cents
               from wallet_transaction_consumptions c join wallet_transactions i on i.id = c.inbound_wallet_transaction_id
              where c.organization_id = $1 and c.outbound_wallet_transaction_id = any ($2::uuid[]) group by 1, 2`,
            [org, outboundRows.map((r) => r.id)],
          )) {
            const parts = paidBy.get(row.outbound as string) ?? [];
            parts.push({ kind: row.kind as PaidPart['kind'], creditAmount: walletCredits(row.credits), amountCents: BigInt(row.cents as string) });
            paidBy.set(row.outbound as string, parts);
          }
          return differential(
            org,
            at(hour + 0.2),
            (db) => loadGroup(db, org, { externalId: customer }, { allCurrencies: true }, at(hour + 0.2)),
            (records, clock) => {
              const { delta, recredits } = planVoidInvoice(records, id, outboundRows.map(entryRecordOf), clock, paidBy);
              return { delta, answer: recredits };
            },
            (recredits, records) => ({ transactions: recredits.map((entry) => entryAnswer(records, entry)) }),
            () => mutate(orm, org, at(hour + 0.2), (w) => voidInvoice(w, id)),
          );
        },
      });
    }
  }
  return steps;
}

describe('wallet-core planners', () => {
  it(`plan what today's commands write and answer (${RUNS} random customers, seed ${SEED})`, async () => {
    const org = await newOrganization(orm);
    const rand = prng(SEED);
    const steps = Array.from({ length: RUNS }, (_, n) => scenario(rand, n));
    const timeline = steps.flatMap((list, n) => list.map((step, i) => ({ ...step, n, i }))).sort((a, b) => a.hour - b.hour || a.n - b.n || a.i - b.i);
    compared = 0;
    planned = { entries: 0, thresholdTopUps: 0, events: 0 };
    for (const step of timeline) await step.run(org);
    expect(compared).toBeGreaterThan(RUNS * 2);
    expect(planned.entries).toBeGreaterThan(RUNS * 2);
    expect(planned.thresholdTopUps).toBeGreaterThan(0);
    // Every kind of entry and event the planners make was compared at least once.
    expect([...sources.keys()].sort()).toEqual(
      expect.arrayContaining([
        'expiration/voided',
        'interval/granted',
        'interval/purchased',
        'invoice_void/granted',
        'manual/granted',
        'manual/invoiced',
        'manual/purchased',
        'manual/voided',
        'payment_failure/voided',
        'termination/voided',
        'threshold/granted',
      ]),
    );
    expect([...eventTypes].sort()).toEqual([
      'wallet.depleted_ongoing_balance',
      'wallet.terminated',
      'wallet.updated',
      'wallet_transaction.created',
      'wallet_transaction.payment_failure',
      'wallet_transaction.updated',
    ]);
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  }, 600_000);
});
