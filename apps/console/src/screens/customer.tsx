/** One customer: its information and its Wallets tab (tabs follow the WAI-ARIA tabs pattern). */
import { useQuery } from '@tanstack/react-query';
import { type KeyboardEvent, useRef, useState } from 'react';
import { queryKeys, useClient } from '../api.js';
import { formatDay } from '../format.js';
import { Link } from '../router.js';
import { QueryError } from './query-error.js';
import { WalletsTab } from './wallets-tab.js';

const TABS = [
  { id: 'wallets', label: 'Wallets' },
  { id: 'information', label: 'Information' },
] as const;
type TabId = (typeof TABS)[number]['id'];

export function CustomerPage({ externalId }: { externalId: string }) {
  const client = useClient();
  const customer = useQuery({ queryKey: queryKeys.customer(externalId), queryFn: () => client.customers.get.query({ externalId }) });
  const [tab, setTab] = useState<TabId>('wallets');
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});

  const onTabKey = (event: KeyboardEvent) => {
    const index = TABS.findIndex((t) => t.id === tab);
    const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    event.preventDefault();
    const next = TABS[(index + step + TABS.length) % TABS.length]!;
    setTab(next.id);
    tabRefs.current[next.id]?.focus();
  };

  return (
    <section aria-labelledby="customer-title">
      <nav aria-label="Breadcrumb">
        <Link to="/">Customers</Link> / <span aria-current="page">{externalId}</span>
      </nav>
      <h2 id="customer-title">{externalId}</h2>
      <QueryError query={customer} what="customer" />
      {customer.data ? (
        <>
          <div role="tablist" aria-label="Customer sections" className="tabs">
            {TABS.map((t) => (
              <button
                key={t.id}
                ref={(el) => {
                  tabRefs.current[t.id] = el;
                }}
                type="button"
                role="tab"
                id={`tab-${t.id}`}
                aria-selected={tab === t.id}
                aria-controls={`panel-${t.id}`}
                tabIndex={tab === t.id ? 0 : -1}
                onClick={() => setTab(t.id)}
                onKeyDown={onTabKey}
              >
                {t.label}
              </button>
            ))}
          </div>
          <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} tabIndex={-1}>
            {tab === 'wallets' ? (
              <WalletsTab customer={customer.data} />
            ) : (
              <dl className="facts">
                <dt>External id</dt>
                <dd>{customer.data.externalId}</dd>
                <dt>Currency</dt>
                <dd>{customer.data.currency ?? 'Not set (the first wallet sets it)'}</dd>
                <dt>Time zone</dt>
                <dd>{customer.data.timezone}</dd>
                <dt>Created</dt>
                <dd>{formatDay(customer.data.createdAt)}</dd>
              </dl>
            )}
          </div>
        </>
      ) : customer.isPending ? (
        <p aria-live="polite">Loading…</p>
      ) : null}
    </section>
  );
}
