import { Migration } from '@mikro-orm/migrations';

/**
 * Hand-written (see README.md): `group_load` as in 20261207234500, except that
 * - a load with no customer key (no external id, id or wallet) that names entries finds the
 *   customer as the owner of the first named entry, and takes that entry's wallet as the named
 *   wallet (with the active wallets of its currency): a payment report knows only its transaction;
 * - lots 'expiring' loads the lots due to expire by now and every lot of a wallet past its own
 *   expiry: what a command that expires such a wallet first and consumes nothing needs.
 */
const ENTRY_COLUMNS = `t.id, t.wallet_id, t.customer_id, t.transaction_type::text, t.status::text, t.transaction_status::text, t.source::text,
           t.credit_amount, t.amount_cents, t.remaining_credit_amount, t.remaining_amount_cents, t.priority, t.expiration_at, t.name::text,
           t.metadata, t.invoice_id::text, t.voided_invoice_id::text, t.voided_transaction_id, t.invoice_requires_successful_payment,
           t.settled_at, t.failed_at, t.clawed_back_at, t.created_at`;

export class Migration20261208000000_group_load_entry_owner extends Migration {

  override async up(): Promise<void> {
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
  v_wallet_id uuid := p_wallet_id;
  v_claim json;
  v_invoice jsonb := null;
  v_wallet_ids uuid[];
  v_due_wallet_ids uuid[];
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

  -- 3. The customer's lock: by id, by external id, as the owner of a wallet, or (no key at all) as the owner of the
  --    first named entry, whose wallet is then the named wallet.
  if v_customer_id is null and p_customer_external_id is null and v_wallet_id is null and p_entry_ids is not null then
    select t.customer_id, t.wallet_id into v_customer_id, v_wallet_id
      from wallet_transactions t where t.organization_id = p_org and t.id = p_entry_ids[1];
  end if;
  if v_customer_id is null and p_customer_external_id is null and v_wallet_id is not null then
    select w.customer_id into v_customer_id from wallets w where w.organization_id = p_org and w.id = v_wallet_id;
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
  select coalesce(json_agg(group_wallet_json(w) order by w.priority, w.created_at, w.id), '[]'::json), coalesce(array_agg(w.id), '{}'),
         coalesce(array_agg(w.id) filter (where w.expiration_at <= p_now), '{}')
    into v_wallets, v_wallet_ids, v_due_wallet_ids
    from wallets w
   where w.organization_id = p_org and w.customer_id = v_customer.id
     and (w.id = v_wallet_id
          or (w.status = 'active'
              and (p_all_currencies
                   or w.currency = coalesce(p_currency, (select x.currency from wallets x where x.organization_id = p_org and x.id = v_wallet_id)))));

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

  -- 6. The entries, in typed columns: live lots ('all'), those due to expire by now ('due'), those and every lot of a
  --    wallet past its own expiry ('expiring'), or none ('none');
  --    pending and recently failed threshold purchases; the entries the command names; a void's outbound entries.
  if p_lots <> 'none' then
    return query select 'lot', null::json, ${ENTRY_COLUMNS} from wallet_transactions t
      where t.organization_id = p_org and t.wallet_id = any (v_wallet_ids)
        and t.transaction_type = 'inbound' and t.status = 'settled' and (t.remaining_amount_cents > 0 or t.remaining_credit_amount > 0)
        and (p_lots = 'all' or t.expiration_at <= p_now or (p_lots = 'expiring' and t.wallet_id = any (v_due_wallet_ids)))
      order by t.created_at, t.ctid;
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

  }

  override async down(): Promise<void> {
    // Kept: the earlier definition answers the same for every load it accepted.
  }

}
