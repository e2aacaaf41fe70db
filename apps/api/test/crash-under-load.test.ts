/**
 * Crashes under load. Two real API processes on one database take a mixed, keyed workload (grants,
 * purchases and their payments, manual voids, invoice applications and voids, usage syncs,
 * terminations, and replays of acknowledged requests) from 8 concurrent callers while this test
 * SIGKILLs them several times, at moments picked by a seeded generator (one server, or both at
 * once), and starts them again; PostgreSQL stays up. A request without an answer is sent again
 * with the same idempotency key, to whichever server is up, until it is answered.
 *
 * Afterwards, with the test's own SQL: the ledger audit is clean; every operation took effect
 * exactly once (its transaction, invoice consumption, refund, termination void, counted by
 * metadata or invoice id); every replay got the first answer back; each wallet's balance equals
 * what the operations imply, computed here from their sizes; one idempotency record per key.
 *
 * Size: CRASH_TEST_OPERATIONS (default 200), CRASH_TEST_KILLS (default 4), CRASH_TEST_SEED.
 */
import { withDatabase } from '@wallets/db';
import { auditLedger, createMigratedDatabase, dropDatabase, seededRandom } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWalletClient, type WalletClient } from '../src/client/index.js';
import { pollUntil, type ServerProcess, startServerProcess, stopAll } from './processes.js';

const OPERATIONS = Math.max(10, Number(process.env.CRASH_TEST_OPERATIONS ?? 200) || 200);
const KILLS = Math.max(1, Number(process.env.CRASH_TEST_KILLS ?? 4) || 4);
const SEED = Number(process.env.CRASH_TEST_SEED ?? Date.now() % 2 ** 31);
const CALLERS = 8;
const ADMIN_TOKEN = 'crash-under-load-admin-token-0123456789';
const CUSTOMERS = 4;
const TERMINABLE = 6;
/** Every main wallet starts with this many credits (rate 1: 100 cents a credit), far above what the load takes. */
const INITIAL_CREDITS = 1_000_000;

/** Seeded, so a failing run replays with CRASH_TEST_SEED. */
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));

let databaseUrl: string;
let pool: pg.Pool;
let apiKey: string;
const slots: (ServerProcess | null)[] = [null, null];
const everyServer: ServerProcess[] = [];
const clients = new Map<string, WalletClient>();

async function startSlot(index: number): Promise<void> {
  const server = await startServerProcess({ name: `server ${index} #${everyServer.length + 1}`, via: 'node', databaseUrl, adminToken: ADMIN_TOKEN });
  everyServer.push(server);
  slots[index] = server;
}

beforeAll(async () => {
  databaseUrl = await createMigratedDatabase(inject('serverUrl'), 'wallets_crash');
  pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  await Promise.all([startSlot(0), startSlot(1)]);
});

afterEach((context) => {
  if (context.task.result?.state === 'fail') {
    console.error(`crash test seed ${SEED} (CRASH_TEST_SEED=${SEED} replays it)`);
    for (const server of everyServer) console.error(`--- output of ${server.name} ---\n${server.output().slice(-4000)}`);
  }
});

afterAll(async () => {
  await stopAll();
  await pool?.end();
  if (databaseUrl) await dropDatabase(withDatabase(inject('serverUrl'), 'postgres'), databaseUrl);
});

// ---------------------------------------------------------------------------------------------
// Sending until answered.

const stats = { sent: 0, unanswered: 0, replays: 0 };
const failures: string[] = [];

function liveClient(): WalletClient | null {
  const live = slots.filter((s): s is ServerProcess => s !== null);
  if (live.length === 0) return null;
  const server = pick(live);
  let client = clients.get(server.url);
  if (!client) {
    client = createWalletClient({ url: server.url, apiKey });
    clients.set(server.url, client);
  }
  return client;
}

/** True when the server answered (any status): the request was acknowledged or refused. */
function answered(error: unknown): boolean {
  return typeof (error as { data?: { httpStatus?: number } }).data?.httpStatus === 'number';
}

/**
 * Sends one keyed request to a live server until a server answers it. A connection error (the
 * server was killed before or while handling it) means unknown outcome: sent again, same key.
 */
