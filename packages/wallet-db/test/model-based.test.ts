/**
 * Model-based test (STYLE.md "Tests", in the spirit of TigerBeetle's VOPR): seeded random sequences
 * of top-ups, grants, voids, payment reports, terminations, idempotent replays and expiration runs
 * go through the real commands on PostgreSQL and through a naive model (naive-wallet-model.ts,
 * which shares no code with the system). After every step the touched wallets (balances, status)
 * and every one of their ledger rows (status, amounts, remainders) must equal the model's; a refusal
 * must carry the model's code and write nothing. Every AUDIT_EVERY steps, and at the end, the
 * ledger audit (plain SQL) must find nothing. At the end of each stream a fast-check property asks
 * reports.credits and wallets.get({ asOf }) about random periods and moments of its history and
 * compares them with what the model's history gives (and with opening + in - out = closing).
 *
 * Several independent streams (one organization each, with a PRNG derived from the seed) run side by
 * side so the database is kept busy; each stream is deterministic on its own. The run takes
 * MODEL_STEPS (default 10,000) steps; MODEL_BUDGET_SECONDS (default 0: none) can stop it earlier at a
 * wall-clock budget while iterating, running a shorter prefix of the same sequence. On a mismatch the
 * error names the seed, the stream and the step, with the stream's recent history, and the command
 * that replays it:
 *   MODEL_SEED=<seed> MODEL_STEPS=<steps> MODEL_BUDGET_SECONDS=0 npx vitest run test/model-based.test.ts
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WalletError } from '@wallets/core';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type CreateTransactionsInput,
  type CreateWalletInput,
  type CreditsReport,
  createWallet,
  createWalletTransactions,
  creditsReport,
  type Door,
  expireWallet,
  findWalletsDueForExpiration,
  getWalletAsOf,
  groupDbOf,
  type Orm,
  type RecordPaymentInput,
  recordPayment,
  terminateWallet,
  upsertCustomer,
} from '../src/index.js';
import { auditLedger, seededRandom } from '../src/testing/index.js';
import { mutate, newOrganization, openTestOrm } from './helpers.js';
import {
  CURRENCY_DIGITS,
  creditsToMinor,
  formatCredits,
  ModelRefusal,
  type ModelTx,
  type ModelWallet,
  NaiveCustomer,
  parseCredits,
  type TransactionsRequest,
  type WalletRequest,
} from './naive-wallet-model.js';

const DEFAULT_SEED = 20_261_125;
const SEED = Number(process.env.MODEL_SEED ?? DEFAULT_SEED);
const TOTAL_STEPS = Number(process.env.MODEL_STEPS ?? 10_000);
const STREAMS = Number(process.env.MODEL_STREAMS ?? 4);
/**
 * Wall-clock budget for the random steps (0: none). Every real command costs ~15 SQL round trips,
 * so a slow or busy machine stops early; streams stop between steps, so whatever ran is still an
 * exact prefix of the seeded sequence (a failure replays with the same seed and step count).
 */
const BUDGET_SECONDS = Number(process.env.MODEL_BUDGET_SECONDS ?? 0);
/** Below this many steps in all, the coverage checks (rare paths reached) are not asserted. */
const COVERAGE_MIN_STEPS = 600;
const TEST_TIMEOUT_MS = BUDGET_SECONDS > 0 ? BUDGET_SECONDS * 1_000 + 240_000 : 30 * 60_000;
const AUDIT_EVERY = 500;
/** fast-check runs of the finance property per stream (each asks for three reports and one balance). */
const FINANCE_RUNS = Number(process.env.MODEL_FINANCE_RUNS ?? 15);
const HISTORY_SHOWN = 40;
const MAX_ROWS_PER_WALLET = 40;

/**
 * Seeds that once failed, kept as regressions (each replayed in full, without the budget). Failures
 * found so far were inside the default seed's first steps, which every run replays anyway:
 * - seed 20261125, stream 0, step 37: a repeated "succeeded" report carrying an invoice id (the
 *   model recorded the id; the system keeps only the id of the report that takes effect).
 */
const REGRESSIONS: { seed: number; steps: number; streams: number; note: string }[] = [];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.parse('2026-01-01T00:00:00Z');
const RATES = [100_000n, 50_000n, 133_333n, 1_000n, 250_000n, 3_000n, 66_667n]; // 1, 0.5, 1.33333, 0.01, 2.5, 0.03, 0.66667

let orm: Orm;
let databaseUrl: string;
let foreign: { organizationId: string; walletId: string; transactionId: string };

// ---------------------------------------------------------------------------------------------
// A seeded PRNG, so a seed replays exactly.

class Rng {
  private readonly random: () => number;
  constructor(seed: number) {
    this.random = seededRandom(seed);
  }
  /** A 32-bit unsigned integer (the generator's fraction times 2^32, exact). */
  next(): number {
    return this.random() * 4_294_967_296;
  }
  int(n: number): number {
    return this.next() % n;
  }
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  percent(p: number): boolean {
    return this.int(100) < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[this.int(items.length)] as T;
  }
  weighted<T>(entries: readonly (readonly [T, number])[]): T {
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    let roll = this.int(total);
    for (const [value, weight] of entries) {
      if (roll < weight) return value;
      roll -= weight;
    }
    throw new Error('unreachable');
  }
  bigBelow(n: bigint): bigint {
    if (n <= 0n) return 0n;
    const wide = (BigInt(this.next()) << 32n) | BigInt(this.next());
    return wide % n;
  }
}

/** Credits (1e-5 units) of every size: sub-cent dust, odd fractions, round numbers, large. */
function randomCredits(rng: Rng): bigint {
  const shape = rng.weighted([
    ['dust', 6],
    ['fraction', 30],
    ['whole', 28],
    ['medium', 26],
    ['large', 10],
  ] as const);
  const fraction = () => {
    const places = rng.between(1, 5);
    const digits = BigInt(rng.int(10 ** places));
    return digits * 10n ** BigInt(5 - places);
  };
  switch (shape) {
    case 'dust':
      return BigInt(rng.between(1, 999));
    case 'fraction':
      return BigInt(rng.int(20)) * 100_000n + fraction() || 1n;
    case 'whole':
      return BigInt(rng.between(1, 200)) * 100_000n;
    case 'medium':
      return BigInt(rng.between(1, 3_000)) * 100_000n + (rng.percent(50) ? fraction() : 0n);
    case 'large':
      return BigInt(rng.between(1_000, 200_000)) * 100_000n + (rng.percent(30) ? fraction() : 0n);
  }
}

// ---------------------------------------------------------------------------------------------
// Streams

interface StreamCustomer {
  label: string;
  /** Weight of wallet creation for this customer (one customer collects wallets up to the limit). */
  appetite: number;
  dbId: string;
  model: NaiveCustomer;
}

interface KeyedCall {
  procedure: string;
  key: string;
  request: unknown;
  run: (work: { door: Door }) => Promise<unknown>;
  /** The command is on the one door (its key travels in the door's scope). */
  result: unknown;
  customer: StreamCustomer;
  /** Another request under the same key (must be refused with IDEMPOTENCY_KEY_REUSED). */
  altered: { request: unknown; run: (work: { door: Door }) => Promise<unknown> };
}

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; detail?: string };

class ModelMismatch extends Error {}

