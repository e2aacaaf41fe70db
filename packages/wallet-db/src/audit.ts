/**
 * The ledger audit: recomputes every wallet of every organization from its rows with SQL of its
 * own (never with the code it checks) and lists every disagreement. Used by the tests after each
 * scenario, by the crash and load runs, and by `pnpm audit:ledger` against a live database.
 *
 * What must hold, per wallet:
 * - balances (cents and credits) equal the settled ledger sum (inbound minus outbound) and the sum
 *   of the settled lots' remainders; consumed totals equal the settled outbound sums;
 * - no balance and no lot remainder below zero;
 * - each lot's remainder equals its amount minus its consumptions, and each outbound transaction
 *   equals the sum of its consumptions, all within one wallet;
 * - the period report's identity (reports.credits), per wallet and kind over its whole history:
 *   nothing before the first row, so opening 0 + toppedUp + recredited - consumed - voided - expired
 *   - terminated - clawedBack = closing, with every movement classified by the report's rules and
 *   the closing taken from the lots' remainders; no lot is consumed before it settled (so no
 *   balance as of a past moment is negative), every lot is purchased or granted, and each
 *   consumption's copies (wallet, lot kind, time, outflow) agree with its lot and its outbound;
 * - every change has its event in the outbox, exactly once where it happens once: a
 *   `wallet.created` per wallet, a `wallet_transaction.created` per transaction, a
 *   `wallet.terminated` per terminated wallet, a `wallet_transaction.updated` carrying the current
 *   status of every settled or failed purchase.
 */
import pg from 'pg';

export interface LedgerMismatch {
  organizationId: string;
  walletId: string;
  problem: string;
}

/**
 * The balances of one currency. Cents add up within a currency only; credits add up within one
 * currency and one rate only (a credit at 0.5 is not worth a credit at 1), so they are per rate.
 */
export interface CurrencyBalance {
  currency: string;
  wallets: number;
  /** Minor units of the currency, exact (a bigint as a string). */
  balanceCents: string;
  byRate: { rateAmount: string; wallets: number; creditsBalance: string }[];
}

export interface LedgerSummary {
  organizations: number;
  wallets: number;
  transactions: number;
  consumptions: number;
  events: number;
  /** Per currency, in currency order; never summed across currencies. */
  balances: CurrencyBalance[];
}

