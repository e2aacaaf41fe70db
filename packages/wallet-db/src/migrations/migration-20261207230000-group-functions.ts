import { Migration } from '@mikro-orm/migrations';

/**
 * Hand-written (see README.md): the one loader and the one writer of a customer's ledger group as
 * two VOLATILE SQL functions, so a mutation is BEGIN, `group_load`, `group_write`, COMMIT. They
 * decide nothing: `group_load` claims (the idempotency key, the invoice id), locks the customer row
 * and reads the group, each statement with a fresh snapshot (so in READ COMMITTED it sees what the
 * transaction its lock waited for committed); `group_write` writes a delta that wallet-core
 * planned. `group_load` answers a header row (claims, customer, wallets, rules, snapshots as JSON
 * with bigint and numeric columns as strings, exact in JavaScript) and then the entries (lots,
 * purchases, named entries, a void's outbound entries) as typed rows, which cost far less than JSON.
 */
/** The columns of an entry row in group_load's answer (group_load_row after `part` and `header`). */
const ENTRY_COLUMNS = `t.id, t.wallet_id, t.customer_id, t.transaction_type::text, t.status::text, t.transaction_status::text, t.source::text,
           t.credit_amount, t.amount_cents, t.remaining_credit_amount, t.remaining_amount_cents, t.priority, t.expiration_at, t.name::text,
           t.metadata, t.invoice_id::text, t.voided_invoice_id::text, t.voided_transaction_id, t.invoice_requires_successful_payment,
           t.settled_at, t.failed_at, t.clawed_back_at, t.created_at`;

export class Migration20261207230000_group_functions extends Migration {

