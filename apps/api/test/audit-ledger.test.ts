/**
 * `pnpm wallets audit` (also `pnpm audit:ledger`) as a real process on a throw-away database: clean after real traffic (exit 0
 * and a summary), then each kind of damage written straight into the rows (the append-only
 * triggers bypassed with session_replication_role, as only a superuser can) is listed by wallet and
 * the exit code is 1. Without DATABASE_URL and without an embedded database it says so (exit 2).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.js';
import { apiRoot, spawnProcess } from './processes.js';

let harness: Harness;
let pool: pg.Pool;

beforeAll(async () => {
  harness = await startHarness({ ownDatabase: true });
  pool = new pg.Pool({ connectionString: harness.app.databaseUrl, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await harness?.stop();
});

async function runAudit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const handle = spawnProcess('wallets audit', process.execPath, ['--import', 'tsx', 'src/cli-main.ts', 'audit'], { cwd: apiRoot, env });
  const status = await handle.exited;
  return { code: status.code, output: handle.output() };
}

/** Runs statements with triggers off (superuser only), as a careless manual fix would. */
async function tamper(...statements: string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    for (const statement of statements) await client.query(statement);
    await client.query('commit');
  } finally {
    client.release();
  }
}

describe('pnpm wallets audit', () => {
  it('passes a sound ledger and lists every kind of damage, exiting 1', async () => {
    const { client, organizationId } = await harness.newTenant('audited');
    await client.customers.upsert.mutate({ externalId: 'cus_audit', currency: 'EUR' });
    const wallets = await Promise.all(
      ['a', 'b', 'c'].map((code, i) =>
        client.wallets.create.mutate({ externalCustomerId: 'cus_audit', code, priority: i + 1, rateAmount: '1', grantedCredits: '100' }),
      ),
    );
    const [a, b, c] = wallets.map((w) => w.id) as [string, string, string];
    const { transactions } = await client.walletTransactions.create.mutate({ walletId: a, paidCredits: '20' });
    await client.walletTransactions.recordPayment.mutate({ id: transactions[0]?.id ?? '', status: 'succeeded' });
    const applied = await client.invoices.applyPrepaidCredits.mutate({
      invoice: {
        id: 'inv-audit',
        externalCustomerId: 'cus_audit',
        currency: 'EUR',
        invoiceType: 'subscription',
        totalAmountCents: 5_000,
        fees: [{ id: 'fee-1', feeType: 'subscription', amountCents: 5_000 }],
      },
    });
    expect(applied.wallets).toEqual([expect.objectContaining({ walletId: a, amountCents: 5_000 })]);
    await client.wallets.terminate.mutate({ id: c });
    // Another rate in EUR, and another currency: the summary never adds them together.
    await client.wallets.create.mutate({ externalCustomerId: 'cus_audit', code: 'half', rateAmount: '0.5', grantedCredits: '10' });
    await client.customers.upsert.mutate({ externalId: 'cus_audit_usd', currency: 'USD' });
    await client.wallets.create.mutate({ externalCustomerId: 'cus_audit_usd', rateAmount: '0.75', grantedCredits: '1500.5' });

    const clean = await runAudit({ DATABASE_URL: harness.app.databaseUrl });
    expect(clean.output).toMatch(/clean\. 1 organizations, 5 wallets, \d+ transactions/);
    // EUR at 1: a holds 100 + 20 - 50, b 100, c 0 (terminated); EUR at 0.5: 10 credits, 500 cents;
    // USD at 0.75: 1500.5 credits are 112538 cents, stored as their round trip 1500.50667.
    expect(clean.output).toContain(
      'Balances: EUR 17500 cents in 4 wallets (10 credits at 0.5, 170 credits at 1); USD 112538 cents in 1 wallet (1500.50667 credits at 0.75).',
    );
    expect(clean.code).toBe(0);

    const lot = await pool.query<{ id: string }>(
      `select id from wallet_transactions where wallet_id = $1 and transaction_type = 'inbound' and transaction_status = 'granted'`,
      [b],
    );
    const lotId = lot.rows[0]?.id;
    const outbound = await pool.query<{ id: string }>(`select id from wallet_transactions where wallet_id = $1 and transaction_status = 'invoiced'`, [
      a,
    ]);
    const outboundId = outbound.rows[0]?.id;
    expect([lot.rowCount, outbound.rowCount]).toEqual([1, 1]);
    const terminatedLot = await pool.query<{ id: string }>(
      `select id from wallet_transactions where wallet_id = $1 and transaction_type = 'inbound' and transaction_status = 'granted'`,
      [c],
    );
    const terminatedLotId = terminatedLot.rows[0]?.id;
    await tamper(
      // A lot that settles after the termination that voided it: balances as of the moment between would be negative.
      `update wallet_transactions set settled_at = settled_at + interval '1 day' where id = '${terminatedLotId}'`,
      `update wallets set balance_cents = balance_cents + 1 where id = '${a}'`,
      `update wallet_transactions set remaining_amount_cents = remaining_amount_cents - 1 where id = '${lotId}'`,
      `delete from wallet_transaction_consumptions where outbound_wallet_transaction_id = '${outboundId}'`,
      `delete from events where type = 'wallet.terminated' and data ->> 'id' = '${c}'`,
    );

    const damaged = await runAudit({ DATABASE_URL: harness.app.databaseUrl });
    expect(damaged.code).toBe(1);
    expect(damaged.output).toContain(`organization ${organizationId}`);
    expect(damaged.output).toMatch(new RegExp(`wallet ${a}: balance_cents \\d+ <> ledger \\d+`));
    expect(damaged.output).toMatch(new RegExp(`wallet ${b}: lot ${lotId} remainder \\d+ cents / [\\d.]+ credits disagrees with its consumptions`));
    expect(damaged.output).toMatch(new RegExp(`wallet ${b}: lots hold \\d+ cents, balance \\d+`));
    expect(damaged.output).toContain(`wallet ${a}: outbound ${outboundId} of 5000 cents / 50.00000 credits disagrees with its consumptions (0 cents`);
    expect(damaged.output).toMatch(new RegExp(`wallet ${b}: report identity \\(granted\\): opening 0 \\+ in - out = 10000 cents, lots hold 9999`));
    expect(damaged.output).toMatch(new RegExp(`wallet ${c}: outbound [0-9a-f-]+ at .* takes from lot ${terminatedLotId} settled later`));
    expect(damaged.output).toContain(`wallet ${c}: wallet is terminated with 0 wallet.terminated events, expected 1`);
  });

  it('says what is missing when there is neither DATABASE_URL nor an embedded database', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'wallets-audit-empty-'));
    try {
      const result = await runAudit({ WALLET_DATA_DIR: empty });
      expect(result.code).toBe(2);
      expect(result.output).toContain('DATABASE_URL is not set and there is no embedded database');
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
