/**
 * The journaled invoice application (detached rows, ledger writes in the last round trip) against
 * the ORM one: seeded random customers (wallets with scopes, priorities, rates, expiries and rules,
 * lots with priorities and expiries, paid and pending top-ups, usage with draft invoices) get the
 * same calls at the same times in two organizations, one with `journal` on (the default), one with it
 * off. Answers, and every row and event of both organizations, must be the same with ids replaced
 * by labels given in a content order. Knobs: INVOICE_JOURNAL_RUNS (customers, default 24),
 * INVOICE_JOURNAL_SEED.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import {
  applyPrepaidCredits,
  createWallet,
  createWalletTransactions,
  type InvoiceInput,
  recordPayment,
  syncUsage,
  type UsageSyncInput,
  upsertCustomer,
  voidInvoice,
} from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger, seededRandom } from '../testing/index.js';

const RUNS = Number(process.env.INVOICE_JOURNAL_RUNS ?? 24);
const SEED = Number(process.env.INVOICE_JOURNAL_SEED ?? 20_261_125);

let orm: Orm;
let pool: pg.Pool;
const t0 = new Date('2026-10-01T00:00:00Z');
const at = (hours: number) => new Date(t0.getTime() + hours * 3_600_000);

beforeAll(async () => {
  orm = await openTestOrm();
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 4 });
});
afterAll(async () => {
  await pool.end();
  await orm.close(true);
});

async function sql<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(text, params)).rows;
}

function prng(seed: number) {
  const next = seededRandom(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}

type Rand = ReturnType<typeof prng>;
const METRICS = ['api_calls', 'storage_gb', null] as const;
const FEE_TYPES = ['charge', 'subscription', 'commitment'] as const;

/** A decimal text with up to `decimals` digits, distinct per `salt` (so lots never tie on content). */
const amountText = (rand: Rand, max: number, decimals: number, salt: number) =>
  `${rand.int(0, max)}.${String((salt * 7919 + 13) % 10 ** decimals).padStart(decimals, '0')}`;

function randomFees(rand: Rand, prefix: string) {
  return Array.from({ length: rand.int(1, 4) }, (_, i) => {
    const amount = BigInt(rand.int(0, 4_000_00000));
    return {
      id: `${prefix}-fee-${i}`,
      feeType: rand.pick(FEE_TYPES),
      billableMetricCode: rand.pick(METRICS),
      amount,
      coupons: rand.chance(0.3) ? BigInt(rand.int(0, Number(amount / 2n))) : 0n,
      taxes: rand.chance(0.6) ? BigInt(rand.int(0, 900_00000)) : 0n,
      creditNotes: rand.chance(0.2) ? BigInt(rand.int(0, Number(amount / 3n))) : 0n,
    };
  });
}

