/**
 * Batched wallet expiry: a few hundred due wallets of one organization per transaction, written with
 * set-based SQL instead of one ORM unit of work per wallet (which costs 15-20 ms of CPU each, so
 * 100k wallets took half an hour).
 *
 * The result is the one `ledger.terminate(wallet, 'expiration')` gives, row for row and event for
 * event: one outbound `voided` transaction (source expiration) consuming every remaining lot with a
 * consumption row per lot, the lots' remainders to zero, balances and consumed totals moved by the
 * same amounts, pending purchases failed, active rules terminated, the wallet terminated with its
 * ongoing balances zeroed, and per wallet (in wallet id order) the events
 * `wallet_transaction.created` (the void), `wallet_transaction.updated` (each failed purchase,
 * oldest first), `wallet.terminated`. Amounts and lot order come from wallet-core, as in the ledger.
 *
 * Only wallets whose customer has no other active wallet in the same currency are batched: there,
 * terminating the wallet changes no other wallet's ongoing balance and fires no threshold rule.
 * A wallet that has such a sibling (also one that gained it after the sweep) is handed back as
 * `deferredWalletIds`, for the per-wallet path (`expireWallet`), which recomputes its group.
 *
 * Concurrency: the batch locks its customers' rows in customer id order (every writer takes the
 * customer lock first, so API requests and other batches wait or are waited for, never deadlock),
 * then re-reads the wallets and skips every one that is no longer active and past its expiry. With
 * an idempotency key the outcome is recorded in the same transaction: a replay after a crash
 * changes nothing and reports the first outcome.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { planConsumption, sumLots } from '@wallets/core';
import { transactionDto, walletDto } from '../dto.js';
import type { Wallet, WalletTransaction } from '../entities/index.js';
import { EVENTS_LOCK_CLASS } from '../events.js';
import { toLot } from '../ledger.js';
import { LedgerJournal, type TransactionRow, transactionOf, type WalletRow, walletOf } from '../ledger-rows.js';
import { sendStatements } from '../sql-statements.js';
import { runMutation } from '../unit-of-work.js';
import { type DueWallet, HAS_ACTIVE_SIBLING } from './expiration.js';

/** Wallets per batch: one transaction holds this many customer locks for a fraction of a second. */
export const EXPIRATION_BATCH_SIZE = 200;

export interface ExpirationBatch {
  organizationId: string;
  /** Ascending. */
  walletIds: string[];
}

export interface BatchExpirationOutcome {
  walletsExpired: number;
  lotsExpired: number;
  /** Due wallets that need the per-wallet path (another active wallet shares their ongoing balance group). */
  deferredWalletIds: string[];
}

/** Active wallets past their own expiry whose customer has no other active wallet in that currency. */
export async function findWalletsDueForBatchExpiration(em: EntityManager, asOf: Date, limit = 1_000_000): Promise<DueWallet[]> {
  const rows: { organization_id: string; id: string }[] = await em.getConnection().execute(
    `select w.organization_id, w.id from wallets w
      where w.status = 'active' and w.expiration_at <= ?
        and not ${HAS_ACTIVE_SIBLING}
      order by w.organization_id, w.id limit ?`,
    [asOf, limit],
  );
  return rows.map((row) => ({ organizationId: row.organization_id, walletId: row.id }));
}

/** Splits due wallets into batches of one organization each, wallet ids ascending. */
export function toExpirationBatches(due: readonly DueWallet[], size = EXPIRATION_BATCH_SIZE): ExpirationBatch[] {
  const byOrganization = new Map<string, string[]>();
  for (const { organizationId, walletId } of due) {
    const list = byOrganization.get(organizationId) ?? [];
    list.push(walletId);
    byOrganization.set(organizationId, list);
  }
  const batches: ExpirationBatch[] = [];
  for (const [organizationId, ids] of byOrganization) {
    const sorted = [...ids].sort();
    for (let i = 0; i < sorted.length; i += size) batches.push({ organizationId, walletIds: sorted.slice(i, i + size) });
  }
  return batches;
}

/** A stable name for a batch (its organization and wallets), for job and idempotency keys. */
export function expirationBatchId(batch: ExpirationBatch): string {
  return createHash('sha256')
    .update(`${batch.organizationId}:${batch.walletIds.join(',')}`)
    .digest('hex')
    .slice(0, 32);
}

// ---------------------------------------------------------------------------------------------
// Rows as read under the lock (mapped to detached objects by ledger-rows.ts).

type DueWalletRow = WalletRow & { external_customer_id: string; has_sibling: boolean };

// ---------------------------------------------------------------------------------------------
// The plan: what terminate would write, computed in memory.

interface BatchPlan {
  /** The voids, their consumptions, the emptied lots and the terminated wallets. */
  ledger: LedgerJournal;
  failedIds: string[];
  terminatedIds: string[];
  events: { id: string; type: string; data: unknown }[];
}

