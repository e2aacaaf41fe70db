/**
 * Hostile input over real HTTP. fast-check generates thousands of requests to every procedure of
 * the router, sent with raw fetch so that what the typed client would refuse reaches the server:
 * wrong types, huge, negative and fractional numbers, decimals that cannot be represented, unknown
 * and prototype-polluting fields, oversized strings, arrays and bodies, invalid dates, other
 * organizations' ids, bad keys. Every mutation's input is built from a valid one with at least
 * one value that must be refused, so nothing may be written.
 *
 * Each answer must be a 4xx (a 200 only for read-only procedures) carrying a known tRPC code and,
 * when set, a `walletErrorCode` of the code table mapped to that tRPC code; read answers never show
 * another organization's rows. Afterwards every table of the database is byte-for-byte what it
 * was (a fingerprint of each table's rows, with the test's own SQL) and the ledger audit is clean.
 *
 * Size: BAD_INPUT_RUNS requests (default 2000), BAD_INPUT_SEED to replay a run.
 */
import { randomUUID } from 'node:crypto';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { auditLedger } from '@wallets/db/testing';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WALLET_ERROR_HTTP } from '../src/errors.js';
import { appRouter } from '../src/router.js';
import { MAX_BODY_BYTES } from '../src/server.js';
import { ADMIN_TOKEN, type Harness, startHarness } from './harness.js';

const RUNS = Math.max(1, Number(process.env.BAD_INPUT_RUNS ?? 2000) || 2000);
const SEED = Number(process.env.BAD_INPUT_SEED ?? Date.now() % 2 ** 31);
const PARALLEL = 8;

let harness: Harness;
let pool: pg.Pool;
let keyA: string;
/** Ids of organization A (the caller) and B (whose rows A must never reach). */
const ids = {
  walletA: '',
  pendingA: '',
  walletB: '',
  transactionB: '',
  customerB: 'cus_b_only',
  invoiceB: 'inv_b_only',
  organizationA: '',
  apiKeyB: '',
};

beforeAll(async () => {
  harness = await startHarness({ ownDatabase: true });
  pool = new pg.Pool({ connectionString: harness.app.databaseUrl, max: 2 });
  const a = await harness.newTenant('caller');
  const b = await harness.newTenant('victim');
  keyA = a.apiKey;
  ids.organizationA = a.organizationId;
  ids.apiKeyB = (await b.client.apiKeys.list.query()).items[0]?.id ?? '';
  await a.client.customers.upsert.mutate({ externalId: 'cus_a', currency: 'EUR' });
  const walletA = await a.client.wallets.create.mutate({ externalCustomerId: 'cus_a', rateAmount: '1', grantedCredits: '100', paidCredits: '5' });
  ids.walletA = walletA.id;
  const pending = await a.client.walletTransactions.list.query({ walletId: walletA.id, status: 'pending' });
  ids.pendingA = pending.items[0]?.id ?? '';
  await a.client.invoices.applyPrepaidCredits.mutate({ invoice: invoice('inv_a', 'cus_a') });
  await b.client.customers.upsert.mutate({ externalId: ids.customerB, currency: 'EUR' });
  const walletB = await b.client.wallets.create.mutate({ externalCustomerId: ids.customerB, rateAmount: '1', grantedCredits: '100' });
  ids.walletB = walletB.id;
  const { transactions } = await b.client.walletTransactions.create.mutate({ walletId: walletB.id, paidCredits: '10' });
  ids.transactionB = transactions[0]?.id ?? '';
  await b.client.invoices.applyPrepaidCredits.mutate({ invoice: invoice(ids.invoiceB, ids.customerB) });
  expect(Object.values(ids).every((id) => id !== '')).toBe(true);
});

afterAll(async () => {
  await pool?.end();
  await harness?.stop();
});

function invoice(id: string, externalCustomerId: string) {
  return {
    id,
    externalCustomerId,
    currency: 'EUR',
    invoiceType: 'subscription' as const,
    totalAmountCents: 1200,
    fees: [{ id: `${id}-fee`, feeType: 'subscription' as const, amountCents: 1000, taxesAmountCents: '200' }],
  };
}

// ---------------------------------------------------------------------------------------------
// Values a field must refuse, by kind.

type JsonKind = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

/** An unparseable date sent as a superjson Date (the serializer puts it in `meta`). */
const INVALID_DATE = Symbol('invalid date');

/** Values of every JSON type but the ones the field accepts. */
function wrongType(...accepted: JsonKind[]): fc.Arbitrary<unknown> {
  const all: Record<JsonKind, fc.Arbitrary<unknown>> = {
    null: fc.constant(null),
    boolean: fc.boolean(),
    number: fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    string: fc.string({ maxLength: 20 }),
    array: fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }),
    object: fc.object({ maxDepth: 1, maxKeys: 3 }),
  };
  return fc.oneof(...(Object.keys(all) as JsonKind[]).filter((k) => !accepted.includes(k)).map((k) => all[k]));
}

