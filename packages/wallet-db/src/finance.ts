/**
 * Finance reads: balances as of a moment, balance history, the period report and customer totals,
 * all computed from the ledger rows themselves (never from a second store that could drift).
 *
 * One definition of time runs through all of them:
 * - a lot (a settled inbound transaction) counts from its `settled_at` (a paid top-up settled late
 *   counts from its payment, not from its creation);
 * - an outbound transaction counts from its `created_at` (which its consumption rows carry), and
 *   takes from the lots its consumption rows name, so every outbound cent has the kind (purchased
 *   or granted) of the lot it came from (each consumption row carries its wallet and its lot's kind,
 *   copied from the lot as it is inserted: a wallet's past reads two index ranges);
 * - the balance "at t" counts every movement at or before t; a period (from, to] holds the movements
 *   after `from` up to `to` included, so its opening is the balance at `from`, its closing the
 *   balance at `to`, and one period's closing is the next one's opening, to the cent.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { formatDecimal, parseDecimal, WalletError } from '@wallets/core';
import type pg from 'pg';
import { centsToNumber, walletDto } from './dto.js';
import { findCustomerByExternalId, getWalletOrFail, isUuid, loadActiveRules } from './repositories.js';

/** A raw pg connection from the ORM's pool for the duration of `fn` (prepared statements, cursors). */
export async function withPgConnection<T>(em: EntityManager, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  const client = em.getConnection().getKnex().client as { acquireConnection(): Promise<pg.ClientBase>; releaseConnection(c: unknown): Promise<void> };
  const connection = await client.acquireConnection();
  try {
    return await fn(connection);
  } finally {
    await client.releaseConnection(connection);
  }
}

/** numeric(30,5) text -> 1e-5 units. */
function creditUnits(text: string | null | undefined): bigint {
  if (text === null || text === undefined) return 0n;
  const parsed = parseDecimal(text, { excess: 'reject', allowNegative: true });
  if (!parsed.ok) throw new Error(`numeric value ${text}: ${parsed.reason}`);
  return parsed.value;
}

export type LotKind = 'purchased' | 'granted';

/**
 * Every movement of one wallet up to a moment, each with the kind of the lot it adds to or takes
 * from: lots by settlement time, consumptions by their time (their outbound's creation time).
 * $1 organization, $2 wallet, $3 up to (included).
 */
const WALLET_MOVEMENTS = `
  select transaction_status as kind, settled_at as at, amount_cents as cents, credit_amount as credits, false as outbound
    from wallet_transactions
   where organization_id = $1 and wallet_id = $2 and transaction_type = 'inbound' and status = 'settled' and settled_at <= $3
  union all
  select lot_kind, created_at, -amount_cents, -credit_amount, true
    from wallet_transaction_consumptions
   where organization_id = $1 and wallet_id = $2 and created_at <= $3`;

const BALANCE_AT: pg.QueryConfig = {
  name: 'finance_wallet_balance_at',
  text: `select kind,
                sum(cents)::text as cents, sum(credits)::text as credits,
                coalesce(sum(-cents) filter (where outbound), 0)::text as out_cents,
                coalesce(sum(-credits) filter (where outbound), 0)::text as out_credits
           from (${WALLET_MOVEMENTS}) m group by kind`,
};

/**
 * Movements grouped by the point that first counts them: bucket b holds the movements after point
 * b (1-based; 0: before the first) up to point b + 1. $4 the points, each plus 1 microsecond
 * (stored times have millisecond precision), so a movement exactly at a point falls in that point.
 * Lots and consumptions are grouped each on its own index-only range (a quarter less work than
 * grouping their union); a bucket may then come twice per kind, once from each.
 */
const BALANCE_BUCKETS: pg.QueryConfig = {
  name: 'finance_wallet_balance_buckets',
  text: `select width_bucket(settled_at, $4::timestamptz[]) as bucket, transaction_status as kind,
                sum(amount_cents)::text as cents, sum(credit_amount)::text as credits
           from wallet_transactions
          where organization_id = $1 and wallet_id = $2 and transaction_type = 'inbound' and status = 'settled' and settled_at <= $3
          group by 1, 2
         union all
         select width_bucket(created_at, $4::timestamptz[]), lot_kind, (-sum(amount_cents))::text, (-sum(credit_amount))::text
           from wallet_transaction_consumptions
          where organization_id = $1 and wallet_id = $2 and created_at <= $3
          group by 1, 2`,
};

interface KindSums {
  purchasedCents: bigint;
  grantedCents: bigint;
  purchasedCredits: bigint;
  grantedCredits: bigint;
}

const zeroSums = (): KindSums => ({ purchasedCents: 0n, grantedCents: 0n, purchasedCredits: 0n, grantedCredits: 0n });

