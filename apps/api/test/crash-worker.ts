/**
 * A job worker that the crash test kills with SIGKILL in the middle of a batch. It runs the real
 * JobRunner (concurrency 1, its own sweep as of CRASH_AS_OF) and freezes at a chosen job, so the
 * kill lands at a known point instead of a lucky one:
 * - CRASH_HOLD_MODE=transaction: inside the job's database transaction, after the ledger voids and
 *   the wallet's termination were written (`group_write`) but before the commit (the customer row
 *   is locked);
 * - CRASH_HOLD_MODE=before: after graphile-worker locked the job, before the work starts.
 * It prints `JOB <n> <walletId>` as each job starts and `HOLDING <walletId>` when it freezes.
 *
 * Run: DATABASE_URL=... CRASH_AS_OF=<iso> CRASH_HOLD_AT=<n> CRASH_HOLD_MODE=... node --import tsx test/crash-worker.ts
 */
import { openOrm } from '@wallets/db';
import { JobRunner } from '../src/jobs/runner.js';

const databaseUrl = process.env.DATABASE_URL;
const asOf = new Date(process.env.CRASH_AS_OF ?? '');
const holdAt = Number(process.env.CRASH_HOLD_AT ?? '0');
const holdMode = process.env.CRASH_HOLD_MODE ?? 'transaction';
if (!databaseUrl || Number.isNaN(asOf.getTime()) || !(holdAt > 0) || !['transaction', 'before'].includes(holdMode)) {
  throw new Error('crash-worker needs DATABASE_URL, CRASH_AS_OF, CRASH_HOLD_AT > 0 and CRASH_HOLD_MODE=transaction|before');
}

const forever = () => new Promise<never>(() => undefined);
let jobsStarted = 0;
let currentWalletId: string | null = null;

const orm = await openOrm({ databaseUrl, poolMax: 4 });
// Expiry writes through the door (one `group_write` call per transaction, on a connection of the
// ORM's pool, sent in one round trip with its COMMIT: pipelined-query.ts): at the chosen job the
// worker freezes instead of sending that write, inside the transaction its load began (the
// customer locked, nothing written).
type Connection = { query: (...args: unknown[]) => unknown };
const knex = orm.em.getConnection().getKnex() as unknown as { client: { acquireConnection(): Promise<Connection> } };
const acquire = knex.client.acquireConnection.bind(knex.client);
const watched = new WeakSet<Connection>();
knex.client.acquireConnection = async () => {
  const connection = await acquire();
  if (!watched.has(connection)) {
    watched.add(connection);
    const query = connection.query.bind(connection);
    connection.query = (...args: unknown[]) => {
      const statements = (args[0] as { statements?: { name?: string }[] } | undefined)?.statements ?? [];
      if (holdMode !== 'transaction' || jobsStarted !== holdAt || !statements.some((s) => s.name === 'group_write')) return query(...args);
      console.log(`HOLDING ${currentWalletId}`);
      return forever();
    };
  }
  return connection;
};

const runner = new JobRunner({
  orm,
  databaseUrl,
  concurrency: 1,
  now: () => asOf,
  beforeJob: async (_name, payload) => {
    jobsStarted++;
    currentWalletId = (payload as { walletId: string }).walletId;
    console.log(`JOB ${jobsStarted} ${currentWalletId}`);
    if (holdMode === 'before' && jobsStarted === holdAt) {
      console.log(`HOLDING ${currentWalletId}`);
      await forever();
    }
  },
});
await runner.start(3600);
console.log('READY');
