/**
 * The customers list with search by external id, a page at a time (Previous / Next, with the range
 * shown), and each customer's totals per currency: balance, ongoing balance and active wallets
 * (`customers.list({ includeTotals: true })`).
 */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useDeferredValue, useId, useState } from 'react';
import { queryKeys, type RouterOutputs, useClient } from '../api.js';
import { formatDay, formatMoney, LOCALE } from '../format.js';
import { customerPath, Link } from '../router.js';
import { QueryError } from './query-error.js';
import { TableScroll } from './table-scroll.js';

export const CUSTOMERS_PAGE_SIZE = 20;
type CustomerWithTotals = RouterOutputs['customers']['list']['items'][number] & {
  totals?: { currency: string; balanceCents: number; ongoingBalanceCents: number; activeWallets: number }[];
};

const count = new Intl.NumberFormat(LOCALE);

export function Customers() {
  const client = useClient();
  const [search, setSearch] = useState('');
  const searchId = useId();
  // Typing stays responsive; the list follows with a deferred value.
  const term = useDeferredValue(search.trim());
  // The cursors of the pages before the current one: Previous pops, Next pushes.
  const [pages, setPages] = useState<{ term: string; cursors: (string | null)[] }>({ term: '', cursors: [null] });
  const cursors = pages.term === term ? pages.cursors : [null];
  const cursor = cursors[cursors.length - 1] ?? null;
  const customers = useQuery({
    queryKey: [...queryKeys.customers(term), cursor],
    queryFn: () => client.customers.list.query({ search: term || undefined, cursor, limit: CUSTOMERS_PAGE_SIZE, includeTotals: true }),
    placeholderData: keepPreviousData,
  });
  const items = (customers.data?.items ?? []) as CustomerWithTotals[];
  const first = (cursors.length - 1) * CUSTOMERS_PAGE_SIZE + 1;

  return (
    <section aria-labelledby="customers-title">
      <h2 id="customers-title">Customers</h2>
      <search className="search">
        <label htmlFor={searchId}>Search customers</label>
        <input id={searchId} type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="External id" />
      </search>
      <QueryError query={customers} what="customers" />
      {customers.isPending ? <p aria-live="polite">Loading customers…</p> : null}
      {customers.isSuccess && items.length === 0 ? (
        <p>{term ? `No customer matches "${term}".` : 'No customers yet: the host app creates them (customers.upsert).'}</p>
      ) : null}
      {items.length > 0 ? (
        <>
          <p role="status" data-testid="customers-range">
            Customers {count.format(first)}–{count.format(first + items.length - 1)}
            {customers.data?.nextCursor ? '' : ` of ${count.format(first + items.length - 1)}`}
            {term ? ` matching "${term}"` : ''}
          </p>
          <TableScroll label="Customers table">
            <table className="numbers">
              <caption className="visually-hidden">Customers</caption>
              <thead>
                <tr>
                  <th scope="col">Customer</th>
                  <th scope="col">Currency</th>
                  <th scope="col" className="num">
                    Balance
                  </th>
                  <th scope="col" className="num">
                    Ongoing balance
                  </th>
                  <th scope="col" className="num">
                    Active wallets
                  </th>
                  <th scope="col">Time zone</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {items.map((customer) => {
                  const totals = customer.totals ?? [];
                  const lines = (render: (t: NonNullable<CustomerWithTotals['totals']>[number]) => string) =>
                    totals.length === 0 ? '—' : totals.map((t) => <div key={t.currency}>{render(t)}</div>);
                  return (
                    <tr key={customer.id} data-customer={customer.externalId}>
                      <th scope="row">
                        <Link to={customerPath(customer.externalId)}>{customer.externalId}</Link>
                      </th>
                      <td>{customer.currency ?? 'Not set'}</td>
                      <td className="num">{lines((t) => formatMoney(t.balanceCents, t.currency))}</td>
                      <td className="num">{lines((t) => formatMoney(t.ongoingBalanceCents, t.currency))}</td>
                      <td className="num">{totals.length === 0 ? '0' : lines((t) => count.format(t.activeWallets))}</td>
                      <td>{customer.timezone}</td>
                      <td>{formatDay(customer.createdAt)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </TableScroll>
        </>
      ) : null}
      <nav aria-label="Customer pages" className="actions">
        <button type="button" disabled={cursors.length <= 1} onClick={() => setPages({ term, cursors: cursors.slice(0, -1) })}>
          Previous page
        </button>
        <button
          type="button"
          disabled={!customers.data?.nextCursor || customers.isPlaceholderData}
          onClick={() => setPages({ term, cursors: [...cursors, customers.data?.nextCursor ?? null] })}
        >
          Next page
        </button>
      </nav>
    </section>
  );
}
