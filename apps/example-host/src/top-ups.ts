/**
 * The host's side of paid top-ups (DESIGN.md flow 2, Lago's paid credit invoices).
 *
 * A paid top-up is a pending purchased wallet transaction; the wallet's balance does not move until
 * the host reports the payment. For each such transaction the host issues one top-up ("credit")
 * invoice, never taxed, never discounted, never paid with credits:
 * - `invoiceRequiresSuccessfulPayment` false: the invoice is issued (finalized) at once, and the
 *   payment is collected afterwards;
 * - true: the invoice stays open (invisible, not numbered) and is issued only when the payment
 *   succeeds.
 * The payment provider's answer goes back with `walletTransactions.recordPayment`; a failed payment
 * may be retried later, and its success then settles the transaction.
 */
import type { RouterOutputs, WalletClient } from '@wallets/api/client';
import { centsFromWire } from './money.js';

export type WalletTransaction = RouterOutputs['walletTransactions']['get'];
export type PaymentOutcome = 'succeeded' | 'failed';

export interface PaymentRequest {
  invoiceId: string;
  amountCents: bigint;
  currency: string;
}

export interface PaymentAttempt extends PaymentRequest {
  attempt: number;
  outcome: PaymentOutcome;
}

/** A stand-in for a card processor: `decide` says how each attempt ends; every attempt is recorded. */
export class FakePaymentProvider {
  readonly attempts: PaymentAttempt[] = [];

  constructor(private readonly decide: (request: PaymentRequest, attempt: number) => PaymentOutcome = () => 'succeeded') {}

  charge(request: PaymentRequest): PaymentOutcome {
    const attempt = this.attempts.filter((a) => a.invoiceId === request.invoiceId).length + 1;
    const outcome = this.decide(request, attempt);
    this.attempts.push({ ...request, attempt, outcome });
    return outcome;
  }
}

/** A provider that answers from a script, in order, then succeeds. */
export function scriptedProvider(...outcomes: PaymentOutcome[]): FakePaymentProvider {
  const queue = [...outcomes];
  return new FakePaymentProvider(() => queue.shift() ?? 'succeeded');
}

export interface CreditInvoice {
  id: string;
  walletTransactionId: string;
  walletId: string;
  currency: string;
  /** One `credit` fee of the transaction's amount; no tax, no coupon, no prepaid credits. */
  amountCents: bigint;
  creditAmount: string;
  invoiceRequiresSuccessfulPayment: boolean;
  /** `open`: waiting for its payment before it is issued; `finalized`: issued to the customer. */
  status: 'open' | 'finalized';
  paymentStatus: 'pending' | 'succeeded' | 'failed';
  issuedAt: Date | null;
  /** The transaction as the plugin last returned it. */
  transaction: WalletTransaction;
}

export class TopUpDesk {
  /** The host's credit invoices, by invoice id. */
  readonly invoices = new Map<string, CreditInvoice>();
  private readonly byTransaction = new Map<string, string>();

  constructor(
    private readonly client: WalletClient,
    private readonly provider: FakePaymentProvider,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Pending purchases of a wallet that the host has not invoiced yet (every page). */
  async uninvoicedPurchases(walletId: string): Promise<WalletTransaction[]> {
    const found: WalletTransaction[] = [];
    let cursor: string | null = null;
    do {
      const page: RouterOutputs['walletTransactions']['list'] = await this.client.walletTransactions.list.query({
        walletId,
        status: 'pending',
        transactionStatus: 'purchased',
        limit: 100,
        cursor,
      });
      found.push(...page.items.filter((tx) => !this.byTransaction.has(tx.id)));
      cursor = page.nextCursor;
    } while (cursor);
    return found.reverse(); // oldest first
  }

  /** Issues one credit invoice per new pending purchase, at once or held open as each transaction says. */
  async issueTopUpInvoices(walletId: string): Promise<CreditInvoice[]> {
    const issued: CreditInvoice[] = [];
    for (const tx of await this.uninvoicedPurchases(walletId)) {
      const invoice: CreditInvoice = {
        id: `credit_${tx.id}`,
        walletTransactionId: tx.id,
        walletId: tx.walletId,
        currency: tx.currency,
        amountCents: centsFromWire(tx.amountCents),
        creditAmount: tx.creditAmount,
        invoiceRequiresSuccessfulPayment: tx.invoiceRequiresSuccessfulPayment,
        status: tx.invoiceRequiresSuccessfulPayment ? 'open' : 'finalized',
        paymentStatus: 'pending',
        issuedAt: tx.invoiceRequiresSuccessfulPayment ? null : this.now(),
        transaction: tx,
      };
      this.invoices.set(invoice.id, invoice);
      this.byTransaction.set(tx.id, invoice.id);
      issued.push(invoice);
    }
    return issued;
  }

  /** Charges one credit invoice and reports the outcome to the wallets plugin. */
  async collectPayment(invoiceId: string): Promise<CreditInvoice> {
    const invoice = this.invoices.get(invoiceId);
    if (!invoice) throw new RangeError(`no credit invoice ${invoiceId}`);
    if (invoice.paymentStatus === 'succeeded') return invoice;
    const outcome = this.provider.charge({ invoiceId, amountCents: invoice.amountCents, currency: invoice.currency });
    const transaction = await this.client.walletTransactions.recordPayment.mutate({ id: invoice.walletTransactionId, status: outcome, invoiceId });
    const expected = outcome === 'succeeded' ? 'settled' : 'failed';
    if (transaction.status !== expected) {
      throw new Error(`top-up ${transaction.id}: payment ${outcome} but the transaction is ${transaction.status}`);
    }
    invoice.transaction = transaction;
    invoice.paymentStatus = outcome;
    if (outcome === 'succeeded' && invoice.status === 'open') {
      // Issued only now that it is paid (Lago: issuing date = payment day).
      invoice.status = 'finalized';
      invoice.issuedAt = this.now();
    }
    return invoice;
  }

  /** Charges every credit invoice not paid yet (first attempts and retries of failed ones). */
  async collectPendingPayments(): Promise<CreditInvoice[]> {
    const results: CreditInvoice[] = [];
    for (const invoice of [...this.invoices.values()]) {
      if (invoice.paymentStatus !== 'succeeded') results.push(await this.collectPayment(invoice.id));
    }
    return results;
  }

  /** Issue, then collect: the whole top-up cycle for one wallet. */
  async processTopUps(walletId: string): Promise<CreditInvoice[]> {
    const issued = await this.issueTopUpInvoices(walletId);
    const results: CreditInvoice[] = [];
    for (const invoice of issued) results.push(await this.collectPayment(invoice.id));
    return results;
  }
}
