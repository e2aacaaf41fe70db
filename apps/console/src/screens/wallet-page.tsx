/**
 * A wallet's page: its card (balances, pending purchases, limits, actions), its balance over time
 * (a chart and the same points in a table) and its transactions with a running balance and a CSV
 * download.
 */
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { currentWallet, downloadCsv, queryKeys, useClient, type Wallet } from '../api.js';
import { customerPath, Link } from '../router.js';
import { BalanceHistory } from './balance-history.js';
import { QueryError } from './query-error.js';
import { TransactionsTable } from './transactions.js';
import { useRefreshCustomer, WalletCard } from './wallets-tab.js';

export function WalletPage({ id }: { id: string }) {
  const client = useClient();
  const wallet = useQuery({ queryKey: queryKeys.wallet(id), queryFn: async () => currentWallet(await client.wallets.get.query({ id })) });
  const externalId = wallet.data?.externalCustomerId;
  const customer = useQuery({
    queryKey: queryKeys.customer(externalId ?? ''),
    queryFn: () => client.customers.get.query({ externalId: externalId ?? '' }),
    enabled: externalId !== undefined,
  });
  const [status, setStatus] = useState('');
  const title = wallet.data ? wallet.data.name || wallet.data.code : 'Wallet';

  return (
    <section aria-labelledby="wallet-title">
      <nav aria-label="Breadcrumb">
        <Link to="/">Customers</Link> / {externalId ? <Link to={customerPath(externalId)}>{externalId}</Link> : '…'} /{' '}
        <span aria-current="page">{title}</span>
      </nav>
      <h2 id="wallet-title">Wallet {title}</h2>
      <QueryError query={wallet} what="wallet" />
      <QueryError query={customer} what="customer" />
      <p role="status" className="status">
        {status}
      </p>
      {wallet.data && customer.data ? (
        <>
          <WalletPageCard wallet={wallet.data} customer={customer.data} onStatus={setStatus} />
          <BalanceHistory wallet={wallet.data} />
          <section aria-labelledby="wallet-transactions-title">
            <h3 id="wallet-transactions-title">Transactions</h3>
            <TransactionsTable wallet={wallet.data}>
              <DownloadTransactions wallet={wallet.data} />
            </TransactionsTable>
          </section>
        </>
      ) : wallet.isPending || customer.isPending ? (
        <p aria-live="polite">Loading…</p>
      ) : null}
    </section>
  );
}

/** The wallet's transactions as CSV, every row (the export of the API, oldest first). */
function DownloadTransactions({ wallet }: { wallet: Wallet }) {
  const [state, setState] = useState<{ pending: boolean; error: string | null }>({ pending: false, error: null });
  const download = async () => {
    setState({ pending: true, error: null });
    try {
      await downloadCsv('/exports/wallet-transactions.csv', { walletId: wallet.id }, `wallet-${wallet.code}-transactions.csv`);
      setState({ pending: false, error: null });
    } catch (error) {
      setState({ pending: false, error: error instanceof Error ? error.message : String(error) });
    }
  };
  return (
    <>
      <button type="button" onClick={download} disabled={state.pending}>
        Download CSV
      </button>
      {state.error ? (
        <p className="form-error" role="alert">
          {state.error}
        </p>
      ) : null}
    </>
  );
}

function WalletPageCard(props: Omit<Parameters<typeof WalletCard>[0], 'onChanged' | 'onItsPage'>) {
  const refresh = useRefreshCustomer(props.customer);
  return <WalletCard {...props} onChanged={refresh} onItsPage />;
}
