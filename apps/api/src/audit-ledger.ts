/**
 * `pnpm audit:ledger`: runs the ledger audit (@wallets/db audit.ts, its own SQL over every wallet
 * of every organization) against DATABASE_URL, or else against the embedded database `pnpm start`
 * uses (reached where it runs, or started for the audit and stopped after). Prints the problems,
 * grouped by organization, and exits 1; prints a summary and exits 0 when the ledger is sound;
 * exits 2 when it cannot audit at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  auditLedger,
  type CurrencyBalance,
  defaultDataRoot,
  type EmbeddedPostgres,
  type LedgerMismatch,
  ledgerSummary,
  startEmbeddedPostgres,
  withDatabase,
} from '@wallets/db';
import { readEnv, repositoryRoot } from './env.js';

/** The database of the default embedded cluster, and how to let it go after the audit. */
async function embeddedDatabase(dataRoot: string): Promise<{ url: string; release(): Promise<void> }> {
  const dataDir = path.join(dataRoot, 'pg');
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    throw new Error(`DATABASE_URL is not set and there is no embedded database in ${dataDir} (run \`pnpm start\` once, or set DATABASE_URL)`);
  }
  const port = runningPort(dataDir);
  if (port !== null) return { url: `postgres://postgres@127.0.0.1:${port}/wallets`, release: async () => undefined };
  const server: EmbeddedPostgres = await startEmbeddedPostgres({ dataDir });
  return { url: withDatabase(server.url, 'wallets'), release: () => server.stop() };
}

/** The port of the cluster's running server (postmaster.pid line 4), or null when none runs. */
function runningPort(dataDir: string): number | null {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return null;
  const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return null;
  try {
    process.kill(pid, 0);
    return port;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? port : null;
  }
}

/** host:port/database, without credentials. */
function describeDatabase(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}

function report(problems: LedgerMismatch[]): string {
  const byOrganization = new Map<string, LedgerMismatch[]>();
  for (const problem of problems) byOrganization.set(problem.organizationId, [...(byOrganization.get(problem.organizationId) ?? []), problem]);
  const lines: string[] = [];
  for (const [organizationId, list] of byOrganization) {
    lines.push(`organization ${organizationId} (${list.length} problem${list.length === 1 ? '' : 's'})`);
    for (const problem of list) lines.push(`  wallet ${problem.walletId}: ${problem.problem}`);
  }
  return lines.join('\n');
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** Per currency, never added across currencies; credits per rate, never added across rates. */
function describeBalances(balances: CurrencyBalance[]): string {
  if (balances.length === 0) return 'No wallets, no balances.';
  const parts = balances.map(
    (b) =>
      `${b.currency} ${b.balanceCents} cents in ${plural(b.wallets, 'wallet')} (` +
      b.byRate.map((r) => `${r.creditsBalance} credits at ${r.rateAmount}`).join(', ') +
      ')',
  );
  return `Balances: ${parts.join('; ')}.`;
}

async function main(): Promise<number> {
  const env = readEnv();
  const target = env.DATABASE_URL
    ? { url: env.DATABASE_URL, release: async () => undefined }
    : await embeddedDatabase(env.WALLET_DATA_DIR ?? defaultDataRoot(repositoryRoot));
  try {
    const name = describeDatabase(target.url);
    const problems = await auditLedger(target.url);
    if (problems.length > 0) {
      console.log(`Ledger audit of ${name}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
      console.log(report(problems));
      return 1;
    }
    const s = await ledgerSummary(target.url);
    console.log(
      `Ledger audit of ${name}: clean. ${s.organizations} organizations, ${s.wallets} wallets, ${s.transactions} transactions, ` +
        `${s.consumptions} consumptions, ${s.events} events. ${describeBalances(s.balances)}`,
    );
    return 0;
  } finally {
    await target.release();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`audit:ledger could not run: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
  },
);