class Stream {
  readonly rng: Rng;
  now = 0;
  step = 0;
  serial = 0;
  readonly history: string[] = [];
  readonly customers: StreamCustomer[] = [];
  readonly keyed: KeyedCall[] = [];
  orgId = '';
  counts = new Map<string, number>();
  /** Where the time goes (ms), reported with the summary. */
  readonly timing = { system: 0, verify: 0, audit: 0, finance: 0 };
  stepsRun = 0;
  /** After the random steps: the final far-future expiration run. */
  finalPhase = false;

  constructor(
    readonly seed: number,
    readonly index: number,
    readonly steps: number,
    readonly client: pg.Client,
  ) {
    this.rng = new Rng((seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
    this.now = START + index * 7 * DAY;
  }

  count(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }

  log(line: string): void {
    this.history.push(`#${this.step} ${new Date(this.now).toISOString()} ${line}`);
    if (this.history.length > 400) this.history.splice(0, 200);
  }

  fail(problem: string): ModelMismatch {
    return new ModelMismatch(
      [
        `model mismatch: seed=${this.seed} stream=${this.index} step=${this.step}: ${problem}`,
        `replay: MODEL_SEED=${this.seed} MODEL_STEPS=${(this.finalPhase ? this.stepsRun : this.step) * STREAMS} MODEL_STREAMS=${STREAMS} MODEL_BUDGET_SECONDS=0 npx vitest run test/model-based.test.ts`,
        `history of stream ${this.index} (last ${HISTORY_SHOWN} steps):`,
        ...this.history.slice(-HISTORY_SHOWN),
      ].join('\n'),
    );
  }

  nextKey(): string {
    return `s${this.index}-k${++this.serial}`;
  }

  allWallets(): { customer: StreamCustomer; wallet: ModelWallet }[] {
    return this.customers.flatMap((customer) => customer.model.wallets.map((wallet) => ({ customer, wallet })));
  }
}

function describeOutcome(outcome: Outcome<unknown>): string {
  return outcome.ok ? 'ok' : outcome.code;
}

function modelOutcome<T>(s: Stream, fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    if (error instanceof ModelRefusal) return { ok: false, code: error.code, detail: error.detail };
    throw s.fail(`the model itself failed: ${(error as Error)?.stack ?? String(error)}`);
  }
}

/** Runs a command as the API would: through its door, with the key in the door's own scope, the way the procedures pass it. */
async function realOutcome<T>(
  s: Stream,
  procedure: string,
  request: unknown,
  fn: (work: { door: Door }) => Promise<T>,
  key?: string,
): Promise<Outcome<T>> {
  const started = performance.now();
  const scope = { organizationId: s.orgId, procedure, idempotencyKey: key, request, now: new Date(s.now) };
  try {
    const value = await fn({ door: { db: groupDbOf(orm), scope } });
    return { ok: true, value };
  } catch (error) {
    if (error instanceof WalletError) return { ok: false, code: error.code };
    throw s.fail(`unexpected error from ${procedure}: ${(error as Error)?.stack ?? String(error)}`);
  } finally {
    s.timing.system += performance.now() - started;
  }
}

function expectSameOutcome(s: Stream, what: string, expected: Outcome<unknown>, actual: Outcome<unknown>): void {
  if (expected.ok !== actual.ok || (!expected.ok && !actual.ok && expected.code !== actual.code)) {
    throw s.fail(`${what}: model says ${describeOutcome(expected)}, system says ${describeOutcome(actual)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Comparing the system with the model

interface WalletDtoLike {
  id: string;
  status: string;
  currency: string;
  rateAmount: string;
  balanceCents: number;
  creditsBalance: string;
  ongoingBalanceCents: number;
  creditsOngoingBalance: string;
  consumedCredits: string;
  consumedAmountCents: number;
  code: string;
}

interface TxDtoLike {
  id: string;
  walletId: string;
  transactionType: string;
  status: string;
  transactionStatus: string;
  source: string;
  creditAmount: string;
  amountCents: number;
  remainingCreditAmount: string | null;
  remainingAmountCents: number | null;
  priority: number;
  expirationAt: Date | null;
  invoiceId: string | null;
}

function compareWalletDto(s: Stream, dto: WalletDtoLike, model: ModelWallet): void {
  const expected = {
    id: model.id,
    status: model.status,
    currency: model.currency,
    rateAmount: formatCredits(model.rate),
    balanceCents: Number(model.balanceCents),
    creditsBalance: formatCredits(model.balanceCredits),
    ongoingBalanceCents: Number(model.balanceCents),
    creditsOngoingBalance: formatCredits(model.balanceCredits),
    consumedCredits: formatCredits(model.consumedCredits),
    consumedAmountCents: Number(model.consumedCents),
  };
  const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, dto[k as keyof WalletDtoLike]]));
  if (!isDeepStrictEqual(actual, expected)) {
    throw s.fail(`wallet response differs\n  model:  ${JSON.stringify(expected)}\n  system: ${JSON.stringify(actual)}`);
  }
}

function refId(wallet: ModelWallet, ref: number | null): string | null {
  if (ref === null) return null;
  return wallet.txs.find((t) => t.ref === ref)?.id ?? `unresolved-ref-${ref}`;
}

function modelTxView(wallet: ModelWallet, tx: ModelTx) {
  return {
    walletId: wallet.id,
    transactionType: tx.direction,
    status: tx.status,
    transactionStatus: tx.kind,
    source: tx.source,
    creditAmount: formatCredits(tx.credits),
    amountCents: Number(tx.cents),
    remainingCreditAmount: tx.remainingCredits === null ? null : formatCredits(tx.remainingCredits),
    remainingAmountCents: tx.remainingCents === null ? null : Number(tx.remainingCents),
    priority: tx.priority,
    expirationAt: tx.expirationAt,
    invoiceId: tx.invoiceId,
  };
}

function compareTxDto(s: Stream, dto: TxDtoLike, wallet: ModelWallet, tx: ModelTx): void {
  const expected = { id: tx.id, ...modelTxView(wallet, tx) };
  const actual = {
    id: dto.id,
    walletId: dto.walletId,
    transactionType: dto.transactionType,
    status: dto.status,
    transactionStatus: dto.transactionStatus,
    source: dto.source,
    creditAmount: dto.creditAmount,
    amountCents: dto.amountCents,
    remainingCreditAmount: dto.remainingCreditAmount,
    remainingAmountCents: dto.remainingAmountCents,
    priority: dto.priority,
    expirationAt: dto.expirationAt === null ? null : dto.expirationAt.getTime(),
    invoiceId: dto.invoiceId,
  };
  if (!isDeepStrictEqual(actual, expected)) {
    throw s.fail(`transaction response differs\n  model:  ${JSON.stringify(expected)}\n  system: ${JSON.stringify(actual)}`);
  }
}

/** Rows as the verification query returns them: numbers as text, times as epoch milliseconds. */
interface WalletRow {
  id: string;
  status: string;
  balance_cents: string;
  credits_balance: string;
  ongoing_balance_cents: string;
  credits_ongoing_balance: string;
  consumed_credits: string;
  consumed_amount_cents: string;
  terminated_at: string | null;
}

interface TxRow {
  id: string;
  wallet_id: string;
  transaction_type: string;
  status: string;
  transaction_status: string;
  source: string;
  credit_amount: string;
  amount_cents: string;
  remaining_credit_amount: string | null;
  remaining_amount_cents: string | null;
  voided_transaction_id: string | null;
  priority: number;
  expiration_at: string | null;
  invoice_id: string | null;
  created_at: string;
}

const epochMs = (column: string) => `(extract(epoch from ${column}) * 1000)::bigint::text as ${column}`;

/** One round trip: the organization's ledger row count, the customer's wallets, the listed wallets' ledgers. */
const VERIFY_SQL = `select
  (select count(*) from wallet_transactions where organization_id = $1)::int as org_tx_count,
  (select coalesce(json_agg(w), '[]'::json) from (
     select id, status, balance_cents::text, credits_balance::text, ongoing_balance_cents::text, credits_ongoing_balance::text,
            consumed_credits::text, consumed_amount_cents::text, ${epochMs('terminated_at')}
       from wallets where organization_id = $1 and customer_id = $2) w) as wallets,
  (select coalesce(json_agg(t), '[]'::json) from (
     select id, wallet_id, transaction_type, status, transaction_status, source, credit_amount::text, amount_cents::text,
            remaining_credit_amount::text, remaining_amount_cents::text, voided_transaction_id, priority, ${epochMs('expiration_at')},
            invoice_id, ${epochMs('created_at')}
       from wallet_transactions where organization_id = $1 and wallet_id = any($3::uuid[])) t) as txs`;

function rowSignature(row: TxRow): string {
  return [
    row.transaction_type,
    row.transaction_status,
    row.status,
    row.source,
    formatCredits(parseCredits(row.credit_amount)),
    row.amount_cents,
    row.remaining_credit_amount === null ? '-' : formatCredits(parseCredits(row.remaining_credit_amount)),
    row.remaining_amount_cents ?? '-',
    row.voided_transaction_id ?? '-',
    row.priority,
    row.expiration_at ?? '-',
    row.invoice_id ?? '-',
    row.created_at,
  ].join(' ');
}

function modelSignature(wallet: ModelWallet, tx: ModelTx): string {
  return [
    tx.direction,
    tx.kind,
    tx.status,
    tx.source,
    formatCredits(tx.credits),
    tx.cents.toString(),
    tx.remainingCredits === null ? '-' : formatCredits(tx.remainingCredits),
    tx.remainingCents?.toString() ?? '-',
    refId(wallet, tx.voidedRef) ?? '-',
    tx.priority,
    tx.expirationAt ?? '-',
    tx.invoiceId ?? '-',
    tx.createdAt,
  ].join(' ');
}

/** The customer's wallets (all of them) and the ledger rows of `ledgerOf` (default: all). */
async function verify(s: Stream, customer: StreamCustomer, ledgerOf?: readonly string[]): Promise<void> {
  const started = performance.now();
  try {
    await verifyAgainstModel(s, customer, ledgerOf);
  } finally {
    s.timing.verify += performance.now() - started;
  }
}

async function verifyAgainstModel(s: Stream, customer: StreamCustomer, ledgerOf?: readonly string[]): Promise<void> {
  const model = customer.model;
  const ids = ledgerOf ?? model.wallets.map((w) => w.id);
  const { rows } = await s.client.query<{ org_tx_count: number; wallets: WalletRow[]; txs: TxRow[] }>(VERIFY_SQL, [s.orgId, customer.dbId, ids]);
  const found = rows[0];
  if (!found) throw s.fail('verification query returned nothing');
  if (found.wallets.length !== model.wallets.length) {
    throw s.fail(`${customer.label} has ${found.wallets.length} wallets in the database, ${model.wallets.length} in the model`);
  }
  for (const row of found.wallets) {
    const w = model.wallet(row.id);
    if (!w) throw s.fail(`unexpected wallet ${row.id} for ${customer.label}`);
    const expected = [
      w.status,
      w.balanceCents,
      w.balanceCredits,
      w.balanceCents,
      w.balanceCredits,
      w.consumedCredits,
      w.consumedCents,
      w.terminatedAt,
    ];
    const actual = [
      row.status,
      BigInt(row.balance_cents),
      parseCredits(row.credits_balance),
      BigInt(row.ongoing_balance_cents),
      parseCredits(row.credits_ongoing_balance),
      parseCredits(row.consumed_credits),
      BigInt(row.consumed_amount_cents),
      row.terminated_at === null ? null : Number(row.terminated_at),
    ];
    if (!isDeepStrictEqual(actual, expected)) {
      const show = (values: unknown[]) => values.map(String).join(', ');
      throw s.fail(
        `wallet ${row.id} of ${customer.label} differs [status, balanceCents, credits, ongoingCents, ongoingCredits, consumedCredits, consumedCents, terminatedAt]\n  model:  ${show(expected)}\n  system: ${show(actual)}`,
      );
    }
  }
  const modelTxCount = s.allWallets().reduce((n, { wallet }) => n + wallet.txs.length, 0);
  if (found.org_tx_count !== modelTxCount) {
    throw s.fail(`the organization has ${found.org_tx_count} ledger rows, the model ${modelTxCount}`);
  }
  const byId = new Map(found.txs.map((row) => [row.id, row]));
  for (const walletId of ids) {
    const w = model.wallet(walletId);
    if (!w) throw s.fail(`model has no wallet ${walletId}`);
    const unnamed: ModelTx[] = [];
    for (const tx of w.txs) {
      if (tx.id === null) {
        unnamed.push(tx);
        continue;
      }
      const row = byId.get(tx.id);
      if (!row || row.wallet_id !== walletId) throw s.fail(`transaction ${tx.id} of wallet ${walletId} is missing from the database`);
      const expected = modelSignature(w, tx);
      const actual = rowSignature(row);
      if (expected !== actual) {
        throw s.fail(
          `transaction ${tx.id} (wallet ${walletId}) differs [type kind status source credits cents remCredits remCents voidedTx priority expiry invoice createdAt]\n  model:  ${expected}\n  system: ${actual}`,
        );
      }
      byId.delete(tx.id);
    }
    // Rows the system wrote by itself (expiry, termination, claw-back voids; a new wallet's first
    // transactions): matched by content, and their ids adopted.
    for (const tx of unnamed) {
      const expected = modelSignature(w, tx);
      const match = [...byId.values()].find((row) => row.wallet_id === walletId && rowSignature(row) === expected);
      if (!match) {
        const left = [...byId.values()].filter((row) => row.wallet_id === walletId).map(rowSignature);
        throw s.fail(`wallet ${walletId}: no ledger row matches the model's\n  model:  ${expected}\n  unmatched rows:\n    ${left.join('\n    ')}`);
      }
      tx.id = match.id;
      byId.delete(match.id);
    }
  }
  if (byId.size > 0) {
    throw s.fail(`ledger rows the model does not know:\n  ${[...byId.values()].map((r) => `${r.wallet_id}: ${rowSignature(r)}`).join('\n  ')}`);
  }
}

