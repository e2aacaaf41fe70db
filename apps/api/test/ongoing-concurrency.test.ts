/**
 * Ongoing balances under concurrency (DESIGN.md flows 3, 4, 5): parallel `usage.sync` calls racing
 * invoice applications for one customer, parallel crossings of a threshold, and parallel syncs that
 * move an ongoing balance back and forth across zero.
 *
 * Every check is made with this file's own SQL and arithmetic, not the code under test. The commit
 * order is replayed from the outbox: each request writes one event per wallet it changed, in the
 * same database transaction, so grouping the events by the transaction that inserted them (`xmin`)
 * gives every wallet's state after each committed request, in commit order (one customer's
 * requests are serialised by its row lock, so their positions follow their commits).
 */
import { auditLedger, seededRandom } from '@wallets/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouterOutputs, WalletClient } from '../src/client/index.js';
import { type Harness, startHarness } from './harness.js';

type Wallet = RouterOutputs['wallets']['list']['items'][number];

let h: Harness;
let client: WalletClient;
let organizationId: string;
let pool: pg.Pool;

beforeAll(async () => {
  h = await startHarness();
  ({ client, organizationId } = await h.newTenant());
  pool = new pg.Pool({ connectionString: h.app.databaseUrl, max: 3 });
});
afterAll(async () => {
  await pool?.end();
  await h?.stop();
});

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

const minuteOf = (base: string, minutes: number) => new Date(new Date(base).getTime() + minutes * 60_000);
const apiFee = (amountCents: number) => ({ feeType: 'charge' as const, billableMetricCode: 'api', amountCents });

interface WalletState {
  balanceCents: number;
  ongoingBalanceCents: number;
  ongoingUsageBalanceCents: number;
}

interface Step {
  /** Every wallet's state after this committed request (carried forward when it did not change). */
  state: Map<string, WalletState>;
  changed: Set<string>;
  depleted: Set<string>;
}

/** The committed requests that changed the given wallets, in commit order, from the outbox. */
async function committedSteps(walletIds: readonly string[]): Promise<Step[]> {
  const rows = await sql<{ tx: string; type: string; wallet_id: string; balance: string; ongoing: string; usage: string }>(
    `select xmin::text as tx, type, data ->> 'id' as wallet_id,
            (data ->> 'balanceCents') as balance, (data ->> 'ongoingBalanceCents') as ongoing, (data ->> 'ongoingUsageBalanceCents') as usage
       from events
      where organization_id = $1 and type like 'wallet.%' and data ->> 'id' = any($2::text[])
      order by position`,
    [organizationId, walletIds],
  );
  const steps: Step[] = [];
  let current = new Map<string, WalletState>();
  let lastTx: string | null = null;
  for (const row of rows) {
    if (row.tx !== lastTx) {
      current = new Map(current);
      steps.push({ state: current, changed: new Set(), depleted: new Set() });
      lastTx = row.tx;
    }
    const step = steps[steps.length - 1]!;
    const state = { balanceCents: Number(row.balance), ongoingBalanceCents: Number(row.ongoing), ongoingUsageBalanceCents: Number(row.usage) };
    if (row.type === 'wallet.depleted_ongoing_balance') {
      step.depleted.add(row.wallet_id);
      // The depletion event carries the same state as the request's main event for that wallet.
      expect(state).toEqual(current.get(row.wallet_id));
    } else {
      // At most one main event per wallet per request.
      expect(step.changed.has(row.wallet_id), `two ${row.type} events for one wallet in one request`).toBe(false);
      step.changed.add(row.wallet_id);
      current.set(row.wallet_id, state);
    }
  }
  return steps;
}

/**
 * Indices of the steps where the wallet's ongoing balance went from above zero (or from nothing: a
 * new wallet) to zero or below, and of the steps that emitted `wallet.depleted_ongoing_balance`.
 */