/** "170.00000" -> "170", "0.50000" -> "0.5" (numeric(30,5) as text). */
function plainDecimal(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

/** Balances against the ledger, per wallet. */
const BALANCE_CHECKS = `
  with sums as (
    select w.organization_id, w.id as wallet_id, w.balance_cents, w.credits_balance, w.consumed_amount_cents, w.consumed_credits,
      coalesce(sum(case when t.transaction_type = 'inbound' then t.amount_cents when t.transaction_type = 'outbound' then -t.amount_cents end)
               filter (where t.status = 'settled'), 0) as ledger_cents,
      coalesce(sum(case when t.transaction_type = 'inbound' then t.credit_amount when t.transaction_type = 'outbound' then -t.credit_amount end)
               filter (where t.status = 'settled'), 0) as ledger_credits,
      coalesce(sum(t.amount_cents) filter (where t.status = 'settled' and t.transaction_type = 'outbound'), 0) as out_cents,
      coalesce(sum(t.credit_amount) filter (where t.status = 'settled' and t.transaction_type = 'outbound'), 0) as out_credits,
      coalesce(sum(t.remaining_amount_cents) filter (where t.status = 'settled' and t.transaction_type = 'inbound'), 0) as lot_cents,
      coalesce(sum(t.remaining_credit_amount) filter (where t.status = 'settled' and t.transaction_type = 'inbound'), 0) as lot_credits
    from wallets w left join wallet_transactions t on t.wallet_id = w.id
    group by w.id
  )
  select organization_id, wallet_id, 'balance_cents ' || balance_cents || ' <> ledger ' || ledger_cents as problem from sums where balance_cents <> ledger_cents
  union all select organization_id, wallet_id, 'credits_balance ' || credits_balance || ' <> ledger ' || ledger_credits from sums where credits_balance <> ledger_credits
  union all select organization_id, wallet_id, 'lots hold ' || lot_cents || ' cents, balance ' || balance_cents from sums where lot_cents <> balance_cents
  union all select organization_id, wallet_id, 'lots hold ' || lot_credits || ' credits, balance ' || credits_balance from sums where lot_credits <> credits_balance
  union all select organization_id, wallet_id, 'consumed_amount_cents ' || consumed_amount_cents || ' <> outbound ' || out_cents from sums where consumed_amount_cents <> out_cents
  union all select organization_id, wallet_id, 'consumed_credits ' || consumed_credits || ' <> outbound ' || out_credits from sums where consumed_credits <> out_credits
  union all select organization_id, id, 'negative balance: ' || balance_cents || ' cents, ' || credits_balance || ' credits'
    from wallets where balance_cents < 0 or credits_balance < 0`;

/** Lots and outbound transactions against their consumption rows. */
const CONSUMPTION_CHECKS = `
  select t.organization_id, t.wallet_id, 'lot ' || t.id || ' remainder ' || t.remaining_amount_cents || ' cents / ' || t.remaining_credit_amount
         || ' credits disagrees with its consumptions (' || coalesce(sum(c.amount_cents), 0) || ' cents / ' || coalesce(sum(c.credit_amount), 0) || ' credits)' as problem
    from wallet_transactions t
    left join wallet_transaction_consumptions c on c.inbound_wallet_transaction_id = t.id
    where t.transaction_type = 'inbound' and t.status = 'settled'
    group by t.id
    having t.remaining_amount_cents is distinct from t.amount_cents - coalesce(sum(c.amount_cents), 0)
        or t.remaining_credit_amount is distinct from t.credit_amount - coalesce(sum(c.credit_amount), 0)
  union all select t.organization_id, t.wallet_id, 'outbound ' || t.id || ' of ' || t.amount_cents || ' cents / ' || t.credit_amount
         || ' credits disagrees with its consumptions (' || coalesce(sum(c.amount_cents), 0) || ' cents / ' || coalesce(sum(c.credit_amount), 0) || ' credits)'
    from wallet_transactions t
    left join wallet_transaction_consumptions c on c.outbound_wallet_transaction_id = t.id
    where t.transaction_type = 'outbound'
    group by t.id
    having t.amount_cents <> coalesce(sum(c.amount_cents), 0) or t.credit_amount <> coalesce(sum(c.credit_amount), 0)
  union all select organization_id, wallet_id, 'negative remainder on lot ' || id from wallet_transactions
    where remaining_amount_cents < 0 or remaining_credit_amount < 0
  union all select o.organization_id, o.wallet_id, 'consumption ' || c.id || ' links outbound ' || o.id || ' to lot ' || i.id || ' of another wallet or an unsettled lot'
    from wallet_transaction_consumptions c
    join wallet_transactions o on o.id = c.outbound_wallet_transaction_id
    join wallet_transactions i on i.id = c.inbound_wallet_transaction_id
    where i.wallet_id <> o.wallet_id or i.organization_id <> c.organization_id or o.organization_id <> c.organization_id
       or i.transaction_type <> 'inbound' or o.transaction_type <> 'outbound' or i.status <> 'settled'
  union all select t.organization_id, t.wallet_id, 'transaction ' || t.id || ' belongs to another organization than its wallet'
    from wallet_transactions t join wallets w on w.id = t.wallet_id where w.organization_id <> t.organization_id`;

/**
 * The report identity per wallet and kind (finance.ts classifies the same way; this is its own SQL):
 * lots are toppedUp or recredited (source invoice_void), outbound consumptions consumed (invoiced)
 * or voided by source (expiration, termination, payment_failure, else a manual void).
 */
const REPORT_CHECKS = `
  with lots as (
    select t.organization_id, t.wallet_id, t.transaction_status as kind,
           sum(t.amount_cents) filter (where t.source <> 'invoice_void') as topped_up,
           sum(t.amount_cents) filter (where t.source = 'invoice_void') as recredited,
           sum(t.remaining_amount_cents) as closing
      from wallet_transactions t
     where t.transaction_type = 'inbound' and t.status = 'settled'
     group by 1, 2, 3
  ), outs as (
    select o.organization_id, o.wallet_id, i.transaction_status as kind,
           sum(c.amount_cents) filter (where o.transaction_status = 'invoiced') as consumed,
           sum(c.amount_cents) filter (where o.transaction_status = 'voided' and o.source = 'expiration') as expired,
           sum(c.amount_cents) filter (where o.transaction_status = 'voided' and o.source = 'termination') as terminated,
           sum(c.amount_cents) filter (where o.transaction_status = 'voided' and o.source = 'payment_failure') as clawed_back,
           sum(c.amount_cents) filter (where o.transaction_status = 'voided' and o.source not in ('expiration', 'termination', 'payment_failure')) as voided
      from wallet_transactions o
      join wallet_transaction_consumptions c on c.outbound_wallet_transaction_id = o.id
      join wallet_transactions i on i.id = c.inbound_wallet_transaction_id
     where o.transaction_type = 'outbound' and o.status = 'settled'
     group by 1, 2, 3
  ), per_kind as (
    select coalesce(l.organization_id, o.organization_id) as organization_id, coalesce(l.wallet_id, o.wallet_id) as wallet_id,
           coalesce(l.kind, o.kind) as kind,
           coalesce(l.topped_up, 0) + coalesce(l.recredited, 0)
             - coalesce(o.consumed, 0) - coalesce(o.voided, 0) - coalesce(o.expired, 0) - coalesce(o.terminated, 0) - coalesce(o.clawed_back, 0) as computed,
           coalesce(l.closing, 0) as closing
      from lots l full join outs o on o.wallet_id = l.wallet_id and o.kind = l.kind
  )
  select organization_id, wallet_id, 'report identity (' || kind || '): opening 0 + in - out = ' || computed || ' cents, lots hold ' || closing as problem
    from per_kind where computed <> closing
  union all select organization_id, wallet_id, 'lot ' || id || ' is ' || transaction_status || ', neither purchased nor granted'
    from wallet_transactions where transaction_type = 'inbound' and transaction_status not in ('purchased', 'granted')
  union all select organization_id, wallet_id, 'outbound ' || id || ' is ' || transaction_status || ', neither invoiced nor voided'
    from wallet_transactions where transaction_type = 'outbound' and transaction_status not in ('invoiced', 'voided')
  union all select o.organization_id, o.wallet_id, 'outbound ' || o.id || ' at ' || o.created_at || ' takes from lot ' || i.id || ' settled later, at ' || coalesce(i.settled_at::text, 'no time')
    from wallet_transaction_consumptions c
    join wallet_transactions o on o.id = c.outbound_wallet_transaction_id
    join wallet_transactions i on i.id = c.inbound_wallet_transaction_id
   where i.settled_at is null or o.created_at < i.settled_at
  union all select o.organization_id, o.wallet_id, 'consumption ' || c.id || ' says wallet ' || c.wallet_id || ', ' || c.lot_kind || ' at ' || c.created_at
         || ', ' || c.outflow || ', but its lot is ' || i.transaction_status || ' in wallet ' || i.wallet_id || ' and its outbound at ' || o.created_at
         || ', ' || o.transaction_status || ' by ' || o.source
    from wallet_transaction_consumptions c
    join wallet_transactions o on o.id = c.outbound_wallet_transaction_id
    join wallet_transactions i on i.id = c.inbound_wallet_transaction_id
   where c.wallet_id <> i.wallet_id or c.lot_kind <> i.transaction_status or c.created_at <> o.created_at
      or c.outflow <> case when o.transaction_status = 'invoiced' then 'consumed'
                           when o.transaction_status = 'voided' and o.source = 'expiration' then 'expired'
                           when o.transaction_status = 'voided' and o.source = 'termination' then 'terminated'
                           when o.transaction_status = 'voided' and o.source = 'payment_failure' then 'clawedBack'
                           when o.transaction_status = 'voided' then 'voided' end`;

/** Every change has its event (counted per organization, type and subject id). */
const EVENT_CHECKS = `
  with counted as (
    select organization_id, type, data ->> 'id' as subject_text,
           case when data ->> 'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then (data ->> 'id')::uuid end as subject_id,
           data ->> 'status' as status, count(*) as n
      from events
      where type in ('wallet.created', 'wallet.terminated', 'wallet_transaction.created', 'wallet_transaction.updated')
      group by 1, 2, 3, 4, 5
  ),
  per_subject as (
    select organization_id, type, subject_text, subject_id, sum(n) as n from counted group by 1, 2, 3, 4
  )
  select t.organization_id, t.wallet_id::text,
         'transaction ' || t.id || ' has ' || coalesce(e.n, 0) || ' wallet_transaction.created events, expected 1' as problem
    from wallet_transactions t
    left join per_subject e on e.organization_id = t.organization_id and e.type = 'wallet_transaction.created' and e.subject_id = t.id
    where coalesce(e.n, 0) <> 1
  union all select t.organization_id, t.wallet_id::text, 'purchase ' || t.id || ' is ' || t.status || ' but no wallet_transaction.updated event says so'
    from wallet_transactions t
    where t.transaction_status = 'purchased' and t.status <> 'pending' and t.source <> 'invoice_void' -- recredits were never paid for (isPayablePurchase)
      and not exists (select 1 from counted e where e.organization_id = t.organization_id and e.type = 'wallet_transaction.updated'
                        and e.subject_id = t.id and e.status = t.status)
  union all select w.organization_id, w.id::text, 'wallet has ' || coalesce(e.n, 0) || ' wallet.created events, expected 1'
    from wallets w
    left join per_subject e on e.organization_id = w.organization_id and e.type = 'wallet.created' and e.subject_id = w.id
    where coalesce(e.n, 0) <> 1
  union all select w.organization_id, w.id::text,
         'wallet is ' || w.status || ' with ' || coalesce(e.n, 0) || ' wallet.terminated events, expected ' || (case when w.status = 'terminated' then 1 else 0 end)
    from wallets w
    left join per_subject e on e.organization_id = w.organization_id and e.type = 'wallet.terminated' and e.subject_id = w.id
    where coalesce(e.n, 0) <> (case when w.status = 'terminated' then 1 else 0 end)
  union all select e.organization_id, coalesce(e.subject_text, '?'),
         e.type || ' event for ' || coalesce(e.subject_text, 'no id') || ', which does not exist in its organization'
    from per_subject e
    where (e.type like 'wallet\\_transaction.%' and not exists (select 1 from wallet_transactions t where t.id = e.subject_id and t.organization_id = e.organization_id))
       or (e.type like 'wallet.%' and not exists (select 1 from wallets w where w.id = e.subject_id and w.organization_id = e.organization_id))`;

async function withClient<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // One snapshot for every check, so a live database under load is audited at one point in time.
    await client.query('begin isolation level repeatable read read only');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } finally {
    await client.end();
  }
}

