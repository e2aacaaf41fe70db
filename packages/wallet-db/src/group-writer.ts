/**
 * The one writer of a customer's ledger group (DESIGN "Inside a mutation"): a wallet-core delta
 * written set-based, each kind of row in one named (prepared) statement whose values travel as one
 * jsonb parameter, then the outbox events under the shared per-organization lock, in the delta's
 * order. No SQL text is built from values. Wallet events show the wallet as it ends, with its active
 * rules; transaction events the entry as it was when the event happened.
 *
 * The caller holds the customer lock (group-loader.ts) and runs inside the request's transaction.
 */
import { randomUUID } from 'node:crypto';
import { formatDecimal, type GroupRecords, type LedgerDelta, type RuleRecord, type WalletRecord } from '@wallets/core';
import type pg from 'pg';
import { EVENTS_LOCK_CLASS } from './events.js';
import type { Queryable } from './group-loader.js';
import { entryRecordDto, usageFeeRecordOf, walletRecordDto } from './records.js';

const INSERT_ENTRIES: pg.QueryConfig = {
  name: 'group_insert_entries',
  text: `insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
           credit_amount, amount_cents, remaining_credit_amount, remaining_amount_cents, priority, expiration_at, name, metadata, invoice_id,
           voided_invoice_id, voided_transaction_id, invoice_requires_successful_payment, settled_at, failed_at, clawed_back_at, created_at)
         select t.id, $1, t.wallet_id, t.customer_id, t.transaction_type, t.status, t.transaction_status, t.source, t.credit_amount, t.amount_cents,
                t.remaining_credit_amount, t.remaining_amount_cents, t.priority, t.expiration_at, t.name, t.metadata, t.invoice_id,
                t.voided_invoice_id, t.voided_transaction_id, t.invoice_requires_successful_payment, t.settled_at, t.failed_at, t.clawed_back_at,
                t.created_at
           from jsonb_to_recordset($2::jsonb) as t(id uuid, wallet_id uuid, customer_id uuid, transaction_type text, status text,
                transaction_status text, source text, credit_amount numeric, amount_cents bigint, remaining_credit_amount numeric,
                remaining_amount_cents bigint, priority int, expiration_at timestamptz, name text, metadata jsonb, invoice_id text,
                voided_invoice_id text, voided_transaction_id uuid, invoice_requires_successful_payment boolean, settled_at timestamptz,
                failed_at timestamptz, clawed_back_at timestamptz, created_at timestamptz)`,
};

const INSERT_CONSUMPTIONS: pg.QueryConfig = {
  name: 'group_insert_consumptions',
  text: `insert into wallet_transaction_consumptions (id, organization_id, inbound_wallet_transaction_id, outbound_wallet_transaction_id,
           credit_amount, amount_cents, created_at)
         select p.id, $1, p.inbound, p.outbound, p.credit_amount, p.amount_cents, p.created_at
           from jsonb_to_recordset($2::jsonb) as p(id uuid, inbound uuid, outbound uuid, credit_amount numeric, amount_cents bigint,
                created_at timestamptz)`,
};

/** Existing entries: what may change on a ledger row (a lot's remainder, a purchase's payment state, its invoice id). */
const UPDATE_ENTRIES: pg.QueryConfig = {
  name: 'group_update_entries',
  text: `update wallet_transactions t
            set status = v.status, remaining_credit_amount = v.remaining_credit_amount, remaining_amount_cents = v.remaining_amount_cents,
                invoice_id = v.invoice_id, settled_at = v.settled_at, failed_at = v.failed_at, clawed_back_at = v.clawed_back_at
           from jsonb_to_recordset($2::jsonb) as v(id uuid, status text, remaining_credit_amount numeric, remaining_amount_cents bigint,
                invoice_id text, settled_at timestamptz, failed_at timestamptz, clawed_back_at timestamptz)
          where t.organization_id = $1 and t.id = v.id`,
};

