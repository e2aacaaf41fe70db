/**
 * Wallets and ledger rows read by plain SQL, as detached objects of the entity shapes (not managed by
 * the ORM, so no flush writes them), and the set-based statements that write what the ledger changed
 * on them (`LedgerJournal`). Hot paths use these instead of the identity map and the ORM flush: one
 * round trip for every ledger write of a request, sent with its outbox events.
 *
 * The rows come from `select *` or from explicit column lists; numbers may arrive as text (numeric,
 * bigint) or as JS numbers, times as Date or ISO text.
 */
import { formatDecimal } from '@wallets/core';
import { CreditsType } from './entities/column-types.js';
import type { Customer, Wallet, WalletTransaction } from './entities/index.js';
import type { SqlStatement } from './sql-statements.js';

export interface WalletRow {
  id: string;
  organization_id: string;
  customer_id: string;
  name: string | null;
  code: string;
  status: Wallet['status'];
  currency: string;
  rate_amount: string;
  priority: number;
  balance_cents: string;
  credits_balance: string;
  ongoing_balance_cents: string;
  credits_ongoing_balance: string;
  ongoing_usage_balance_cents: string;
  credits_ongoing_usage_balance: string;
  consumed_credits: string;
  consumed_amount_cents: string;
  depleted_ongoing_balance: boolean;
  expiration_at: Date | string | null;
  terminated_at: Date | string | null;
  invoice_requires_successful_payment: boolean;
  paid_top_up_min_amount_cents: string | null;
  paid_top_up_max_amount_cents: string | null;
  applies_to_fee_types: string[];
  applies_to_billable_metric_codes: string[];
  created_at: Date | string;
  updated_at: Date | string;
}

export interface TransactionRow {
  id: string;
  wallet_id: string;
  transaction_type: WalletTransaction['transactionType'];
  status: WalletTransaction['status'];
  transaction_status: WalletTransaction['transactionStatus'];
  source: WalletTransaction['source'];
  credit_amount: string;
  amount_cents: string;
  remaining_credit_amount: string | null;
  remaining_amount_cents: string | null;
  priority: number;
  expiration_at: Date | string | null;
  name: string | null;
  metadata: WalletTransaction['metadata'];
  invoice_id: string | null;
  voided_invoice_id: string | null;
  voided_transaction_id: string | null;
  invoice_requires_successful_payment: boolean;
  settled_at: Date | string | null;
  failed_at: Date | string | null;
  clawed_back_at: Date | string | null;
  created_at: Date | string;
}

const creditsType = new CreditsType();
const toCredits = (value: string): bigint => creditsType.convertToJSValue(value) as bigint;
const toCreditsOrNull = (value: string | null): bigint | null => (value === null ? null : toCredits(value));
const toCentsOrNull = (value: string | null): bigint | null => (value === null ? null : BigInt(value));
const toDate = (value: Date | string): Date => new Date(value);
const toDateOrNull = (value: Date | string | null): Date | null => (value === null ? null : toDate(value));

/** The wallet as the ORM would load it, detached. `customer` needs its id and external id (events show it). */
export function walletOf(row: WalletRow, customer: Pick<Customer, 'id' | 'externalId'>): Wallet {
  return {
    id: row.id,
    organization: { id: row.organization_id },
    customer,
    name: row.name,
    code: row.code,
    status: row.status,
    currency: row.currency,
    rateAmount: toCredits(row.rate_amount),
    priority: row.priority,
    balanceCents: BigInt(row.balance_cents),
    creditsBalance: toCredits(row.credits_balance),
    ongoingBalanceCents: BigInt(row.ongoing_balance_cents),
    creditsOngoingBalance: toCredits(row.credits_ongoing_balance),
    ongoingUsageBalanceCents: BigInt(row.ongoing_usage_balance_cents),
    creditsOngoingUsageBalance: toCredits(row.credits_ongoing_usage_balance),
    consumedCredits: toCredits(row.consumed_credits),
    consumedAmountCents: BigInt(row.consumed_amount_cents),
    depletedOngoingBalance: row.depleted_ongoing_balance,
    expirationAt: toDateOrNull(row.expiration_at),
    terminatedAt: toDateOrNull(row.terminated_at),
    invoiceRequiresSuccessfulPayment: row.invoice_requires_successful_payment,
    paidTopUpMinAmountCents: toCentsOrNull(row.paid_top_up_min_amount_cents),
    paidTopUpMaxAmountCents: toCentsOrNull(row.paid_top_up_max_amount_cents),
    appliesToFeeTypes: row.applies_to_fee_types,
    appliesToBillableMetricCodes: row.applies_to_billable_metric_codes,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  } as unknown as Wallet;
}