async function problems(client: pg.Client, sql: string): Promise<LedgerMismatch[]> {
  const { rows } = await client.query<{ organization_id: string; wallet_id: string; problem: string }>(sql);
  return rows.map((row) => ({ organizationId: row.organization_id, walletId: row.wallet_id, problem: row.problem }));
}

/** Every disagreement between the stored balances, the ledger rows and the outbox; empty when sound. */
export async function auditLedger(databaseUrl: string): Promise<LedgerMismatch[]> {
  return withClient(databaseUrl, async (client) => {
    const found: LedgerMismatch[] = [];
    for (const sql of [BALANCE_CHECKS, CONSUMPTION_CHECKS, REPORT_CHECKS, EVENT_CHECKS]) found.push(...(await problems(client, sql)));
    return found.sort((a, b) => a.organizationId.localeCompare(b.organizationId) || a.walletId.localeCompare(b.walletId));
  });
}

/** What the audit covered: row counts and the total balances. */
export async function ledgerSummary(databaseUrl: string): Promise<LedgerSummary> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<Record<keyof LedgerSummary, string>>(`
      select (select count(*) from organizations) as organizations,
             (select count(*) from wallets) as wallets,
             (select count(*) from wallet_transactions) as transactions,
             (select count(*) from wallet_transaction_consumptions) as consumptions,
             (select count(*) from events) as events`);
    const row = rows[0];
    if (!row) throw new Error('the summary query returned no row');
    const groups = await client.query<{ currency: string; rate: string; wallets: string; cents: string; credits: string }>(`
      select currency, rate_amount::text as rate, count(*)::text as wallets, sum(balance_cents)::text as cents, sum(credits_balance)::text as credits
      from wallets group by currency, rate_amount order by currency, rate_amount`);
    const balances: CurrencyBalance[] = [];
    for (const group of groups.rows) {
      let balance = balances[balances.length - 1];
      if (balance?.currency !== group.currency) {
        balance = { currency: group.currency, wallets: 0, balanceCents: '0', byRate: [] };
        balances.push(balance);
      }
      balance.wallets += Number(group.wallets);
      balance.balanceCents = String(BigInt(balance.balanceCents) + BigInt(group.cents));
      balance.byRate.push({ rateAmount: plainDecimal(group.rate), wallets: Number(group.wallets), creditsBalance: plainDecimal(group.credits) });
    }
    return {
      organizations: Number(row.organizations),
      wallets: Number(row.wallets),
      transactions: Number(row.transactions),
      consumptions: Number(row.consumptions),
      events: Number(row.events),
      balances,
    };
  });
}