/** NUL and unpaired UTF-16 surrogates, alone or inside otherwise valid strings: every string input refuses them. */
const HOSTILE_STRINGS = ['\u0000', 'cus_a\u0000', 'a\u0000b', '\ud800', '\udbff', 'x\udc00y', 'ok\ud83d', '\udfff\ud800'];
const hostile = fc.constantFrom(...HOSTILE_STRINGS);

/** At least `min` characters even after trimming. */
const longString = (min: number) => fc.string({ maxLength: 40 }).map((tail) => 'x'.repeat(min) + tail);

function text(max: number, options: { min?: number; trim?: boolean; nullable?: boolean } = {}): fc.Arbitrary<unknown> {
  const bad: fc.Arbitrary<unknown>[] = [options.nullable ? wrongType('string', 'null') : wrongType('string'), longString(max + 1), hostile];
  if ((options.min ?? 0) > 0) bad.push(fc.constant(''));
  if (options.trim) bad.push(fc.constantFrom(' ', '   ', '\t\n'));
  return fc.oneof(...bad);
}

/** A reference to a row: malformed, unknown, or another organization's. */
function reference(...others: string[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    text(64, { min: 1 }),
    fc.constantFrom(...others, "1' or '1'='1", 'not-a-uuid', '00000000-0000-0000-0000-000000000000'),
    fc.uuid().map(String),
  );
}

const BAD_DECIMALS = ['-1', '-0.00001', '1e5', '', ' ', 'abc', '1.2.3', '0x10', 'Infinity', 'NaN', '9'.repeat(40), '1,5', '+-1', '--1', '.', '١٢'];
const credits = fc.oneof(wrongType('string'), fc.constantFrom(...BAD_DECIMALS));
const rate = fc.oneof(credits, fc.constantFrom('0', '0.000001', '1.123456', '0.00000'));
/** A ledger amount: also parseable ones worth more cents than a safe integer. */
const amount = fc.oneof(credits, fc.constantFrom('100000000000000', '90071992547409.92', '9999999999999999999999999', '1000000000000000000000000'));

function integer(min: number, max: number, options: { nullable?: boolean } = {}): fc.Arbitrary<unknown> {
  const bad = [
    options.nullable ? wrongType('number', 'null') : wrongType('number'),
    fc.constantFrom(min - 1, -1e300, 1e300, 2 ** 53, 2 ** 64, 1.5, min + 0.25),
  ];
  if (max < Number.MAX_SAFE_INTEGER) bad.push(fc.integer({ min: max + 1 }));
  return fc.oneof(...bad);
}
const positiveCents = integer(1, Number.MAX_SAFE_INTEGER, { nullable: true });
const cents = integer(0, Number.MAX_SAFE_INTEGER);
const preciseCents = fc.oneof(fc.constantFrom(-1, 1.5, 2 ** 53, 1e300, null, true), fc.constantFrom(...BAD_DECIMALS));
const date = fc.oneof(wrongType('null'), fc.constant(INVALID_DATE), fc.constant('2026-01-01T00:00:00Z'));
const requiredDate = fc.oneof(date, fc.constant(null));
const bool = wrongType('boolean');
const enumOf = (...values: string[]) =>
  fc.oneof(
    wrongType('string'),
    fc.string({ maxLength: 12 }).filter((s) => !values.includes(s)),
  );
const currency = fc.oneof(wrongType('string'), fc.constantFrom('XXX', 'eur', 'EURO', '', '€', 'EUR ', 'EUR\u0000', '\ud800'));
const timezone = fc.oneof(wrongType('string'), fc.constantFrom('Mars/Olympus', '', 'UTC+99', 'Europe/Nowhere', 'UTC\u0000', '\udc00'));
const metric = fc.oneof(wrongType('string', 'null'), fc.constantFrom('', 'bad code!', '-x', 'x'.repeat(300), 'drop table;', 'api\u0000', 'm\ud800'));

function metadata(maxKeys: number): fc.Arbitrary<unknown> {
  const item = (i: number) => ({ key: `k${i}`, value: 'v' });
  return fc.oneof(
    wrongType('array'),
    fc.constant(Array.from({ length: maxKeys + 1 }, (_, i) => item(i))),
    fc.constant([item(1), item(1)]),
    fc.constantFrom(
      [{ key: 'k'.repeat(21), value: 'v' }],
      [{ key: '', value: 'v' }],
      [{ key: 'k', value: '' }],
      [{ key: 'k', value: 'v'.repeat(101) }],
    ),
    hostile.map((bad) => [{ key: bad, value: 'v' }]),
    hostile.map((bad) => [{ key: 'k', value: bad }]),
    fc.array(wrongType('object'), { minLength: 1, maxLength: 2 }),
  );
}