async function audit(s: Stream): Promise<void> {
  const started = performance.now();
  const mine = new Set(s.allWallets().map(({ wallet }) => wallet.id));
  const problems = (await auditLedger(databaseUrl)).filter((p) => mine.has(p.walletId));
  if (problems.length > 0) throw s.fail(`ledger audit: ${JSON.stringify(problems)}`);
  for (const customer of s.customers) await verify(s, customer);
  s.timing.audit += performance.now() - started;
}

// ---------------------------------------------------------------------------------------------
// Actions

function walletLabel(customer: StreamCustomer, wallet: ModelWallet | undefined): string {
  if (!wallet) return `${customer.label}/?`;
  return `${customer.label}/w${customer.model.wallets.indexOf(wallet)}`;
}

function maybeKey(s: Stream): string | undefined {
  return s.rng.percent(12) ? s.nextKey() : undefined;
}

/** After a keyed call succeeded: remember it, and sometimes replay it at once. */
async function rememberKeyed(s: Stream, call: KeyedCall): Promise<void> {
  s.keyed.push(call);
  if (s.keyed.length > 200) s.keyed.splice(0, 100);
  if (s.rng.percent(50)) await replay(s, call, false);
}

async function replay(s: Stream, call: KeyedCall, alter: boolean): Promise<void> {
  s.count(alter ? 'replay (other request)' : 'replay');
  const request = alter ? call.altered.request : call.request;
  const run = alter ? call.altered.run : call.run;
  s.log(`replay ${call.procedure} key=${call.key}${alter ? ' with another request' : ''}`);
  const actual = await realOutcome(s, call.procedure, request, run, call.key);
  if (alter) {
    expectSameOutcome(s, 'replay with another request', { ok: false, code: 'IDEMPOTENCY_KEY_REUSED' }, actual);
  } else {
    if (!actual.ok) throw s.fail(`replay of ${call.key} refused with ${actual.code}`);
    if (!isDeepStrictEqual(actual.value, call.result)) {
      throw s.fail(`replay of ${call.key} answered differently\n  first:  ${JSON.stringify(call.result)}\n  replay: ${JSON.stringify(actual.value)}`);
    }
  }
  await verify(s, call.customer);
}

