/**
 * A wallet's transactions for export, read through a server-side cursor in one read-only snapshot:
 * batches of EXPORT_BATCH_ROWS rows, so memory stays constant whatever the wallet's size, and a
 * long export sees one consistent ledger.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { formatDecimal, parseDecimal } from '@wallets/core';
import { withPgConnection } from './finance.js';
import { getWalletOrFail } from './repositories.js';

export const EXPORT_BATCH_ROWS = 2_000;

/** One transaction as the export writes it: the wire shape's fields, cents as exact bigints. */
export interface ExportedTransaction {
  id: string;
  walletId: string;
  currency: string;
  transactionType: string;
  status: string;
  transactionStatus: string;
  source: string;
  creditAmount: string;
  amountCents: bigint;
  remainingCreditAmount: string | null;
  remainingAmountCents: bigint | null;
  priority: number;
  expirationAt: Date | null;
  name: string | null;
  metadata: { key: string; value: string }[];
  invoiceId: string | null;
  voidedInvoiceId: string | null;
  voidedTransactionId: string | null;
  invoiceRequiresSuccessfulPayment: boolean;
  settledAt: Date | null;
  failedAt: Date | null;
  createdAt: Date;
}

interface Row {
  id: string;
  transaction_type: string;
  status: string;
  transaction_status: string;
  source: string;
  credit_amount: string;
  amount_cents: string;
  remaining_credit_amount: string | null;
  remaining_amount_cents: string | null;
  priority: number;
  expiration_at: Date | string | null;
  name: string | null;
  metadata: { key: string; value: string }[];
  invoice_id: string | null;
  voided_invoice_id: string | null;
  voided_transaction_id: string | null;
  invoice_requires_successful_payment: boolean;
  settled_at: Date | string | null;
  failed_at: Date | string | null;
  created_at: Date | string;
}

/** The pool's connections hand timestamps over as text (the ORM's type parsers). */
const time = (value: Date | string): Date => new Date(value);
const timeOrNull = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));

const credits = (text: string) => {
  const parsed = parseDecimal(text, { excess: 'reject' });
  if (!parsed.ok) throw new Error(`numeric value ${text}: ${parsed.reason}`);
  return formatDecimal(parsed.value);
};

export interface WalletTransactionsExport {
  walletId: string;
  currency: string;
  /** Oldest first (creation time, then id); each batch at most EXPORT_BATCH_ROWS rows. */
  batches: AsyncGenerator<ExportedTransaction[], void, undefined>;
}

/**
 * Checks the wallet (WALLET_NOT_FOUND before anything is sent), then yields its transactions
 * created after `from` up to `to` included (either may be left out). Stopping the generator early
 * (`return()`) closes the cursor and gives the connection back.
 */
export async function exportWalletTransactions(
  em: EntityManager,
  organizationId: string,
  input: { walletId: string; from?: Date | undefined; to?: Date | undefined },
): Promise<WalletTransactionsExport> {
  const wallet = await getWalletOrFail(em, organizationId, input.walletId);
  const currency = wallet.currency;
  async function* batches(): AsyncGenerator<ExportedTransaction[], void, undefined> {
    let release: () => void = () => undefined;
    let connectionReady: (c: import('pg').ClientBase) => void = () => undefined;
    const gotConnection = new Promise<import('pg').ClientBase>((resolve) => {
      connectionReady = resolve;
    });
    const held = withPgConnection(em, (client) => {
      connectionReady(client);
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    const client = await gotConnection;
    let open = false;
    try {
      await client.query('begin isolation level repeatable read read only');
      open = true;
      await client.query({
        text: `declare wallet_export no scroll cursor for
                 select id, transaction_type, status, transaction_status, source, credit_amount::text, amount_cents::text,
                        remaining_credit_amount::text, remaining_amount_cents::text, priority, expiration_at, name, metadata,
                        invoice_id, voided_invoice_id, voided_transaction_id, invoice_requires_successful_payment, settled_at, failed_at, created_at
                   from wallet_transactions
                  where organization_id = $1 and wallet_id = $2
                    and ($3::timestamptz is null or created_at > $3) and ($4::timestamptz is null or created_at <= $4)
                  order by created_at, id`,
        values: [organizationId, wallet.id, input.from ?? null, input.to ?? null],
      });
      for (;;) {
        const { rows } = await client.query<Row>(`fetch ${EXPORT_BATCH_ROWS} from wallet_export`);
        if (rows.length === 0) break;
        yield rows.map((r) => ({
          id: r.id,
          walletId: wallet.id,
          currency,
          transactionType: r.transaction_type,
          status: r.status,
          transactionStatus: r.transaction_status,
          source: r.source,
          creditAmount: credits(r.credit_amount),
          amountCents: BigInt(r.amount_cents),
          remainingCreditAmount: r.remaining_credit_amount === null ? null : credits(r.remaining_credit_amount),
          remainingAmountCents: r.remaining_amount_cents === null ? null : BigInt(r.remaining_amount_cents),
          priority: r.priority,
          expirationAt: timeOrNull(r.expiration_at),
          name: r.name,
          metadata: r.metadata,
          invoiceId: r.invoice_id,
          voidedInvoiceId: r.voided_invoice_id,
          voidedTransactionId: r.voided_transaction_id,
          invoiceRequiresSuccessfulPayment: r.invoice_requires_successful_payment,
          settledAt: timeOrNull(r.settled_at),
          failedAt: timeOrNull(r.failed_at),
          createdAt: time(r.created_at),
        }));
        if (rows.length < EXPORT_BATCH_ROWS) break;
      }
    } finally {
      if (open) await client.query('rollback').catch(() => undefined);
      release();
      await held;
    }
  }
  return { walletId: wallet.id, currency, batches: batches() };
}
