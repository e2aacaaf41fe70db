/**
 * A wallet's transactions for export, read through a server-side cursor in one read-only snapshot
 * and formatted as CSV records (RFC 4180) by PostgreSQL itself: the server only joins the text of
 * each batch and writes it, so a million rows cost no more memory than a thousand (no row objects,
 * dates or decimals are made per row).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { currencyExponent } from '@wallets/core';
import type pg from 'pg';
import { withPgConnection } from './finance.js';
import { getWalletOrFail } from './repositories.js';

export const EXPORT_BATCH_ROWS = 500;

/** A text field as an RFC 4180 field: quoted, with quotes doubled, when it holds a comma, a quote, CR or LF or starts or ends with a space; empty for null. */
const field = (expr: string) =>
  `coalesce(case when ${expr} ~ E'[",\\r\\n]|^ | $' then '"' || replace(${expr}, '"', '""') || '"' else ${expr} end, '')`;
/** A time as JavaScript's toISOString writes it. */
const time = (column: string) => `coalesce(to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '')`;
/** Credits as the API writes them ("100", "0.5"). */
const credits = (column: string) => `coalesce(trim_scale(${column})::text, '')`;
/** Cents as an exact decimal in currency units ($5: 10^exponent, $6: the exponent). */
const units = (column: string) => `coalesce(round(${column}::numeric / $5::numeric, $6::int)::text, '')`;

/** The columns of the export, in order, each with the SQL that writes it. */
export const WALLET_TRANSACTION_EXPORT_COLUMNS: readonly (readonly [string, string])[] = [
  ['id', 'id::text'],
  ['walletId', 'wallet_id::text'],
  ['currency', '$7::text'],
  ['createdAt', time('created_at')],
  ['transactionType', field('transaction_type')],
  ['status', field('status')],
  ['transactionStatus', field('transaction_status')],
  ['source', field('source')],
  ['creditAmount', credits('credit_amount')],
  ['amount', units('amount_cents')],
  ['amountCents', 'amount_cents::text'],
  ['remainingCreditAmount', credits('remaining_credit_amount')],
  ['remainingAmount', units('remaining_amount_cents')],
  ['remainingAmountCents', "coalesce(remaining_amount_cents::text, '')"],
  ['priority', 'priority::text'],
  ['expirationAt', time('expiration_at')],
  ['name', field('name')],
  ['metadata', field('metadata::text')],
  ['invoiceId', field('invoice_id')],
  ['voidedInvoiceId', field('voided_invoice_id')],
  ['voidedTransactionId', "coalesce(voided_transaction_id::text, '')"],
  ['invoiceRequiresSuccessfulPayment', 'invoice_requires_successful_payment::text'],
  ['settledAt', time('settled_at')],
  ['failedAt', time('failed_at')],
];

/** $1 organization, $2 wallet, $3 after (or null), $4 up to (or null), $5 10^exponent, $6 exponent, $7 currency. */
const DECLARE_EXPORT = `declare wallet_export no scroll cursor for
  select ${WALLET_TRANSACTION_EXPORT_COLUMNS.map(([, sql]) => sql).join(` || ',' || `)} || E'\\r\\n'
    from wallet_transactions
   where organization_id = $1 and wallet_id = $2
     and ($3::timestamptz is null or created_at > $3) and ($4::timestamptz is null or created_at <= $4)
   order by created_at, id`;

export interface WalletTransactionsExport {
  walletId: string;
  currency: string;
  /** CSV records (CRLF-ended), oldest first (creation time, then id), EXPORT_BATCH_ROWS per chunk. */
  chunks: AsyncGenerator<string, void, undefined>;
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
  const exponent = currencyExponent(currency);
  async function* chunks(): AsyncGenerator<string, void, undefined> {
    let release: () => void = () => undefined;
    let connectionReady: (c: pg.ClientBase) => void = () => undefined;
    const gotConnection = new Promise<pg.ClientBase>((resolve) => {
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
        text: DECLARE_EXPORT,
        values: [organizationId, wallet.id, input.from ?? null, input.to ?? null, (10n ** BigInt(exponent)).toString(), exponent, currency],
      });
      for (;;) {
        const { rows } = await client.query<string[]>({ text: `fetch ${EXPORT_BATCH_ROWS} from wallet_export`, rowMode: 'array' });
        if (rows.length === 0) break;
        let chunk = '';
        for (const row of rows) chunk += row[0];
        yield chunk;
        if (rows.length < EXPORT_BATCH_ROWS) break;
      }
    } finally {
      if (open) await client.query('rollback').catch(() => undefined);
      release();
      await held;
    }
  }
  return { walletId: wallet.id, currency, chunks: chunks() };
}