async function createWalletStep(s: Stream, customer: StreamCustomer): Promise<void> {
  const { rng } = s;
  const model = customer.model;
  const otherCurrency = rng.pick(Object.keys(CURRENCY_DIGITS).filter((c) => c !== model.currency));
  const currency =
    model.currency === null
      ? rng.percent(95)
        ? customer.label.split(':')[1]
        : undefined
      : rng.percent(4)
        ? otherCurrency
        : rng.percent(20)
          ? model.currency
          : undefined;
  const digits = CURRENCY_DIGITS[currency ?? model.currency ?? 'EUR'] ?? 2;
  const unit = 10n ** BigInt(digits);
  const active = model.activeWallets();
  const code = rng.percent(8) && active.length > 0 ? rng.pick(active).code : rng.percent(10) ? `code_${s.serial++}` : undefined;
  const min = rng.percent(25) ? rng.pick([unit / 2n || 1n, unit * 5n, unit * 20n]) : undefined;
  const max = rng.percent(25) ? rng.pick([unit * 50n, unit * 300n, unit * 5_000n]) : undefined;
  const expiry = rng.percent(50)
    ? undefined
    : rng.percent(4)
      ? s.now - rng.int(2) * HOUR
      : Math.ceil(s.now / HOUR) * HOUR + rng.pick([2 * HOUR, DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY]);
  const request: WalletRequest = {
    currency,
    rate: rng.pick(RATES),
    code,
    paidCredits: rng.percent(40) ? randomCredits(rng) : undefined,
    grantedCredits: rng.percent(50) ? randomCredits(rng) : undefined,
    expirationAt: expiry,
    minCents: min,
    maxCents: max,
    ignoreLimits: rng.percent(15),
  };
  const input: CreateWalletInput = {
    externalCustomerId: model.externalId,
    rateAmount: request.rate,
    currency: request.currency,
    code: request.code,
    paidCredits: request.paidCredits,
    grantedCredits: request.grantedCredits,
    expirationAt: expiry === undefined ? undefined : new Date(expiry),
    paidTopUpMinAmountCents: min,
    paidTopUpMaxAmountCents: max,
    ignorePaidTopUpLimitsOnCreation: request.ignoreLimits || undefined,
  };
  const key = maybeKey(s);
  const expected = modelOutcome(s, () => model.planWallet(request, s.now));
  const run = (work: { door: Door }) => createWallet(work, input);
  const actual = await realOutcome(s, 'wallets.create', input, run, key);
  s.log(
    `createWallet ${customer.label} ${currency ?? '(customer currency)'} rate=${formatCredits(request.rate)} paid=${fmt(request.paidCredits)} granted=${fmt(request.grantedCredits)} ` +
      `min=${min ?? '-'} max=${max ?? '-'} ignore=${request.ignoreLimits} code=${code ?? '-'} expiry=${expiry === undefined ? '-' : new Date(expiry).toISOString()}${key ? ` key=${key}` : ''} -> ${describeOutcome(actual)}`,
  );
  expectSameOutcome(s, 'createWallet', expected, actual);
  s.count(`createWallet -> ${describeOutcome(actual)}`);
  if (!expected.ok || !actual.ok) {
    await verify(s, customer, []);
    return;
  }
  const { wallet, expired } = expected.value;
  for (const w of expired) model.commit(w);
  if (model.activeWallets().some((w) => w.code === actual.value.code)) {
    throw s.fail(`new wallet got code ${actual.value.code}, already used by an active wallet`);
  }
  model.acceptWallet(wallet, actual.value.id, actual.value.code);
  compareWalletDto(s, actual.value, wallet);
  await verify(s, customer, [wallet.id, ...expired.map((w) => w.id)]);
  if (key) {
    await rememberKeyed(s, {
      procedure: 'wallets.create',
      key,
      request: input,
      run,
      result: actual.value,
      customer,
      altered: alteredCall({ ...input, rateAmount: input.rateAmount + 1n }, (work, req) => createWallet(work, req)),
    });
  }
}

function alteredCall<I>(request: I, fn: (work: { door: Door }, request: I) => Promise<unknown>): KeyedCall['altered'] {
  return { request, run: (work) => fn(work, request) };
}

function fmt(credits: bigint | undefined): string {
  return credits === undefined ? '-' : formatCredits(credits);
}

function pickWallet(s: Stream, customer: StreamCustomer): ModelWallet | undefined {
  const active = customer.model.activeWallets();
  if (active.length > 0 && s.rng.percent(93)) return s.rng.pick(active);
  return customer.model.wallets.length > 0 ? s.rng.pick(customer.model.wallets) : undefined;
}

function lotExpiry(s: Stream, wallet: ModelWallet | undefined): number | undefined {
  const { rng } = s;
  if (rng.percent(65)) return undefined;
  const roll = rng.int(100);
  if (roll < 5) return s.now;
  if (roll < 9) return s.now - HOUR;
  // Aligned to the hour, so several lots often share an expiry (the order then falls to kind, age).
  const candidate = Math.ceil(s.now / HOUR) * HOUR + rng.pick([HOUR, 6 * HOUR, DAY, 2 * DAY, 4 * DAY]);
  if (wallet && wallet.expirationAt !== null && candidate > wallet.expirationAt && rng.percent(80)) return wallet.expirationAt;
  return candidate;
}

