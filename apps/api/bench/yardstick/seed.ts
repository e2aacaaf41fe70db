/**
 * Setting up and checking the yardstick's tables (not measured): an organization and its API key,
 * customers with the bench's two wallets and three granted lots each, written in a few set-based
 * statements; and an audit of the yardstick's own rows afterwards (balances equal the sums of its
 * ledger rows, lot remainders equal their amounts minus their consumptions, each outbound row
 * equals its consumptions).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { checkSchemaName, createYardstickSchema, DEFAULT_SCHEMA } from './schema.js';

export interface YardstickCustomer {
  externalId: string;
  customerId: string;
  /** [A (priority 1, api_calls only, two lots), B (priority 2, no limits, one lot)]. */
  walletIds: [string, string];
}

export interface YardstickSeed {
  organizationId: string;
  apiKey: string;
  customers: Map<string, YardstickCustomer>;
}

/** 100,000,000 cents at a rate of 1 EUR per credit. */
const LOT_CREDITS = '1000000';
const LOT_CENTS = '100000000';

/** Creates the schema (dropping an old one) and seeds `externalIds`, every customer alike. */
export async function seedYardstick(databaseUrl: string, externalIds: string[], schema = DEFAULT_SCHEMA): Promise<YardstickSeed> {
  const client = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${checkSchemaName(schema)}` });
  await client.connect();
  try {
    await createYardstickSchema(client, schema);
    const organizationId = randomUUID();
    const apiKey = `ys_${randomBytes(24).toString('hex')}`;
    const now = new Date();
    const later = (ms: number) => new Date(now.getTime() + ms);
    await client.query('begin');
    await client.query('insert into organizations (id, name, created_at) values ($1, $2, $3)', [organizationId, 'yardstick', now]);
    await client.query('insert into api_keys (id, organization_id, key_hash, created_at) values ($1, $2, $3, $4)', [
      randomUUID(),
      organizationId,
      createHash('sha256').update(apiKey).digest('hex'),
      now,
    ]);
    const customers = new Map<string, YardstickCustomer>(
      externalIds.map((externalId) => [externalId, { externalId, customerId: randomUUID(), walletIds: [randomUUID(), randomUUID()] }]),
    );
    const list = [...customers.values()];
    await client.query(
      `insert into customers (id, organization_id, external_id, currency, created_at)
       select id, $1, external_id, 'EUR', $2 from unnest($3::uuid[], $4::text[]) as t(id, external_id)`,
      [organizationId, now, list.map((c) => c.customerId), list.map((c) => c.externalId)],
    );
    // Wallet A holds two lots (1,000,000 and a priority-10 500,000 expiring in 2099), wallet B one.
    await client.query(
      `insert into wallets (id, organization_id, customer_id, name, currency, rate_amount, priority, balance_cents, credits_balance,
         ongoing_balance_cents, credits_ongoing_balance, billable_metric_codes, created_at, updated_at)
       select t.id, $1, t.customer_id, t.name, 'EUR', 1, t.priority, t.cents, t.credits, t.cents, t.credits, t.metrics::text[], t.created_at, t.created_at
       from unnest($2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::bigint[], $7::numeric[], $8::text[], $9::timestamptz[])
         as t(id, customer_id, name, priority, cents, credits, metrics, created_at)`,
      [
        organizationId,
        list.flatMap((c) => c.walletIds),
        list.flatMap((c) => [c.customerId, c.customerId]),
        list.flatMap(() => ['API credits', 'General credits']),
        list.flatMap(() => [1, 2]),
        list.flatMap(() => ['150000000', LOT_CENTS]),
        list.flatMap(() => ['1500000', LOT_CREDITS]),
        list.flatMap(() => ['{api_calls}', '{}']),
        list.flatMap(() => [now, later(1)]),
      ],
    );
    await client.query(
      `insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
         credit_amount, amount_cents, remaining_credit_amount, remaining_amount_cents, priority, expiration_at, created_at)
       select gen_random_uuid(), $1, t.wallet_id, t.customer_id, 'inbound', 'settled', 'granted', 'manual',
         t.credits, t.cents, t.credits, t.cents, t.priority, t.expiration_at, t.created_at
       from unnest($2::uuid[], $3::uuid[], $4::numeric[], $5::bigint[], $6::int[], $7::timestamptz[], $8::timestamptz[])
         as t(wallet_id, customer_id, credits, cents, priority, expiration_at, created_at)`,
      [
        organizationId,
        list.flatMap((c) => [c.walletIds[0], c.walletIds[0], c.walletIds[1]]),
        list.flatMap((c) => [c.customerId, c.customerId, c.customerId]),
        list.flatMap(() => [LOT_CREDITS, '500000', LOT_CREDITS]),
        list.flatMap(() => [LOT_CENTS, '50000000', LOT_CENTS]),
        list.flatMap(() => [50, 10, 50]),
        list.flatMap(() => [null, new Date('2099-01-01T00:00:00Z'), null]),
        list.flatMap(() => [now, later(2), later(3)]),
      ],
    );
    await client.query('commit');
    return { organizationId, apiKey, customers };
  } finally {
    await client.end();
  }
}

/** Pending paid top-ups of 10 credits (1000 cents), one per wallet listed (a wallet may be listed again): their ids in that order. */
export async function seedPendingPurchases(
  databaseUrl: string,
  organizationId: string,
  walletIds: string[],
  schema = DEFAULT_SCHEMA,
): Promise<string[]> {
  const ids = walletIds.map(() => randomUUID());
  const client = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${checkSchemaName(schema)}` });
  await client.connect();
  try {
    await client.query(
      `insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
         credit_amount, amount_cents, created_at)
       select t.id, $1, w.id, w.customer_id, 'inbound', 'pending', 'purchased', 'manual', 10, 1000, now()
       from unnest($2::uuid[], $3::uuid[]) with ordinality as t(id, wallet_id, n)
       join wallets w on w.organization_id = $1 and w.id = t.wallet_id order by t.n`,
      [organizationId, ids, walletIds],
    );
    return ids;
  } finally {
    await client.end();
  }
}

