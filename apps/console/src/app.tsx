/**
 * The console shell: sign-in, then the signed-in layout with its routes. The API key is kept in
 * sessionStorage; signing out (or closing the browser session) forgets it and every cached query.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { ClientContext, clientFor, storeApiKey, storedApiKey } from './api.js';
import { EventLogContext, forgetLastEventId, LiveStatus, useLiveEvents } from './live.js';
import { Link, matchRoute, RouterProvider, useLocation } from './router.js';
import { CustomerPage } from './screens/customer.js';
import { Customers } from './screens/customers.js';
import { Operations } from './screens/operations.js';
import { Reports } from './screens/reports.js';
import { SignIn } from './screens/sign-in.js';
import { WalletPage } from './screens/wallet-page.js';

function newQueryClient(): QueryClient {
  // Live events refresh what changed; no polling, no refetch on focus.
  return new QueryClient({ defaultOptions: { queries: { staleTime: Number.POSITIVE_INFINITY, refetchOnWindowFocus: false, retry: 1 } } });
}

export function App() {
  const [apiKey, setApiKey] = useState(storedApiKey);
  return (
    <RouterProvider>
      {apiKey ? (
        <SignedIn
          key={apiKey}
          apiKey={apiKey}
          onSignOut={() => {
            storeApiKey(null);
            forgetLastEventId();
            setApiKey(null);
          }}
        />
      ) : (
        <SignIn
          onSignedIn={(key) => {
            storeApiKey(key);
            setApiKey(key);
          }}
        />
      )}
    </RouterProvider>
  );
}

function SignedIn({ apiKey, onSignOut }: { apiKey: string; onSignOut(): void }) {
  const client = useMemo(() => clientFor(apiKey), [apiKey]);
  const [queryClient] = useState(newQueryClient);
  return (
    <ClientContext.Provider value={client}>
      <QueryClientProvider client={queryClient}>
        <Layout onSignOut={onSignOut} />
      </QueryClientProvider>
    </ClientContext.Provider>
  );
}

function Layout({ onSignOut }: { onSignOut(): void }) {
  const { path } = useLocation();
  const route = matchRoute(path);
  const live = useLiveEvents();
  const navLink = (to: string, label: string, current: boolean) => (
    <Link to={to} aria-current={current ? 'page' : undefined}>
      {label}
    </Link>
  );
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <p className="brand">
          <Link to="/">Wallets console</Link>
        </p>
        <nav aria-label="Main">
          {navLink('/', 'Customers', route.name === 'customers' || route.name === 'customer' || route.name === 'wallet')}
          {navLink('/reports', 'Reports', route.name === 'reports')}
          {navLink('/operations', 'Operations', route.name === 'operations')}
        </nav>
        <LiveStatus state={live.state} />
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <EventLogContext.Provider value={live.events}>
        <main id="main" tabIndex={-1}>
          {route.name === 'customers' ? <Customers /> : null}
          {route.name === 'customer' ? <CustomerPage key={route.externalId} externalId={route.externalId} /> : null}
          {route.name === 'wallet' ? <WalletPage key={route.id} id={route.id} /> : null}
          {route.name === 'reports' ? <Reports /> : null}
          {route.name === 'operations' ? <Operations /> : null}
          {route.name === 'not-found' ? (
            <section>
              <h2>Page not found</h2>
              <p>
                <Link to="/">Back to the customers</Link>
              </p>
            </section>
          ) : null}
        </main>
      </EventLogContext.Provider>
    </>
  );
}