async function transactionsStep(s: Stream, customer: StreamCustomer): Promise<void> {
  const { rng } = s;
  const wallet = pickWallet(s, customer);
  const foreignWallet = !wallet || rng.int(1000) < 5;
  const walletId = foreignWallet ? (rng.percent(50) ? foreign.walletId : randomUUID()) : wallet.id;
  const shape = rng.weighted([
    ['paid', 30],
    ['granted', 25],
    ['voided', 30],
    ['mixed', 15],
  ] as const);
  const request: TransactionsRequest = {
    paidCredits: undefined,
    grantedCredits: undefined,
    voidedCredits: undefined,
    ignoreLimits: rng.percent(15),
    expirationAt: undefined,
    priority: rng.percent(40) ? rng.pick([1, 2, 10, 50]) : undefined,
  };
  const voidAmount = () => {
    const balance = wallet?.balanceCredits ?? 0n;
    // A wallet holding more credits than its cents are worth (after voids that rounded up): voiding
    // everything is then refused on the cents alone; try it often.
    if (wallet && creditsToMinor(balance, wallet.rate, wallet.digits) > wallet.balanceCents && rng.percent(50)) return balance;
    const roll = rng.int(100);
    if (balance > 0n && roll < 35) return 1n + rng.bigBelow(balance);
    if (balance > 0n && roll < 48) return balance;
    // Just under the balance: the credits fit, yet their own cents may round above the cents left.
    if (balance > 1_000n && roll < 58) return balance - BigInt(rng.between(1, 1_000));
    if (roll < 66) return balance + BigInt(rng.between(1, 1_000));
    if (roll < 72) return BigInt(rng.between(1, 999));
    if (wallet && roll < 82) {
      // An odd number of half minor units: its cents round up, so the wallet is left holding more
      // credits than its cents are worth, and a later void of "everything" is refused on its cents.
      const halfUnit = (10n ** BigInt(10 - wallet.digits) + 2n * wallet.rate - 1n) / (2n * wallet.rate);
      return halfUnit * BigInt(2 * rng.between(0, 3) + 1);
    }
    return randomCredits(rng);
  };
  if (shape === 'paid') request.paidCredits = randomCredits(rng);
  if (shape === 'granted') request.grantedCredits = randomCredits(rng);
  if (shape === 'voided') request.voidedCredits = voidAmount();
  if (shape === 'mixed') {
    const parts = rng.pick(['paid+granted', 'paid+voided', 'granted+voided', 'paid+granted+voided']);
    if (parts.includes('paid')) request.paidCredits = randomCredits(rng);
    if (parts.includes('granted')) request.grantedCredits = randomCredits(rng);
    if (parts.includes('voided')) request.voidedCredits = voidAmount();
  }
  if (request.paidCredits !== undefined || request.grantedCredits !== undefined) request.expirationAt = lotExpiry(s, wallet);
  const input: CreateTransactionsInput = {
    walletId,
    paidCredits: request.paidCredits,
    grantedCredits: request.grantedCredits,
    voidedCredits: request.voidedCredits,
    ignorePaidTopUpLimits: request.ignoreLimits || undefined,
    expirationAt: request.expirationAt === undefined ? undefined : new Date(request.expirationAt),
    priority: request.priority,
  };
  const key = maybeKey(s);
  const expected = modelOutcome(s, () => customer.model.createTransactions(walletId, request, s.now));
  const run = (work: { door: Door }) => createWalletTransactions(work, input);
  const actual = await realOutcome(s, 'walletTransactions.create', input, run, key);
  s.log(
    `transactions ${foreignWallet ? 'foreign wallet' : walletLabel(customer, wallet)} paid=${fmt(request.paidCredits)} granted=${fmt(request.grantedCredits)} ` +
      `voided=${fmt(request.voidedCredits)} ignore=${request.ignoreLimits} priority=${request.priority ?? '-'} ` +
      `expiry=${request.expirationAt === undefined ? '-' : new Date(request.expirationAt).toISOString()} balance=${fmt(wallet?.balanceCredits)}/${wallet?.balanceCents ?? '-'}` +
      `${key ? ` key=${key}` : ''} -> ${describeOutcome(actual)}`,
  );
  expectSameOutcome(s, 'createWalletTransactions', expected, actual);
  s.count(`transactions(${shape}) -> ${describeOutcome(actual)}`);
  if (!expected.ok && expected.detail === 'cents') s.count('void refused on its cents alone');
  if (!expected.ok || !actual.ok) {
    await verify(s, customer, wallet && !foreignWallet ? [wallet.id] : []);
    return;
  }
  const { wallet: next, created } = expected.value;
  const dtos = actual.value.transactions;
  if (dtos.length !== created.length) throw s.fail(`system wrote ${dtos.length} transactions, the model ${created.length}`);
  for (const [i, tx] of created.entries()) {
    const dto = dtos[i] as TxDtoLike;
    tx.id = dto.id;
    compareTxDto(s, dto, next, tx);
  }
  customer.model.commit(next);
  await verify(s, customer, [next.id]);
  if (key) {
    await rememberKeyed(s, {
      procedure: 'walletTransactions.create',
      key,
      request: input,
      run,
      result: actual.value,
      customer,
      altered: alteredCall({ ...input, grantedCredits: (input.grantedCredits ?? 0n) + 100_000n }, (work, req) => createWalletTransactions(work, req)),
    });
  }
}

async function paymentStep(s: Stream, customer: StreamCustomer): Promise<void> {
  const { rng } = s;
  const all = customer.model.wallets.flatMap((wallet) => wallet.txs.filter((tx) => tx.id !== null).map((tx) => ({ wallet, tx })));
  const purchases = all.filter(({ tx }) => tx.kind === 'purchased');
  const byStatus = (status: string) => purchases.filter(({ tx }) => tx.status === status);
  const choice = rng.weighted([
    ['pending', 60],
    ['failed', 14],
    ['settled', 20],
    ['not a purchase', 5],
    ['unknown', 1],
  ] as const);
  const pool = choice === 'not a purchase' ? all.filter(({ tx }) => tx.kind !== 'purchased') : choice === 'unknown' ? [] : byStatus(choice);
  const target = pool.length > 0 ? rng.pick(pool) : purchases.length > 0 && choice !== 'unknown' ? rng.pick(purchases) : undefined;
  const id = target?.tx.id ?? (rng.percent(50) ? foreign.transactionId : randomUUID());
  const status = rng.percent(68) ? ('succeeded' as const) : ('failed' as const);
  const invoiceId = rng.percent(20) ? `inv-${s.index}-${s.serial++}` : undefined;
  const input: RecordPaymentInput = { id, status, invoiceId };
  const key = maybeKey(s);
  const expected = modelOutcome(s, () => customer.model.recordPayment(id, status, invoiceId, s.now));
  const run = (work: { door: Door }) => recordPayment(work, input);
  const actual = await realOutcome(s, 'walletTransactions.recordPayment', input, run, key);
  const label = target
    ? `${walletLabel(customer, target.wallet)} ${target.tx.kind}/${target.tx.status}${target.tx.clawedBack ? '/clawed-back' : ''} ${fmt(target.tx.credits)}`
    : 'unknown transaction';
  s.log(`recordPayment ${label} ${status}${invoiceId ? ` invoice=${invoiceId}` : ''}${key ? ` key=${key}` : ''} -> ${describeOutcome(actual)}`);
  expectSameOutcome(s, 'recordPayment', expected, actual);
  s.count(`recordPayment(${target ? `${target.tx.kind}/${target.tx.status}` : 'unknown'} ${status}) -> ${describeOutcome(actual)}`);
  if (target && actual.ok && target.wallet.status === 'active' && target.wallet.expirationAt !== null && target.wallet.expirationAt <= s.now) {
    s.count('recordPayment on a wallet past its expiry');
  }
  if (!expected.ok || !actual.ok) {
    await verify(s, customer, target ? [target.wallet.id] : []);
    return;
  }
  customer.model.commit(expected.value.wallet);
  compareTxDto(s, actual.value, expected.value.wallet, expected.value.tx);
  await verify(s, customer, [expected.value.wallet.id]);
  if (key) {
    await rememberKeyed(s, {
      procedure: 'walletTransactions.recordPayment',
      key,
      request: input,
      run,
      result: actual.value,
      customer,
      altered: alteredCall<RecordPaymentInput>({ ...input, status: status === 'succeeded' ? 'failed' : 'succeeded' }, (work, req) =>
        recordPayment(work, req),
      ),
    });
  }
}