const appliesTo = fc.oneof(
  wrongType('object'),
  fc.constantFrom({ feeTypes: ['bogus'] }, { feeTypes: 'subscription' }, { billableMetricCodes: ['bad code!'] }, { billableMetricCodes: [1] }),
  fc.constant({ billableMetricCodes: Array.from({ length: 101 }, (_, i) => `m${i}`) }),
);
const rules = fc.oneof(
  wrongType('array'),
  fc.constant([
    { trigger: 'interval', interval: 'monthly', paidCredits: '1' },
    { trigger: 'interval', interval: 'monthly', paidCredits: '1' },
  ]),
  fc.record({ trigger: enumOf('interval', 'threshold') }).map((r) => [r]),
  credits.map((paidCredits) => [{ trigger: 'interval', interval: 'monthly', paidCredits }]),
  enumOf('weekly', 'monthly', 'quarterly', 'semiannual', 'yearly').map((interval) => [{ trigger: 'interval', interval }]),
);
const idempotencyKey = text(255, { min: 1 });
const listLimit = integer(1, 100);
const cursor = fc.oneof(wrongType('string', 'null'), longString(513), hostile);

// ---------------------------------------------------------------------------------------------
// Procedures: a valid input of organization A and the fields to break (paths into it).

type Path = (string | number)[];

interface Procedure {
  path: string;
  type: 'query' | 'mutation';
  /** Who may call it; an organization key by default. */
  admin?: boolean;
  base: () => Record<string, unknown>;
  fields: [Path, fc.Arbitrary<unknown>][];
}

const invoiceFields = (prefix: Path): [Path, fc.Arbitrary<unknown>][] => [
  [[...prefix], wrongType('object')],
  [[...prefix, 'id'], text(255, { min: 1 })],
  [[...prefix, 'externalCustomerId'], text(255, { min: 1, trim: true })],
  [[...prefix, 'currency'], currency],
  [[...prefix, 'invoiceType'], enumOf('subscription', 'progressive_billing', 'pay_in_advance', 'one_off', 'credit')],
  [[...prefix, 'totalAmountCents'], cents],
  [[...prefix, 'fees'], wrongType('array')],
  [[...prefix, 'fees', 0], wrongType('object')],
  [[...prefix, 'fees', 0, 'id'], text(255, { min: 1 })],
  [[...prefix, 'fees', 0, 'feeType'], enumOf('subscription', 'charge', 'fixed_charge', 'commitment', 'add_on', 'credit')],
  [[...prefix, 'fees', 0, 'billableMetricCode'], metric],
  [[...prefix, 'fees', 0, 'amountCents'], cents],
  [[...prefix, 'fees', 0, 'taxesAmountCents'], preciseCents],
  [[...prefix, 'fees', 0, 'couponsAmountCents'], preciseCents],
];

const usageFields = (prefix: Path): [Path, fc.Arbitrary<unknown>][] => [
  [[...prefix, 'externalCustomerId'], text(255, { min: 1, trim: true })],
  [[...prefix, 'currency'], currency],
  [[...prefix, 'asOf'], requiredDate],
  [[...prefix, 'fees'], wrongType('array')],
  [[...prefix, 'fees', 0, 'feeType'], enumOf('subscription', 'charge')],
  [[...prefix, 'fees', 0, 'amountCents'], preciseCents],
  [[...prefix, 'fees', 0, 'billableMetricCode'], metric],
  [
    [...prefix, 'draftInvoices'],
    fc.oneof(
      wrongType('array'),
      fc.constant([{ id: '', fees: [] }]),
      fc.constant([{ id: 'd', fees: 'x' }]),
      hostile.map((id) => [{ id, fees: [] }]),
    ),
  ],
  [[...prefix, 'billedFees'], fc.oneof(wrongType('array'), fc.constant([{ feeType: 'charge', amountCents: -1 }]))],
];

