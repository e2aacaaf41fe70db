/**
 * The same typed client, in-process: for a host that runs the router inside its own process.
 */
import { createTRPCClient, localLink } from '@trpc/client';
import type { WalletClient } from './client/index.js';
import { appRouter } from './router.js';
import { transformer } from './transformer.js';
import { type AppServices, createContextInner } from './trpc.js';

export function createInProcessWalletClient(services: AppServices, apiKey: string): WalletClient {
  return createTRPCClient({
    links: [localLink({ router: appRouter, transformer, createContext: async () => createContextInner(services, apiKey) })],
  }) as WalletClient;
}
