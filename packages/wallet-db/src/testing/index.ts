/**
 * Test support: a fresh, migrated database per test run (on DATABASE_URL's server when set,
 * otherwise on a throw-away embedded PostgreSQL), and a ledger audit written in plain SQL that
 * does not use the code under test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type EmbeddedPostgres, startEmbeddedPostgres, withDatabase } from '../embedded-postgres.js';
import { migrate, openOrm } from '../orm.js';

export interface TestDatabase {
  url: string;
  /** URL of the server's maintenance database, for creating more databases. */
  serverUrl: string;
  teardown(): Promise<void>;
}

export async function createMigratedDatabase(serverUrl: string, prefix = 'wallets_test'): Promise<string> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  const orm = await openOrm({ databaseUrl: url, poolMax: 2 });
  try {
    await migrate(orm);
  } finally {
    await orm.close(true);
  }
  return url;
}

export async function startTestDatabase(): Promise<TestDatabase> {
  let server: EmbeddedPostgres | null = null;
  let dataDir: string | null = null;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const base = process.getuid?.() === 0 ? '/var/tmp' : os.tmpdir();
    dataDir = fs.mkdtempSync(path.join(base, 'wallets-test-pg-'));
    server = await startEmbeddedPostgres({ dataDir, ephemeral: true });
    serverUrl = server.url;
  }
  const url = await createMigratedDatabase(serverUrl);
  return {
    url,
    serverUrl,
    async teardown() {
      if (server) await server.stop();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface LedgerMismatch {
  walletId: string;
  problem: string;
}

/**
 * Recomputes every wallet's balances from its ledger with SQL of its own and lists every
 * disagreement: stored balance vs ledger sum (credits and cents), lot remainders vs their
 * consumption rows, remainders below zero, consumption sums vs outbound amounts.
 */
export async function auditLedger(databaseUrl: string): Promise<LedgerMismatch[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ wallet_id: string; problem: string }>(`
      with sums as (
        select w.id as wallet_id, w.balance_cents, w.credits_balance, w.consumed_amount_cents, w.consumed_credits,
          coalesce(sum(case when t.transaction_type = 'inbound' then t.amount_cents when t.transaction_type = 'outbound' then -t.amount_cents end)
                   filter (where t.status = 'settled'), 0) as ledger_cents,
          coalesce(sum(case when t.transaction_type = 'inbound' then t.credit_amount when t.transaction_type = 'outbound' then -t.credit_amount end)
                   filter (where t.status = 'settled'), 0) as ledger_credits,
          coalesce(sum(t.amount_cents) filter (where t.status = 'settled' and t.transaction_type = 'outbound'), 0) as out_cents,
          coalesce(sum(t.credit_amount) filter (where t.status = 'settled' and t.transaction_type = 'outbound'), 0) as out_credits,
          coalesce(sum(t.remaining_amount_cents) filter (where t.status = 'settled' and t.transaction_type = 'inbound'), 0) as lot_cents,
          coalesce(sum(t.remaining_credit_amount) filter (where t.status = 'settled' and t.transaction_type = 'inbound'), 0) as lot_credits
        from wallets w left join wallet_transactions t on t.wallet_id = w.id
        group by w.id
      )
      select wallet_id, 'balance_cents ' || balance_cents || ' <> ledger ' || ledger_cents as problem from sums where balance_cents <> ledger_cents
      union all select wallet_id, 'credits_balance ' || credits_balance || ' <> ledger ' || ledger_credits from sums where credits_balance <> ledger_credits
      union all select wallet_id, 'lots hold ' || lot_cents || ' cents, balance ' || balance_cents from sums where lot_cents <> balance_cents
      union all select wallet_id, 'lots hold ' || lot_credits || ' credits, balance ' || credits_balance from sums where lot_credits <> credits_balance
      union all select wallet_id, 'consumed_amount_cents ' || consumed_amount_cents || ' <> outbound ' || out_cents from sums where consumed_amount_cents <> out_cents
      union all select wallet_id, 'consumed_credits ' || consumed_credits || ' <> outbound ' || out_credits from sums where consumed_credits <> out_credits
      union all select t.wallet_id, 'lot ' || t.id || ' remainder disagrees with its consumptions'
        from wallet_transactions t
        left join wallet_transaction_consumptions c on c.inbound_wallet_transaction_id = t.id
        where t.transaction_type = 'inbound' and t.status = 'settled'
        group by t.id, t.wallet_id, t.amount_cents, t.credit_amount, t.remaining_amount_cents, t.remaining_credit_amount
        having t.remaining_amount_cents <> t.amount_cents - coalesce(sum(c.amount_cents), 0)
            or t.remaining_credit_amount <> t.credit_amount - coalesce(sum(c.credit_amount), 0)
      union all select t.wallet_id, 'outbound ' || t.id || ' disagrees with its consumptions'
        from wallet_transactions t
        left join wallet_transaction_consumptions c on c.outbound_wallet_transaction_id = t.id
        where t.transaction_type = 'outbound'
        group by t.id, t.wallet_id, t.amount_cents, t.credit_amount
        having t.amount_cents <> coalesce(sum(c.amount_cents), 0) or t.credit_amount <> coalesce(sum(c.credit_amount), 0)
      union all select wallet_id, 'negative remainder on ' || id from wallet_transactions
        where remaining_amount_cents < 0 or remaining_credit_amount < 0
      union all select id, 'negative balance' from wallets where balance_cents < 0 or credits_balance < 0
    `);
    return rows.map((row) => ({ walletId: row.wallet_id, problem: row.problem }));
  } finally {
    await client.end();
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    serverUrl: string;
  }
}

/** vitest globalSetup: one fresh migrated database per test run, handed to tests by `inject`. */
export async function provideTestDatabase(project: { provide(key: 'databaseUrl' | 'serverUrl', value: string): void }) {
  const db = await startTestDatabase();
  project.provide('databaseUrl', db.url);
  project.provide('serverUrl', db.serverUrl);
  return () => db.teardown();
}
