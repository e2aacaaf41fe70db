/** The customers list with search by external id, a page at a time. */
import { useInfiniteQuery } from '@tanstack/react-query';
import { useDeferredValue, useId, useState } from 'react';
import { queryKeys, useClient } from '../api.js';
import { formatDay } from '../format.js';
import { customerPath, Link } from '../router.js';
import { QueryError } from './query-error.js';

export function Customers() {
  const client = useClient();
  const [search, setSearch] = useState('');
  const searchId = useId();
  // Typing stays responsive; the list follows with a deferred value.
  const term = useDeferredValue(search.trim());
  const customers = useInfiniteQuery({
    queryKey: queryKeys.customers(term),
    queryFn: ({ pageParam }) => client.customers.list.query({ search: term || undefined, cursor: pageParam, limit: 50 }),
    initialPageParam: null as string | null,
    getNextPageParam: (page) => page.nextCursor,
  });
  const items = customers.data?.pages.flatMap((page) => page.items) ?? [];

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
        <table>
          <caption className="visually-hidden">Customers</caption>
          <thead>
            <tr>
              <th scope="col">Customer</th>
              <th scope="col">Currency</th>
              <th scope="col">Time zone</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {items.map((customer) => (
              <tr key={customer.id}>
                <th scope="row">
                  <Link to={customerPath(customer.externalId)}>{customer.externalId}</Link>
                </th>
                <td>{customer.currency ?? 'Not set'}</td>
                <td>{customer.timezone}</td>
                <td>{formatDay(customer.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {customers.hasNextPage ? (
        <button type="button" onClick={() => customers.fetchNextPage()} disabled={customers.isFetchingNextPage}>
          Load more customers
        </button>
      ) : null}
    </section>
  );
}
