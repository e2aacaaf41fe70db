/**
 * `pnpm wallets <command>`: the operator's command line, on DATABASE_URL or the embedded database
 * (the folder's running server when one answers, shared with `pnpm start`; else one started for
 * the command and stopped after). Each command calls the same @wallets/db command (or job runner)
 * as the tRPC procedure that does the same thing, and validates its input with the same schemas.
 *
 * Output is text, or one JSON document with `--json` (a failure too: `{ error: { walletErrorCode,
 * message } }`; messages also go to stderr). Exit codes: 0 done; 1 a problem found (the
 * audit's mismatches, or a refusal with its wallet error code, e.g. ORGANIZATION_NOT_FOUND);
 * 2 a usage error or no database to work on.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WalletError } from '@wallets/core';
import type { CurrencyBalance, EntityManager, LedgerMismatch, Orm, SecretBox } from '@wallets/db';
import { Command, CommanderError, Option } from 'commander';
import { z } from 'zod';
import type { DatabaseTarget } from './database.js';
import { type Env, readEnv } from './env.js';
import { apiKeyName, organizationName, text } from './schemas.js';

/** Exit 1: the command ran and found (or was refused for) a problem. */
const PROBLEM = 1;
/** Exit 2: wrong usage, or nothing to work on. */
const UNUSABLE = 2;

class UsageError extends Error {}

interface Output {
  json: boolean;
}

/** Prints `value` as JSON, or the text lines. */
function print(output: Output, value: unknown, lines: () => string[]): void {
  if (output.json) console.log(JSON.stringify(value, null, 2));
  else for (const line of lines()) console.log(line);
}

function parse<T>(schema: z.ZodType<T>, value: unknown, option: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new UsageError(`${option}: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`);
  return parsed.data;
}

const log = (line: string) => console.error(line);

/** Ids as the database keeps them (tRPC callers name only their own organization; operators type them). */
const id = text().regex(
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  'must be an id (a UUID, as `org list` and `keys list` print)',
);

type Db = typeof import('@wallets/db');

/** The data layer and the database target, loaded once a command has parsed its input (`--help` and usage errors stay quick). */
const load = async () => ({ db: await import('@wallets/db'), database: await import('./database.js') });

/** Opens the database (see the module comment), runs `work` with an ORM, then lets everything go. */
async function withOrm<T>(env: Env, work: (orm: Orm, db: Db, target: DatabaseTarget) => Promise<T>): Promise<T> {
  const { db, database } = await load();
  const { migrate, openOrm } = db;
  const target = await database.connectDatabase(env, log);
  let orm: Orm | null = null;
  try {
    orm = await openOrm({ databaseUrl: target.databaseUrl, poolMax: 2 });
    await migrate(orm);
    return await work(orm, db, target);
  } finally {
    await orm?.close(true);
    await target.embedded?.stop();
  }
}

const em = (orm: Orm) => orm.em.fork() as EntityManager;
const date = (value: Date | null) => (value ? value.toISOString() : '-');
const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

/** Per currency, never added across currencies; credits per rate, never added across rates. */
function describeBalances(balances: CurrencyBalance[]): string {
  if (balances.length === 0) return 'No wallets, no balances.';
  const parts = balances.map(
    (b) =>
      `${b.currency} ${b.balanceCents} cents in ${plural(b.wallets, 'wallet')} (${b.byRate.map((r) => `${r.creditsBalance} credits at ${r.rateAmount}`).join(', ')})`,
  );
  return `Balances: ${parts.join('; ')}.`;
}

function describeProblems(problems: LedgerMismatch[]): string[] {
  const byOrganization = new Map<string, LedgerMismatch[]>();
  for (const problem of problems) byOrganization.set(problem.organizationId, [...(byOrganization.get(problem.organizationId) ?? []), problem]);
  const lines: string[] = [];
  for (const [organizationId, list] of byOrganization) {
    lines.push(`organization ${organizationId} (${plural(list.length, 'problem')})`);
    for (const problem of list) lines.push(`  wallet ${problem.walletId}: ${problem.problem}`);
  }
  return lines;
}