const UPDATE_WALLETS: pg.QueryConfig = {
  name: 'group_update_wallets',
  text: `update wallets w
            set status = v.status, balance_cents = v.balance_cents, credits_balance = v.credits_balance,
                consumed_amount_cents = v.consumed_amount_cents, consumed_credits = v.consumed_credits,
                ongoing_balance_cents = v.ongoing_balance_cents, credits_ongoing_balance = v.credits_ongoing_balance,
                ongoing_usage_balance_cents = v.ongoing_usage_balance_cents, credits_ongoing_usage_balance = v.credits_ongoing_usage_balance,
                depleted_ongoing_balance = v.depleted_ongoing_balance, terminated_at = v.terminated_at, updated_at = v.updated_at
           from jsonb_to_recordset($2::jsonb) as v(id uuid, status text, balance_cents bigint, credits_balance numeric,
                consumed_amount_cents bigint, consumed_credits numeric, ongoing_balance_cents bigint, credits_ongoing_balance numeric,
                ongoing_usage_balance_cents bigint, credits_ongoing_usage_balance numeric, depleted_ongoing_balance boolean,
                terminated_at timestamptz, updated_at timestamptz)
          where w.organization_id = $1 and w.id = v.id`,
};

const UPDATE_RULES: pg.QueryConfig = {
  name: 'group_update_rules',
  text: `update recurring_transaction_rules r set status = v.status, terminated_at = v.terminated_at
           from jsonb_to_recordset($2::jsonb) as v(id uuid, status text, terminated_at timestamptz)
          where r.organization_id = $1 and r.id = v.id`,
};

const UPSERT_SNAPSHOT: pg.QueryConfig = {
  name: 'group_upsert_snapshot',
  text: `insert into usage_snapshots (id, organization_id, customer_id, currency, as_of, fees, draft_invoices, billed_fees, updated_at)
         values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9)
         on conflict (organization_id, customer_id, currency)
         do update set as_of = excluded.as_of, fees = excluded.fees, draft_invoices = excluded.draft_invoices,
                       billed_fees = excluded.billed_fees, updated_at = excluded.updated_at`,
};

const LOCK_OUTBOX: pg.QueryConfig = { name: 'group_lock_outbox', text: 'select pg_advisory_xact_lock_shared($1, hashtext($2))' };

const INSERT_EVENTS: pg.QueryConfig = {
  name: 'group_insert_events',
  text: `insert into events (id, organization_id, type, data, created_at)
         select (e.value ->> 'id')::uuid, $1, e.value ->> 'type', e.value -> 'data', $2
           from jsonb_array_elements($3::jsonb) with ordinality as e(value, n)
          order by e.n`,
};

const credits = (value: bigint | null) => (value === null ? null : formatDecimal(value));
const cents = (value: bigint | null) => (value === null ? null : String(value));
const time = (value: Date | null) => (value === null ? null : value.toISOString());

/** The wallets and active rules as the delta leaves them (for wallet events). */
function finalState(records: GroupRecords, delta: LedgerDelta) {
  const wallets = new Map<string, WalletRecord>(records.wallets.map((w) => [w.id, w]));
  for (const w of delta.wallets) wallets.set(w.id, w);
  const ended = new Set(delta.rules.filter((r) => r.status !== 'active').map((r) => r.id));
  const rules = new Map<string, RuleRecord[]>();
  for (const rule of records.rules) {
    if (rule.status !== 'active' || ended.has(rule.id)) continue;
    rules.set(rule.walletId, [...(rules.get(rule.walletId) ?? []), rule]);
  }
  return { wallets, rules };
}

/** The outbox rows of a delta, in order, as JSON data (the wire shapes). */
export function deltaEvents(records: GroupRecords, delta: LedgerDelta): { id: string; type: string; data: unknown }[] {
  const { wallets, rules } = finalState(records, delta);
  return delta.events.map((event) => {
    const data =
      'entry' in event
        ? entryRecordDto(event.entry, wallets.get(event.entry.walletId)!.currency)
        : walletRecordDto(wallets.get(event.walletId)!, records.customer.externalId, rules.get(event.walletId) ?? []);
    return { id: randomUUID(), type: event.type, data: JSON.parse(JSON.stringify(data)) };
  });
}