async function untilAnswered<T>(what: string, send: (client: WalletClient) => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const client = liveClient();
    if (client) {
      stats.sent++;
      try {
        return await send(client);
      } catch (error) {
        if (answered(error)) throw new Error(`${what}: refused: ${(error as Error).message}`);
        stats.unanswered++;
      }
    }
    if (Date.now() > deadline) throw new Error(`${what}: no server answered within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 20)); // a restart in progress: poll again
  }
}

/** JSON with keys sorted (a stored answer comes back from jsonb with its keys in another order). */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1))) : v,
  );
}

/** An acknowledged request, sometimes replayed: the replay must get the same answer. */
async function keyed<T>(what: string, send: (client: WalletClient) => Promise<T>): Promise<T> {
  const first = await untilAnswered(what, send);
  if (random() < 0.25) {
    stats.replays++;
    const again = await untilAnswered(`${what} (replay)`, send);
    if (canonical(again) !== canonical(first)) failures.push(`${what}: the replay answered ${JSON.stringify(again)}, first ${JSON.stringify(first)}`);
  }
  return first;
}

// ---------------------------------------------------------------------------------------------
// Operations and what they must leave behind.

type Operation =
  | { kind: 'grant'; n: number; wallet: number; credits: number }
  | { kind: 'purchase'; n: number; wallet: number; credits: number; pays: boolean }
  | { kind: 'manual-void'; n: number; wallet: number; credits: number }
  | { kind: 'invoice'; n: number; wallet: number; cents: number; voided: boolean }
  | { kind: 'usage'; n: number; wallet: number; cents: number }
  | { kind: 'terminate'; n: number; wallet: number };

function plan(): Operation[] {
  const terminations = new Set(Array.from({ length: TERMINABLE }, () => between(0, OPERATIONS - 1)));
  let nextTerminable = 0;
  return Array.from({ length: OPERATIONS }, (_, n): Operation => {
    if (terminations.has(n) && nextTerminable < TERMINABLE) return { kind: 'terminate', n, wallet: nextTerminable++ };
    const wallet = between(0, CUSTOMERS - 1);
    const roll = random();
    if (roll < 0.25) return { kind: 'grant', n, wallet, credits: between(1, 50) };
    if (roll < 0.45) return { kind: 'purchase', n, wallet, credits: between(1, 50), pays: random() < 0.7 };
    if (roll < 0.55) return { kind: 'manual-void', n, wallet, credits: between(1, 20) };
    if (roll < 0.85) return { kind: 'invoice', n, wallet, cents: between(100, 5000), voided: random() < 0.4 };
    return { kind: 'usage', n, wallet, cents: between(1, 900) };
  });
}

/** The change in cents an operation makes to its main wallet. */
function effectCents(op: Operation): number {
  switch (op.kind) {
    case 'grant':
      return op.credits * 100;
    case 'purchase':
      return op.pays ? op.credits * 100 : 0;
    case 'manual-void':
      return -op.credits * 100;
    case 'invoice':
      return op.voided ? 0 : -op.cents;
    default:
      return 0;
  }
}

interface World {
  walletIds: string[];
  terminableIds: string[];
  /** Answers, for the cross-check against the ledger. */
  invoiceAnswers: Map<number, number>;
}

async function run(op: Operation, world: World): Promise<void> {
  const key = `op-${op.n}`;
  const metadata = [{ key: 'op', value: key }];
  const customer = `cus_${op.wallet}`;
  switch (op.kind) {
    case 'grant':
    case 'manual-void': {
      const amount = String(op.credits);
      const input = {
        walletId: world.walletIds[op.wallet] as string,
        ...(op.kind === 'grant' ? { grantedCredits: amount } : { voidedCredits: amount }),
        metadata,
        idempotencyKey: key,
      };
      await keyed(key, (c) => c.walletTransactions.create.mutate(input, { signal: AbortSignal.timeout(30_000) }));
      return;
    }
    case 'purchase': {
      const input = { walletId: world.walletIds[op.wallet] as string, paidCredits: String(op.credits), metadata, idempotencyKey: key };
      const { transactions } = await keyed(key, (c) => c.walletTransactions.create.mutate(input, { signal: AbortSignal.timeout(30_000) }));
      const id = transactions[0]?.id ?? '';
      const status = op.pays ? 'succeeded' : 'failed';
      const paid = await keyed(`${key}-payment`, (c) =>
        c.walletTransactions.recordPayment.mutate({ id, status, idempotencyKey: `${key}-payment` }, { signal: AbortSignal.timeout(30_000) }),
      );
      if (paid.status !== (op.pays ? 'settled' : 'failed')) failures.push(`${key}: payment left the purchase ${paid.status}`);
      return;
    }
    case 'invoice': {
      const invoiceId = `inv-${op.n}`;
      const invoice = {
        id: invoiceId,
        externalCustomerId: customer,
        currency: 'EUR',
        invoiceType: 'subscription' as const,
        totalAmountCents: op.cents,
        fees: [{ id: `${invoiceId}-fee`, feeType: 'subscription' as const, amountCents: op.cents }],
      };
      const applied = await keyed(key, (c) =>
        c.invoices.applyPrepaidCredits.mutate({ invoice, idempotencyKey: key }, { signal: AbortSignal.timeout(30_000) }),
      );
      world.invoiceAnswers.set(op.n, applied.prepaidCreditAmountCents);
      if (op.voided) {
        await keyed(`${key}-void`, (c) =>
          c.invoices.void.mutate({ invoiceId, idempotencyKey: `${key}-void` }, { signal: AbortSignal.timeout(30_000) }),
        );
      }
      return;
    }
    case 'usage': {
      const input = {
        externalCustomerId: customer,
        currency: 'EUR',
        fees: [{ feeType: 'charge' as const, billableMetricCode: 'api_calls', amountCents: op.cents }],
        idempotencyKey: key,
      };
      await keyed(key, (c) => c.usage.sync.mutate(input, { signal: AbortSignal.timeout(30_000) }));
      return;
    }
    case 'terminate': {
      const wallet = await keyed(key, (c) =>
        c.wallets.terminate.mutate({ id: world.terminableIds[op.wallet] as string, idempotencyKey: key }, { signal: AbortSignal.timeout(30_000) }),
      );
      if (wallet.status !== 'terminated') failures.push(`${key}: the answer shows the wallet ${wallet.status}`);
      return;
    }
  }
}

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

describe('crashes under load', () => {
  it(`keeps every acknowledged effect exactly once across ${KILLS} SIGKILLs of two servers (${OPERATIONS} operations)`, async () => {
    const admin = createWalletClient({ url: slots[0]?.url ?? '', apiKey: ADMIN_TOKEN });
    const created = await admin.admin.createOrganization.mutate({ name: 'crash under load' });
    apiKey = created.apiKey;
    const setup = createWalletClient({ url: slots[0]?.url ?? '', apiKey });
    const world: World = { walletIds: [], terminableIds: [], invoiceAnswers: new Map() };
    for (let i = 0; i < CUSTOMERS; i++) {
      await setup.customers.upsert.mutate({ externalId: `cus_${i}`, currency: 'EUR' });
      const wallet = await setup.wallets.create.mutate({ externalCustomerId: `cus_${i}`, rateAmount: '1', grantedCredits: String(INITIAL_CREDITS) });
      world.walletIds.push(wallet.id);
    }
    for (let i = 0; i < TERMINABLE; i++) {
      await setup.customers.upsert.mutate({ externalId: `term_${i}`, currency: 'EUR' });
      const wallet = await setup.wallets.create.mutate({ externalCustomerId: `term_${i}`, rateAmount: '1', grantedCredits: '100' });
      world.terminableIds.push(wallet.id);
    }

    const operations = plan();
    // Kill points: numbers of finished operations, spread over the run.
    const killAt = Array.from({ length: KILLS }, () => between(Math.floor(OPERATIONS * 0.05), Math.floor(OPERATIONS * 0.9))).sort((a, b) => a - b);
    let finished = 0;
    let queue = 0;
    const killer = (async () => {
      for (const [i, at] of killAt.entries()) {
        await pollUntil(`${at} operations to finish`, async () => (finished >= at ? true : undefined), 240_000, 5);
        const victims = i % 3 === 2 ? [0, 1] : [between(0, 1)];
        const dying = victims.map((v) => slots[v] as ServerProcess);
        for (const v of victims) slots[v] = null;
        const statuses = await Promise.all(dying.map((server) => server.kill()));
        for (const status of statuses) expect(status.signal).toBe('SIGKILL');
        await Promise.all(victims.map((v) => startSlot(v)));
      }
    })();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        for (let i = queue++; i < operations.length; i = queue++) {
          await run(operations[i] as Operation, world);
          finished++;
        }
      }),
    );
    await killer;
    console.log(
      `crash test: seed ${SEED}, ${OPERATIONS} operations, ${KILLS} kills (after ${killAt.join(', ')} operations), ` +
        `${stats.sent} requests sent, ${stats.unanswered} unanswered and sent again, ${stats.replays} replays`,
    );
    expect(failures).toEqual([]);
    expect(everyServer).toHaveLength(2 + killAt.reduce((n, _, i) => n + (i % 3 === 2 ? 2 : 1), 0));

    // The ledger is sound, by the audit's own SQL.
    expect(await auditLedger(databaseUrl)).toEqual([]);

    // Every keyed transaction exactly once (metadata carries its operation).
    const byOp = new Map(
      (
        await sql<{ op: string; n: string; status: string }>(
          `select metadata -> 0 ->> 'value' as op, count(*)::text as n, min(status) as status from wallet_transactions
            where metadata -> 0 ->> 'key' = 'op' group by 1`,
        )
      ).map((row) => [row.op, row]),
    );
    for (const op of operations) {
      if (op.kind === 'grant' || op.kind === 'manual-void' || op.kind === 'purchase') {
        const expected = op.kind === 'purchase' ? (op.pays ? 'settled' : 'failed') : 'settled';
        const key = `op-${op.n}`;
        expect({ key, row: byOp.get(key) ?? null }).toEqual({ key, row: { op: key, n: '1', status: expected } });
      }
    }
    // Every invoice consumed once, for its amount, and every voided one refunded once.
    const invoices = new Map(
      (
        await sql<{ invoice_id: string; consumed: string; n: string }>(
          `select invoice_id, sum(amount_cents)::text as consumed, count(*)::text as n from wallet_transactions
            where transaction_status = 'invoiced' group by 1`,
        )
      ).map((row) => [row.invoice_id, row]),
    );
    const refunds = new Map(
      (
        await sql<{ voided_invoice_id: string; refunded: string; n: string }>(
          `select voided_invoice_id, sum(amount_cents)::text as refunded, count(*)::text as n from wallet_transactions
            where source = 'invoice_void' group by 1`,
        )
      ).map((row) => [row.voided_invoice_id, row]),
    );
    for (const op of operations.filter((o) => o.kind === 'invoice')) {
      const id = `inv-${op.n}`;
      expect({ id, answer: world.invoiceAnswers.get(op.n), ...invoices.get(id) }).toEqual({
        id,
        answer: op.cents,
        invoice_id: id,
        consumed: String(op.cents),
        n: '1',
      });
      expect({ id, ...refunds.get(id) }).toEqual(op.voided ? { id, voided_invoice_id: id, refunded: String(op.cents), n: '1' } : { id });
    }
    expect(invoices.size).toBe(operations.filter((o) => o.kind === 'invoice').length);

    // Balances: what the operations imply, from their sizes alone.
    const expected = world.walletIds.map((_, w) =>
      operations.filter((o) => o.kind !== 'terminate' && o.wallet === w).reduce((sum, o) => sum + effectCents(o), INITIAL_CREDITS * 100),
    );
    const balances = await sql<{ id: string; cents: string; credits: string }>(
      `select id, balance_cents::text as cents, (credits_balance * 100)::bigint::text as credits from wallets where id = any($1::uuid[])`,
      [world.walletIds],
    );
    const actual = world.walletIds.map((id) => balances.find((b) => b.id === id));
    expect(actual.map((b) => [Number(b?.cents), Number(b?.credits)])).toEqual(expected.map((cents) => [cents, cents]));

    // Terminations: each wallet terminated once, its 100 credits voided once.
    const terminated = await sql<{ id: string; status: string; cents: string; voids: string }>(
      `select w.id, w.status, w.balance_cents::text as cents,
              (select count(*) from wallet_transactions t where t.wallet_id = w.id and t.transaction_type = 'outbound')::text as voids
         from wallets w where w.id = any($1::uuid[]) order by w.id`,
      [world.terminableIds],
    );
    const terminatedOps = operations.filter((o) => o.kind === 'terminate').map((o) => world.terminableIds[o.wallet]);
    for (const row of terminated) {
      expect(row).toEqual(
        terminatedOps.includes(row.id)
          ? { id: row.id, status: 'terminated', cents: '0', voids: '1' }
          : { id: row.id, status: 'active', cents: '10000', voids: '0' },
      );
    }

    // One idempotency record per key, none for anything else.
    const keys = await sql<{ key: string }>(`select key from idempotency_records where organization_id = $1`, [created.organization.id]);
    const sentKeys = operations.flatMap((op) => {
      const key = `op-${op.n}`;
      if (op.kind === 'purchase') return [key, `${key}-payment`];
      if (op.kind === 'invoice' && op.voided) return [key, `${key}-void`];
      return [key];
    });
    expect(keys.map((k) => k.key).sort()).toEqual([...sentKeys].sort());
  }, 300_000);
});