async function terminateStep(s: Stream, customer: StreamCustomer, chosen?: ModelWallet): Promise<void> {
  const ended = customer.model.wallets.filter((w) => w.status === 'terminated');
  const wallet = chosen ?? (ended.length > 0 && s.rng.percent(20) ? s.rng.pick(ended) : pickWallet(s, customer));
  const walletId = wallet?.id ?? foreign.walletId;
  const key = maybeKey(s);
  const expected = modelOutcome(s, () => customer.model.terminate(walletId, s.now));
  const run = (work: { door: Door }) => terminateWallet(work, walletId);
  const actual = await realOutcome(s, 'wallets.terminate', { id: walletId }, run, key);
  s.log(
    `terminate ${walletLabel(customer, wallet)} (${wallet?.status ?? 'foreign'}, ${wallet?.txs.length ?? 0} rows)${key ? ` key=${key}` : ''} -> ${describeOutcome(actual)}`,
  );
  expectSameOutcome(s, 'terminateWallet', expected, actual);
  s.count(`terminate(${wallet?.status ?? 'foreign'}) -> ${describeOutcome(actual)}`);
  if (!expected.ok || !actual.ok) {
    await verify(s, customer, []);
    return;
  }
  customer.model.commit(expected.value);
  compareWalletDto(s, actual.value, expected.value);
  await verify(s, customer, [walletId]);
  if (key) {
    const other = customer.model.wallets.find((w) => w.id !== walletId)?.id ?? randomUUID();
    await rememberKeyed(s, {
      procedure: 'wallets.terminate',
      key,
      request: { id: walletId },
      run,
      result: actual.value,
      customer,
      altered: alteredCall({ id: other }, (work, req) => terminateWallet(work, req.id)),
    });
  }
}

/** The expiration sweep, as the job runs it: find what is due, then expire each wallet. */
async function expirationStep(s: Stream): Promise<void> {
  const asOf = new Date(s.now);
  const found = (await findWalletsDueForExpiration(orm.em.fork() as unknown as EntityManager, asOf)).filter((d) => d.organizationId === s.orgId);
  const due = s.allWallets().filter(({ customer, wallet }) => customer.model.isDue(wallet, s.now));
  const foundIds = found.map((d) => d.walletId).sort();
  const dueIds = due.map(({ wallet }) => wallet.id).sort();
  s.log(`expiration job: ${due.map(({ customer, wallet }) => walletLabel(customer, wallet)).join(', ') || 'nothing due'}`);
  if (!isDeepStrictEqual(foundIds, dueIds)) throw s.fail(`wallets due for expiration: model ${dueIds.join(',')}, system ${foundIds.join(',')}`);
  s.count(`expiration job (${due.length} due)`);
  for (const { customer, wallet } of due) {
    const expected = customer.model.expire(wallet.id, s.now);
    const key = s.rng.percent(30) ? s.nextKey() : undefined;
    let outcome: { walletsExpired: number; lotsExpired: number };
    try {
      outcome = await expireWallet(orm.em as unknown as EntityManager, { organizationId: s.orgId, walletId: wallet.id }, asOf, key);
    } catch (error) {
      throw s.fail(`expireWallet failed: ${(error as Error)?.stack ?? String(error)}`);
    }
    s.log(`  expire ${walletLabel(customer, wallet)} -> wallets=${outcome.walletsExpired} lots=${outcome.lotsExpired}`);
    if (outcome.walletsExpired !== expected.walletsExpired || outcome.lotsExpired !== expected.lotsExpired) {
      throw s.fail(`expireWallet outcome: model ${JSON.stringify(expected)}, system ${JSON.stringify(outcome)}`);
    }
    customer.model.commit(expected.wallet);
    await verify(s, customer, [wallet.id]);
    if (s.rng.percent(25)) {
      // The same work again (a second worker, a retry): a keyed replay answers the first outcome,
      // an unkeyed one finds nothing left to do. Either way nothing changes.
      const again = await expireWallet(orm.em as unknown as EntityManager, { organizationId: s.orgId, walletId: wallet.id }, asOf, key);
      const wanted = key ? outcome : { walletsExpired: 0, lotsExpired: 0 };
      if (!isDeepStrictEqual(again, wanted))
        throw s.fail(`expireWallet run twice answered ${JSON.stringify(again)}, expected ${JSON.stringify(wanted)}`);
      await verify(s, customer, [wallet.id]);
    }
  }
}

function advanceClock(s: Stream): void {
  const { rng } = s;
  // Sometimes land exactly on the next expiry (a wallet's or a lot's): "expired" means at or after it.
  const boundaries = s
    .allWallets()
    .flatMap(({ wallet }) => [wallet.expirationAt, ...wallet.txs.map((tx) => tx.expirationAt)])
    .filter((at): at is number => at !== null && at > s.now && at <= s.now + 5 * DAY);
  if (boundaries.length > 0 && rng.percent(6)) {
    s.now = Math.min(...boundaries);
    s.count('clock lands on an expiry');
    return;
  }
  const kind = rng.weighted([
    ['seconds', 70],
    ['hours', 25],
    ['day', 4],
    ['days', 1],
  ] as const);
  const ms =
    kind === 'seconds'
      ? rng.between(1, 600) * 1_000
      : kind === 'hours'
        ? rng.between(600, 7_200) * 1_000
        : kind === 'day'
          ? rng.between(2 * 3_600, 24 * 3_600) * 1_000
          : rng.between(1, 3) * DAY;
  s.now += ms;
}

async function runStep(s: Stream): Promise<void> {
  advanceClock(s);
  const { rng } = s;
  const customer = rng.pick(s.customers);
  const active = customer.model.activeWallets();
  // The system loads every live lot of a wallet on each top-up or void, so long-lived wallets make
  // each step slower; retire them (a termination is a step worth testing anyway).
  const crowded = active.find((w) => w.txs.length > MAX_ROWS_PER_WALLET);
  if (crowded) {
    await terminateStep(s, customer, crowded);
    return;
  }
  const action = rng.weighted([
    ['createWallet', active.length === 0 ? 60 : customer.appetite],
    ['transactions', 44],
    ['payment', 28],
    ['terminate', 2],
    ['expiration', 4],
    ['replay', s.keyed.length > 0 ? 3 : 0],
  ] as const);
  switch (action) {
    case 'createWallet':
      return createWalletStep(s, customer);
    case 'transactions':
      return transactionsStep(s, customer);
    case 'payment':
      return paymentStep(s, customer);
    case 'terminate':
      return terminateStep(s, customer);
    case 'expiration':
      return expirationStep(s);
    case 'replay':
      return replay(s, rng.pick(s.keyed), rng.percent(30));
  }
}

