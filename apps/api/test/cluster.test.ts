/**
 * WALLET_HTTP_WORKERS=2 (issue 16): a real `node src/main.ts` on a fresh embedded database. The
 * first process creates the first organization and prints its key once; two HTTP processes serve
 * the port (calls with that key work); SIGTERM stops every process, exit 0.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createWalletClient } from '../src/client/index.js';
import { apiRoot, freePort, groupAlive, pollUntil, spawnProcess, stopAll } from './processes.js';

const dataDir = fs.mkdtempSync(path.join(process.getuid?.() === 0 ? '/var/tmp' : os.tmpdir(), 'wallets-cluster-'));
fs.chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as the postgres user, which must enter it
afterAll(async () => {
  await stopAll();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Processes whose parent is `pid` and whose command line runs main.ts. */
function httpProcesses(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
        const parent = /^PPid:\s+(\d+)/m.exec(status)?.[1];
        return Number(parent) === pid && fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('main.ts');
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('WALLET_HTTP_WORKERS=2', () => {
  it('serves from two HTTP processes, prints the first key once, and stops on SIGTERM', async () => {
    const port = await freePort();
    const server = spawnProcess('cluster', process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: apiRoot,
      env: { PORT: String(port), HOST: '127.0.0.1', WALLET_DATA_DIR: dataDir, WALLET_HTTP_WORKERS: '2', WALLET_WORKER_CONCURRENCY: '1' },
    });
    const url = `http://127.0.0.1:${port}`;
    const [, apiKey] = (await server.waitForOutput(/Its API key, shown once: (\S+)/, 120_000)) as RegExpMatchArray;
    await server.waitForOutput(/2 HTTP processes, \d+ database connections each/, 60_000);
    // Its own line: the first process also prints `embedded PostgreSQL listening on ...`.
    await pollUntil(
      'both HTTP processes to listen',
      async () => (server.output().match(/Wallets API listening on /g)?.length === 2 ? true : undefined),
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n--- output ---\n${server.output()}`);
    });
    expect(httpProcesses(server.pid)).toHaveLength(2);

    const client = createWalletClient({ url, apiKey: apiKey as string });
    await client.customers.upsert.mutate({ externalId: 'cus_cluster', currency: 'EUR' });
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_cluster', rateAmount: '1', grantedCredits: '5' });
    const reads = await Promise.all(Array.from({ length: 20 }, () => client.wallets.get.query({ id: wallet.id })));
    expect(reads.every((w) => w.balanceCents === 500)).toBe(true);
    expect(server.output().match(/Its API key, shown once/g)).toHaveLength(1);

    server.signal('SIGTERM');
    expect(await server.exited, server.output()).toEqual({ code: 0, signal: null });
    await pollUntil('every process to be gone', async () => (groupAlive(server.pid) ? undefined : true), 20_000);
  }, 180_000);
});
