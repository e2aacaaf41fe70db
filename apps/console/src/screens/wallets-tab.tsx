/**
 * A customer's Wallets tab: every wallet with its balance and ongoing balance (credits and money),
 * status, priority, scope and expiration; "Add a wallet & credits"; per wallet: top up, void,
 * "Edit wallet" (Edit information, Terminate wallet) and its transactions. After each change the
 * affected queries are refreshed; live events refresh them too (see live.ts).
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef, useState } from 'react';
import { type Customer, listAllTransactions, listAllWallets, queryKeys, useClient, type Wallet, type WalletTransaction } from '../api.js';
import { addCredits, formatCredits, formatDay, formatMoney, formatRate } from '../format.js';
import { TerminateDialog, TopUpForm, VoidForm } from '../forms/transaction-forms.js';
import { FEE_TYPE_LABELS, WalletForm } from '../forms/wallet-form.js';
import { Link, walletPath } from '../router.js';
import { MenuButton } from './edit-menu.js';
import { QueryError } from './query-error.js';
import { TransactionsTable } from './transactions.js';

type Panel = 'top-up' | 'void' | 'edit' | 'terminate' | null;

export function useRefreshCustomer(customer: Customer) {
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      // Every wallet query: the customer's list and single wallets (a wallet's page).
      queryClient.invalidateQueries({ queryKey: queryKeys.allWallets }),
      queryClient.invalidateQueries({ queryKey: queryKeys.customer(customer.externalId) }),
      queryClient.invalidateQueries({ queryKey: queryKeys.allTransactions }),
    ]);
}

export function WalletsTab({ customer }: { customer: Customer }) {
  const client = useClient();
  const wallets = useQuery({ queryKey: queryKeys.wallets(customer.externalId), queryFn: () => listAllWallets(client, customer.externalId) });
  const refresh = useRefreshCustomer(customer);
  const [adding, setAdding] = useState(false);
  const [status, setStatus] = useState('');
  const addButton = useRef<HTMLButtonElement>(null);
  const closeAdd = () => {
    setAdding(false);
    requestAnimationFrame(() => addButton.current?.focus());
  };

  return (
    <div className="wallets-tab">
      <div className="toolbar">
        <h3>Wallets</h3>
        <button ref={addButton} type="button" className="primary" aria-expanded={adding} onClick={() => setAdding(true)}>
          Add a wallet & credits
        </button>
      </div>
      <p role="status" className="status">
        {status}
      </p>
      {adding ? (
        <WalletForm
          mode="create"
          customer={customer}
          onSubmit={async (input) => {
            const wallet = await client.wallets.create.mutate(input);
            await refresh();
            setStatus(`Wallet ${wallet.name || wallet.code} added.`);
          }}
          onCancel={closeAdd}
          onDone={closeAdd}
        />
      ) : null}
      <QueryError query={wallets} what="wallets" />
      {wallets.isPending ? <p aria-live="polite">Loading wallets…</p> : null}
      {wallets.isSuccess && wallets.data.length === 0 ? <p>No wallets yet.</p> : null}
      <ul className="wallet-list">
        {wallets.data?.map((wallet) => (
          <li key={wallet.id}>
            <WalletCard wallet={wallet} customer={customer} onChanged={refresh} onStatus={setStatus} />
          </li>
        ))}
      </ul>
    </div>
  );
}

function scopeText(wallet: Wallet): string {
  const { feeTypes, billableMetricCodes } = wallet.appliesTo;
  if (feeTypes.length === 0 && billableMetricCodes.length === 0) return 'All fees';
  const parts: string[] = [];
  if (feeTypes.length) parts.push(feeTypes.map((t) => FEE_TYPE_LABELS[t as keyof typeof FEE_TYPE_LABELS] ?? t).join(', '));
  if (billableMetricCodes.length) parts.push(`metrics ${billableMetricCodes.join(', ')}`);
  return parts.join('; ');
}

const SUMMARY_VERBS: Record<string, string> = { purchased: 'purchased', granted: 'granted', voided: 'voided', invoiced: 'invoiced' };

/** "10 credits granted ($50.00); 4 credits purchased ($20.00), pending payment". */
export function transactionsSummary(transactions: readonly WalletTransaction[]): string {
  return transactions
    .map((tx) => {
      const state = tx.status === 'pending' ? ', pending payment' : tx.status === 'failed' ? ', failed' : '';
      return `${formatCredits(tx.creditAmount)} ${SUMMARY_VERBS[tx.transactionStatus] ?? tx.transactionStatus} (${formatMoney(tx.amountCents, tx.currency)})${state}`;
    })
    .join('; ');
}