/** host:port/database, without credentials. */
function describeDatabase(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}

/** The audit reads with its own SQL (@wallets/db audit.ts) and never creates or migrates anything. */
async function audit(env: Env, output: Output): Promise<number> {
  const { db, database } = await load();
  if (!env.DATABASE_URL) {
    const dataDir = path.join(database.embeddedDataRoot(env), 'pg');
    if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
      throw new UsageError(`DATABASE_URL is not set and there is no embedded database in ${dataDir} (run \`pnpm start\` once, or set DATABASE_URL)`);
    }
  }
  const target = await database.connectDatabase(env, log);
  try {
    const url = target.embedded ? db.withDatabase(target.embedded.url, 'wallets') : target.databaseUrl;
    const database = describeDatabase(url);
    const problems = await db.auditLedger(url);
    if (problems.length > 0) {
      print(output, { database, clean: false, problems }, () => [
        `Ledger audit of ${database}: ${plural(problems.length, 'problem')}`,
        ...describeProblems(problems),
      ]);
      return PROBLEM;
    }
    const summary = await db.ledgerSummary(url);
    print(output, { database, clean: true, problems, summary }, () => [
      `Ledger audit of ${database}: clean. ${summary.organizations} organizations, ${summary.wallets} wallets, ` +
        `${summary.transactions} transactions, ${summary.consumptions} consumptions, ${summary.events} events. ${describeBalances(summary.balances)}`,
    ]);
    return 0;
  } finally {
    await target.embedded?.stop();
  }
}

