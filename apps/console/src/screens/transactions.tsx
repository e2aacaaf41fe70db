/** A wallet's transactions, newest first, with their status (pending, settled, failed). */
import { useInfiniteQuery } from '@tanstack/react-query';
import { queryKeys, useClient, type Wallet } from '../api.js';
import { formatCredits, formatMoney, formatTime } from '../format.js';
import { QueryError } from './query-error.js';

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

export function TransactionsTable({ wallet }: { wallet: Wallet }) {
  const client = useClient();
  const transactions = useInfiniteQuery({
    queryKey: queryKeys.transactions(wallet.id),
    queryFn: ({ pageParam }) => client.walletTransactions.list.query({ walletId: wallet.id, cursor: pageParam, limit: 50 }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
  const items = transactions.data?.pages.flatMap((page) => page.items) ?? [];
  const captionId = `transactions-${wallet.id}`;

  return (
    <div className="transactions">
      <QueryError query={transactions} what="transactions" />
      {transactions.isPending ? <p aria-live="polite">Loading transactions…</p> : null}
      {transactions.isSuccess && items.length === 0 ? <p>No transactions yet.</p> : null}
      {items.length > 0 ? (
        <table aria-labelledby={captionId}>
          <caption id={captionId}>Transactions of {wallet.name || wallet.code}</caption>
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">Direction</th>
              <th scope="col">Kind</th>
              <th scope="col">Source</th>
              <th scope="col">Credits</th>
              <th scope="col">Amount</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {items.map((tx) => (
              <tr key={tx.id} data-status={tx.status}>
                <td>{formatTime(tx.createdAt)}</td>
                <td>{tx.transactionType === 'inbound' ? 'In' : 'Out'}</td>
                <td>
                  {KIND_LABELS[tx.transactionStatus] ?? tx.transactionStatus}
                  {tx.name ? ` · ${tx.name}` : ''}
                </td>
                <td>{SOURCE_LABELS[tx.source] ?? tx.source}</td>
                <td>{formatCredits(tx.creditAmount)}</td>
                <td>{formatMoney(tx.amountCents, tx.currency)}</td>
                <td>
                  <span className={`badge badge-${tx.status}`}>
                    {tx.status === 'pending' ? 'Pending' : tx.status === 'settled' ? 'Settled' : 'Failed'}
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {transactions.hasNextPage ? (
        <button type="button" onClick={() => transactions.fetchNextPage()} disabled={transactions.isFetchingNextPage}>
          Load more transactions
        </button>
      ) : null}
    </div>
  );
}
