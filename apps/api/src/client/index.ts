/**
 * The typed client for host and sibling apps: over HTTP with an API key, or in-process through the
 * router itself (same types, same validation, same errors, no network).
 *
 * Subscriptions (`events.onEvent`) go over Server-Sent Events. A browser's EventSource cannot send
 * headers, so the key travels in `connectionParams` there; Node 20 has no global EventSource, so
 * the one from the `eventsource` package (which also runs in browsers) stands in.
 */
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { EventSource as EventSourcePolyfill } from 'eventsource';
import type { AppRouter } from '../router.js';
import { transformer } from '../transformer.js';

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type WalletClient = TRPCClient<AppRouter>;

export function createWalletClient({ url, apiKey }: { url: string; apiKey: string }): WalletClient {
  const base = url.replace(/\/+$/, '');
  const trpcUrl = base.endsWith('/trpc') ? base : `${base}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: trpcUrl,
          transformer,
          EventSource: globalThis.EventSource ?? EventSourcePolyfill,
          connectionParams: () => ({ apiKey }),
        }),
        false: httpLink({ url: trpcUrl, transformer, headers: () => ({ authorization: `Bearer ${apiKey}` }) }),
      }),
    ],
  });
}
