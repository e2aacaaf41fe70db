import { Migration } from '@mikro-orm/migrations';

/**
 * Hand-written (see README.md): `group_write` as in 20261207230000, writing also what wallet
 * creation and updates plan: the customer's currency (`customers`), new wallets (`newWallets`),
 * every changeable column of changed wallets (`wallets`: settings too), new rules (`newRules`) and
 * every changeable column of changed rules (`rules`). Each new key is an array, so documents of
 * several groups concatenate; an absent one writes nothing. Existing wallets are written before
 * new ones (a wallet that ends frees its code first), and wallets before the entries.
 */
/** A wallet row of the document, as jsonb_to_recordset reads it. */
const WALLET_RECORD = `id uuid, customer_id uuid, name text, code text, status text, currency text, rate_amount numeric, priority int,
           balance_cents bigint, credits_balance numeric, consumed_amount_cents bigint, consumed_credits numeric, ongoing_balance_cents bigint,
           credits_ongoing_balance numeric, ongoing_usage_balance_cents bigint, credits_ongoing_usage_balance numeric,
           depleted_ongoing_balance boolean, expiration_at timestamptz, terminated_at timestamptz, invoice_requires_successful_payment boolean,
           paid_top_up_min_amount_cents bigint, paid_top_up_max_amount_cents bigint, applies_to_fee_types text[],
           applies_to_billable_metric_codes text[], created_at timestamptz, updated_at timestamptz`;

/** A rule row of the document, as jsonb_to_recordset reads it. */
const RULE_RECORD = `id uuid, wallet_id uuid, status text, trigger text, interval text, method text, paid_credits numeric, granted_credits numeric,
           threshold_credits numeric, target_ongoing_balance numeric, grants_target_top_up boolean, ignore_paid_top_up_limits boolean,
           invoice_requires_successful_payment boolean, started_at timestamptz, expiration_at timestamptz, transaction_metadata jsonb,
           transaction_name text, terminated_at timestamptz, created_at timestamptz`;

export class Migration20261208000500_group_write_wallets extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create or replace function group_write(p_org uuid, p_now timestamptz, p_events_lock int, d jsonb) returns void
language plpgsql volatile as $fn$
begin
  -- The customer (its currency, set by its first wallet), then the wallets: existing ones first, so a wallet
  -- that ends frees its code before a new wallet takes it, and new ones before the entries that name them.
  if jsonb_array_length(coalesce(d -> 'customers', '[]'::jsonb)) > 0 then
    update customers c set currency = v.currency
      from jsonb_to_recordset(d -> 'customers') as v(id uuid, currency text)
     where c.organization_id = p_org and c.id = v.id;
  end if;

  if jsonb_array_length(d -> 'wallets') > 0 then
    update wallets w
       set name = v.name, code = v.code, status = v.status, priority = v.priority, balance_cents = v.balance_cents,
           credits_balance = v.credits_balance, consumed_amount_cents = v.consumed_amount_cents, consumed_credits = v.consumed_credits,
           ongoing_balance_cents = v.ongoing_balance_cents, credits_ongoing_balance = v.credits_ongoing_balance,
           ongoing_usage_balance_cents = v.ongoing_usage_balance_cents, credits_ongoing_usage_balance = v.credits_ongoing_usage_balance,
           depleted_ongoing_balance = v.depleted_ongoing_balance, expiration_at = v.expiration_at, terminated_at = v.terminated_at,
           invoice_requires_successful_payment = v.invoice_requires_successful_payment,
           paid_top_up_min_amount_cents = v.paid_top_up_min_amount_cents, paid_top_up_max_amount_cents = v.paid_top_up_max_amount_cents,
           applies_to_fee_types = v.applies_to_fee_types, applies_to_billable_metric_codes = v.applies_to_billable_metric_codes,
           updated_at = v.updated_at
      from jsonb_to_recordset(d -> 'wallets') as v(${WALLET_RECORD})
     where w.organization_id = p_org and w.id = v.id;
  end if;

  if jsonb_array_length(coalesce(d -> 'newWallets', '[]'::jsonb)) > 0 then
    insert into wallets (id, organization_id, customer_id, name, code, status, currency, rate_amount, priority, balance_cents, credits_balance,
           consumed_amount_cents, consumed_credits, ongoing_balance_cents, credits_ongoing_balance, ongoing_usage_balance_cents,
           credits_ongoing_usage_balance, depleted_ongoing_balance, expiration_at, terminated_at, invoice_requires_successful_payment,
           paid_top_up_min_amount_cents, paid_top_up_max_amount_cents, applies_to_fee_types, applies_to_billable_metric_codes, created_at,
           updated_at)
    select v.id, p_org, v.customer_id, v.name, v.code, v.status, v.currency, v.rate_amount, v.priority, v.balance_cents, v.credits_balance,
           v.consumed_amount_cents, v.consumed_credits, v.ongoing_balance_cents, v.credits_ongoing_balance, v.ongoing_usage_balance_cents,
           v.credits_ongoing_usage_balance, v.depleted_ongoing_balance, v.expiration_at, v.terminated_at, v.invoice_requires_successful_payment,
           v.paid_top_up_min_amount_cents, v.paid_top_up_max_amount_cents, v.applies_to_fee_types, v.applies_to_billable_metric_codes,
           v.created_at, v.updated_at
      from jsonb_to_recordset(d -> 'newWallets') as v(${WALLET_RECORD});
  end if;

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

  -- Rules: new ones, then every changeable column of the changed ones.
  if jsonb_array_length(coalesce(d -> 'newRules', '[]'::jsonb)) > 0 then
    insert into recurring_transaction_rules (id, organization_id, wallet_id, status, trigger, interval, method, paid_credits, granted_credits,
           threshold_credits, target_ongoing_balance, grants_target_top_up, ignore_paid_top_up_limits, invoice_requires_successful_payment,
           started_at, expiration_at, transaction_metadata, transaction_name, terminated_at, created_at)
    select v.id, p_org, v.wallet_id, v.status, v.trigger, v.interval, v.method, v.paid_credits, v.granted_credits, v.threshold_credits,
           v.target_ongoing_balance, v.grants_target_top_up, v.ignore_paid_top_up_limits, v.invoice_requires_successful_payment, v.started_at,
           v.expiration_at, v.transaction_metadata, v.transaction_name, v.terminated_at, v.created_at
      from jsonb_to_recordset(d -> 'newRules') as v(${RULE_RECORD});
  end if;

  if jsonb_array_length(d -> 'rules') > 0 then
    update recurring_transaction_rules r
       set status = v.status, trigger = v.trigger, interval = v.interval, method = v.method, paid_credits = v.paid_credits,
           granted_credits = v.granted_credits, threshold_credits = v.threshold_credits, target_ongoing_balance = v.target_ongoing_balance,
           grants_target_top_up = v.grants_target_top_up, ignore_paid_top_up_limits = v.ignore_paid_top_up_limits,
           invoice_requires_successful_payment = v.invoice_requires_successful_payment, started_at = v.started_at,
           expiration_at = v.expiration_at, transaction_metadata = v.transaction_metadata, transaction_name = v.transaction_name,
           terminated_at = v.terminated_at
      from jsonb_to_recordset(d -> 'rules') as v(${RULE_RECORD})
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
    // Kept: the earlier definition cannot write the documents planned since.
  }

}
