/**
 * A tiny path router (the console has a handful of routes): the URL is the state, links push history
 * entries, Back and Forward work, and the server answers every client route with index.html.
 */
import { type AnchorHTMLAttributes, createContext, type MouseEvent, type ReactNode, useCallback, useContext, useEffect, useState } from 'react';

interface Location {
  path: string;
  navigate(to: string): void;
}

const RouterContext = createContext<Location>({ path: '/', navigate: () => undefined });

export function RouterProvider({ children }: { children: ReactNode }) {
  const [path, setPath] = useState(() => window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const navigate = useCallback((to: string) => {
    window.history.pushState(null, '', to);
    setPath(new URL(to, window.location.href).pathname);
  }, []);
  return <RouterContext.Provider value={{ path, navigate }}>{children}</RouterContext.Provider>;
}

export function useLocation(): Location {
  return useContext(RouterContext);
}

export type Route =
  | { name: 'customers' }
  | { name: 'customer'; externalId: string }
  | { name: 'wallet'; id: string }
  | { name: 'reports' }
  | { name: 'operations' }
  | { name: 'not-found' };

export function matchRoute(path: string): Route {
  if (path === '/' || path === '/customers') return { name: 'customers' };
  if (path === '/reports') return { name: 'reports' };
  if (path === '/operations') return { name: 'operations' };
  const wallet = /^\/wallets\/([^/]+)\/?$/.exec(path);
  if (wallet?.[1]) return { name: 'wallet', id: decodeURIComponent(wallet[1]) };
  const customer = /^\/customers\/([^/]+)\/?$/.exec(path);
  if (customer?.[1]) return { name: 'customer', externalId: decodeURIComponent(customer[1]) };
  return { name: 'not-found' };
}

export const customerPath = (externalId: string) => `/customers/${encodeURIComponent(externalId)}`;
export const walletPath = (id: string) => `/wallets/${encodeURIComponent(id)}`;

/** A real link (opens in a new tab, copyable) that navigates in place on a plain click. */
export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const { navigate } = useLocation();
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