function randomInvoice(rand: Rand, id: string, externalCustomerId: string): InvoiceInput {
  const fees = randomFees(rand, id);
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

type Step = { hour: number; run: (org: string, journal: boolean) => Promise<unknown> };

/** The calls for one customer, the same in any organization (ids of its own wallets and lots are looked up per organization). */
function scenario(rand: Rand, n: number): Step[] {
  const customer = `cust-${n}`;
  const steps: Step[] = [];
  const walletIds = new Map<string, Map<string, string>>(); // org -> wallet name -> id
  const pendingIds = new Map<string, string[]>(); // org -> pending purchase ids
  const walletId = (org: string, name: string) => walletIds.get(org)!.get(name)!;
  steps.push({
    hour: 0,
    run: async (org) => {
      walletIds.set(org, new Map());
      pendingIds.set(org, []);
      return mutate(orm, org, at(0), (w) => upsertCustomer(w, { externalId: customer, currency: 'EUR' }));
    },
  });
  const wallets = Array.from({ length: rand.int(1, 4) }, (_, i) => `w${i}`);
  // The first wallet may get a threshold rule; it starts above the threshold, so the rule fires during the
  // applications (a lot it grants at creation would tie with the wallet's own grant in lot order, which ids then decide).
  const threshold = rand.chance(0.25) ? rand.pick([250, 120]) : null;
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
      recurringTransactionRules: [
        ...(rand.chance(0.3)
          ? [{ trigger: 'interval' as const, interval: 'monthly' as const, method: 'fixed' as const, grantedCredits: cr('5') }]
          : []),
        ...(threshold !== null && i === 0
          ? [
              {
                trigger: 'threshold' as const,
                method: 'fixed' as const,
                grantedCredits: cr('7'),
                ...(rand.chance(0.5) ? { paidCredits: cr('5') } : {}),
                thresholdCredits: cr(String(threshold)),
              },
            ]
          : []),
      ],
    };
    steps.push({
      hour: 0.1 + i / 100,
      run: async (org) => {
        const wallet = await mutate(orm, org, at(0.1 + i / 100), (w) => createWallet(w, input));
        walletIds.get(org)!.set(name, wallet.id);
        return wallet;
      },
    });
  }
  // Extra lots: some expire before the invoices come (voided first by an apply), some outlive them.
  for (const [k, name] of wallets.entries()) {
    if (!rand.chance(0.6)) continue;
    const input = {
      grantedCredits: cr(amountText(rand, 150, 5, n * 100 + k)),
      priority: rand.int(1, 60),
      expirationAt: rand.pick([at(2), at(5.5), at(1000), null]),
      name: rand.chance(0.5) ? `lot-${k}` : null,
    };
    steps.push({
      hour: 1 + k / 100,
      run: (org) => mutate(orm, org, at(1 + k / 100), (w) => createWalletTransactions(w, { walletId: walletId(org, name), ...input })),
    });
    if (rand.chance(0.4)) {
      const paid = { paidCredits: cr(amountText(rand, 90, 2, n * 100 + k + 50)) };
      steps.push({
        hour: 1.2 + k / 100,
        run: async (org) => {
          const result = await mutate(orm, org, at(1.2 + k / 100), (w) => createWalletTransactions(w, { walletId: walletId(org, name), ...paid }));
          pendingIds.get(org)!.push(...result.transactions.filter((t) => t.status === 'pending').map((t) => t.id));
          return result;
        },
      });
    }
  }
  steps.push({
    hour: 1.5,
    run: async (org) => {
      const ids = pendingIds.get(org)!.filter((_, i) => i % 2 === 0);
      for (const id of ids) await mutate(orm, org, at(1.5), (w) => recordPayment(w, { id, status: 'succeeded' }));
      return ids.length;
    },
  });
  const invoiceIds = Array.from({ length: rand.int(1, 4) }, (_, k) => `inv-${n}-${k}`);
  if (rand.chance(0.6)) {
    const usage = randomUsage(rand, customer, invoiceIds, at(1.8));
    steps.push({ hour: 1.8, run: (org) => mutate(orm, org, at(1.8), (w) => syncUsage(w, usage)) });
  }
  for (const [k, id] of invoiceIds.entries()) {
    const hour = 3 + k * 1.5;
    const invoice = randomInvoice(rand, id, customer);
    const usage = rand.chance(0.25) ? randomUsage(rand, customer, invoiceIds.slice(k + 1), at(hour)) : undefined;
    const apply = (org: string, journal: boolean) => mutate(orm, org, at(hour), (w) => applyPrepaidCredits(w, invoice, usage, { journal }));
    steps.push({ hour, run: apply });
    if (rand.chance(0.3)) steps.push({ hour: hour + 0.1, run: apply }); // a repeat: the first answer
    if (rand.chance(0.25)) steps.push({ hour: hour + 0.2, run: (org) => mutate(orm, org, at(hour + 0.2), (w) => voidInvoice(w, id)) });
  }
  return steps;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Every row and event of an organization, ids replaced by labels assigned in an order of content (not of ids). */
