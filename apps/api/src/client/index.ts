/**
 * The typed client for host and sibling apps: over HTTP with an API key, or in-process through the
 * router itself (same types, same validation, same errors, no network).
 */
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '../router.js';
import { transformer } from '../transformer.js';

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type WalletClient = TRPCClient<AppRouter>;

export function createWalletClient({ url, apiKey }: { url: string; apiKey: string }): WalletClient {
  const base = url.replace(/\/+$/, '');
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: base.endsWith('/trpc') ? base : `${base}/trpc`, transformer, headers: () => ({ authorization: `Bearer ${apiKey}` }) })],
  });
}