  override async up(): Promise<void> {
    // Rows as JSON with bigint and numeric columns as strings (exact in JavaScript), the columns records.ts reads.
    this.addSql(`create or replace function group_wallet_json(w wallets) returns json language sql stable as $fn$
  select json_build_object('id', w.id, 'customer_id', w.customer_id, 'name', w.name, 'code', w.code, 'status', w.status,
    'currency', w.currency, 'rate_amount', w.rate_amount::text, 'priority', w.priority, 'balance_cents', w.balance_cents::text,
    'credits_balance', w.credits_balance::text, 'ongoing_balance_cents', w.ongoing_balance_cents::text,
    'credits_ongoing_balance', w.credits_ongoing_balance::text, 'ongoing_usage_balance_cents', w.ongoing_usage_balance_cents::text,
    'credits_ongoing_usage_balance', w.credits_ongoing_usage_balance::text, 'consumed_credits', w.consumed_credits::text,
    'consumed_amount_cents', w.consumed_amount_cents::text, 'depleted_ongoing_balance', w.depleted_ongoing_balance,
    'expiration_at', w.expiration_at, 'terminated_at', w.terminated_at, 'invoice_requires_successful_payment', w.invoice_requires_successful_payment,
    'paid_top_up_min_amount_cents', w.paid_top_up_min_amount_cents::text, 'paid_top_up_max_amount_cents', w.paid_top_up_max_amount_cents::text,
    'applies_to_fee_types', w.applies_to_fee_types, 'applies_to_billable_metric_codes', w.applies_to_billable_metric_codes,
    'created_at', w.created_at, 'updated_at', w.updated_at)
$fn$;`);

    // One row of group_load's answer: the header (claims, customer, wallets, rules, snapshots as JSON)
    // or an entry (a lot, purchase, named entry or a void's outbound entry) in typed columns.
    this.addSql(`create type group_load_row as (part text, header json, id uuid, wallet_id uuid, customer_id uuid, transaction_type text,
  status text, transaction_status text, source text, credit_amount numeric, amount_cents bigint, remaining_credit_amount numeric,
  remaining_amount_cents bigint, priority int, expiration_at timestamptz, name text, metadata jsonb, invoice_id text, voided_invoice_id text,
  voided_transaction_id uuid, invoice_requires_successful_payment boolean, settled_at timestamptz, failed_at timestamptz,
  clawed_back_at timestamptz, created_at timestamptz);`);

    this.addSql(`create or replace function group_rule_json(r recurring_transaction_rules) returns json language sql stable as $fn$
  select json_build_object('id', r.id, 'wallet_id', r.wallet_id, 'status', r.status, 'trigger', r.trigger, 'interval', r.interval,
    'method', r.method, 'paid_credits', r.paid_credits::text, 'granted_credits', r.granted_credits::text,
    'threshold_credits', r.threshold_credits::text, 'target_ongoing_balance', r.target_ongoing_balance::text,
    'grants_target_top_up', r.grants_target_top_up, 'ignore_paid_top_up_limits', r.ignore_paid_top_up_limits,
    'invoice_requires_successful_payment', r.invoice_requires_successful_payment, 'started_at', r.started_at,
    'expiration_at', r.expiration_at, 'transaction_metadata', r.transaction_metadata, 'transaction_name', r.transaction_name,
    'terminated_at', r.terminated_at, 'created_at', r.created_at)
$fn$;`);

    this.addSql(`create or replace function group_load(
  p_org uuid,
  p_customer_external_id text,
  p_customer_id uuid,
  p_wallet_id uuid,
  p_currency text,
  p_all_currencies boolean,
  p_backoff_since timestamptz,
  p_now timestamptz,
  p_entry_ids uuid[],
  p_idempotency jsonb,
  p_apply_claim jsonb,
  p_void_claim jsonb,
  p_lots text
) returns setof group_load_row language plpgsql volatile as $fn$
declare
  v_id uuid;
  v_customer customers%rowtype;
  v_customer_id uuid := p_customer_id;
  v_claim json;
  v_invoice jsonb := null;
  v_wallet_ids uuid[];
  v_wallets json;
  v_any_failed boolean;
  v_latest json := '[]'::json;
  v_outbound_ids uuid[] := '{}';
  v_outbound_parts json := '[]'::json;
  v_row group_load_row;
begin
  v_row.part := 'header';
  -- 1. The idempotency key: a replay waits for the first request and reads what it stored.
  if p_idempotency is not null then
    insert into idempotency_records (id, organization_id, procedure, key, request_hash, created_at)
    values ((p_idempotency ->> 'id')::uuid, p_org, p_idempotency ->> 'procedure', p_idempotency ->> 'key', p_idempotency ->> 'hash', now())
    on conflict (organization_id, procedure, key) do nothing returning id into v_id;
    if v_id is null then
      select json_build_object('requestHash', r.request_hash, 'response', r.response) into v_claim
        from idempotency_records r
       where r.organization_id = p_org and r.procedure = p_idempotency ->> 'procedure' and r.key = p_idempotency ->> 'key';
      v_row.header := json_build_object('replay', v_claim);
      return next v_row;
      return;
    end if;
  end if;

  -- 2. A void claims the invoice under its customer's lock.
  if p_void_claim is not null then
    select a.customer_id into v_customer_id from invoice_applications a
     where a.organization_id = p_org and a.invoice_id = p_void_claim ->> 'invoiceId';
    if v_customer_id is not null then
      perform 1 from customers c where c.organization_id = p_org and c.id = v_customer_id for update;
    end if;
    insert into invoice_applications (id, organization_id, invoice_id, customer_id, request_hash, status, voided_at, created_at)
    values ((p_void_claim ->> 'id')::uuid, p_org, p_void_claim ->> 'invoiceId', v_customer_id, '', 'voided',
            (p_void_claim ->> 'now')::timestamptz, (p_void_claim ->> 'now')::timestamptz)
    on conflict (organization_id, invoice_id) do nothing returning id into v_id;
    if v_id is not null then
      v_invoice := jsonb_build_object('claimed', true);
      v_customer_id := null;
    else
      select jsonb_build_object('claimed', false, 'id', a.id, 'status', a.status, 'customerId', a.customer_id), a.customer_id
        into v_invoice, v_customer_id
        from invoice_applications a where a.organization_id = p_org and a.invoice_id = p_void_claim ->> 'invoiceId';
      if v_invoice ->> 'status' = 'voided' then
        v_customer_id := null;
      end if;
    end if;
    if v_customer_id is null then
      v_row.header := json_build_object('invoice', v_invoice);
      return next v_row;
      return;
    end if;
    select coalesce(array_agg(t.id), '{}') into v_outbound_ids
      from wallet_transactions t
     where t.organization_id = p_org and t.invoice_id = p_void_claim ->> 'invoiceId'
       and t.transaction_type = 'outbound' and t.transaction_status = 'invoiced';
    -- What paid them, by the kind of the lot consumed.
    select coalesce(json_agg(json_build_object('outbound_id', p.outbound, 'kind', p.kind, 'credit_amount', p.credits::text,
                                               'amount_cents', p.cents::text)), '[]'::json) into v_outbound_parts
      from (select c.outbound_wallet_transaction_id as outbound, i.transaction_status as kind, sum(c.credit_amount) as credits,
                   sum(c.amount_cents) as cents
              from wallet_transaction_consumptions c
              join wallet_transactions i on i.organization_id = p_org and i.id = c.inbound_wallet_transaction_id
             where c.organization_id = p_org and c.outbound_wallet_transaction_id = any (v_outbound_ids)
             group by 1, 2) p;
  end if;

  -- 3. The customer's lock: by id, by external id, or as the owner of a wallet.
  if v_customer_id is null and p_customer_external_id is null and p_wallet_id is not null then
    select w.customer_id into v_customer_id from wallets w where w.organization_id = p_org and w.id = p_wallet_id;
  end if;
  if v_customer_id is not null then
    select * into v_customer from customers c where c.organization_id = p_org and c.id = v_customer_id for update;
  elsif p_customer_external_id is not null then
    select * into v_customer from customers c where c.organization_id = p_org and c.external_id = p_customer_external_id for update;
  end if;

  -- 4. An application claims the invoice id after the lock (an unknown customer still claims it).
  if p_apply_claim is not null then
    insert into invoice_applications (id, organization_id, invoice_id, customer_id, request_hash, status, voided_at, created_at)
    values ((p_apply_claim ->> 'id')::uuid, p_org, p_apply_claim ->> 'invoiceId', v_customer.id, p_apply_claim ->> 'hash', 'applied', null,
            (p_apply_claim ->> 'now')::timestamptz)
    on conflict (organization_id, invoice_id) do nothing returning id into v_id;
    if v_id is null then
      select jsonb_build_object('claimed', false, 'id', a.id, 'status', a.status, 'requestHash', a.request_hash, 'allocation', a.allocation)
        into v_invoice
        from invoice_applications a where a.organization_id = p_org and a.invoice_id = p_apply_claim ->> 'invoiceId';
      v_customer := null;
    else
      v_invoice := jsonb_build_object('claimed', true, 'id', v_id);
    end if;
  end if;

  if v_customer.id is null then
    v_row.header := json_build_object('invoice', v_invoice, 'customer', null);
    return next v_row;
    return;
  end if;

  -- 5. The group: the named wallet (whatever its status) and the active wallets of the scope.
  select coalesce(json_agg(group_wallet_json(w) order by w.priority, w.created_at, w.id), '[]'::json), coalesce(array_agg(w.id), '{}')
    into v_wallets, v_wallet_ids
    from wallets w
   where w.organization_id = p_org and w.customer_id = v_customer.id
     and (w.id = p_wallet_id
          or (w.status = 'active'
              and (p_all_currencies
                   or w.currency = coalesce(p_currency, (select x.currency from wallets x where x.organization_id = p_org and x.id = p_wallet_id)))));

  select coalesce(bool_or(t.status = 'failed'), false) into v_any_failed
    from wallet_transactions t
   where t.organization_id = p_org and t.wallet_id = any (v_wallet_ids) and t.transaction_status = 'purchased' and t.status = 'failed'
     and t.source = 'threshold' and t.failed_at > p_backoff_since;
  if v_any_failed then
    select coalesce(json_agg(json_build_object('wallet_id', s.wallet_id, 'settled_at', s.settled_at)), '[]'::json) into v_latest
      from (select t.wallet_id, max(t.settled_at) as settled_at from wallet_transactions t
             where t.organization_id = p_org and t.wallet_id = any (v_wallet_ids) and t.transaction_status = 'purchased' and t.status = 'settled'
               and t.source <> 'invoice_void'
             group by t.wallet_id) s;
  end if;

  v_row.header := json_build_object(
      'invoice', v_invoice,
      'outboundParts', v_outbound_parts,
      'customer', json_build_object('id', v_customer.id, 'external_id', v_customer.external_id, 'currency', v_customer.currency,
                                    'timezone', v_customer.timezone),
      'wallets', v_wallets,
      'latestSettled', v_latest,
      'rules', (select coalesce(json_agg(group_rule_json(r) order by r.created_at, r.id), '[]'::json) from recurring_transaction_rules r
                 where r.organization_id = p_org and r.wallet_id = any (v_wallet_ids) and r.status = 'active'),
      'snapshots', (select coalesce(json_agg(json_build_object('id', s.id, 'currency', s.currency, 'as_of', s.as_of, 'fees', s.fees,
                                                                'draft_invoices', s.draft_invoices, 'billed_fees', s.billed_fees,
                                                                'updated_at', s.updated_at)), '[]'::json)
                      from usage_snapshots s where s.organization_id = p_org and s.customer_id = v_customer.id));
  return next v_row;

  -- 6. The entries, in typed columns: live lots ('all'), those due to expire by now ('due') or none ('none');
  --    pending and recently failed threshold purchases; the entries the command names; a void's outbound entries.
  if p_lots <> 'none' then
    return query select 'lot', null::json, ${ENTRY_COLUMNS} from wallet_transactions t
      where t.organization_id = p_org and t.wallet_id = any (v_wallet_ids)
        and t.transaction_type = 'inbound' and t.status = 'settled' and (t.remaining_amount_cents > 0 or t.remaining_credit_amount > 0)
        and (p_lots = 'all' or t.expiration_at <= p_now)
      order by t.created_at, t.id;
  end if;
  return query select 'purchase', null::json, ${ENTRY_COLUMNS} from wallet_transactions t
    where t.organization_id = p_org and t.wallet_id = any (v_wallet_ids) and t.transaction_status = 'purchased'
      and (t.status = 'pending' or (t.status = 'failed' and t.source = 'threshold' and t.failed_at > p_backoff_since))
    order by t.created_at, t.id;
  if p_entry_ids is not null then
    return query select 'named', null::json, ${ENTRY_COLUMNS} from wallet_transactions t
      where t.organization_id = p_org and t.id = any (p_entry_ids) and t.customer_id = v_customer.id
      order by t.created_at, t.id;
  end if;
  if cardinality(v_outbound_ids) > 0 then
    return query select 'outbound', null::json, ${ENTRY_COLUMNS} from wallet_transactions t
      where t.organization_id = p_org and t.id = any (v_outbound_ids)
      order by t.created_at, t.id;
  end if;
end
$fn$;`);

    // A wallet's live lots, whatever its history's length.
    this.addSql(`create index "wallet_transactions_live_lots_idx" on "wallet_transactions" ("organization_id", "wallet_id")
  where "transaction_type" = 'inbound' and "status" = 'settled' and ("remaining_amount_cents" > 0 or "remaining_credit_amount" > 0);`);

    this.addSql(`create or replace function group_write(p_org uuid, p_now timestamptz, p_events_lock int, d jsonb) returns void
language plpgsql volatile as $fn$
begin
  if jsonb_array_length(d -> 'entries') > 0 then
    insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
           credit_amount, amount_cents, remaining_credit_amount, remaining_amount_cents, priority, expiration_at, name, metadata, invoice_id,
           voided_invoice_id, voided_transaction_id, invoice_requires_successful_payment, settled_at, failed_at, clawed_back_at, created_at)
    select t.id, p_org, t.wallet_id, t.customer_id, t.transaction_type, t.status, t.transaction_status, t.source, t.credit_amount, t.amount_cents,
           t.remaining_credit_amount, t.remaining_amount_cents, t.priority, t.expiration_at, t.name, t.metadata, t.invoice_id,
           t.voided_invoice_id, t.voided_transaction_id, t.invoice_requires_successful_payment, t.settled_at, t.failed_at, t.clawed_back_at,
           t.created_at
      from jsonb_to_recordset(d -> 'entries') as t(id uuid, wallet_id uuid, customer_id uuid, transaction_type text, status text,
           transaction_status text, source text, credit_amount numeric, amount_cents bigint, remaining_credit_amount numeric,
           remaining_amount_cents bigint, priority int, expiration_at timestamptz, name text, metadata jsonb, invoice_id text,
           voided_invoice_id text, voided_transaction_id uuid, invoice_requires_successful_payment boolean, settled_at timestamptz,
           failed_at timestamptz, clawed_back_at timestamptz, created_at timestamptz);
  end if;

  if jsonb_array_length(d -> 'consumptions') > 0 then
    insert into wallet_transaction_consumptions (id, organization_id, inbound_wallet_transaction_id, outbound_wallet_transaction_id,
           credit_amount, amount_cents, created_at)
    select p.id, p_org, p.inbound, p.outbound, p.credit_amount, p.amount_cents, p.created_at
      from jsonb_to_recordset(d -> 'consumptions') as p(id uuid, inbound uuid, outbound uuid, credit_amount numeric, amount_cents bigint,
           created_at timestamptz);
  end if;

  if jsonb_array_length(d -> 'changedEntries') > 0 then
    update wallet_transactions t
       set status = v.status, remaining_credit_amount = v.remaining_credit_amount, remaining_amount_cents = v.remaining_amount_cents,
           invoice_id = v.invoice_id, settled_at = v.settled_at, failed_at = v.failed_at, clawed_back_at = v.clawed_back_at
      from jsonb_to_recordset(d -> 'changedEntries') as v(id uuid, status text, remaining_credit_amount numeric, remaining_amount_cents bigint,
           invoice_id text, settled_at timestamptz, failed_at timestamptz, clawed_back_at timestamptz)
     where t.organization_id = p_org and t.id = v.id;
  end if;

  if jsonb_array_length(d -> 'wallets') > 0 then
    update wallets w
       set status = v.status, balance_cents = v.balance_cents, credits_balance = v.credits_balance,
           consumed_amount_cents = v.consumed_amount_cents, consumed_credits = v.consumed_credits,
           ongoing_balance_cents = v.ongoing_balance_cents, credits_ongoing_balance = v.credits_ongoing_balance,
           ongoing_usage_balance_cents = v.ongoing_usage_balance_cents, credits_ongoing_usage_balance = v.credits_ongoing_usage_balance,
           depleted_ongoing_balance = v.depleted_ongoing_balance, terminated_at = v.terminated_at, updated_at = v.updated_at
      from jsonb_to_recordset(d -> 'wallets') as v(id uuid, status text, balance_cents bigint, credits_balance numeric,
           consumed_amount_cents bigint, consumed_credits numeric, ongoing_balance_cents bigint, credits_ongoing_balance numeric,
           ongoing_usage_balance_cents bigint, credits_ongoing_usage_balance numeric, depleted_ongoing_balance boolean,
           terminated_at timestamptz, updated_at timestamptz)
     where w.organization_id = p_org and w.id = v.id;
  end if;

  if jsonb_array_length(d -> 'rules') > 0 then
    update recurring_transaction_rules r set status = v.status, terminated_at = v.terminated_at
      from jsonb_to_recordset(d -> 'rules') as v(id uuid, status text, terminated_at timestamptz)
     where r.organization_id = p_org and r.id = v.id;
  end if;

  if d -> 'snapshot' is not null and jsonb_typeof(d -> 'snapshot') = 'object' then
    insert into usage_snapshots (id, organization_id, customer_id, currency, as_of, fees, draft_invoices, billed_fees, updated_at)
    select s.id, p_org, s.customer_id, s.currency, s.as_of, s.fees, s.draft_invoices, s.billed_fees, s.updated_at
      from jsonb_to_record(d -> 'snapshot') as s(id uuid, customer_id uuid, currency text, as_of timestamptz, fees jsonb, draft_invoices jsonb,
           billed_fees jsonb, updated_at timestamptz)
    on conflict (organization_id, customer_id, currency)
    do update set as_of = excluded.as_of, fees = excluded.fees, draft_invoices = excluded.draft_invoices,
                  billed_fees = excluded.billed_fees, updated_at = excluded.updated_at;
  end if;

  if jsonb_typeof(d -> 'invoice') = 'object' then
    update invoice_applications a
       set allocation = coalesce(d -> 'invoice' -> 'allocation', a.allocation),
           status = coalesce(d -> 'invoice' ->> 'status', a.status),
           voided_at = coalesce((d -> 'invoice' ->> 'voidedAt')::timestamptz, a.voided_at)
     where a.organization_id = p_org and a.id = (d -> 'invoice' ->> 'id')::uuid;
  end if;

  if jsonb_array_length(d -> 'events') > 0 then
    -- The shared outbox lock, then the rows: positions are drawn in the delta's order.
    perform pg_advisory_xact_lock_shared(p_events_lock, hashtext(p_org::text));
    insert into events (id, organization_id, type, data, created_at)
    select (e.value ->> 'id')::uuid, p_org, e.value ->> 'type', e.value -> 'data', p_now
      from jsonb_array_elements(d -> 'events') with ordinality as e(value, n)
     order by e.n;
  end if;

  if jsonb_typeof(d -> 'idempotency') = 'object' then
    update idempotency_records set response = d -> 'idempotency' -> 'response'
     where organization_id = p_org and procedure = d -> 'idempotency' ->> 'procedure' and key = d -> 'idempotency' ->> 'key';
  end if;
end
$fn$;`);
  }

  override async down(): Promise<void> {
    this.addSql('drop function if exists group_write(uuid, timestamptz, int, jsonb);');
    this.addSql('drop index if exists "wallet_transactions_live_lots_idx";');
    this.addSql('drop function if exists group_load(uuid, text, uuid, uuid, text, boolean, timestamptz, timestamptz, uuid[], jsonb, jsonb, jsonb, text);');
    this.addSql('drop type if exists group_load_row;');
    this.addSql('drop function if exists group_rule_json(recurring_transaction_rules);');
    this.addSql('drop function if exists group_wallet_json(wallets);');
  }

}