const procedures: Procedure[] = [
  {
    path: 'admin.createOrganization',
    type: 'mutation',
    admin: true,
    base: () => ({ name: 'x' }),
    fields: [[['name'], text(255, { min: 1, trim: true })]],
  },
  { path: 'admin.runScheduledJobs', type: 'mutation', admin: true, base: () => ({}), fields: [[['asOf'], requiredDate]] },
  {
    path: 'admin.createApiKey',
    type: 'mutation',
    admin: true,
    base: () => ({ organizationId: ids.organizationA, name: 'x' }),
    fields: [
      [['organizationId'], reference()],
      [['name'], text(255, { min: 1, trim: true, nullable: true })],
    ],
  },
  { path: 'apiKeys.create', type: 'mutation', base: () => ({ name: 'x' }), fields: [[['name'], text(255, { min: 1, trim: true, nullable: true })]] },
  { path: 'apiKeys.revoke', type: 'mutation', base: () => ({ id: ids.apiKeyB }), fields: [[['id'], reference(ids.apiKeyB)]] },
  {
    path: 'customers.upsert',
    type: 'mutation',
    base: () => ({ externalId: 'cus_a', currency: 'EUR' }),
    fields: [
      [['externalId'], text(255, { min: 1, trim: true })],
      [['currency'], currency],
      [['timezone'], timezone],
      [['idempotencyKey'], idempotencyKey],
    ],
  },
  { path: 'customers.get', type: 'query', base: () => ({ externalId: 'cus_a' }), fields: [[['externalId'], reference(ids.customerB)]] },
  {
    path: 'customers.list',
    type: 'query',
    base: () => ({}),
    fields: [
      [['search'], text(255)],
      [['includeTotals'], bool],
      [['cursor'], cursor],
      [['limit'], listLimit],
    ],
  },
  {
    path: 'wallets.create',
    type: 'mutation',
    base: () => ({ externalCustomerId: 'cus_a', rateAmount: '1', grantedCredits: '10', code: `w-${randomUUID()}` }),
    fields: [
      [['externalCustomerId'], fc.oneof(text(255, { min: 1, trim: true }), fc.constant(ids.customerB))],
      [['rateAmount'], rate],
      [['currency'], currency],
      [['name'], text(255, { nullable: true })],
      [['code'], text(255, { min: 1, trim: true })],
      [['priority'], integer(1, 50)],
      [['paidCredits'], amount],
      [['grantedCredits'], amount],
      [['expirationAt'], date],
      [['invoiceRequiresSuccessfulPayment'], bool],
      [['transactionMetadata'], metadata(5)],
      [['transactionName'], text(255)],
      [['appliesTo'], appliesTo],
      [['paidTopUpMinAmountCents'], positiveCents],
      [['paidTopUpMaxAmountCents'], positiveCents],
      [['ignorePaidTopUpLimitsOnCreation'], bool],
      [['recurringTransactionRules'], rules],
      [['idempotencyKey'], idempotencyKey],
    ],
  },
  {
    path: 'wallets.get',
    type: 'query',
    base: () => ({ id: ids.walletA, asOf: new Date('2026-06-01T00:00:00Z') }),
    fields: [
      [['id'], reference(ids.walletB)],
      [['asOf'], date],
    ],
  },
  {
    path: 'wallets.balanceHistory',
    type: 'query',
    base: () => ({ id: ids.walletA, from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z'), interval: 'week' }),
    fields: [
      [['id'], reference(ids.walletB)],
      [['from'], requiredDate],
      [['to'], fc.oneof(requiredDate, fc.constant(new Date('2025-12-31T00:00:00Z')), fc.constant(new Date('2036-01-01T00:00:00Z')))],
      [['interval'], enumOf('day', 'week', 'month')],
    ],
  },
  {
    path: 'reports.credits',
    type: 'query',
    base: () => ({ currency: 'EUR', from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z'), externalCustomerId: 'cus_a' }),
    fields: [
      [['currency'], currency],
      [['from'], requiredDate],
      [['to'], fc.oneof(requiredDate, fc.constant(new Date('2025-12-31T00:00:00Z')))],
      [['externalCustomerId'], fc.oneof(text(255, { min: 1, trim: true }), fc.constant(ids.customerB))],
    ],
  },
  {
    path: 'wallets.list',
    type: 'query',
    base: () => ({}),
    fields: [
      [['externalCustomerId'], fc.oneof(text(255, { min: 1, trim: true }), fc.constant(ids.customerB))],
      [['status'], enumOf('active', 'terminated')],
      [['cursor'], cursor],
      [['limit'], listLimit],
    ],
  },
  {
    path: 'wallets.update',
    type: 'mutation',
    base: () => ({ id: ids.walletA, name: `renamed-${randomUUID()}` }),
    fields: [
      [['id'], reference(ids.walletB, ids.transactionB)],
      [['name'], text(255, { nullable: true })],
      [['code'], text(255, { min: 1, trim: true })],
      [['priority'], integer(1, 50)],
      [['expirationAt'], date],
      [['invoiceRequiresSuccessfulPayment'], bool],
      [['appliesTo'], appliesTo],
      [['paidTopUpMinAmountCents'], positiveCents],
      [['paidTopUpMaxAmountCents'], positiveCents],
      [['recurringTransactionRules'], rules],
      [['idempotencyKey'], idempotencyKey],
    ],
  },
  { path: 'wallets.terminate', type: 'mutation', base: () => ({ id: ids.walletA }), fields: [[['id'], reference(ids.walletB)]] },
  {
    path: 'walletTransactions.create',
    type: 'mutation',
    base: () => ({ walletId: ids.walletA, grantedCredits: '1' }),
    fields: [
      [['walletId'], reference(ids.walletB)],
      [['paidCredits'], amount],
      [['grantedCredits'], amount],
      [['voidedCredits'], fc.oneof(amount, fc.constant('1000000'))],
      [['invoiceRequiresSuccessfulPayment'], bool],
      [['ignorePaidTopUpLimits'], bool],
      [['name'], text(255, { nullable: true })],
      [['metadata'], metadata(15)],
      [['expirationAt'], date],
      [['priority'], integer(1, 50)],
      [['idempotencyKey'], idempotencyKey],
    ],
  },
  { path: 'walletTransactions.get', type: 'query', base: () => ({ id: ids.pendingA }), fields: [[['id'], reference(ids.transactionB)]] },
  {
    path: 'walletTransactions.list',
    type: 'query',
    base: () => ({ walletId: ids.walletA }),
    fields: [
      [['walletId'], reference(ids.walletB)],
      [['status'], enumOf('pending', 'settled', 'failed')],
      [['transactionType'], enumOf('inbound', 'outbound')],
      [['transactionStatus'], enumOf('purchased', 'granted', 'voided', 'invoiced')],
      [['cursor'], cursor],
      [['limit'], listLimit],
    ],
  },
  {
    path: 'walletTransactions.recordPayment',
    type: 'mutation',
    base: () => ({ id: ids.pendingA, status: 'succeeded' }),
    fields: [
      [['id'], reference(ids.transactionB)],
      [['status'], enumOf('succeeded', 'failed')],
      [['invoiceId'], text(255, { min: 1 })],
      [['idempotencyKey'], idempotencyKey],
    ],
  },
  {
    path: 'events.list',
    type: 'query',
    base: () => ({}),
    fields: [
      [['after'], fc.oneof(wrongType('string', 'null'), longString(129), hostile)],
      [['limit'], listLimit],
    ],
  },
  {
    path: 'invoices.previewPrepaidCredits',
    type: 'mutation',
    base: () => ({ invoice: invoice('inv_preview', 'cus_a') }),
    fields: invoiceFields(['invoice']),
  },
  {
    path: 'invoices.applyPrepaidCredits',
    type: 'mutation',
    base: () => ({ invoice: invoice(`inv-${randomUUID()}`, 'cus_a') }),
    fields: [...invoiceFields(['invoice']), ...usageFields(['usage']).slice(1), [['idempotencyKey'], idempotencyKey]],
  },
  {
    path: 'invoices.void',
    type: 'mutation',
    base: () => ({ invoiceId: 'inv_a' }),
    fields: [
      [['invoiceId'], text(255, { min: 1 })],
      [['idempotencyKey'], idempotencyKey],
    ],
  },
  {
    path: 'webhooks.createEndpoint',
    type: 'mutation',
    base: () => ({ url: 'https://hooks.example.com/wallets' }),
    fields: [[['url'], fc.oneof(text(2048, { min: 1 }), fc.constantFrom('ftp://hooks.example.com/', 'not a url', 'https://'))]],
  },
  { path: 'webhooks.delete', type: 'mutation', base: () => ({ id: ids.walletA }), fields: [[['id'], reference(ids.walletB)]] },
  {
    path: 'webhooks.deliveries',
    type: 'query',
    base: () => ({ endpointId: ids.walletA }),
    fields: [
      [['endpointId'], reference(ids.walletB)],
      [['cursor'], cursor],
      [['limit'], listLimit],
    ],
  },
  {
    path: 'usage.sync',
    type: 'mutation',
    base: () => ({ externalCustomerId: 'cus_a', currency: 'EUR', fees: [{ feeType: 'charge', amountCents: 100 }] }),
    fields: [...usageFields([]), [['idempotencyKey'], idempotencyKey]],
  },
];

// ---------------------------------------------------------------------------------------------
// Requests.

type Auth = 'own' | 'none' | 'garbage' | 'admin-on-org' | 'org-on-admin';

interface Attempt {
  procedure: Procedure;
  input: unknown;
  auth: Auth;
  batch: boolean;
}

function setAt(target: Record<string, unknown>, path: Path, value: unknown): void {
  if (path.length === 0) return;
  let node: Record<string | number, unknown> = target;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string | number;
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = typeof path[i + 1] === 'number' ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  }
  node[path[path.length - 1] as string | number] = value;
}

/** Unknown fields, some named to pollute prototypes; never enough on their own to make an input invalid. */
const extras = fc.option(
  fc.oneof(
    fc.dictionary(fc.string({ maxLength: 10 }), fc.anything({ maxDepth: 1 }), { maxKeys: 3 }),
    fc.constant(null).map(() => JSON.parse('{"__proto__": {"isAdmin": true, "organizationId": "x"}}') as Record<string, unknown>),
    fc.constant(null).map(() => ({ constructor: { prototype: { polluted: true } } })),
    fc.constant(null).map(() => ({ organizationId: '00000000-0000-0000-0000-000000000000', organization: 'other' })),
  ),
  { nil: undefined },
);

function attemptFor(procedure: Procedure): fc.Arbitrary<Attempt> {
  const broken = fc
    .uniqueArray(fc.constantFrom(...procedure.fields.keys()), { minLength: 1, maxLength: Math.min(3, procedure.fields.length) })
    .chain((indexes) =>
      fc.tuple(...indexes.map((i) => procedure.fields[i]?.[1] ?? fc.constant(null))).map((values) => {
        const input = procedure.base();
        for (const [n, i] of indexes.entries()) setAt(input, procedure.fields[i]?.[0] ?? [], values[n]);
        return input as unknown;
      }),
    );
  // Whole inputs of the wrong shape: for mutations never `undefined` (a default could make it valid).
  const whole = procedure.type === 'query' ? fc.anything({ maxDepth: 2 }) : wrongType('object');
  const input = fc
    .tuple(fc.oneof({ weight: 6, arbitrary: broken }, { weight: 1, arbitrary: whole }), extras)
    // Spread keeps a `__proto__` key as an own property, so it goes over the wire.
    .map(([value, extra]) => (extra && typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...extra, ...value } : value));
  const auth: fc.Arbitrary<Auth> = procedure.admin
    ? fc.constantFrom<Auth>(
        'org-on-admin',
        'org-on-admin',
        'none',
        'garbage',
        ...(['admin.createOrganization', 'admin.createApiKey'].includes(procedure.path) ? (['own'] as Auth[]) : []),
      )
    : fc.oneof(
        { weight: 8, arbitrary: fc.constant<Auth>('own') },
        { weight: 1, arbitrary: fc.constantFrom<Auth>('none', 'garbage', 'admin-on-org') },
      );
  return fc.record({ procedure: fc.constant(procedure), input, auth, batch: fc.boolean() });
}

function authorization(attempt: Attempt): Record<string, string> {
  switch (attempt.auth) {
    case 'own':
      return { authorization: `Bearer ${attempt.procedure.admin ? ADMIN_TOKEN : keyA}` };
    case 'org-on-admin':
      return { authorization: `Bearer ${keyA}` };
    case 'admin-on-org':
      return { authorization: `Bearer ${ADMIN_TOKEN}` };
    case 'garbage':
      return { authorization: 'Bearer wk_not_a_key' };
    case 'none':
      return {};
  }
}

/** The superjson wire form: Dates (valid ones, and INVALID_DATE) are strings with a `meta` entry. */
function serialize(input: unknown): { json: unknown; meta?: { values: Record<string, ['Date']> } } {
  const values: Record<string, ['Date']> = {};
  const walk = (value: unknown, path: string[]): unknown => {
    if (value === INVALID_DATE) {
      values[path.join('.')] = ['Date'];
      return 'not a date';
    }
    if (value instanceof Date) {
      values[path.join('.')] = ['Date'];
      return value.toISOString();
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)]));
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, [...path, k])]));
    return value;
  };
  const json = walk(input, []);
  return Object.keys(values).length > 0 ? { json, meta: { values } } : { json };
}