/** The transaction as the ORM would load it, detached, on its (detached) wallet. */
export function transactionOf(row: TransactionRow, wallet: Wallet): WalletTransaction {
  return {
    id: row.id,
    organization: wallet.organization,
    wallet,
    customer: wallet.customer,
    transactionType: row.transaction_type,
    status: row.status,
    transactionStatus: row.transaction_status,
    source: row.source,
    creditAmount: toCredits(row.credit_amount),
    amountCents: BigInt(row.amount_cents),
    remainingCreditAmount: toCreditsOrNull(row.remaining_credit_amount),
    remainingAmountCents: toCentsOrNull(row.remaining_amount_cents),
    priority: row.priority,
    expirationAt: toDateOrNull(row.expiration_at),
    name: row.name,
    metadata: row.metadata,
    invoiceId: row.invoice_id,
    voidedInvoiceId: row.voided_invoice_id,
    voidedTransactionId: row.voided_transaction_id,
    invoiceRequiresSuccessfulPayment: row.invoice_requires_successful_payment,
    settledAt: toDateOrNull(row.settled_at),
    failedAt: toDateOrNull(row.failed_at),
    clawedBackAt: toDateOrNull(row.clawed_back_at),
    createdAt: toDate(row.created_at),
  } as unknown as WalletTransaction;
}

export interface ConsumptionRecord {
  id: string;
  inbound: WalletTransaction;
  outbound: WalletTransaction;
  creditAmount: bigint;
  amountCents: bigint;
  createdAt: Date;
}

const json = (value: unknown) => JSON.stringify(value);
const creditsOrNull = (value: bigint | null) => (value === null ? null : formatDecimal(value));
const centsOrNull = (value: bigint | null) => (value === null ? null : String(value));
const timeOrNull = (value: Date | null) => (value === null ? null : value.toISOString());

/**
 * What a ledger working on detached objects wrote: new transactions and consumptions, and the lots
 * and wallets it changed. `statements` writes them (rows as they are now in memory: the caller holds
 * the customer lock, so nobody else changed them since they were read).
 */
export class LedgerJournal {
  readonly transactions: WalletTransaction[] = [];
  readonly consumptions: ConsumptionRecord[] = [];
  /** Existing lots whose remainders changed. */
  readonly lots = new Set<WalletTransaction>();
  readonly wallets = new Set<Wallet>();

