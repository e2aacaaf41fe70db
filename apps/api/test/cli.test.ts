/**
 * One embedded data folder shared by everything, as an operator runs it: the built server
 * (`dist/main.js`, what `pnpm start` runs) starts the folder's PostgreSQL; the example host, the
 * CLI (`dist/cli-main.js`, what `pnpm wallets` runs) and the audit use that same server and never
 * stop it; the server answers /ready throughout, and at SIGTERM stops the PostgreSQL it started.
 * The CLI's commands, `--json`, and its exit codes (0, 1 for a refusal, 2 for a usage error).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWalletClient } from '../src/client/index.js';
import { apiRoot, freePort, pollUntil, repositoryRoot, type ServerProcess, spawnProcess, stopAll } from './processes.js';

const base = process.getuid?.() === 0 ? '/var/tmp' : fs.realpathSync(process.env.TMPDIR ?? '/tmp');
const dataRoot = fs.mkdtempSync(path.join(base, 'wallets-cli-test-'));
fs.chmodSync(dataRoot, 0o755); // as root, PostgreSQL runs as the postgres user, which must enter it
// Webhooks may go to 127.0.0.1 here, where nothing listens on the endpoint's port: attempts fail.
const env = { WALLET_DATA_DIR: dataRoot, WALLET_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8' };

let server: ServerProcess;
let defaultKey: string;
let readyFailures = 0;
let readyChecks = 0;
let watching = true;
let watcher: Promise<void> = Promise.resolve();

interface Ran {
  code: number | null;
  output: string;
  stdout: string;
}

/** `pnpm wallets ...args` as the built CLI, on the shared folder. */
async function wallets(...args: string[]): Promise<Ran> {
  const handle = spawnProcess(`wallets ${args.join(' ')}`, process.execPath, [path.join(apiRoot, 'dist/cli-main.js'), ...args], {
    cwd: repositoryRoot,
    env,
  });
  let stdout = '';
  handle.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const status = await handle.exited;
  return { code: status.code, output: handle.output(), stdout };
}

function json<T>(ran: Ran): T {
  expect(ran.code, ran.output).toBe(0);
  return JSON.parse(ran.stdout) as T;
}

function postmasterPid(): number {
  return Number(fs.readFileSync(path.join(dataRoot, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: apiRoot, stdio: 'ignore' });
  const port = await freePort();
  const handle = spawnProcess('server (dist/main.js)', process.execPath, ['dist/main.js'], {
    cwd: apiRoot,
    env: { ...env, PORT: String(port), WALLET_WORKER_CONCURRENCY: '0' },
  });
  const url = `http://127.0.0.1:${port}`;
  [, defaultKey = ''] = (await handle.waitForOutput(/Its API key, shown once: (wk_\S+)/)) as RegExpMatchArray;
  await handle.waitForOutput(new RegExp(`listening on ${url.replaceAll('.', '\\.')}\\b`));
  server = Object.assign(handle, { url, port });
  // /ready asks the database: it must answer through everything the other processes do.
  watcher = (async () => {
    while (watching) {
      readyChecks += 1;
      const ok = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) }).then(
        (response) => response.status === 200,
        () => false,
      );
      if (!ok) readyFailures += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
}, 60_000);

afterAll(async () => {
  watching = false;
  await watcher;
  await stopAll();
  fs.rmSync(dataRoot, { recursive: true, force: true });
});