interface Answer {
  status: number;
  body: unknown;
}

async function send(attempt: Attempt): Promise<Answer> {
  const wire = attempt.input === undefined ? {} : serialize(attempt.input);
  const base = `${harness.app.url}/trpc/${attempt.procedure.path}`;
  const headers = { ...authorization(attempt), 'content-type': 'application/json' };
  let response: Response;
  if (attempt.procedure.type === 'query') {
    const query = attempt.batch
      ? `batch=1&input=${encodeURIComponent(JSON.stringify({ 0: wire }))}`
      : `input=${encodeURIComponent(JSON.stringify(wire))}`;
    response = await fetch(`${base}?${query}`, { headers });
  } else {
    const body = JSON.stringify(attempt.batch ? { 0: wire } : wire);
    response = await fetch(attempt.batch ? `${base}?batch=1` : base, { method: 'POST', headers, body });
  }
  const raw = await response.text();
  let body: unknown = raw;
  try {
    body = JSON.parse(raw);
  } catch {
    // kept as text: the assertion below reports it
  }
  return { status: response.status, body };
}

const TRPC_CODES = new Set(Object.keys(TRPC_ERROR_CODES_BY_KEY));
const WALLET_CODES = new Map(Object.entries(WALLET_ERROR_HTTP));

interface ErrorData {
  code?: string;
  httpStatus?: number;
  walletErrorCode?: string | null;
}