// ---------------------------------------------------------------------------------------------
// Finance: the period report and balances as of a moment, against the model's own history.

const REPORT_LINES = ['toppedUp', 'recredited', 'consumed', 'voided', 'expired', 'terminated', 'clawedBack'] as const;
type Line = (typeof REPORT_LINES)[number] | 'opening' | 'closing';
type Kinds = { purchasedCents: number; grantedCents: number };

/** The line an outbound row's cents go to, by the report's rules (written here from the rules, not from finance.ts). */
function outboundLine(tx: { kind: string; source: string }): Line {
  if (tx.kind === 'invoiced') return 'consumed';
  return tx.source === 'expiration'
    ? 'expired'
    : tx.source === 'termination'
      ? 'terminated'
      : tx.source === 'payment_failure'
        ? 'clawedBack'
        : 'voided';
}

/** The report the model's history gives for (from, to], in one currency, optionally one customer. */
function modelReport(s: Stream, currency: string, customer: StreamCustomer | null, from: number, to: number) {
  const sums = new Map<string, bigint>();
  const add = (line: Line, kind: string, cents: bigint) => sums.set(`${line}/${kind}`, (sums.get(`${line}/${kind}`) ?? 0n) + cents);
  let pending = 0n;
  for (const c of customer ? [customer] : s.customers) {
    for (const wallet of c.model.wallets.filter((w) => w.currency === currency)) {
      for (const tx of wallet.txs) {
        if (tx.direction === 'inbound' && tx.settledAt !== undefined && tx.settledAt <= to) {
          add(tx.settledAt <= from ? 'opening' : (tx.source as string) === 'invoice_void' ? 'recredited' : 'toppedUp', tx.kind, tx.cents);
          add('closing', tx.kind, tx.cents);
        }
        if (tx.direction === 'outbound' && tx.createdAt <= to) {
          for (const take of tx.takes ?? []) {
            if (tx.createdAt <= from) add('opening', take.kind, -take.cents);
            else add(outboundLine(tx), take.kind, take.cents);
            add('closing', take.kind, -take.cents);
          }
        }
        if (tx.kind === 'purchased' && tx.status === 'pending' && tx.createdAt <= to) pending += tx.cents;
      }
    }
  }
  const kinds = (line: Line): Kinds => ({
    purchasedCents: Number(sums.get(`${line}/purchased`) ?? 0n),
    grantedCents: Number(sums.get(`${line}/granted`) ?? 0n),
  });
  return {
    lines: Object.fromEntries((['opening', ...REPORT_LINES, 'closing'] as const).map((line) => [line, kinds(line)])) as Record<Line, Kinds>,
    /** Known only at the end: the model keeps a purchase's present status, not when it failed. */
    pendingNow: Number(pending),
  };
}

function reportLines(report: CreditsReport): Record<Line, Kinds> {
  return Object.fromEntries(
    (['opening', ...REPORT_LINES, 'closing'] as const).map((line) => [
      line,
      { purchasedCents: report[line].purchasedCents, grantedCents: report[line].grantedCents },
    ]),
  ) as Record<Line, Kinds>;
}

/**
 * A fast-check property over this stream's random history: for random cuts from < mid < to and
 * either the whole organization or one customer, reports.credits gives exactly the model's lines,
 * opening + in - out = closing per kind, and the first period's closing is the second's opening;
 * a wallet's balance as of a random moment is the model's, per kind.
 */
async function financeProperty(s: Stream): Promise<void> {
  const em = orm.em.fork() as unknown as EntityManager;
  const first = START + s.index * 7 * DAY - DAY;
  const end = s.now;
  const moment = fc.oneof(
    fc.integer({ min: first, max: end + DAY }),
    // Exactly on a movement's time, where "at or before" matters.
    fc.constantFrom(...s.allWallets().flatMap(({ wallet }) => wallet.txs.flatMap((tx) => [tx.createdAt, tx.settledAt ?? tx.createdAt]))),
  );
  const customers = s.customers.filter((c) => c.model.wallets.length > 0);
  if (customers.length === 0) return;
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(fc.tuple(moment, moment, moment), fc.constantFrom(...customers), fc.boolean(), async (cuts, customer, wholeOrganization) => {
      const [from, mid, to] = [...cuts].sort((a, b) => a - b) as [number, number, number];
      if (!(from < mid && mid < to)) return;
      const currency = customer.model.wallets[0]?.currency as string;
      const scope = wholeOrganization ? null : customer;
      const ask = (a: number, b: number) =>
        creditsReport(em, s.orgId, {
          currency,
          from: new Date(a),
          to: new Date(b),
          ...(scope ? { externalCustomerId: scope.model.externalId } : {}),
        });
      const [left, right, whole] = [await ask(from, mid), await ask(mid, to), await ask(from, to)];
      for (const [report, a, b] of [
        [left, from, mid],
        [right, mid, to],
        [whole, from, to],
      ] as const) {
        const expected = modelReport(s, currency, scope, a, b);
        if (!isDeepStrictEqual(reportLines(report), expected.lines)) {
          throw s.fail(
            `reports.credits ${currency} (${new Date(a).toISOString()}, ${new Date(b).toISOString()}] ${scope?.label ?? 'organization'}\n  model:  ${JSON.stringify(expected.lines)}\n  system: ${JSON.stringify(reportLines(report))}`,
          );
        }
        for (const kind of ['purchasedCents', 'grantedCents'] as const) {
          const inflow = report.toppedUp[kind] + report.recredited[kind];
          const outflow = report.consumed[kind] + report.voided[kind] + report.expired[kind] + report.terminated[kind] + report.clawedBack[kind];
          if (report.opening[kind] + inflow - outflow !== report.closing[kind])
            throw s.fail(`report identity broken for ${kind}: ${JSON.stringify(report)}`);
        }
        if (b >= end && report.pendingPurchasesCents !== expected.pendingNow) {
          throw s.fail(`pendingPurchasesCents: model ${expected.pendingNow}, system ${report.pendingPurchasesCents}`);
        }
      }
      if (!isDeepStrictEqual(left.closing, right.opening))
        throw s.fail(`closing ${JSON.stringify(left.closing)} <> next opening ${JSON.stringify(right.opening)}`);
      // One wallet as of the middle cut, per kind.
      const wallet = customer.model.wallets[mid % customer.model.wallets.length];
      if (!wallet) return;
      const asOf = await getWalletAsOf(em, s.orgId, wallet.id, new Date(mid));
      const byKind = { purchased: 0n, granted: 0n } as Record<string, bigint>;
      for (const tx of wallet.txs) {
        if (tx.direction === 'inbound' && tx.settledAt !== undefined && tx.settledAt <= mid) byKind[tx.kind] = (byKind[tx.kind] ?? 0n) + tx.cents;
        if (tx.direction === 'outbound' && tx.createdAt <= mid)
          for (const take of tx.takes ?? []) byKind[take.kind] = (byKind[take.kind] ?? 0n) - take.cents;
      }
      const expected = [Number(byKind.purchased), Number(byKind.granted)];
      if (!isDeepStrictEqual([asOf.purchasedCents, asOf.grantedCents], expected)) {
        throw s.fail(
          `wallet ${wallet.id} as of ${new Date(mid).toISOString()}: model ${expected}, system ${[asOf.purchasedCents, asOf.grantedCents]}`,
        );
      }
    }),
    { numRuns: FINANCE_RUNS, seed: s.seed ^ (s.index + 1) },
  );
  s.timing.finance += performance.now() - started;
}