describe('one embedded data folder: server, example host, CLI and audit', () => {
  it('runs the example host and the CLI on the running server, which keeps serving', async () => {
    const pid = postmasterPid();
    const host = spawnProcess('example host', process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: path.join(repositoryRoot, 'apps/example-host'),
      env,
    });
    // Meanwhile, the CLI: an organization, a second key, the lists.
    const created = json<{ organization: { id: string; name: string }; apiKey: string }>(await wallets('org', 'create', '--name', 'Acme', '--json'));
    expect(created.organization.name).toBe('Acme');
    expect(created.apiKey).toMatch(/^wk_/);
    const organizationId = created.organization.id;
    const [second, organizations, noHooks, keyList] = await Promise.all([
      wallets('keys', 'create', '--org', organizationId, '--name', 'second', '--json'),
      wallets('org', 'list', '--json'),
      wallets('webhooks', 'list', '--org', organizationId),
      wallets('keys', 'list', '--org', organizationId, '--json'),
    ]);
    const { apiKey, secret } = json<{ apiKey: { id: string; name: string }; secret: string }>(second);
    expect(apiKey.name).toBe('second');
    const names = json<{ items: { id: string; name: string; activeApiKeys: number }[] }>(organizations).items.map((o) => o.name);
    expect(names).toContain('Default organization');
    expect(names).toContain('Acme');
    expect(noHooks.code).toBe(0);
    expect(noHooks.stdout).toContain(`No webhook endpoints for organization ${organizationId}.`);
    const firstKey = json<{ items: { id: string; prefix: string; revokedAt: string | null }[] }>(keyList).items.find(
      (k) => k.prefix === created.apiKey.slice(0, 8),
    );
    expect(firstKey?.revokedAt).toBeNull();

    // The first key of Acme works on the server; revoked by the CLI, every server refuses it within seconds.
    const first = createWalletClient({ url: server.url, apiKey: created.apiKey });
    await first.customers.upsert.mutate({ externalId: 'cus_cli', currency: 'EUR' });
    const revoked = json<{ id: string; revokedAt: string | null }>(await wallets('keys', 'revoke', firstKey?.id ?? '', '--json'));
    expect(revoked.revokedAt).not.toBeNull();
    await pollUntil(
      'the server to refuse the revoked key',
      () =>
        first.customers.list.query({}).then(
          () => undefined,
          (error: Error) => (/UNAUTHORIZED|API key/i.test(error.message) ? true : undefined),
        ),
      10_000,
      100,
    );
    const acme = createWalletClient({ url: server.url, apiKey: secret });
    const endpoint = await acme.webhooks.createEndpoint.mutate({ url: `http://127.0.0.1:${await freePort()}/hooks` });
    const wallet = await acme.wallets.create.mutate({
      externalCustomerId: 'cus_cli',
      rateAmount: '1',
      grantedCredits: '10',
      expirationAt: new Date('2027-01-01T00:00:00Z'),
    });

    // Scheduled jobs as of a later date expire the wallet; the audit (one snapshot) runs alongside.
    const [jobs, audited] = await Promise.all([wallets('jobs', 'run', '--as-of', '2027-01-02T00:00:00Z', '--json'), wallets('audit', '--json')]);
    expect(json<{ walletsExpired: number }>(jobs).walletsExpired).toBe(1);
    expect((await createWalletClient({ url: server.url, apiKey: secret }).wallets.get.query({ id: wallet.id })).status).toBe('terminated');
    const audit = json<{ clean: boolean; summary: { organizations: number; wallets: number } }>(audited);
    expect(audit.clean).toBe(true);
    expect(audit.summary.organizations).toBeGreaterThanOrEqual(2); // the default and Acme, the example host's when it was quicker
    // The run sent the wallet's events to the endpoint (its secret opened with the folder's key): each attempt failed.
    const [hooks, deliveries] = await Promise.all([
      wallets('webhooks', 'list', '--org', organizationId),
      wallets('webhooks', 'deliveries', '--org', organizationId, '--endpoint', endpoint.id, '--json'),
    ]);
    expect(hooks.code).toBe(0);
    expect(hooks.stdout).toContain(`${endpoint.id}  ${endpoint.url}`);
    const page = json<{ items: { eventType: string; status: string; attempts: { error: string | null }[] }[] }>(deliveries);
    expect(page.items.map((d) => d.eventType)).toContain('wallet.terminated');
    expect(page.items.every((d) => d.status === 'pending' && d.attempts[0]?.error === 'connection failed')).toBe(true);

    const hostStatus = await host.exited;
    expect(hostStatus.code, host.output()).toBe(0);
    expect(host.output()).toContain(`using the PostgreSQL already running in ${path.join(dataRoot, 'pg')} (pid ${pid}`);

    // Nothing stopped or replaced the server's PostgreSQL, and the server answered /ready throughout.
    expect((await createWalletClient({ url: server.url, apiKey: defaultKey }).customers.list.query({})).items).toEqual([]);
    expect(postmasterPid()).toBe(pid);
    expect(server.output()).not.toContain('does not answer');
    expect(readyChecks).toBeGreaterThan(10);
    expect(readyFailures).toBe(0);
  }, 120_000);

  it('exits 1 for a refusal, 2 for a usage error, 0 for help', async () => {
    const [missing, badId, unknown, help, last] = await Promise.all([
      wallets('keys', 'create', '--org', '00000000-0000-4000-8000-000000000000', '--json'),
      wallets('keys', 'list', '--org', 'nope'),
      wallets('org', 'rename'),
      wallets('jobs', 'run', '--help'),
      wallets('keys', 'revoke', '00000000-0000-4000-8000-000000000001'),
    ]);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toEqual({
      error: { walletErrorCode: 'ORGANIZATION_NOT_FOUND', message: 'organization 00000000-0000-4000-8000-000000000000 not found' },
    });
    expect(last.code).toBe(1);
    expect(last.output).toContain('API_KEY_NOT_FOUND');
    expect(badId.code).toBe(2);
    expect(badId.output).toContain('--org: must be an id');
    expect(unknown.code).toBe(2);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--as-of <time>');
  }, 60_000);

  it('stops at SIGTERM the PostgreSQL the server started', async () => {
    const pid = postmasterPid();
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
    await pollUntil('the PostgreSQL to stop', async () => (alive(pid) ? undefined : true), 15_000, 50);
  }, 30_000);
});