/** What is wrong with an answer, or null. */
function judge(attempt: Attempt, answer: Answer): string | null {
  if (answer.status >= 500) return `status ${answer.status}`;
  const item = attempt.batch && Array.isArray(answer.body) ? answer.body[0] : answer.body;
  if (typeof item !== 'object' || item === null) return `not a JSON answer: ${String(answer.body).slice(0, 200)}`;
  const error = (item as { error?: { json?: { data?: ErrorData } } }).error;
  if (!error) {
    if (attempt.procedure.type === 'query' && attempt.auth === 'own') {
      const text = JSON.stringify(item);
      const leaked = [ids.walletB, ids.transactionB, ids.customerB, ids.invoiceB].find((id) => text.includes(id));
      return leaked ? `a read showed organization B's ${leaked}` : null;
    }
    return `accepted (status ${answer.status}): ${JSON.stringify(item).slice(0, 300)}`;
  }
  const data = error.json?.data ?? {};
  if (!data.code || !TRPC_CODES.has(data.code)) return `unknown tRPC code ${data.code}`;
  if (!attempt.batch && data.httpStatus !== answer.status) return `httpStatus ${data.httpStatus} but status ${answer.status}`;
  if (data.walletErrorCode != null && WALLET_CODES.get(data.walletErrorCode) !== data.code) {
    return `walletErrorCode ${data.walletErrorCode} with tRPC code ${data.code}`;
  }
  return null;
}

