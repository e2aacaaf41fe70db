/** Public surface of the api package (the router type is what sibling apps compile against). */

export { type RunningApp, startApp } from './app.js';
export {
  createWalletClient,
  isWalletError,
  type RouterInputs,
  type RouterOutputs,
  WALLET_ERROR_CODES,
  type WalletClient,
  type WalletClientError,
  type WalletCodedError,
  type WalletErrorCode,
} from './client/index.js';
export { readEnv } from './env.js';
export { createInProcessWalletClient } from './in-process.js';
export { JobRunner } from './jobs/runner.js';
export type { AppRouter } from './router.js';
export { appRouter } from './router.js';
export { type AppServices, type Clock, systemClock } from './trpc.js';