function topUpLimitsText(wallet: Wallet): string {
  const { paidTopUpMinAmountCents: min, paidTopUpMaxAmountCents: max, currency } = wallet;
  if (min === null && max === null) return 'None';
  const parts = [
    min === null ? 'no minimum' : `minimum ${formatMoney(min, currency)}`,
    max === null ? 'no maximum' : `maximum ${formatMoney(max, currency)}`,
  ];
  return `${parts.join(', ')} per paid top-up`.replace(/^./, (c) => c.toUpperCase());
}

/** Purchased credits waiting for their payment: not in the balance until it succeeds. */
function PendingPurchases({ wallet }: { wallet: Wallet }) {
  const client = useClient();
  const pending = useQuery({
    queryKey: queryKeys.pendingPurchases(wallet.id),
    queryFn: () => listAllTransactions(client, { walletId: wallet.id, status: 'pending', transactionStatus: 'purchased' }),
  });
  if (pending.isPending) return <>Loading…</>;
  if (pending.isError) return <>Could not load the pending purchases.</>;
  const items = pending.data;
  if (items.length === 0) return <>None</>;
  const credits = items.reduce((sum, tx) => addCredits(sum, tx.creditAmount), '0');
  const cents = items.reduce((sum, tx) => sum + BigInt(tx.amountCents), 0n);
  return (
    <>
      {formatCredits(credits)} · {formatMoney(Number(cents), wallet.currency)} (
      {items.length === 1 ? '1 top-up awaits' : `${items.length} top-ups await`} payment)
    </>
  );
}

