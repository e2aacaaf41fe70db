import { adminRouter } from './routers/admin.js';
import { apiKeysRouter } from './routers/api-keys.js';
import { customersRouter } from './routers/customers.js';
import { eventsRouter } from './routers/events.js';
import { invoicesRouter } from './routers/invoices.js';
import { reportsRouter } from './routers/reports.js';
import { usageRouter } from './routers/usage.js';
import { walletTransactionsRouter } from './routers/wallet-transactions.js';
import { walletsRouter } from './routers/wallets.js';
import { webhooksRouter } from './routers/webhooks.js';
import { router } from './trpc.js';

export const appRouter = router({
  admin: adminRouter,
  apiKeys: apiKeysRouter,
  customers: customersRouter,
  wallets: walletsRouter,
  walletTransactions: walletTransactionsRouter,
  events: eventsRouter,
  invoices: invoicesRouter,
  reports: reportsRouter,
  usage: usageRouter,
  webhooks: webhooksRouter,
});

export type AppRouter = typeof appRouter;