function planBatch(wallets: Wallet[], lotsByWallet: Map<string, WalletTransaction[]>, pendingByWallet: Map<string, WalletTransaction[]>, now: Date) {
  const plan: BatchPlan = { ledger: new LedgerJournal(), failedIds: [], terminatedIds: [], events: [] };
  const event = (type: string, data: unknown) => plan.events.push({ id: randomUUID(), type, data: JSON.parse(JSON.stringify(data)) });
  for (const wallet of wallets) {
    const lots = lotsByWallet.get(wallet.id) ?? [];
    const remainder = sumLots(lots.map(toLot));
    const voided = remainder.amountCents !== 0n || remainder.creditAmount !== 0n;
    if (voided) {
      const outbound = {
        id: randomUUID(),
        organization: wallet.organization,
        wallet,
        customer: wallet.customer,
        transactionType: 'outbound',
        status: 'settled',
        transactionStatus: 'voided',
        source: 'expiration',
        creditAmount: remainder.creditAmount,
        amountCents: remainder.amountCents,
        remainingCreditAmount: null,
        remainingAmountCents: null,
        priority: 50,
        expirationAt: null,
        name: null,
        metadata: [],
        invoiceId: null,
        voidedInvoiceId: null,
        voidedTransactionId: null,
        invoiceRequiresSuccessfulPayment: wallet.invoiceRequiresSuccessfulPayment,
        settledAt: now,
        failedAt: null,
        clawedBackAt: null,
        createdAt: now,
      } as unknown as WalletTransaction;
      plan.ledger.transactions.push(outbound);
      const byId = new Map(lots.map((lot) => [lot.id, lot]));
      for (const part of planConsumption(lots.map(toLot), remainder)) {
        const lot = byId.get(part.lotId)!;
        lot.remainingAmountCents = (lot.remainingAmountCents ?? 0n) - part.amountCents;
        lot.remainingCreditAmount = (lot.remainingCreditAmount ?? 0n) - part.creditAmount;
        plan.ledger.lots.add(lot);
        plan.ledger.consumptions.push({
          id: randomUUID(),
          inbound: lot,
          outbound,
          creditAmount: part.creditAmount,
          amountCents: part.amountCents,
          createdAt: now,
        });
      }
      wallet.balanceCents -= remainder.amountCents;
      wallet.creditsBalance -= remainder.creditAmount;
      wallet.consumedCredits += remainder.creditAmount;
      wallet.consumedAmountCents += remainder.amountCents;
      event('wallet_transaction.created', transactionDto(outbound));
    }
    for (const tx of pendingByWallet.get(wallet.id) ?? []) {
      tx.status = 'failed';
      tx.failedAt = now;
      plan.failedIds.push(tx.id);
      event('wallet_transaction.updated', transactionDto(tx));
    }
    wallet.status = 'terminated';
    wallet.terminatedAt = now;
    if (voided) {
      // The void touched the wallet, so settleOngoing runs on it: terminated, it keeps no usage and fires no depletion event.
      // (Without a void the ledger touches nothing: updatedAt and the ongoing fields stay as they were.)
      wallet.updatedAt = now;
      wallet.ongoingUsageBalanceCents = 0n;
      wallet.creditsOngoingUsageBalance = 0n;
      wallet.ongoingBalanceCents = wallet.balanceCents;
      wallet.creditsOngoingBalance = wallet.creditsBalance;
      if (wallet.depletedOngoingBalance && wallet.ongoingBalanceCents > 0n) wallet.depletedOngoingBalance = false;
    }
    plan.terminatedIds.push(wallet.id);
    plan.ledger.wallets.add(wallet);
    // The rules were active until now; the event lists the rules still active (none).
    event('wallet.terminated', walletDto(wallet, []));
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// The statements.

type Exec = <T>(sql: string, params: unknown[]) => Promise<T[]>;

const IDS = '(select jsonb_array_elements_text(?::jsonb)::uuid)';

async function lockCustomersOf(exec: Exec, organizationId: string, walletIds: string[]): Promise<void> {
  await exec(
    `select c.id from customers c
      where c.organization_id = ? and c.id in (select w.customer_id from wallets w where w.organization_id = ? and w.id in ${IDS})
      order by c.id for update`,
    [organizationId, organizationId, JSON.stringify(walletIds)],
  );
}

async function loadDueWallets(exec: Exec, organizationId: string, walletIds: string[], asOf: Date): Promise<DueWalletRow[]> {
  return exec<DueWalletRow>(
    `select w.id, w.customer_id, c.external_id as external_customer_id, w.name, w.code, w.status, w.currency, w.rate_amount::text,
            w.priority, w.balance_cents::text, w.credits_balance::text, w.ongoing_balance_cents::text, w.credits_ongoing_balance::text,
            w.ongoing_usage_balance_cents::text, w.credits_ongoing_usage_balance::text, w.consumed_credits::text,
            w.consumed_amount_cents::text, w.depleted_ongoing_balance, w.expiration_at, w.terminated_at,
            w.invoice_requires_successful_payment, w.paid_top_up_min_amount_cents::text, w.paid_top_up_max_amount_cents::text,
            w.applies_to_fee_types, w.applies_to_billable_metric_codes, w.created_at, w.updated_at, w.organization_id,
            ${HAS_ACTIVE_SIBLING} as has_sibling
       from wallets w join customers c on c.id = w.customer_id
      where w.organization_id = ? and w.id in ${IDS} and w.status = 'active' and w.expiration_at <= ?
      order by w.id`,
    [organizationId, JSON.stringify(walletIds), asOf],
  );
}

const TRANSACTION_COLUMNS = `id, wallet_id, transaction_type, status, transaction_status, source, credit_amount::text, amount_cents::text,
  remaining_credit_amount::text, remaining_amount_cents::text, priority, expiration_at, name, metadata, invoice_id, voided_invoice_id,
  voided_transaction_id, invoice_requires_successful_payment, settled_at, failed_at, clawed_back_at, created_at`;

async function loadTransactions(
  exec: Exec,
  organizationId: string,
  wallets: Map<string, Wallet>,
  condition: string,
): Promise<Map<string, WalletTransaction[]>> {
  const rows = await exec<TransactionRow>(
    `select ${TRANSACTION_COLUMNS} from wallet_transactions
      where organization_id = ? and wallet_id in ${IDS} and ${condition}
      order by created_at, id`,
    [organizationId, JSON.stringify([...wallets.keys()])],
  );
  const byWallet = new Map<string, WalletTransaction[]>();
  for (const row of rows) {
    const list = byWallet.get(row.wallet_id) ?? [];
    list.push(transactionOf(row, wallets.get(row.wallet_id)!));
    byWallet.set(row.wallet_id, list);
  }
  return byWallet;
}

/** Every write of the plan in one round trip (ledger rows and balances as the journal writes them, then the outbox). */
async function writePlan(em: EntityManager, organizationId: string, plan: BatchPlan, now: Date): Promise<void> {
  const json = (value: unknown) => JSON.stringify(value);
  await sendStatements(em, [
    ...plan.ledger.statements(organizationId),
    ...(plan.failedIds.length > 0
      ? [
          {
            sql: `update wallet_transactions set status = 'failed', failed_at = ? where organization_id = ? and id in ${IDS}`,
            params: [now, organizationId, json(plan.failedIds)],
          },
        ]
      : []),
    {
      sql: `update recurring_transaction_rules set status = 'terminated', terminated_at = ?
        where organization_id = ? and wallet_id in ${IDS} and status = 'active'`,
      params: [now, organizationId, json(plan.terminatedIds)],
    },
    // The outbox, as EventRecorder.flush writes it: under the shared per-organization lock, in order.
    { sql: 'select pg_advisory_xact_lock_shared(?, hashtext(?))', params: [EVENTS_LOCK_CLASS, organizationId] },
    {
      sql: `insert into events (id, organization_id, type, data, created_at)
       select (e.value ->> 'id')::uuid, ?, e.value ->> 'type', e.value -> 'data', ?
         from jsonb_array_elements(?::jsonb) with ordinality as e(value, n)
        order by e.n`,
      params: [organizationId, now, json(plan.events)],
    },
  ]);
}

/**
 * Expires the batch's wallets that are still active and past their expiry as of `asOf`, in one
 * transaction. Wallets that share their ongoing balance with another active wallet are left alone
 * and returned as deferred.
 */
export async function expireWalletBatch(
  em: EntityManager,
  batch: ExpirationBatch,
  asOf: Date,
  idempotencyKey?: string,
): Promise<BatchExpirationOutcome> {
  const request = { organizationId: batch.organizationId, walletIds: batch.walletIds };
  return runMutation(
    em,
    { organizationId: batch.organizationId, procedure: 'jobs.expireWallets', idempotencyKey, request, now: asOf },
    async ({ em: tx, ctx }) => {
      const exec: Exec = (sql, params) => tx.getConnection().execute(sql, params, 'all', tx.getTransactionContext());
      const organizationId = ctx.organizationId;
      if (batch.walletIds.length === 0) return { walletsExpired: 0, lotsExpired: 0, deferredWalletIds: [] };
      await lockCustomersOf(exec, organizationId, batch.walletIds);
      const rows = await loadDueWallets(exec, organizationId, batch.walletIds, ctx.now);
      const deferredWalletIds = rows.filter((row) => row.has_sibling).map((row) => row.id);
      const wallets = new Map(
        rows.filter((row) => !row.has_sibling).map((row) => [row.id, walletOf(row, { id: row.customer_id, externalId: row.external_customer_id })]),
      );
      if (wallets.size === 0) return { walletsExpired: 0, lotsExpired: 0, deferredWalletIds };
      const lots = await loadTransactions(
        exec,
        organizationId,
        wallets,
        `transaction_type = 'inbound' and status = 'settled' and (remaining_amount_cents > 0 or remaining_credit_amount > 0)`,
      );
      const pending = await loadTransactions(exec, organizationId, wallets, `transaction_status = 'purchased' and status = 'pending'`);
      const plan = planBatch([...wallets.values()], lots, pending, ctx.now);
      await writePlan(tx, organizationId, plan, ctx.now);
      return { walletsExpired: wallets.size, lotsExpired: 0, deferredWalletIds };
    },
  );
}