  statements(organizationId: string): SqlStatement[] {
    const statements: SqlStatement[] = [];
    if (this.transactions.length > 0) {
      statements.push({
        sql: `insert into wallet_transactions (id, organization_id, wallet_id, customer_id, transaction_type, status, transaction_status, source,
           credit_amount, amount_cents, remaining_credit_amount, remaining_amount_cents, priority, expiration_at, name, metadata, invoice_id,
           voided_invoice_id, voided_transaction_id, invoice_requires_successful_payment, settled_at, failed_at, clawed_back_at, created_at)
         select t.id, ?, t.wallet_id, t.customer_id, t.transaction_type, t.status, t.transaction_status, t.source, t.credit_amount, t.amount_cents,
                t.remaining_credit_amount, t.remaining_amount_cents, t.priority, t.expiration_at, t.name, t.metadata, t.invoice_id,
                t.voided_invoice_id, t.voided_transaction_id, t.invoice_requires_successful_payment, t.settled_at, t.failed_at, t.clawed_back_at,
                t.created_at
           from jsonb_to_recordset(?::jsonb) as t(id uuid, wallet_id uuid, customer_id uuid, transaction_type text, status text,
                transaction_status text, source text, credit_amount numeric, amount_cents bigint, remaining_credit_amount numeric,
                remaining_amount_cents bigint, priority int, expiration_at timestamptz, name text, metadata jsonb, invoice_id text,
                voided_invoice_id text, voided_transaction_id uuid, invoice_requires_successful_payment boolean, settled_at timestamptz,
                failed_at timestamptz, clawed_back_at timestamptz, created_at timestamptz)`,
        params: [
          organizationId,
          json(
            this.transactions.map((tx) => ({
              id: tx.id,
              wallet_id: tx.wallet.id,
              customer_id: tx.customer.id,
              transaction_type: tx.transactionType,
              status: tx.status,
              transaction_status: tx.transactionStatus,
              source: tx.source,
              credit_amount: formatDecimal(tx.creditAmount),
              amount_cents: String(tx.amountCents),
              // A lot consumed in this request is written as it is now; the lot update below skips it.
              remaining_credit_amount: creditsOrNull(tx.remainingCreditAmount),
              remaining_amount_cents: centsOrNull(tx.remainingAmountCents),
              priority: tx.priority,
              expiration_at: timeOrNull(tx.expirationAt),
              name: tx.name,
              metadata: tx.metadata,
              invoice_id: tx.invoiceId,
              voided_invoice_id: tx.voidedInvoiceId,
              voided_transaction_id: tx.voidedTransactionId,
              invoice_requires_successful_payment: tx.invoiceRequiresSuccessfulPayment,
              settled_at: timeOrNull(tx.settledAt),
              failed_at: timeOrNull(tx.failedAt),
              clawed_back_at: timeOrNull(tx.clawedBackAt),
              created_at: tx.createdAt.toISOString(),
            })),
          ),
        ],
      });
    }
    if (this.consumptions.length > 0) {
      statements.push({
        sql: `insert into wallet_transaction_consumptions (id, organization_id, inbound_wallet_transaction_id, outbound_wallet_transaction_id,
           credit_amount, amount_cents, created_at)
         select p.id, ?, p.inbound, p.outbound, p.credit_amount, p.amount_cents, p.created_at
           from jsonb_to_recordset(?::jsonb) as p(id uuid, inbound uuid, outbound uuid, credit_amount numeric, amount_cents bigint,
                created_at timestamptz)`,
        params: [
          organizationId,
          json(
            this.consumptions.map((c) => ({
              id: c.id,
              inbound: c.inbound.id,
              outbound: c.outbound.id,
              credit_amount: formatDecimal(c.creditAmount),
              amount_cents: String(c.amountCents),
              created_at: c.createdAt.toISOString(),
            })),
          ),
        ],
      });
    }
    const inserted = new Set(this.transactions);
    const lots = [...this.lots].filter((lot) => !inserted.has(lot));
    if (lots.length > 0) {
      statements.push({
        sql: `update wallet_transactions t
            set remaining_credit_amount = v.remaining_credit_amount, remaining_amount_cents = v.remaining_amount_cents
           from jsonb_to_recordset(?::jsonb) as v(id uuid, remaining_credit_amount numeric, remaining_amount_cents bigint)
          where t.organization_id = ? and t.id = v.id`,
        params: [
          json(
            lots.map((lot) => ({
              id: lot.id,
              remaining_credit_amount: creditsOrNull(lot.remainingCreditAmount),
              remaining_amount_cents: centsOrNull(lot.remainingAmountCents),
            })),
          ),
          organizationId,
        ],
      });
    }
    if (this.wallets.size > 0) {
      statements.push({
        sql: `update wallets w
            set status = v.status, balance_cents = v.balance_cents, credits_balance = v.credits_balance,
                consumed_amount_cents = v.consumed_amount_cents, consumed_credits = v.consumed_credits,
                ongoing_balance_cents = v.ongoing_balance_cents, credits_ongoing_balance = v.credits_ongoing_balance,
                ongoing_usage_balance_cents = v.ongoing_usage_balance_cents, credits_ongoing_usage_balance = v.credits_ongoing_usage_balance,
                depleted_ongoing_balance = v.depleted_ongoing_balance, terminated_at = v.terminated_at, updated_at = v.updated_at
           from jsonb_to_recordset(?::jsonb) as v(id uuid, status text, balance_cents bigint, credits_balance numeric,
                consumed_amount_cents bigint, consumed_credits numeric, ongoing_balance_cents bigint, credits_ongoing_balance numeric,
                ongoing_usage_balance_cents bigint, credits_ongoing_usage_balance numeric, depleted_ongoing_balance boolean,
                terminated_at timestamptz, updated_at timestamptz)
          where w.organization_id = ? and w.id = v.id`,
        params: [
          json(
            [...this.wallets].map((w) => ({
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
              terminated_at: timeOrNull(w.terminatedAt),
              updated_at: w.updatedAt.toISOString(),
            })),
          ),
          organizationId,
        ],
      });
    }
    return statements;
  }

  clear(): void {
    this.transactions.length = 0;
    this.consumptions.length = 0;
    this.lots.clear();
    this.wallets.clear();
  }
}