function depletion(steps: readonly Step[], walletId: string): { transitions: number[]; events: number[] } {
  const transitions: number[] = [];
  const events: number[] = [];
  let previous: number | null = null;
  for (const [index, step] of steps.entries()) {
    if (step.depleted.has(walletId)) events.push(index);
    const now = step.state.get(walletId)?.ongoingBalanceCents;
    if (now === undefined || !step.changed.has(walletId)) continue;
    if ((previous === null || previous > 0) && now <= 0) transitions.push(index);
    previous = now;
  }
  return { transitions, events };
}

/** Stored balances against the settled ledger rows, by this file's SQL: the wallets that disagree. */
async function ledgerMismatches(walletIds: readonly string[]): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    `select w.id
       from wallets w
       left join wallet_transactions t on t.organization_id = w.organization_id and t.wallet_id = w.id and t.status = 'settled'
      where w.id = any($1::uuid[])
      group by w.id
     having w.balance_cents <> coalesce(sum(case t.transaction_type when 'inbound' then t.amount_cents else -t.amount_cents end), 0)
         or w.credits_balance <> coalesce(sum(case t.transaction_type when 'inbound' then t.credit_amount else -t.credit_amount end), 0)
         or w.ongoing_balance_cents <> w.balance_cents - w.ongoing_usage_balance_cents
         or w.depleted_ongoing_balance <> (w.ongoing_balance_cents <= 0)`,
    [walletIds],
  );
  return rows.map((row) => row.id);
}

async function auditOwnWallets(walletIds: readonly string[]): Promise<void> {
  expect(await ledgerMismatches(walletIds)).toEqual([]);
  const mine = new Set(walletIds);
  expect((await auditLedger(h.app.databaseUrl)).filter((m) => mine.has(m.walletId))).toEqual([]);
}

