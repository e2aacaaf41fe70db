/**
 * A wallet's transactions, newest first: date and time to the second, amounts right-aligned, the
 * credits balance after each one (a running balance), the invoice id, the transaction id on demand
 * and the status as a pill (pending, settled, failed).
 */
import { useInfiniteQuery } from '@tanstack/react-query';
import { type ReactNode, useState } from 'react';
import { queryKeys, useClient, type Wallet, type WalletTransaction } from '../api.js';
import { addCredits, formatCreditNumber, formatMoney, formatTime } from '../format.js';
import { QueryError } from './query-error.js';
import { TableScroll } from './table-scroll.js';

const KIND_LABELS: Record<string, string> = { purchased: 'Purchased', granted: 'Granted', voided: 'Voided', invoiced: 'Invoiced' };
const SOURCE_LABELS: Record<string, string> = {
  manual: 'Manual',
  interval: 'Recurring (interval)',
  threshold: 'Recurring (threshold)',
  expiration: 'Expiration',
  termination: 'Termination',
  invoice_void: 'Voided invoice',
  payment_failure: 'Failed payment',
};

/** Each row with the wallet's credits balance right after it (newest first, from the current balance back). */
export function withRunningBalance(items: readonly WalletTransaction[], creditsBalance: string): { tx: WalletTransaction; balanceAfter: string }[] {
  let after = creditsBalance;
  return items.map((tx) => {
    const row = { tx, balanceAfter: after };
    // Only settled transactions moved the balance; pending and failed ones never did.
    if (tx.status === 'settled') after = addCredits(after, tx.creditAmount, tx.transactionType === 'inbound' ? -1 : 1);
    return row;
  });
}

const STATUS_LABELS = { pending: 'Pending', settled: 'Settled', failed: 'Failed' } as const;

export function TransactionsTable({ wallet, children }: { wallet: Wallet; children?: ReactNode }) {
  const client = useClient();
  const [showIds, setShowIds] = useState(false);
  const transactions = useInfiniteQuery({
    queryKey: queryKeys.transactions(wallet.id),
    queryFn: ({ pageParam }) => client.walletTransactions.list.query({ walletId: wallet.id, cursor: pageParam, limit: 50 }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
  const items = transactions.data?.pages.flatMap((page) => page.items) ?? [];
  const rows = withRunningBalance(items, wallet.creditsBalance);
  const captionId = `transactions-${wallet.id}`;

  return (
    <div className="transactions">
      <QueryError query={transactions} what="transactions" />
      {transactions.isPending ? <p aria-live="polite">Loading transactions…</p> : null}
      {transactions.isSuccess && items.length === 0 ? <p>No transactions yet.</p> : null}
      {items.length > 0 ? (
        <>
          <div className="toolbar">
            <p className="hint">Balance after: the wallet's credits right after each transaction; pending and failed ones do not move it.</p>
            <div className="actions">
              {children}
              <button type="button" aria-pressed={showIds} onClick={() => setShowIds((s) => !s)}>
                Show transaction ids
              </button>
            </div>
          </div>
          <TableScroll label={`Transactions of ${wallet.name || wallet.code}`}>
            <table aria-labelledby={captionId} className="numbers">
              <caption id={captionId}>Transactions of {wallet.name || wallet.code}</caption>
              <thead>
                <tr>
                  <th scope="col">Date</th>
                  <th scope="col">Direction</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Source</th>
                  <th scope="col" className="num">
                    Credits
                  </th>
                  <th scope="col" className="num">
                    Amount
                  </th>
                  <th scope="col" className="num">
                    Balance after
                  </th>
                  <th scope="col">Status</th>
                  <th scope="col">Invoice</th>
                  {showIds ? <th scope="col">Transaction id</th> : null}
                </tr>
              </thead>
              <tbody>
                {rows.map(({ tx, balanceAfter }) => (
                  <tr key={tx.id} data-status={tx.status} data-transaction-id={tx.id}>
                    <td>
                      <time dateTime={tx.createdAt.toISOString()}>{formatTime(tx.createdAt)}</time>
                    </td>
                    <td>{tx.transactionType === 'inbound' ? 'In' : 'Out'}</td>
                    <td>
                      {KIND_LABELS[tx.transactionStatus] ?? tx.transactionStatus}
                      {tx.name ? ` · ${tx.name}` : ''}
                    </td>
                    <td>{SOURCE_LABELS[tx.source] ?? tx.source}</td>
                    <td className="num" data-column="credits">
                      {tx.transactionType === 'outbound' ? '−' : ''}
                      {formatCreditNumber(tx.creditAmount)}
                    </td>
                    <td className="num">
                      {tx.transactionType === 'outbound' ? '−' : ''}
                      {formatMoney(tx.amountCents, tx.currency)}
                    </td>
                    <td className="num" data-column="balance-after">
                      {formatCreditNumber(balanceAfter)}
                    </td>
                    <td>
                      <span className={`pill pill-${tx.status}`}>{STATUS_LABELS[tx.status]}</span>
                    </td>
                    <td>
                      {tx.invoiceId ? (
                        <code>{tx.invoiceId}</code>
                      ) : tx.voidedInvoiceId ? (
                        <>
                          voids <code>{tx.voidedInvoiceId}</code>
                        </>
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                    {showIds ? (
                      <td>
                        <code>{tx.id}</code>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        </>
      ) : null}
      {transactions.hasNextPage ? (
        <button type="button" onClick={() => transactions.fetchNextPage()} disabled={transactions.isFetchingNextPage}>
          Load more transactions
        </button>
      ) : null}
    </div>
  );
}