function addRow(sums: KindSums, kind: string, cents: string, credits: string): void {
  if (kind === 'purchased') {
    sums.purchasedCents += BigInt(cents);
    sums.purchasedCredits += creditUnits(credits);
  } else {
    sums.grantedCents += BigInt(cents);
    sums.grantedCredits += creditUnits(credits);
  }
}

/**
 * `wallets.get({ id, asOf })`: the wallet's settings as they are now, its balances as the settled
 * ledger stood at `asOf` (zero before its first transaction), the ongoing fields null (usage
 * snapshots are not kept in history), and `asOf` echoed.
 */
export async function getWalletAsOf(em: EntityManager, organizationId: string, walletId: string, asOf: Date) {
  const wallet = await getWalletOrFail(em, organizationId, walletId);
  const rules = await loadActiveRules(em, organizationId, [wallet.id]);
  const { rows } = await withPgConnection(em, (c) =>
    c.query<{ kind: string; cents: string; credits: string; out_cents: string; out_credits: string }>({
      ...BALANCE_AT,
      values: [organizationId, wallet.id, asOf],
    }),
  );
  const sums = zeroSums();
  let consumedCents = 0n;
  let consumedCredits = 0n;
  for (const row of rows) {
    addRow(sums, row.kind, row.cents, row.credits);
    consumedCents += BigInt(row.out_cents);
    consumedCredits += creditUnits(row.out_credits);
  }
  const now = walletDto(wallet, rules.get(wallet.id) ?? []);
  const format = formatDecimal;
  return {
    ...now,
    asOf,
    balanceCents: centsToNumber(sums.purchasedCents + sums.grantedCents),
    creditsBalance: format(sums.purchasedCredits + sums.grantedCredits),
    purchasedCents: centsToNumber(sums.purchasedCents),
    grantedCents: centsToNumber(sums.grantedCents),
    purchasedCredits: format(sums.purchasedCredits),
    grantedCredits: format(sums.grantedCredits),
    consumedAmountCents: centsToNumber(consumedCents),
    consumedCredits: format(consumedCredits),
    ongoingBalanceCents: null,
    creditsOngoingBalance: null,
    ongoingUsageBalanceCents: null,
    creditsOngoingUsageBalance: null,
  };
}
export type WalletAsOfDto = Awaited<ReturnType<typeof getWalletAsOf>>;

export type HistoryInterval = 'day' | 'week' | 'month';
export const MAX_HISTORY_POINTS = 1_000;
const HOUR_MS = 3_600_000;
/** The longest an interval can last (a DST day, a 31-day month with a DST change). */
const LONGEST_MS: Record<HistoryInterval, number> = { day: 25 * HOUR_MS, week: 7 * 24 * HOUR_MS + HOUR_MS, month: 31 * 24 * HOUR_MS + HOUR_MS };

/** The local interval starts from the one holding `from` past `to`, as instants ($2 zone). */
const INTERVAL_ENDS: pg.QueryConfig = {
  name: 'finance_interval_ends',
  text: `select (p at time zone $2) as at
           from generate_series(date_trunc($1, $3::timestamptz at time zone $2), $4::timestamptz at time zone $2, ('1 ' || $1)::interval) p
          limit $5`,
};

function historyRefused(message: string, path: string): WalletError {
  return new WalletError('VALIDATION_FAILED', message, { issues: [{ path: [path], message }] });
}

/**
 * `wallets.balanceHistory`: the balances at each end of a day, week (Monday) or month of the
 * customer's time zone, after `from` and up to `to` included. At most MAX_HISTORY_POINTS points.
 */