async function footprint(org: string) {
  const labels = new Map<string, string>([[org, 'org']]);
  const label = (prefix: string, rows: { id: string }[]) => {
    for (const row of rows) if (!labels.has(row.id)) labels.set(row.id, `${prefix}${labels.size}`);
  };
  const customers = await sql<{ id: string }>('select * from customers where organization_id = $1 order by external_id', [org]);
  label('customer', customers);
  const wallets = await sql<{ id: string }>(
    `select w.* from wallets w join customers c on c.id = w.customer_id where w.organization_id = $1 order by c.external_id, w.name`,
    [org],
  );
  label('wallet', wallets);
  const transactions = await sql<{ id: string }>(
    `select t.* from wallet_transactions t join wallets w on w.id = t.wallet_id join customers c on c.id = w.customer_id
       left join wallet_transactions v on v.id = t.voided_transaction_id
       -- Rows equal in content (two identical grants in one request) are told apart by the order of their creation events.
       left join lateral (select min(e.position) as position from events e
                           where e.organization_id = t.organization_id and e.type = 'wallet_transaction.created' and e.data ->> 'id' = t.id::text) ev on true
      where t.organization_id = $1
      order by c.external_id, w.name, t.created_at, t.transaction_type, t.transaction_status, t.source, v.created_at, v.priority,
               v.credit_amount, t.amount_cents, t.credit_amount, t.priority, t.expiration_at, t.name, ev.position`,
    [org],
  );
  label('tx', transactions);
  const consumptions = await sql(
    `select inbound_wallet_transaction_id as inbound, outbound_wallet_transaction_id as outbound, credit_amount, amount_cents, created_at
       from wallet_transaction_consumptions where organization_id = $1`,
    [org],
  );
  const applications = await sql(
    `select invoice_id, customer_id, request_hash, status, allocation, voided_at, created_at from invoice_applications
      where organization_id = $1 order by invoice_id`,
    [org],
  );
  const snapshots = await sql(
    `select s.customer_id, s.currency, s.as_of, s.fees, s.draft_invoices, s.billed_fees, s.updated_at
       from usage_snapshots s join customers c on c.id = s.customer_id where s.organization_id = $1 order by c.external_id`,
    [org],
  );
  const rules = await sql<{ id: string }>(
    `select r.id, r.wallet_id, r.status, r.trigger, r.interval, r.method, r.paid_credits, r.granted_credits, r.threshold_credits,
            r.terminated_at, r.created_at
       from recurring_transaction_rules r join wallets w on w.id = r.wallet_id join customers c on c.id = w.customer_id
      where r.organization_id = $1 order by c.external_id, w.name, r.trigger`,
    [org],
  );
  label('rule', rules);
  const events = await sql('select type, data, created_at from events where organization_id = $1 order by position', [org]);
  const relabel = (value: unknown) => JSON.parse(JSON.stringify(value).replace(UUID, (id) => labels.get(id) ?? `unlabelled:${id}`));
  const sortedConsumptions = (relabel(consumptions) as Record<string, string>[]).sort((a, b) =>
    `${a.inbound}/${a.outbound}` < `${b.inbound}/${b.outbound}` ? -1 : 1,
  );
  return relabel({ customers, wallets, transactions, applications, snapshots, rules, events, consumptions: sortedConsumptions });
}

describe('journaled invoice application', () => {
  it(`writes what the ORM path writes: answers, rows and events (${RUNS} random customers, seed ${SEED})`, async () => {
    const journaled = await newOrganization(orm);
    const managed = await newOrganization(orm);
    const rand = prng(SEED);
    const steps = Array.from({ length: RUNS }, (_, n) => scenario(rand, n));
    // Customers advance together in time (hour order), one call at a time, first in one organization then the other.
    const timeline = steps.flatMap((list, n) => list.map((step, i) => ({ ...step, n, i }))).sort((a, b) => a.hour - b.hour || a.n - b.n || a.i - b.i);
    const answers = { journaled: [] as unknown[], managed: [] as unknown[] };
    for (const step of timeline) {
      const outcome = async (org: string, journal: boolean) => {
        try {
          return { ok: await step.run(org, journal) };
        } catch (error) {
          return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
        }
      };
      answers.journaled.push(await outcome(journaled, true));
      answers.managed.push(await outcome(managed, false));
    }
    // Answers carry ids of each organization's own rows: compare them by shape, with ids masked.
    const mask = (value: unknown) => JSON.parse(JSON.stringify(value).replace(UUID, 'id'));
    expect(mask(answers.journaled)).toEqual(mask(answers.managed));
    const [a, b] = [await footprint(journaled), await footprint(managed)];
    expect(a.transactions.length).toBeGreaterThan(RUNS);
    // Threshold rules fired during applications (granted and paid top-ups), on both paths alike.
    const thresholdTopUps = (a.transactions as { source: string; created_at: string }[]).filter(
      (t) => t.source === 'threshold' && new Date(t.created_at) >= at(3),
    );
    expect(thresholdTopUps.length).toBeGreaterThan(0);
    expect(a.applications.length).toBeGreaterThan(0);
    expect(a).toEqual(b);
    // The journaled path ran (no threshold rule) and consumed credits in many applications.
    const paid = (a.applications as { allocation: { prepaidCreditAmountCents: number } | null }[]).filter(
      (app) => (app.allocation?.prepaidCreditAmountCents ?? 0) > 0,
    );
    expect(paid.length).toBeGreaterThan(RUNS / 3);
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
