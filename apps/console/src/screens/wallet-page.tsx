/**
 * A wallet's page: its card (balances, pending purchases, limits, actions), its balance over time
 * (a chart and the same points in a table) and its transactions with a running balance and a CSV
 * download.
 */
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { currentWallet, queryKeys, useClient } from '../api.js';
import { customerPath, Link } from '../router.js';
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
          <section aria-labelledby="wallet-transactions-title">
            <h3 id="wallet-transactions-title">Transactions</h3>
            <TransactionsTable wallet={wallet.data} />
          </section>
        </>
      ) : wallet.isPending || customer.isPending ? (
        <p aria-live="polite">Loading…</p>
      ) : null}
    </section>
  );
}

function WalletPageCard(props: Omit<Parameters<typeof WalletCard>[0], 'onChanged' | 'onItsPage'>) {
  const refresh = useRefreshCustomer(props.customer);
  return <WalletCard {...props} onChanged={refresh} onItsPage />;
}