describe('usage syncs racing invoice applications for one customer', () => {
  it('ends with the newest snapshot allocated to the final balances, every committed step consistent', async () => {
    const customer = 'race-a';
    await client.customers.upsert.mutate({ externalId: customer, currency: 'EUR' });
    // Two unrestricted wallets of 100.00 each (rate 1: a credit is worth 1.00).
    const w1 = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', priority: 1, grantedCredits: '100' });
    const w2 = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', priority: 2, grantedCredits: '100' });
    const ids = [w1.id, w2.id];

    // Snapshot i (asOf base + i minutes) holds 20.00 + i x 1.00 of usage: strictly increasing, so the
    // stored snapshot's usage tells which one it is. 24 come through usage.sync, 8 with an invoice.
    const base = '2026-03-01T00:00:00Z';
    const usageOf = (i: number) => 2000 + 100 * i;
    const snapshot = (i: number) => ({ externalCustomerId: customer, currency: 'EUR', asOf: minuteOf(base, i), fees: [apiFee(usageOf(i))] });
    const invoice = (k: number) => ({
      id: `race-a-inv-${k}`,
      externalCustomerId: customer,
      currency: 'EUR',
      invoiceType: 'subscription' as const,
      totalAmountCents: 700,
      fees: [{ id: `fee-${k}`, ...apiFee(700) }],
    });
    type Call = { kind: 'sync'; i: number } | { kind: 'invoice'; k: number; i: number | null };
    const calls: Call[] = [];
    for (let i = 1; i <= 32; i++) if (i % 4 !== 0) calls.push({ kind: 'sync', i });
    for (let k = 1; k <= 16; k++) calls.push({ kind: 'invoice', k, i: k <= 8 ? 4 * k : null });
    expect(calls).toHaveLength(40);
    // The newest snapshot (32, with invoice 8) goes out early, so an overwrite by an older one would show.
    const order = shuffled(calls, 20260301);
    const newest = order.findIndex((c) => c.kind === 'invoice' && c.i === 32);
    order.unshift(...order.splice(newest, 1));

    const results = await Promise.allSettled(
      order.map((call) =>
        call.kind === 'sync'
          ? client.usage.sync.mutate(snapshot(call.i)).then((r) => ({ call, wallets: r.wallets }))
          : client.invoices.applyPrepaidCredits
              .mutate({ invoice: invoice(call.k), ...(call.i === null ? {} : { usage: snapshot(call.i) }) })
              .then((allocation) => ({ call, allocation })),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const values = results.map(
      (r) => (r as PromiseFulfilledResult<{ call: Call; wallets?: Wallet[]; allocation?: RouterOutputs['invoices']['applyPrepaidCredits'] }>).value,
    );

    // Each sync answers with a snapshot at least as new as its own (its own, or a newer one kept).
    for (const { call, wallets } of values) {
      if (call.kind !== 'sync' || !wallets) continue;
      const total = wallets.reduce((sum, w) => sum + w.ongoingUsageBalanceCents, 0);
      expect(total).toBeGreaterThanOrEqual(usageOf(call.i));
    }

    // Invoices: 16 x 7.00 = 112.00, all paid. W1 (priority 1) pays 100.00, so exactly one invoice is
    // split (2.00 from W1, 5.00 from W2) and W2 pays 12.00 in all.
    const allocations = values.flatMap((v) => (v.allocation ? [v.allocation] : []));
    expect(allocations).toHaveLength(16);
    for (const allocation of allocations) expect([allocation.prepaidCreditAmountCents, allocation.totalAfterCreditsCents]).toEqual([700, 0]);
    const paidBy = (walletId: string) =>
      allocations.flatMap((a) => a.wallets).reduce((sum, part) => sum + (part.walletId === walletId ? part.amountCents : 0), 0);
    expect([paidBy(w1.id), paidBy(w2.id)]).toEqual([10_000, 1200]);
    expect(allocations.filter((a) => a.wallets.length === 2).map((a) => a.wallets.map((p) => p.amountCents))).toEqual([[200, 500]]);

    // Final state: balances 0.00 and 88.00; the newest snapshot (32: 52.00) is stored and allocated by
    // priority: W1 has nothing left to take, W2 (the last wallet) takes all 52.00.
    const [stored] = await sql<{ as_of: Date; amount: string }>(
      `select s.as_of, s.fees -> 0 ->> 'amountCents' as amount from usage_snapshots s
        join customers c on c.id = s.customer_id where c.organization_id = $1 and c.external_id = $2`,
      [organizationId, customer],
    );
    expect([stored?.as_of, stored?.amount]).toEqual([minuteOf(base, 32), String(usageOf(32))]);
    const final = await Promise.all(ids.map((id) => client.wallets.get.query({ id })));
    expect(final.map((w) => [w.balanceCents, w.ongoingUsageBalanceCents, w.ongoingBalanceCents, w.creditsOngoingBalance])).toEqual([
      [0, 0, 0, '0'],
      [8800, 5200, 3600, '36'],
    ]);
    // The balance decrease is exactly what the invoices took.
    const taken = allocations.reduce((sum, a) => sum + a.prepaidCreditAmountCents, 0);
    expect(20_000 - final.reduce((sum, w) => sum + w.balanceCents, 0)).toBe(taken);
    const [invoiced] = await sql<{ cents: string; n: string }>(
      `select coalesce(sum(amount_cents), 0)::text as cents, count(*)::text as n from wallet_transactions
        where wallet_id = any($1::uuid[]) and transaction_type = 'outbound' and transaction_status = 'invoiced'`,
      [ids],
    );
    expect(invoiced).toEqual({ cents: String(taken), n: '17' });

    // Replay of the commit order: after every committed request, the stored usage is one snapshot's,
    // never an older one than before, allocated to the balances of that moment (W1 up to its balance,
    // W2 the rest), ongoing = balance - usage, and no balance below zero.
    const steps = await committedSteps(ids);
    const known = new Set([0, ...Array.from({ length: 32 }, (_, i) => usageOf(i + 1))]);
    let previousUsage = 0;
    for (const step of steps) {
      const a = step.state.get(w1.id);
      const b = step.state.get(w2.id);
      if (!a || !b) continue; // before W2 existed
      const usage = a.ongoingUsageBalanceCents + b.ongoingUsageBalanceCents;
      expect(known.has(usage), `usage ${usage} is no snapshot's`).toBe(true);
      expect(usage).toBeGreaterThanOrEqual(previousUsage);
      previousUsage = usage;
      expect(a.ongoingUsageBalanceCents).toBe(Math.min(usage, a.balanceCents));
      for (const s of [a, b]) {
        expect(s.balanceCents).toBeGreaterThanOrEqual(0);
        expect(s.ongoingBalanceCents).toBe(s.balanceCents - s.ongoingUsageBalanceCents);
      }
    }
    expect(previousUsage).toBe(usageOf(32));
    // W1 reaches zero once and never recovers: one depletion event; W2 stays above zero: none.
    for (const id of ids) {
      const { transitions, events } = depletion(steps, id);
      expect(events).toEqual(transitions);
    }
    expect(depletion(steps, w1.id).events).toHaveLength(1);
    expect(depletion(steps, w2.id).events).toHaveLength(0);
    await auditOwnWallets(ids);
  });
});

describe('a fixed threshold rule under parallel crossings', () => {
  it('never has two pending threshold purchases; once paid, the next crossing buys again', async () => {
    const customer = 'race-b';
    await client.customers.upsert.mutate({ externalId: customer, currency: 'EUR' });
    const wallet = await client.wallets.create.mutate({
      externalCustomerId: customer,
      rateAmount: '1',
      grantedCredits: '10',
      recurringTransactionRules: [{ trigger: 'threshold', method: 'fixed', thresholdCredits: '5', paidCredits: '10' }],
    });
    const base = '2026-03-02T00:00:00Z';
    const sync = (i: number, amountCents: number) =>
      client.usage.sync.mutate({ externalCustomerId: customer, currency: 'EUR', asOf: minuteOf(base, i), fees: [apiFee(amountCents)] });
    const thresholdPurchases = () =>
      sql<{ id: string; status: string; credits: string }>(
        `select id::text, status, credit_amount::text as credits from wallet_transactions
          where wallet_id = $1 and source = 'threshold' and transaction_status = 'purchased' order by status desc, id`,
        [wallet.id],
      );

    // 30 syncs, snapshot i bringing the ongoing balance to 4.00 - i x 1.00, ever deeper: after the first
    // purchase, later ones would cross again even counting it as pending (ongoing + pending <= 5).
    const first = await Promise.allSettled(
      shuffled(
        Array.from({ length: 30 }, (_, n) => n + 1),
        7,
      ).map((i) => sync(i, 600 + 100 * i)),
    );
    expect(first.filter((r) => r.status === 'rejected')).toEqual([]);
    // One purchase, still pending (listed settled first, then pending).
    const [purchase, ...others] = await thresholdPurchases();
    expect([purchase?.status, others]).toEqual(['pending', []]);
    // Its size follows from the ongoing balance of the request that made it (same database transaction):
    // whole increments of 10 landing strictly above the threshold.
    const fired = await sql<{ ongoing: string; credits: string }>(
      `select w.data ->> 'ongoingBalanceCents' as ongoing, t.data ->> 'creditAmount' as credits
         from events t
         join events w on w.xmin = t.xmin and w.organization_id = t.organization_id and w.type = 'wallet.updated' and w.data ->> 'id' = $2
        where t.organization_id = $1 and t.type = 'wallet_transaction.created' and t.data ->> 'walletId' = $2 and t.data ->> 'source' = 'threshold'`,
      [organizationId, wallet.id],
    );
    expect(fired).toHaveLength(1);
    const ongoingThen = Number(fired[0]!.ongoing) / 100;
    const paid = 10 * (Math.floor((5 - ongoingThen) / 10) + 1);
    expect([fired[0]!.credits, purchase!.credits]).toEqual([String(paid), `${paid}.00000`]);
    expect(ongoingThen + paid).toBeGreaterThan(5);

    // Deeper still (ongoing -90.00, pending at most 40): a threshold purchase is pending, so nothing more.
    await sync(31, 10_000);
    expect(await thresholdPurchases()).toHaveLength(1);

    // 10 more syncs cross again in parallel while the purchase is pending (nothing fires), then the
    // payment succeeds: its own recomputation (ongoing 4.00 - 0.01 x 10 = 3.90 <= 5) buys exactly one
    // increment of 10. (Racing the payment with the syncs would make the size depend on which
    // snapshot the payment saw, so the order is fixed here; the races are covered above.)
    const crossing = (n: number) => (10 + paid - 4) * 100 + n;
    const second = await Promise.allSettled(
      shuffled(
        Array.from({ length: 10 }, (_, n) => n + 1),
        11,
      ).map((n) => sync(31 + n, crossing(n))),
    );
    expect(await thresholdPurchases()).toHaveLength(1);
    await client.walletTransactions.recordPayment.mutate({ id: purchase!.id, status: 'succeeded' });
    expect(second.filter((r) => r.status === 'rejected')).toEqual([]);
    expect((await thresholdPurchases()).map((t) => [t.status, t.credits])).toEqual([
      ['settled', `${paid}.00000`],
      ['pending', '10.00000'],
    ]);
    const after = await client.wallets.get.query({ id: wallet.id });
    // The newest snapshot (n = 10) leaves 3.90.
    expect([after.balanceCents, after.ongoingUsageBalanceCents, after.ongoingBalanceCents]).toEqual([(10 + paid) * 100, crossing(10), 390]);
    await auditOwnWallets([wallet.id]);
  });
});

describe('wallet.depleted_ongoing_balance under parallel syncs', () => {
  it('fires exactly on each crossing from above zero to zero or below in commit order, never twice in a row', async () => {
    const customer = 'race-c';
    await client.customers.upsert.mutate({ externalId: customer, currency: 'EUR' });
    const wallet = await client.wallets.create.mutate({ externalCustomerId: customer, rateAmount: '1', grantedCredits: '10' });
    const base = '2026-03-03T00:00:00Z';
    // Snapshot i: 15.00 of usage when i is even (ongoing -5.00), 5.00 when odd (ongoing +5.00).
    const usageOf = (i: number) => (i % 2 === 0 ? 1500 : 500);
    const sync = (i: number) =>
      client.usage.sync.mutate({ externalCustomerId: customer, currency: 'EUR', asOf: minuteOf(base, i), fees: [apiFee(usageOf(i))] });
    // Three waves: the newest snapshot of each leaves the wallet depleted (10), recovered (19), depleted (30),
    // so at least two depletions happen whatever the commit order inside a wave.
    const waves = [
      [1, 10],
      [11, 19],
      [20, 30],
    ] as const;
    for (const [index, [from, to]] of waves.entries()) {
      const indices = Array.from({ length: to - from + 1 }, (_, n) => from + n);
      const results = await Promise.allSettled(shuffled(indices, 100 + index).map(sync));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const now = await client.wallets.get.query({ id: wallet.id });
      expect(now.ongoingBalanceCents).toBe(1000 - usageOf(to));
    }

    const steps = await committedSteps([wallet.id]);
    const { transitions, events } = depletion(steps, wallet.id);
    expect(events).toEqual(transitions);
    expect(events.length).toBeGreaterThanOrEqual(2);
    // Between two depletion events the wallet was above zero again.
    for (let n = 1; n < events.length; n++) {
      const between = steps.slice(events[n - 1]! + 1, events[n]!);
      expect(between.some((s) => s.changed.has(wallet.id) && s.state.get(wallet.id)!.ongoingBalanceCents > 0)).toBe(true);
    }
    // The public list agrees with the outbox rows.
    let after: string | null | undefined;
    let listed = 0;
    for (let page = 0; page < 100; page++) {
      const { items, nextCursor } = await client.events.list.query({ after, limit: 100 });
      listed += items.filter((e) => e.type === 'wallet.depleted_ongoing_balance' && e.data.id === wallet.id).length;
      if (!nextCursor) break;
      after = nextCursor;
    }
    expect(listed).toBe(events.length);
    await auditOwnWallets([wallet.id]);
  });
});