/** The command tree; `run` sets the exit code each action returns. */
export function buildProgram(env: () => Env, exit: (code: number) => void): Command {
  const program = new Command('wallets')
    .description('Operate the wallets plugin: organizations, API keys, the ledger audit, scheduled jobs, webhooks.')
    .addHelpText(
      'after',
      '\nDatabase: DATABASE_URL, or the embedded one of WALLET_DATA_DIR (shared with a running `pnpm start`).\n' +
        'Exit codes: 0 done, 1 a problem found (audit mismatches, or a refusal with its error code), 2 usage or connection error.',
    )
    .showHelpAfterError()
    .exitOverride();
  const json = () => new Option('--json', 'print one JSON document instead of text');
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number | undefined>) =>
    async (...args: A) =>
      exit((await fn(...args)) ?? 0);

  const org = program.command('org').description('organizations (tenants)');
  org
    .command('create')
    .description('create an organization and its first API key (the secret is shown once)')
    .requiredOption('--name <name>', 'the organization name')
    .addOption(json())
    .action(
      action(async (options: { name: string; json?: boolean }) => {
        const name = parse(organizationName, options.name, '--name');
        const created = await withOrm(env(), (orm, db) => db.createOrganization(em(orm), name, new Date()));
        print({ json: !!options.json }, created, () => [
          `Created organization "${created.organization.name}" (${created.organization.id}).`,
          `Its API key, shown once: ${created.apiKey}`,
        ]);
        return 0;
      }),
    );
  org
    .command('list')
    .description('list every organization with its number of active API keys')
    .addOption(json())
    .action(
      action(async (options: { json?: boolean }) => {
        const items = await withOrm(env(), (orm, db) => db.listOrganizations(em(orm)));
        print({ json: !!options.json }, { items }, () =>
          items.length === 0
            ? ['No organizations.']
            : items.map((o) => `${o.id}  ${o.name}  created ${date(o.createdAt)}  ${plural(o.activeApiKeys, 'active key')}`),
        );
        return 0;
      }),
    );

  const keys = program.command('keys').description("an organization's API keys");
  keys
    .command('create')
    .description('create an API key for an organization (the secret is shown once)')
    .requiredOption('--org <id>', 'the organization id')
    .option('--name <name>', 'a name for the key')
    .addOption(json())
    .action(
      action(async (options: { org: string; name?: string; json?: boolean }) => {
        const organizationId = parse(id, options.org, '--org');
        const name = options.name === undefined ? null : parse(apiKeyName, options.name, '--name');
        const created = await withOrm(env(), (orm, db) => db.createApiKey(em(orm), organizationId, { name }, new Date()));
        print({ json: !!options.json }, created, () => [
          `Created API key ${created.apiKey.id}${created.apiKey.name ? ` "${created.apiKey.name}"` : ''} for organization ${organizationId}.`,
          `Its secret, shown once: ${created.secret}`,
        ]);
        return 0;
      }),
    );
  keys
    .command('list')
    .description("list an organization's API keys, revoked ones too (never their secrets)")
    .requiredOption('--org <id>', 'the organization id')
    .addOption(json())
    .action(
      action(async (options: { org: string; json?: boolean }) => {
        const organizationId = parse(id, options.org, '--org');
        const listed = await withOrm(env(), (orm, db) => db.listApiKeys(em(orm), organizationId));
        print({ json: !!options.json }, listed, () =>
          listed.items.length === 0
            ? [`No API keys for organization ${organizationId}.`]
            : listed.items.map(
                (k) =>
                  `${k.id}  ${k.prefix}…  ${k.name ?? '(no name)'}  created ${date(k.createdAt)}  last used ${date(k.lastUsedAt)}` +
                  (k.revokedAt ? `  REVOKED ${date(k.revokedAt)}` : ''),
              ),
        );
        return 0;
      }),
    );
  keys
    .command('revoke')
    .description('revoke an API key (final; every server refuses it within seconds; not the last active one)')
    .argument('<id>', 'the key id (from `keys list`)')
    .addOption(json())
    .action(
      action(async (keyIdArgument: string, options: { json?: boolean }) => {
        const keyId = parse(id, keyIdArgument, 'id');
        const revoked = await withOrm(env(), async (orm, db) => {
          const organizationId = await db.findApiKeyOrganizationId(em(orm), keyId);
          if (!organizationId) throw new WalletError('API_KEY_NOT_FOUND', `API key ${keyId} not found`, { id: keyId });
          return db.revokeApiKey(em(orm), organizationId, keyId, new Date());
        });
        print({ json: !!options.json }, revoked, () => [`Revoked API key ${revoked.id} (${revoked.prefix}…) at ${date(revoked.revokedAt)}.`]);
        return 0;
      }),
    );

  program
    .command('audit')
    .description("check every wallet's balances against its ledger with the audit's own SQL (exit 1 on any mismatch)")
    .addOption(json())
    .action(action(async (options: { json?: boolean }) => audit(env(), { json: !!options.json })));

  const jobs = program.command('jobs').description('scheduled work: expirations, interval top-ups, webhook deliveries');
  jobs
    .command('run')
    .description('run everything due now (or at --as-of) to the end, as admin.runScheduledJobs does')
    .option('--as-of <time>', 'the time to run as (ISO 8601, e.g. 2027-01-01T00:00:00Z); default now')
    .addOption(json())
    .action(
      action(async (options: { asOf?: string; json?: boolean }) => {
        const asOf = options.asOf === undefined ? new Date() : parse(z.iso.datetime({ offset: true }).pipe(z.coerce.date()), options.asOf, '--as-of');
        const runtime = env();
        const result = await withOrm(runtime, async (orm, _db, target) => {
          const { openSecrets } = await import('./database.js');
          const secrets: SecretBox = await openSecrets(runtime, target.dataRoot, orm, log);
          // Loaded here only: the other commands need no job queue.
          const [{ JobRunner }, { createLogger }] = await Promise.all([import('./jobs/runner.js'), import('./observability/logger.js')]);
          const runner = new JobRunner({
            orm,
            databaseUrl: target.databaseUrl,
            concurrency: 0,
            now: () => asOf,
            webhookTimeoutMs: runtime.WALLET_WEBHOOK_TIMEOUT_MS,
            webhookAllowedNetworks: runtime.WALLET_WEBHOOK_ALLOWED_NETWORKS,
            secrets,
            // Job and webhook lines go to stderr, so that stdout holds only the result.
            logger: createLogger({ level: runtime.LOG_LEVEL === 'info' ? 'warn' : runtime.LOG_LEVEL, destination: process.stderr }),
          });
          try {
            return await runner.runScheduledJobs(asOf);
          } finally {
            await runner.stop();
          }
        });
        print({ json: !!options.json }, result, () => [
          `Scheduled jobs as of ${result.asOf.toISOString()}: ${plural(result.walletsExpired, 'wallet')} expired (${plural(result.lotsExpired, 'lot')}), ` +
            `${plural(result.ruleExpirations, 'rule')} ended, ${plural(result.intervalTopUps, 'interval top-up')}, ` +
            `${plural(result.webhookDeliveries, 'webhook attempt')}, ${plural(result.jobsRun, 'job')} run.`,
        ]);
        return 0;
      }),
    );

  const webhooks = program.command('webhooks').description("an organization's webhook endpoints and deliveries");
  webhooks
    .command('list')
    .description("list an organization's webhook endpoints (never their secrets)")
    .requiredOption('--org <id>', 'the organization id')
    .addOption(json())
    .action(
      action(async (options: { org: string; json?: boolean }) => {
        const organizationId = parse(id, options.org, '--org');
        const items = await withOrm(env(), (orm, db) => db.listWebhookEndpoints(em(orm), organizationId));
        print({ json: !!options.json }, { items }, () =>
          items.length === 0
            ? [`No webhook endpoints for organization ${organizationId}.`]
            : items.map((e) => `${e.id}  ${e.url}  created ${date(e.createdAt)}  (${e.format})`),
        );
        return 0;
      }),
    );
  webhooks
    .command('deliveries')
    .description("list an endpoint's deliveries, newest event first, with every attempt")
    .requiredOption('--org <id>', 'the organization id')
    .requiredOption('--endpoint <id>', 'the endpoint id (from `webhooks list`)')
    .option('--limit <n>', 'deliveries per page (1-100)', '20')
    .option('--cursor <cursor>', 'the page after this cursor (printed at the end of a page)')
    .addOption(json())
    .action(
      action(async (options: { org: string; endpoint: string; limit: string; cursor?: string; json?: boolean }) => {
        const organizationId = parse(id, options.org, '--org');
        const endpointId = parse(id, options.endpoint, '--endpoint');
        const limit = parse(z.coerce.number().int().min(1).max(100), options.limit, '--limit');
        const cursor = options.cursor === undefined ? null : parse(text().max(128), options.cursor, '--cursor');
        const page = await withOrm(env(), (orm, db) => db.listWebhookDeliveries(em(orm), organizationId, { endpointId, cursor, limit }));
        print({ json: !!options.json }, page, () => [
          ...(page.items.length === 0 ? ['No deliveries.'] : []),
          ...page.items.flatMap((d) => [
            `${d.eventId}  ${d.eventType}  ${d.status}  ${plural(d.attemptCount, 'attempt')}  next ${date(d.nextAttemptAt)}`,
            ...d.attempts.map(
              (a) => `  #${a.attemptNumber} ${a.attemptedAt.toISOString()} ${a.statusCode ?? '-'} ${a.error ?? 'ok'} ${a.durationMs} ms`,
            ),
          ]),
          ...(page.nextCursor ? [`More: --cursor ${page.nextCursor}`] : []),
        ]);
        return 0;
      }),
    );
  return program;
}

/** Runs the command line; resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram(
    () => {
      try {
        return readEnv();
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    },
    (value) => {
      code = value;
    },
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version are not errors; a bare group (`wallets org`) shows its help.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      return error.exitCode === 0 ? 0 : UNUSABLE;
    }
    const message = error instanceof Error ? error.message : String(error);
    const walletErrorCode = error instanceof WalletError ? error.code : null;
    console.error(walletErrorCode ? `wallets: ${walletErrorCode}: ${message}` : `wallets: ${message}`);
    // With --json, scripts also get the failure as a document on stdout.
    if (argv.includes('--json')) console.log(JSON.stringify({ error: { walletErrorCode, message } }, null, 2));
    return walletErrorCode ? PROBLEM : UNUSABLE;
  }
}