/** `count` wallets to terminate, each of a customer of its own and holding one granted lot of 100 credits: their ids. */
export async function seedTerminableWallets(databaseUrl: string, organizationId: string, count: number, schema = DEFAULT_SCHEMA): Promise<string[]> {
  const customers = Array.from({ length: count }, () => randomUUID());
  const wallets = Array.from({ length: count }, () => randomUUID());
  const client = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${checkSchemaName(schema)}` });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(
      `insert into customers (id, organization_id, external_id, currency, created_at)
       select id, $1, 'ended-' || id, 'EUR', now() from unnest($2::uuid[]) as t(id)`,
      [organizationId, customers],
    );
    await client.query(
      `insert into wallets (id, organization_id, customer_id, name, currency, rate_amount, priority, balance_cents, credits_balance,
         ongoing_balance_cents, credits_ongoing_balance, created_at, updated_at)
       select t.id, $1, t.customer_id, 'To end', 'EUR', 1, 50, 10000, 100, 10000, 100, now(), now()
       from unnest($2::uuid[], $3::uuid[]) as t(id, customer_id)`,
      [organizationId, wallets, customers],
    );
    await client.query(
      `insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
         credit_amount, amount_cents, remaining_credit_amount, remaining_amount_cents, settled_at, created_at)
       select gen_random_uuid(), $1, t.id, t.customer_id, 'inbound', 'settled', 'granted', 'manual', 100, 10000, 100, 10000, now(), now()
       from unnest($2::uuid[], $3::uuid[]) as t(id, customer_id)`,
      [organizationId, wallets, customers],
    );
    await client.query('commit');
    return wallets;
  } finally {
    await client.end();
  }
}

export interface YardstickAudit {
  wallets: number;
  transactions: number;
  consumptions: number;
  events: number;
  claims: number;
  problems: string[];
}

/** Checks the yardstick's rows with SQL of their own: every balance equals the sums of the wallet's rows. */
export async function auditYardstick(databaseUrl: string, schema = DEFAULT_SCHEMA): Promise<YardstickAudit> {
  const client = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${checkSchemaName(schema)}` });
  await client.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    const problems: string[] = [];
    const wallets = await client.query<{ id: string; problem: string }>(`
      with sums as (
        select wallet_id,
          coalesce(sum(case when transaction_type = 'inbound' then amount_cents else -amount_cents end) filter (where status = 'settled'), 0) as cents,
          coalesce(sum(case when transaction_type = 'inbound' then credit_amount else -credit_amount end) filter (where status = 'settled'), 0) as credits,
          coalesce(sum(remaining_amount_cents) filter (where transaction_type = 'inbound' and status = 'settled'), 0) as remaining_cents,
          coalesce(sum(remaining_credit_amount) filter (where transaction_type = 'inbound' and status = 'settled'), 0) as remaining_credits,
          coalesce(sum(amount_cents) filter (where transaction_type = 'outbound' and status = 'settled'), 0) as consumed_cents,
          coalesce(sum(credit_amount) filter (where transaction_type = 'outbound' and status = 'settled'), 0) as consumed_credits
        from wallet_transactions group by wallet_id
      )
      select w.id, concat_ws('; ',
        case when w.balance_cents <> coalesce(s.cents, 0) then format('balance %s cents, ledger %s', w.balance_cents, s.cents) end,
        case when w.credits_balance <> coalesce(s.credits, 0) then format('balance %s credits, ledger %s', w.credits_balance, s.credits) end,
        case when w.balance_cents <> coalesce(s.remaining_cents, 0) then format('balance %s cents, lots %s', w.balance_cents, s.remaining_cents) end,
        case when w.credits_balance <> coalesce(s.remaining_credits, 0) then format('balance %s credits, lots %s', w.credits_balance, s.remaining_credits) end,
        case when w.consumed_amount_cents <> coalesce(s.consumed_cents, 0) then format('consumed %s cents, ledger %s', w.consumed_amount_cents, s.consumed_cents) end,
        case when w.consumed_credits <> coalesce(s.consumed_credits, 0) then format('consumed %s credits, ledger %s', w.consumed_credits, s.consumed_credits) end
      ) as problem
      from wallets w left join sums s on s.wallet_id = w.id`);
    for (const row of wallets.rows) if (row.problem) problems.push(`wallet ${row.id}: ${row.problem}`);
    const rows = await client.query<{ id: string; problem: string }>(`
      with taken as (
        select inbound_id as id, sum(amount_cents) as cents, sum(credit_amount) as credits from consumptions group by inbound_id
      ), paid as (
        select outbound_id as id, sum(amount_cents) as cents, sum(credit_amount) as credits from consumptions group by outbound_id
      )
      select t.id, case when t.transaction_type = 'inbound'
          then format('lot remainder %s cents / %s credits, amount minus consumptions %s / %s', t.remaining_amount_cents, t.remaining_credit_amount,
            t.amount_cents - coalesce(k.cents, 0), t.credit_amount - coalesce(k.credits, 0))
          else format('outbound %s cents / %s credits, consumptions %s / %s', t.amount_cents, t.credit_amount, p.cents, p.credits) end as problem
      from wallet_transactions t left join taken k on k.id = t.id left join paid p on p.id = t.id
      where (t.transaction_type = 'inbound' and t.status = 'settled'
          and (t.remaining_amount_cents <> t.amount_cents - coalesce(k.cents, 0) or t.remaining_credit_amount <> t.credit_amount - coalesce(k.credits, 0)))
        or (t.transaction_type = 'outbound' and (t.amount_cents <> coalesce(p.cents, 0) or t.credit_amount <> coalesce(p.credits, 0)))`);
    for (const row of rows.rows) problems.push(`transaction ${row.id}: ${row.problem}`);
    const counts = (
      await client.query<Record<'wallets' | 'transactions' | 'consumptions' | 'events' | 'claims', string>>(`
      select (select count(*) from wallets) as wallets, (select count(*) from wallet_transactions) as transactions,
        (select count(*) from consumptions) as consumptions, (select count(*) from events) as events,
        (select count(*) from invoice_claims where answer is not null) as claims`)
    ).rows[0]!;
    await client.query('commit');
    return {
      wallets: Number(counts.wallets),
      transactions: Number(counts.transactions),
      consumptions: Number(counts.consumptions),
      events: Number(counts.events),
      claims: Number(counts.claims),
      problems,
    };
  } finally {
    await client.end();
  }
}
