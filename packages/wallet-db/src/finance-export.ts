/**
 * A wallet's transactions for export, formatted as CSV records (RFC 4180) by PostgreSQL itself and
 * streamed with `COPY (...) TO STDOUT (FORMAT binary)`: the records arrive as the bytes of the
 * connection's socket reads, are passed on with their framing cut out, and the connection is read
 * only as fast as the client takes them. No string, array or message is made per row: a cursor
 * fetching rows did (1.6 KB of garbage per record, a quarter of it promoted before it died), so a
 * million-row export grew the heap, and the RSS, by some 100 MiB before a full collection.
 */

import { Transform, type TransformCallback } from 'node:stream';
import type { EntityManager } from '@mikro-orm/postgresql';
import { currencyExponent } from '@wallets/core';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { withPgConnection } from './finance.js';
import { getWalletOrFail } from './repositories.js';

/** A text field as an RFC 4180 field: quoted, with quotes doubled, when it holds a comma, a quote, CR or LF or starts or ends with a space; empty for null. */
const field = (expr: string) =>
  `coalesce(case when ${expr} ~ E'[",\\r\\n]|^ | $' then '"' || replace(${expr}, '"', '""') || '"' else ${expr} end, '')`;
/** A time as JavaScript's toISOString writes it. */
const time = (column: string) => `coalesce(to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '')`;
/** Credits as the API writes them ("100", "0.5"). */
const credits = (column: string) => `coalesce(trim_scale(${column})::text, '')`;
/**
 * COPY takes no bind parameters: the export's values reach it as one parameter of `set_config`, a
 * setting local to the export's transaction, read here once per statement (an uncorrelated
 * subquery); no value is ever written into the SQL text.
 */
const EXPORT_SETTING = 'wallets.export';
const param = (name: string, type: string) => `(select (current_setting('${EXPORT_SETTING}')::jsonb ->> '${name}')::${type})`;
/** Cents as an exact decimal in currency units. */
const units = (column: string) => `coalesce(round(${column}::numeric / ${param('scale', 'numeric')}, ${param('exponent', 'int')})::text, '')`;

/** The columns of the export, in order, each with the SQL that writes it. */
export const WALLET_TRANSACTION_EXPORT_COLUMNS: readonly (readonly [string, string])[] = [
  ['id', 'id::text'],
  ['walletId', 'wallet_id::text'],
  ['currency', param('currency', 'text')],
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

const COPY_STATEMENT = `copy (select ${WALLET_TRANSACTION_EXPORT_COLUMNS.map(([, sql]) => sql).join(` || ',' || `)} || E'\\r\\n'
    from wallet_transactions
   where organization_id = ${param('organization', 'uuid')} and wallet_id = ${param('wallet', 'uuid')}
     and created_at > ${param('after', 'timestamptz')} and created_at <= ${param('upTo', 'timestamptz')}
   order by created_at, id) to stdout (format binary)`;
const SET_EXPORT = { name: 'set_wallet_export', text: `select set_config('${EXPORT_SETTING}', $1, true)` };

/**
 * COPY's binary format for one text column -> the column's bytes, record after record: the header
 * (signature, flags, extension length: 19 bytes), each tuple's field count and length (6 bytes) and
 * the trailer (-1) are cut out. The bytes are moved down inside the chunk they came in, so a chunk
 * in makes at most one view out and nothing per record.
 */
class CopyBinaryText extends Transform {
  private skip = 19;
  private readonly tuple = Buffer.alloc(6);
  private tupleBytes = 0;
  private fieldLeft = 0;
  private ended = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let read = 0;
    let write = 0;
    while (read < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - read);
        this.skip -= n;
        read += n;
      } else if (this.fieldLeft > 0) {
        const n = Math.min(this.fieldLeft, chunk.length - read);
        if (write !== read) chunk.copy(chunk, write, read, read + n);
        write += n;
        read += n;
        this.fieldLeft -= n;
      } else {
        const want = this.tupleBytes < 2 ? 2 : 6;
        const n = Math.min(want - this.tupleBytes, chunk.length - read);
        chunk.copy(this.tuple, this.tupleBytes, read, read + n);
        this.tupleBytes += n;
        read += n;
        if (this.tupleBytes === 2 && this.tuple.readInt16BE(0) === -1) this.ended = true;
        else if (this.tupleBytes === 6) {
          this.fieldLeft = this.tuple.readInt32BE(2);
          this.tupleBytes = 0;
        }
      }
    }
    if (write > 0) this.push(chunk.subarray(0, write));
    done();
  }
}

export interface WalletTransactionsExport {
  walletId: string;
  currency: string;
  /** CSV records (CRLF-ended), oldest first (creation time, then id), in chunks as they come. */
  chunks: AsyncGenerator<Buffer, void, undefined>;
}

/**
 * Checks the wallet (WALLET_NOT_FOUND before anything is sent), then yields its transactions
 * created after `from` up to `to` included (either may be left out). Stopping the generator early
 * (`return()`) ends the connection (it is mid-COPY, so it never goes back to the pool).
 */
export async function exportWalletTransactions(
  em: EntityManager,
  organizationId: string,
  input: { walletId: string; from?: Date | undefined; to?: Date | undefined },
): Promise<WalletTransactionsExport> {
  const wallet = await getWalletOrFail(em, organizationId, input.walletId);
  const currency = wallet.currency;
  const exponent = currencyExponent(currency);
  const settings = JSON.stringify({
    organization: organizationId,
    wallet: wallet.id,
    after: input.from?.toISOString() ?? '-infinity',
    upTo: input.to?.toISOString() ?? 'infinity',
    scale: (10n ** BigInt(exponent)).toString(),
    exponent,
    currency,
  });
  async function* chunks(): AsyncGenerator<Buffer, void, undefined> {
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
    let finished = false;
    try {
      await client.query('begin');
      await client.query({ ...SET_EXPORT, values: [settings] });
      const copy = client.query(copyTo(COPY_STATEMENT));
      const records = copy.pipe(new CopyBinaryText());
      copy.on('error', (error) => records.destroy(error));
      for await (const chunk of records) yield chunk as Buffer;
      await client.query('commit');
      finished = true;
    } finally {
      if (!finished) await (client as pg.Client).end().catch(() => undefined);
      release();
      await held;
    }
  }
  return { walletId: wallet.id, currency, chunks: chunks() };
}