export function WalletCard({
  wallet,
  customer,
  onChanged,
  onStatus,
  onItsPage = false,
}: {
  wallet: Wallet;
  customer: Customer;
  onChanged(): Promise<unknown>;
  onStatus(text: string): void;
  /** On the wallet's own page: no link to it, and its transactions are shown there. */
  onItsPage?: boolean;
}) {
  const client = useClient();
  const [panel, setPanel] = useState<Panel>(null);
  const [showTransactions, setShowTransactions] = useState(false);
  const cardRef = useRef<HTMLElement>(null);
  // What the last change did, for the confirmation (set by onSubmit, read by onDone).
  const resultStatus = useRef('');
  const title = wallet.name || wallet.code;
  const titleId = `wallet-${wallet.id}-title`;
  const active = wallet.status === 'active';
  const close = () => {
    setPanel(null);
    requestAnimationFrame(() => cardRef.current?.querySelector<HTMLElement>('.wallet-actions button')?.focus());
  };
  const done = (text: string) => () => {
    onStatus(text);
    close();
  };

  return (
    <article ref={cardRef} className={`wallet wallet-${wallet.status}`} aria-labelledby={titleId} data-wallet-id={wallet.id}>
      <header>
        <h4 id={titleId}>{title}</h4>
        <span className={`badge badge-${wallet.status}`}>{active ? 'Active' : 'Terminated'}</span>
        {onItsPage ? null : (
          <Link to={walletPath(wallet.id)} className="push-right">
            Open wallet page <span className="visually-hidden">of {title}</span>
          </Link>
        )}
      </header>
      <dl className="facts">
        <dt>Balance</dt>
        <dd data-testid="balance">
          {formatCredits(wallet.creditsBalance)} · {formatMoney(wallet.balanceCents, wallet.currency)}
        </dd>
        <dt>Ongoing balance</dt>
        <dd data-testid="ongoing-balance">
          {formatCredits(wallet.creditsOngoingBalance)} · {formatMoney(wallet.ongoingBalanceCents, wallet.currency)}
        </dd>
        <dt>Pending purchases</dt>
        <dd data-testid="pending-purchases">
          <PendingPurchases wallet={wallet} />
        </dd>
        <dt>Paid top-up limits</dt>
        <dd data-testid="top-up-limits">{topUpLimitsText(wallet)}</dd>
        <dt>Credit value</dt>
        <dd>1 credit = {formatRate(wallet.rateAmount, wallet.currency)}</dd>
        <dt>Priority</dt>
        <dd>{wallet.priority}</dd>
        <dt>Scope</dt>
        <dd>{scopeText(wallet)}</dd>
        <dt>{active ? 'Expiration' : 'Terminated'}</dt>
        <dd data-testid="expiration">{active ? formatDay(wallet.expirationAt) : formatDay(wallet.terminatedAt)}</dd>
        <dt>Top-up invoices</dt>
        <dd>{wallet.invoiceRequiresSuccessfulPayment ? 'Only after a successful payment' : 'At once'}</dd>
        <dt>Code</dt>
        <dd>{wallet.code}</dd>
      </dl>
      <div className="actions wallet-actions">
        {active ? (
          <>
            <button type="button" aria-expanded={panel === 'top-up'} onClick={() => setPanel('top-up')}>
              Top up
            </button>
            <button type="button" aria-expanded={panel === 'void'} onClick={() => setPanel('void')}>
              Void credits
            </button>
            <MenuButton
              label="Edit wallet"
              items={[
                { label: 'Edit information', onSelect: () => setPanel('edit') },
                { label: 'Terminate wallet', onSelect: () => setPanel('terminate'), danger: true },
              ]}
            />
          </>
        ) : null}
        {onItsPage ? null : (
          <button type="button" aria-expanded={showTransactions} onClick={() => setShowTransactions((s) => !s)}>
            {showTransactions ? 'Hide transactions' : 'Show transactions'}
          </button>
        )}
      </div>
      {panel === 'top-up' ? (
        <TopUpForm
          wallet={wallet}
          onSubmit={async (input) => {
            const { transactions } = await client.walletTransactions.create.mutate(input);
            resultStatus.current = `Wallet ${title} topped up: ${transactionsSummary(transactions)}.`;
            await onChanged();
          }}
          onCancel={close}
          onDone={() => done(resultStatus.current)()}
        />
      ) : null}
      {panel === 'void' ? (
        <VoidForm
          wallet={wallet}
          onSubmit={async (input) => {
            const { transactions } = await client.walletTransactions.create.mutate(input);
            resultStatus.current = `Wallet ${title}: ${transactionsSummary(transactions)}.`;
            await onChanged();
          }}
          onCancel={close}
          onDone={() => done(resultStatus.current)()}
        />
      ) : null}
      {panel === 'edit' ? (
        <WalletForm
          mode="edit"
          customer={customer}
          wallet={wallet}
          onSubmit={async (input) => {
            const updated = await client.wallets.update.mutate(input);
            const newTitle = updated.name || updated.code;
            resultStatus.current = newTitle === title ? `Wallet ${title} updated.` : `Wallet ${title} renamed to ${newTitle}.`;
            await onChanged();
          }}
          onCancel={close}
          onDone={() => done(resultStatus.current)()}
        />
      ) : null}
      {panel === 'terminate' ? (
        <TerminateDialog
          wallet={wallet}
          onSubmit={async () => {
            await client.wallets.terminate.mutate({ id: wallet.id });
            await onChanged();
          }}
          onCancel={close}
          onDone={done(
            `Wallet ${title} terminated: ${formatCredits(wallet.creditsBalance)} (${formatMoney(wallet.balanceCents, wallet.currency)}) voided.`,
          )}
        />
      ) : null}
      {showTransactions ? <TransactionsTable wallet={wallet} /> : null}
    </article>
  );
}