/** Writes a delta: inserts, updates, the snapshot, then the outbox. Round trips only for what the delta holds. */
export async function writeDelta(db: Queryable, organizationId: string, records: GroupRecords, delta: LedgerDelta, now: Date): Promise<void> {
  const run = (config: pg.QueryConfig, values: unknown[]) => db.query({ ...config, values });
  if (delta.entries.length > 0) {
    await run(INSERT_ENTRIES, [
      organizationId,
      JSON.stringify(
        delta.entries.map((e) => ({
          id: e.id,
          wallet_id: e.walletId,
          customer_id: e.customerId,
          transaction_type: e.transactionType,
          status: e.status,
          transaction_status: e.transactionStatus,
          source: e.source,
          credit_amount: formatDecimal(e.creditAmount),
          amount_cents: String(e.amountCents),
          remaining_credit_amount: credits(e.remainingCreditAmount),
          remaining_amount_cents: cents(e.remainingAmountCents),
          priority: e.priority,
          expiration_at: time(e.expirationAt),
          name: e.name,
          metadata: e.metadata,
          invoice_id: e.invoiceId,
          voided_invoice_id: e.voidedInvoiceId,
          voided_transaction_id: e.voidedTransactionId,
          invoice_requires_successful_payment: e.invoiceRequiresSuccessfulPayment,
          settled_at: time(e.settledAt),
          failed_at: time(e.failedAt),
          clawed_back_at: time(e.clawedBackAt),
          created_at: e.createdAt.toISOString(),
        })),
      ),
    ]);
  }
  if (delta.consumptions.length > 0) {
    await run(INSERT_CONSUMPTIONS, [
      organizationId,
      JSON.stringify(
        delta.consumptions.map((c) => ({
          id: c.id,
          inbound: c.inboundId,
          outbound: c.outboundId,
          credit_amount: formatDecimal(c.creditAmount),
          amount_cents: String(c.amountCents),
          created_at: c.createdAt.toISOString(),
        })),
      ),
    ]);
  }
  if (delta.changedEntries.length > 0) {
    await run(UPDATE_ENTRIES, [
      organizationId,
      JSON.stringify(
        delta.changedEntries.map((e) => ({
          id: e.id,
          status: e.status,
          remaining_credit_amount: credits(e.remainingCreditAmount),
          remaining_amount_cents: cents(e.remainingAmountCents),
          invoice_id: e.invoiceId,
          settled_at: time(e.settledAt),
          failed_at: time(e.failedAt),
          clawed_back_at: time(e.clawedBackAt),
        })),
      ),
    ]);
  }
  if (delta.wallets.length > 0) {
    await run(UPDATE_WALLETS, [
      organizationId,
      JSON.stringify(
        delta.wallets.map((w) => ({
          id: w.id,
          status: w.status,
          balance_cents: String(w.balanceCents),
          credits_balance: formatDecimal(w.creditsBalance),
          consumed_amount_cents: String(w.consumedAmountCents),
          consumed_credits: formatDecimal(w.consumedCredits),
          ongoing_balance_cents: String(w.ongoingBalanceCents),
          credits_ongoing_balance: formatDecimal(w.creditsOngoingBalance),
          ongoing_usage_balance_cents: String(w.ongoingUsageBalanceCents),
          credits_ongoing_usage_balance: formatDecimal(w.creditsOngoingUsageBalance),
          depleted_ongoing_balance: w.depletedOngoingBalance,
          terminated_at: time(w.terminatedAt),
          updated_at: w.updatedAt.toISOString(),
        })),
      ),
    ]);
  }
  if (delta.rules.length > 0) {
    await run(UPDATE_RULES, [
      organizationId,
      JSON.stringify(delta.rules.map((r) => ({ id: r.id, status: r.status, terminated_at: time(r.terminatedAt) }))),
    ]);
  }
  if (delta.snapshot) {
    const s = delta.snapshot.record;
    await run(UPSERT_SNAPSHOT, [
      s.id,
      organizationId,
      records.customer.id,
      s.currency,
      s.asOf,
      JSON.stringify(s.fees.map(usageFeeRecordOf)),
      JSON.stringify(s.draftInvoices.map((d) => ({ id: d.id, fees: d.fees.map(usageFeeRecordOf) }))),
      JSON.stringify(s.billedFees.map(usageFeeRecordOf)),
      s.updatedAt,
    ]);
  }
  const events = deltaEvents(records, delta);
  if (events.length > 0) {
    // The shared outbox lock, then the rows (positions drawn in this order), as EventRecorder.flush does.
    await run(LOCK_OUTBOX, [EVENTS_LOCK_CLASS, organizationId]);
    await run(INSERT_EVENTS, [organizationId, now, JSON.stringify(events)]);
  }
}