export async function walletBalanceHistory(
  em: EntityManager,
  organizationId: string,
  input: { id: string; from: Date; to: Date; interval: HistoryInterval },
) {
  const { from, to, interval } = input;
  if (to.getTime() <= from.getTime()) throw historyRefused('must be after from', 'to');
  const tooMany = `more than ${MAX_HISTORY_POINTS} points; ask for a shorter period or a longer interval`;
  if ((to.getTime() - from.getTime()) / LONGEST_MS[interval] > MAX_HISTORY_POINTS + 2) throw historyRefused(tooMany, 'to');
  const wallet = await getWalletOrFail(em, organizationId, input.id);
  return withPgConnection(em, async (c) => {
    const ends = await c.query<{ at: Date }>({ ...INTERVAL_ENDS, values: [interval, wallet.customer.timezone, from, to, MAX_HISTORY_POINTS + 4] });
    const points = ends.rows.map((r) => new Date(r.at)).filter((at) => at > from && at <= to);
    if (points.length > MAX_HISTORY_POINTS) throw historyRefused(tooMany, 'to');
    if (points.length === 0) return { points: [] };
    const last = points[points.length - 1] as Date;
    const thresholds = points.map((p) => new Date(p.getTime()).toISOString().replace('Z', '001Z'));
    const { rows } = await c.query<{ bucket: number; kind: string; cents: string; credits: string }>({
      ...BALANCE_BUCKETS,
      values: [organizationId, wallet.id, last, thresholds],
    });
    const perBucket = points.map(() => zeroSums());
    const opening = zeroSums();
    for (const row of rows) addRow(row.bucket === 0 ? opening : (perBucket[row.bucket] ?? zeroSums()), row.kind, row.cents, row.credits);
    // Bucket b (b >= 1) holds what happened after point b, so it first counts at point b + 1 (index b).
    const running = opening;
    const format = formatDecimal;
    return {
      points: points.map((at, index) => {
        const bucket = perBucket[index];
        if (index > 0 && bucket) {
          running.purchasedCents += bucket.purchasedCents;
          running.grantedCents += bucket.grantedCents;
          running.purchasedCredits += bucket.purchasedCredits;
          running.grantedCredits += bucket.grantedCredits;
        }
        return {
          at,
          balanceCents: centsToNumber(running.purchasedCents + running.grantedCents),
          creditsBalance: format(running.purchasedCredits + running.grantedCredits),
          purchasedCents: centsToNumber(running.purchasedCents),
          grantedCents: centsToNumber(running.grantedCents),
        };
      }),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// The period report

export const REPORT_LINES = ['toppedUp', 'recredited', 'consumed', 'voided', 'expired', 'terminated', 'clawedBack'] as const;
export type ReportLine = (typeof REPORT_LINES)[number];
export const INFLOW_LINES: readonly ReportLine[] = ['toppedUp', 'recredited'];
export const OUTFLOW_LINES: readonly ReportLine[] = ['consumed', 'voided', 'expired', 'terminated', 'clawedBack'];

/**
 * Whether a wallet is in a report, as a filter on `column`: a customer's wallets in the currency
 * ($5; a few), or the organization's wallets but those in other currencies (usually none). Either
 * way the set each row is probed against stays small: a semi-join against all 10,000 wallets of an
 * organization cost more per row at 10,000 than at 1,000 (its hash table no longer in cache).
 */
const IN_SCOPE = {
  customer: (column: string) => `${column} in (select id from wallets where organization_id = $1 and customer_id = $5::uuid and currency = $2)`,
  organization: (column: string) => `${column} not in (select id from wallets where organization_id = $1 and currency <> $2)`,
};

/**
 * Every movement of an organization's wallets in one currency (optionally one customer's) up to
 * `to`, signed (a lot adds, a consumption takes) and each classified once: up to `from` it is the
 * opening; after it, a lot is `recredited` when an invoice void created it (source `invoice_void`),
 * else `toppedUp`, and a consumption is its outbound's `outflow` (consumed, voided, expired,
 * terminated, clawedBack; copied onto the row on insert). Its kind is always the lot's. The
 * grouping set (kind) sums every movement up to `to`: the closing. Two index-only range scans (the
 * lots by settlement, the consumptions by wallet and time), no lookup per row, so the time follows
 * the number of movements. Then the purchases pending at `to` from their own index.
 * $1 organization, $2 currency, $3 from, $4 to, $5 the customer (its scope only).
 */
const creditsReportQuery = (scope: keyof typeof IN_SCOPE): pg.QueryConfig => ({
  name: `finance_credits_report_${scope}`,
  text: `
  select kind, line, sum(cents)::text as cents from (
    select l.transaction_status as kind,
           case when l.settled_at <= $3 then 'opening' when l.source = 'invoice_void' then 'recredited' else 'toppedUp' end as line,
           l.amount_cents as cents
      from wallet_transactions l
     where l.organization_id = $1 and l.transaction_type = 'inbound' and l.status = 'settled' and l.settled_at <= $4
       and ${IN_SCOPE[scope]('l.wallet_id')}
    union all
    select c.lot_kind, case when c.created_at <= $3 then 'opening' else c.outflow end, -c.amount_cents
      from wallet_transaction_consumptions c
     where c.organization_id = $1 and c.created_at <= $4
       and ${IN_SCOPE[scope]('c.wallet_id')}
  ) m group by grouping sets ((kind, line), (kind))
  union all
  select 'purchased', 'pending', coalesce(sum(t.amount_cents), 0)::text
    from wallet_transactions t
   where t.organization_id = $1 and t.transaction_type = 'inbound' and t.transaction_status = 'purchased' and t.created_at <= $4
     and ${IN_SCOPE[scope]('t.wallet_id')}
     and not coalesce(t.settled_at <= $4, false) and not coalesce(t.failed_at <= $4, false)`,
});
const CREDITS_REPORT = { customer: creditsReportQuery('customer'), organization: creditsReportQuery('organization') };

export interface KindCents {
  purchasedCents: number;
  grantedCents: number;
}

export interface CreditsReport extends Record<ReportLine, KindCents> {
  currency: string;
  from: Date;
  to: Date;
  externalCustomerId: string | null;
  opening: KindCents;
  closing: KindCents;
  pendingPurchasesCents: number;
}

export interface CreditsReportInput {
  currency: string;
  from: Date;
  to: Date;
  externalCustomerId?: string | undefined;
}

/** `reports.credits`: opening + toppedUp + recredited - consumed - voided - expired - terminated - clawedBack = closing, per kind. */
export async function creditsReport(em: EntityManager, organizationId: string, input: CreditsReportInput): Promise<CreditsReport> {
  if (input.to.getTime() <= input.from.getTime()) throw historyRefused('must be after from', 'to');
  let customerId: string | null = null;
  if (input.externalCustomerId !== undefined) {
    const customer = await findCustomerByExternalId(em, organizationId, input.externalCustomerId);
    if (!customer)
      throw new WalletError('CUSTOMER_NOT_FOUND', `customer ${input.externalCustomerId} not found`, { externalId: input.externalCustomerId });
    customerId = customer.id;
  }
  const { rows } = await withPgConnection(em, (c) =>
    c.query<{ kind: string; line: string | null; cents: string }>(
      customerId === null
        ? { ...CREDITS_REPORT.organization, values: [organizationId, input.currency, input.from, input.to] }
        : { ...CREDITS_REPORT.customer, values: [organizationId, input.currency, input.from, input.to, customerId] },
    ),
  );
  // Signed sums: outflows come negative and are shown as amounts taken; the line-less rows are the closing.
  const sums = new Map<string, bigint>();
  for (const row of rows) {
    const line = row.line ?? 'closing';
    const cents = BigInt(row.cents);
    sums.set(`${line}/${row.kind}`, (OUTFLOW_LINES as readonly string[]).includes(line) ? -cents : cents);
  }
  const kinds = (line: string): KindCents => ({
    purchasedCents: centsToNumber(sums.get(`${line}/purchased`) ?? 0n),
    grantedCents: centsToNumber(sums.get(`${line}/granted`) ?? 0n),
  });
  const lines = Object.fromEntries(REPORT_LINES.map((line) => [line, kinds(line)])) as Record<ReportLine, KindCents>;
  return {
    currency: input.currency,
    from: input.from,
    to: input.to,
    externalCustomerId: input.externalCustomerId ?? null,
    opening: kinds('opening'),
    ...lines,
    closing: kinds('closing'),
    pendingPurchasesCents: centsToNumber(sums.get('pending/purchased') ?? 0n),
  };
}

/** The identity, per kind: what closing should be from the opening and the movements. */
export function expectedClosing(report: Omit<CreditsReport, 'closing'>): KindCents {
  const of = (kind: keyof KindCents) =>
    report.opening[kind] + INFLOW_LINES.reduce((s, l) => s + report[l][kind], 0) - OUTFLOW_LINES.reduce((s, l) => s + report[l][kind], 0);
  return { purchasedCents: of('purchasedCents'), grantedCents: of('grantedCents') };
}

// ---------------------------------------------------------------------------------------------
// Customer totals

const CUSTOMER_TOTALS: pg.QueryConfig = {
  name: 'finance_customer_totals',
  text: `select customer_id, currency, sum(balance_cents)::text as balance_cents, sum(ongoing_balance_cents)::text as ongoing_balance_cents,
                count(*)::int as active_wallets
           from wallets where organization_id = $1 and customer_id = any($2::uuid[]) and status = 'active'
          group by customer_id, currency order by currency`,
};

export interface CustomerTotal {
  currency: string;
  balanceCents: number;
  ongoingBalanceCents: number;
  activeWallets: number;
}

/** Per customer, per currency of its active wallets: their summed balances and how many there are. */
export async function customerTotals(
  em: EntityManager,
  organizationId: string,
  customerIds: readonly string[],
): Promise<Map<string, CustomerTotal[]>> {
  const totals = new Map<string, CustomerTotal[]>(customerIds.map((id) => [id, []]));
  const ids = customerIds.filter(isUuid);
  if (ids.length === 0) return totals;
  const { rows } = await withPgConnection(em, (c) =>
    c.query<{ customer_id: string; currency: string; balance_cents: string; ongoing_balance_cents: string; active_wallets: number }>({
      ...CUSTOMER_TOTALS,
      values: [organizationId, ids],
    }),
  );
  for (const row of rows) {
    totals.get(row.customer_id)?.push({
      currency: row.currency,
      balanceCents: centsToNumber(BigInt(row.balance_cents)),
      ongoingBalanceCents: centsToNumber(BigInt(row.ongoing_balance_cents)),
      activeWallets: row.active_wallets,
    });
  }
  return totals;
}
