/**
 * The console's only way to the API: the typed client (`@wallets/api/client`), holding the API key
 * of this browser session. The key lives in sessionStorage, so it is gone when the browser session
 * ends. Wire types come from the router; nothing here is written by hand.
 */
import { createWalletClient, type RouterInputs, type RouterOutputs, type WalletClient } from '@wallets/api/client';
import { createContext, useContext } from 'react';

export type { RouterInputs, RouterOutputs, WalletClient };
export type Customer = RouterOutputs['customers']['get'];
/** A wallet as it is now (`wallets.list` items; `wallets.get` with `asOf` answers a past balance instead). */
export type Wallet = RouterOutputs['wallets']['list']['items'][number];

/** `wallets.get` without `asOf` answers the wallet as it is now: narrows its type to that. */
export function currentWallet(answer: RouterOutputs['wallets']['get']): Wallet {
  if ('asOf' in answer) throw new Error('wallets.get answered a past balance to a read of the present');
  return answer;
}
export type WalletTransaction = RouterOutputs['walletTransactions']['get'];
export type CreateWalletInput = RouterInputs['wallets']['create'];
export type UpdateWalletInput = RouterInputs['wallets']['update'];
export type CreateTransactionsInput = RouterInputs['walletTransactions']['create'];

const STORAGE_KEY = 'wallets-console.apiKey';

export function storedApiKey(): string | null {
  return window.sessionStorage.getItem(STORAGE_KEY);
}

export function storeApiKey(apiKey: string | null): void {
  if (apiKey === null) window.sessionStorage.removeItem(STORAGE_KEY);
  else window.sessionStorage.setItem(STORAGE_KEY, apiKey);
}

/** The API is served from the same origin as the console. */
export function clientFor(apiKey: string): WalletClient {
  return createWalletClient({ url: window.location.origin, apiKey });
}

export const ClientContext = createContext<WalletClient | null>(null);

export function useClient(): WalletClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useClient outside a signed-in session');
  return client;
}

/** Query keys, in one place so mutations and live events refresh the same entries. */
export const queryKeys = {
  customers: (search: string) => ['customers', search] as const,
  allCustomers: ['customers'] as const,
  allReports: ['report'] as const,
  customer: (externalId: string) => ['customer', externalId] as const,
  wallets: (externalCustomerId: string) => ['wallets', externalCustomerId] as const,
  allWallets: ['wallets'] as const,
  transactions: (walletId: string) => ['transactions', walletId] as const,
  /** Under a wallet's transactions: a new transaction changes its history too. */
  balanceHistory: (walletId: string, period: string) => ['transactions', walletId, 'history', period] as const,
  report: (currency: string, month: string, externalCustomerId: string) => ['report', currency, month, externalCustomerId] as const,
  /** Under a wallet's transactions, so whatever refreshes those refreshes this. */
  pendingPurchases: (walletId: string) => ['transactions', walletId, 'pending-purchases'] as const,
  wallet: (id: string) => ['wallets', 'by-id', id] as const,
  apiKeys: ['api-keys'] as const,
  webhookEndpoints: ['webhook-endpoints'] as const,
  webhookDeliveries: (endpointId: string) => ['webhook-deliveries', endpointId] as const,
  allTransactions: ['transactions'] as const,
};

/**
 * Downloads one of the API's CSV exports (`GET /exports/*.csv`, the API key as a bearer token) and
 * hands it to the browser as a file. The only request not made through the typed client: tRPC does
 * not carry CSV.
 */
export async function downloadCsv(
  path: '/exports/wallet-transactions.csv' | '/exports/credits-report.csv',
  params: Record<string, string>,
  fileName: string,
): Promise<void> {
  const apiKey = storedApiKey();
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  const response = await fetch(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  if (!response.ok) {
    const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new Error(body?.error?.message ?? `The export failed (HTTP ${response.status}).`);
  }
  const link = document.createElement('a');
  link.href = URL.createObjectURL(await response.blob());
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** Every wallet of a customer, active and terminated, newest first. */
export async function listAllWallets(client: WalletClient, externalCustomerId: string): Promise<Wallet[]> {
  const wallets: Wallet[] = [];
  let cursor: string | null = null;
  do {
    const page: RouterOutputs['wallets']['list'] = await client.wallets.list.query({ externalCustomerId, cursor, limit: 100 });
    wallets.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return wallets;
}

/** Every transaction of a wallet matching the filter (a few pages at most: used for pending ones). */
export async function listAllTransactions(
  client: WalletClient,
  filter: Omit<RouterInputs['walletTransactions']['list'], 'cursor' | 'limit'>,
): Promise<WalletTransaction[]> {
  const items: WalletTransaction[] = [];
  let cursor: string | null = null;
  do {
    const page: RouterOutputs['walletTransactions']['list'] = await client.walletTransactions.list.query({ ...filter, cursor, limit: 100 });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}