/** A fingerprint of every row of every table (the test's own SQL): any write changes it. */
async function fingerprint(): Promise<Record<string, string>> {
  const { rows: tables } = await pool.query<{ name: string }>(
    `select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`,
  );
  const result: Record<string, string> = {};
  for (const { name } of tables) {
    const { rows } = await pool.query<{ n: string; digest: string | null }>(
      `select count(*)::text as n, md5(string_agg(t::text, '|' order by t::text)) as digest from "${name}" t`,
    );
    result[name] = `${rows[0]?.n}:${rows[0]?.digest}`;
  }
  return result;
}

async function rawPost(path: string, body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${harness.app.url}/trpc/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keyA}`, 'content-type': 'application/json', ...headers },
    body,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
  const raw = await response.text();
  try {
    return { status: response.status, body: JSON.parse(raw) };
  } catch {
    return { status: response.status, body: raw };
  }
}

/** "tRPC code/walletErrorCode", or "OK". */
function answerCode(attempt: Attempt, answer: Answer): string {
  const item = attempt.batch && Array.isArray(answer.body) ? answer.body[0] : answer.body;
  const data = (item as { error?: { json?: { data?: ErrorData } } } | null)?.error?.json?.data;
  if (!data) return 'OK';
  return data.walletErrorCode ? `${data.code}/${data.walletErrorCode}` : `${data.code}`;
}

const codeOf = (answer: Answer) => (answer.body as { error?: { json?: { data?: ErrorData } } }).error?.json?.data?.code;

describe('bad input over HTTP', () => {
  it(`refuses ${RUNS} generated hostile requests to every procedure, writing nothing (seed ${SEED})`, async () => {
    const before = await fingerprint();
    expect(Object.keys(before).length).toBeGreaterThan(8);
    expect(await auditLedger(harness.app.databaseUrl)).toEqual([]);

    const attempts = fc.sample(fc.oneof(...procedures.map(attemptFor)), { numRuns: RUNS, seed: SEED });
    const failures: string[] = [];
    const covered = new Map<string, number>();
    const codes = new Map<string, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        for (let i = next++; i < attempts.length; i = next++) {
          const attempt = attempts[i] as Attempt;
          covered.set(attempt.procedure.path, (covered.get(attempt.procedure.path) ?? 0) + 1);
          const answer = await send(attempt);
          const problem = judge(attempt, answer);
          const code = answerCode(attempt, answer);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          if (problem && failures.length < 20) {
            failures.push(
              `#${i} ${attempt.procedure.path} (${attempt.auth}${attempt.batch ? ', batch' : ''}): ${problem}\n  input ${JSON.stringify(
                serialize(attempt.input),
              ).slice(0, 400)}\n  answer ${JSON.stringify(answer.body).slice(0, 400)}`,
            );
          }
        }
      }),
    );
    expect(failures, `seed ${SEED} (BAD_INPUT_SEED=${SEED} replays it)`).toEqual([]);
    expect([...covered.keys()].sort()).toEqual(procedures.map((p) => p.path).sort());
    // Every query and mutation of the router that takes input is in the list (a new one cannot slip past).
    const routed = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string; inputs: unknown[] } }>)
      .filter(([, procedure]) => procedure._def.type !== 'subscription' && procedure._def.inputs.length > 0)
      .map(([path]) => path);
    expect(procedures.map((p) => p.path).sort()).toEqual(routed.sort());
    console.log(
      `bad input: ${RUNS} requests, seed ${SEED}; answers: ${[...codes]
        .sort()
        .map(([c, n]) => `${c} ${n}`)
        .join(', ')}`,
    );
    // The generator reaches every layer: auth, validation, and the commands behind them.
    for (const code of [
      'UNAUTHORIZED',
      'FORBIDDEN',
      'BAD_REQUEST/VALIDATION_FAILED',
      'NOT_FOUND/WALLET_NOT_FOUND',
      'NOT_FOUND/TRANSACTION_NOT_FOUND',
    ]) {
      expect(codes.get(code), code).toBeGreaterThan(0);
    }

    expect(await fingerprint()).toEqual(before);
    expect(await auditLedger(harness.app.databaseUrl)).toEqual([]);
  }, 300_000);

  it('refuses NUL and unpaired surrogates in every field of every procedure with VALIDATION_FAILED and its path', async () => {
    const before = await fingerprint();
    const problems: string[] = [];
    let strings = 0;
    for (const procedure of procedures) {
      for (const [path] of procedure.fields) {
        for (const bad of HOSTILE_STRINGS) {
          const input = procedure.base();
          const wasString =
            typeof path.reduce<unknown>((node, key) => (node as Record<string | number, unknown> | undefined)?.[key], input) === 'string';
          setAt(input, path, bad);
          const answer = await send({ procedure, input, auth: 'own', batch: false });
          const error = (answer.body as { error?: { json?: { data?: ErrorData & { issues?: { path: Path; message: string }[] } } } }).error;
          const data = error?.json?.data;
          const issue = data?.issues?.find((i) => JSON.stringify(i.path) === JSON.stringify(path));
          const label = `${procedure.path} ${path.join('.')} ${JSON.stringify(bad)}`;
          if (answer.status !== 400 || data?.walletErrorCode !== 'VALIDATION_FAILED')
            problems.push(`${label}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
          else if (!issue) problems.push(`${label}: no issue at the field's path: ${JSON.stringify(data.issues)}`);
          // Free text goes through the shared string type; enums and unions refuse any string not theirs.
          else if (wasString && !/NUL characters or unpaired UTF-16 surrogates|^Invalid option|^Invalid input$/.test(issue.message)) {
            problems.push(`${label}: ${issue.message}`);
          }
          if (wasString) strings++;
        }
      }
    }
    expect(problems).toEqual([]);
    expect(strings).toBeGreaterThan(100);
    expect(await fingerprint()).toEqual(before);
  });

  it('answers malformed and oversized bodies with 4xx codes, reading no more than the limit', async () => {
    const before = await fingerprint();
    const cases: [string, Answer, string][] = [
      ['not JSON', await rawPost('customers.upsert', '{"json": {"externalId": '), 'BAD_REQUEST'],
      ['empty body', await rawPost('customers.upsert', ''), 'BAD_REQUEST'],
      ['a JSON string', await rawPost('customers.upsert', '"hello"'), 'BAD_REQUEST'],
      ['unknown procedure', await rawPost('wallets.drop', '{}'), 'NOT_FOUND'],
      ['a query by POST', await rawPost('wallets.get', JSON.stringify({ json: { id: ids.walletA } })), 'METHOD_NOT_SUPPORTED'],
      [
        'a body above the limit',
        await rawPost('customers.upsert', JSON.stringify({ json: { externalId: 'cus_big', name: 'x'.repeat(MAX_BODY_BYTES) } })),
        'PAYLOAD_TOO_LARGE',
      ],
      [
        'a streamed body above the limit (no content-length)',
        await rawPost(
          'customers.upsert',
          new ReadableStream({
            start(controller) {
              const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
              for (let i = 0; i < (2 * MAX_BODY_BYTES) / chunk.length; i++) controller.enqueue(chunk);
              controller.close();
            },
          }),
        ),
        'PAYLOAD_TOO_LARGE',
      ],
      [
        '400 calls in one batch',
        await rawPost(
          `${Array.from({ length: 400 }, () => 'customers.upsert').join(',')}?batch=1`,
          JSON.stringify(Object.fromEntries(Array.from({ length: 400 }, (_, i) => [i, { json: { externalId: '' } }]))),
        ),
        'BAD_REQUEST',
      ],
    ];
    for (const [what, answer, code] of cases) {
      expect({
        what,
        status: answer.status < 500,
        code: Array.isArray(answer.body) ? codeOf({ ...answer, body: answer.body[0] }) : codeOf(answer),
      }).toEqual({
        what,
        status: true,
        code,
      });
    }
    const tooLarge = cases.find(([what]) => what === 'a body above the limit')?.[1];
    expect(tooLarge?.status).toBe(413);
    expect(await fingerprint()).toEqual(before);
  });
});