async function runStream(seed: number, index: number, steps: number, deadline: number): Promise<Stream> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const s = new Stream(seed, index, steps, client);
  try {
    s.orgId = await newOrganization(orm);
    const currencies = ['EUR', 'JPY', 'KWD'];
    for (const [i, currency] of currencies.entries()) {
      // The JPY customer starts without a currency: its first wallet sets it.
      const declared = currency === 'JPY' ? undefined : currency;
      const externalId = `model-${index}-${i}`;
      const dto = await mutate(orm, s.orgId, new Date(s.now), (work) => upsertCustomer(work, { externalId, currency: declared }));
      s.customers.push({
        label: `c${i}:${currency}`,
        appetite: [25, 4, 3][i] ?? 4,
        dbId: dto.id,
        model: new NaiveCustomer(externalId, declared ?? null),
      });
    }
    for (s.step = 1; s.step <= steps; s.step++) {
      if (Date.now() > deadline) break;
      await runStep(s);
      s.stepsRun = s.step;
      if (s.step % AUDIT_EVERY === 0) await audit(s);
    }
    // Finally far in the future: every wallet with an expiry, and every lot with one, expires.
    s.now += 60 * DAY;
    s.step = s.stepsRun + 1;
    s.finalPhase = true;
    await expirationStep(s);
    await audit(s);
    await financeProperty(s);
    return s;
  } finally {
    await client.end();
  }
}

async function runModel(
  seed: number,
  totalSteps: number,
  streams: number,
  budgetSeconds: number,
): Promise<{ counts: Map<string, number>; stepsRun: number }> {
  const perStream = Math.ceil(totalSteps / streams);
  const deadline = budgetSeconds > 0 ? Date.now() + budgetSeconds * 1_000 : Number.POSITIVE_INFINITY;
  const results = await Promise.all(Array.from({ length: streams }, (_, i) => runStream(seed, i, perStream, deadline)));
  const counts = new Map<string, number>();
  for (const s of results) for (const [what, n] of s.counts) counts.set(what, (counts.get(what) ?? 0) + n);
  // What the ledgers hold at the end, by kind and source: the system-written voids must be there.
  for (const s of results) {
    for (const { wallet } of s.allWallets()) {
      for (const tx of wallet.txs) {
        const what = `ledger rows: ${tx.kind}/${tx.source}/${tx.status}`;
        counts.set(what, (counts.get(what) ?? 0) + 1);
      }
    }
  }
  const ms = (key: keyof Stream['timing']) => Math.round(results.reduce((sum, s) => sum + s.timing[key], 0));
  console.info(
    `model-based test time, summed over streams: system ${ms('system')} ms, verify ${ms('verify')} ms, audit ${ms('audit')} ms, finance ${ms('finance')} ms`,
  );
  const stepsRun = results.reduce((sum, s) => sum + s.stepsRun, 0);
  if (stepsRun < perStream * streams) {
    console.warn(
      `model-based test: the ${budgetSeconds} s budget stopped the run after ${stepsRun} of ${perStream * streams} steps ` +
        `(per stream: ${results.map((s) => s.stepsRun).join(', ')}); MODEL_BUDGET_SECONDS=0 runs them all`,
    );
  }
  return { counts, stepsRun };
}

beforeAll(async () => {
  databaseUrl = inject('databaseUrl');
  orm = await openTestOrm();
  // Another organization's wallet and purchase: never visible to the streams' organizations.
  const organizationId = await newOrganization(orm);
  const now = new Date(START);
  await mutate(orm, organizationId, now, (work) => upsertCustomer(work, { externalId: 'foreign', currency: 'EUR' }));
  const wallet = await mutate(orm, organizationId, now, (work) => createWallet(work, { externalCustomerId: 'foreign', rateAmount: 100_000n }));
  const { transactions } = await mutate(orm, organizationId, now, (work) =>
    createWalletTransactions(work, { walletId: wallet.id, paidCredits: 500_000n }),
  );
  foreign = { organizationId, walletId: wallet.id, transactionId: transactions[0]?.id ?? '' };
});
afterAll(() => orm.close(true));

describe('wallets against a naive model', () => {
  it(
    `agrees with the model over up to ${TOTAL_STEPS} seeded random steps (seed ${SEED})`,
    async () => {
      const started = Date.now();
      const cpu = process.cpuUsage();
      const { counts, stepsRun } = await runModel(SEED, TOTAL_STEPS, STREAMS, BUDGET_SECONDS);
      const summary = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([what, n]) => `  ${what}: ${n}`);
      console.info(
        `model-based test: seed ${SEED}, ${stepsRun} steps in ${STREAMS} streams, ${Date.now() - started} ms (cpu: user ${Math.round(process.cpuUsage(cpu).user / 1000)} ms, system ${Math.round(process.cpuUsage(cpu).system / 1000)} ms)\n${summary.join('\n')}`,
      );
      // The mix must reach the interesting paths, or the test proves little.
      const reached = (prefix: string) => [...counts.entries()].some(([what, n]) => what.startsWith(prefix) && n > 0);
      // (Very short runs may miss rare paths; a run of the usual length may not.)
      for (const path of stepsRun < COVERAGE_MIN_STEPS
        ? []
        : [
            'transactions(voided) -> INSUFFICIENT_CREDITS',
            'transactions(paid) -> AMOUNT_ROUNDS_TO_ZERO',
            'transactions(paid) -> AMOUNT_BELOW_MINIMUM',
            'transactions(paid) -> AMOUNT_ABOVE_MAXIMUM',
            'transactions(granted) -> INVALID_EXPIRATION_DATE',
            'transactions(voided) -> ok',
            'transactions(mixed) -> ok',
            'recordPayment(purchased/pending succeeded) -> ok',
            'recordPayment(purchased/pending failed) -> ok',
            'recordPayment(purchased/failed succeeded) -> ok',
            'recordPayment(purchased/settled failed) -> ok',
            'recordPayment(granted/settled',
            'createWallet -> WALLET_LIMIT_REACHED',
            'createWallet -> CURRENCY_MISMATCH',
            'createWallet -> CODE_ALREADY_EXISTS',
            'terminate(terminated) -> ok',
            'replay',
            'replay (other request)',
            'ledger rows: voided/expiration',
            'ledger rows: voided/termination',
            'ledger rows: voided/payment_failure',
            'void refused on its cents alone',
          ]) {
        expect(reached(path), `never reached: ${path}`).toBe(true);
      }
    },
    TEST_TIMEOUT_MS,
  );

  for (const regression of REGRESSIONS) {
    it(`regression: seed ${regression.seed} (${regression.note})`, async () => {
      await runModel(regression.seed, regression.steps, regression.streams, 0);
    }, 600_000);
  }
});
