/**
 * The typed client for host and sibling apps: over HTTP with an API key, or in-process through the
 * router itself (same types, same validation, same errors, no network).
 *
 * Subscriptions (`events.onEvent`) go over Server-Sent Events. A browser's EventSource cannot send
 * headers, so the key travels in `connectionParams` there; Node 20 has no global EventSource, so
 * the one from the `eventsource` package (which also runs in browsers) stands in.
 */
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCClient, TRPCClientError } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { WALLET_ERROR_CODES, type WalletErrorCode } from '@wallets/core';
import { EventSource as EventSourcePolyfill } from 'eventsource';
import type { AppRouter } from '../router.js';
import { transformer } from '../transformer.js';

export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type WalletClient = TRPCClient<AppRouter>;
export { WALLET_ERROR_CODES, type WalletErrorCode };

/** What a failed call of this client throws: a tRPC client error typed by our router. */
export type WalletClientError = TRPCClientError<AppRouter>;

/** A failed call refused with a wallet error code (`code`, or any code when left out). */
export type WalletCodedError<C extends WalletErrorCode = WalletErrorCode> = WalletClientError & {
  readonly data: NonNullable<WalletClientError['data']> & { walletErrorCode: C };
};

const KNOWN_CODES: ReadonlySet<string> = new Set(WALLET_ERROR_CODES);

/**
 * Narrows what a call threw: true when it is a tRPC client error whose `data.walletErrorCode` is
 * `code` (or, without `code`, any wallet error code), so `error.data.walletErrorCode`,
 * `error.data.details` and `error.data.issues` are typed after it. Works the same for the HTTP
 * and the in-process client.
 *
 * ```ts
 * try { await wallets.invoices.applyPrepaidCredits.mutate({ invoice }); }
 * catch (error) { if (isWalletError(error, 'INVOICE_VOIDED')) return null; throw error; }
 * ```
 */
export function isWalletError<C extends WalletErrorCode = WalletErrorCode>(error: unknown, code?: C): error is WalletCodedError<C> {
  if (!(error instanceof TRPCClientError)) return false;
  const walletErrorCode: unknown = (error.data as { walletErrorCode?: unknown } | undefined)?.walletErrorCode;
  if (typeof walletErrorCode !== 'string' || !KNOWN_CODES.has(walletErrorCode)) return false;
  return code === undefined || walletErrorCode === code;
}

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
