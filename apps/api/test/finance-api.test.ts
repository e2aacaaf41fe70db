/**
 * Finance over HTTP, one month worked by hand (customer in Europe/Paris, 1 credit = 1.00 EUR):
 *
 *   Sep 20 10:00Z  wallet created with 50 granted                  G0 5,000 granted
 *   Oct  2 09:00Z  paid top-up of 100 (pending)                     P1 10,000 purchased, pending
 *   Oct  3 09:00Z  20 granted, expiring Oct 20                      G1 2,000 granted
 *   Oct  5 12:00Z  P1's payment succeeds (settled late)             +10,000 purchased
 *   Oct  8 12:00Z  invoice inv_a of 15.00 (G1 goes first: soonest expiry)     -1,500 granted
 *   Oct 20 00:00Z  G1 expires, 5.00 of it unused (a partial expiry)           -500 granted
 *   Oct 22 12:00Z  invoice inv_b of 60.00: G0 5,000 granted, P1 1,000 purchased
 *   Oct 24 12:00Z  inv_b voided: 60.00 recredited (each kind as itself: 10.00 purchased, 50.00
 *                  granted; the assertions hold whatever kind a void gives back)
 *   Oct 26 12:00Z  paid top-up of 40, settled Oct 27 12:00Z         P2 4,000 purchased
 *   Oct 28 12:00Z  P2's payment fails after settlement: claw-back   -4,000 purchased
 *   Oct 30 12:00Z  10 credits voided by hand (granted lots go first)          -1,000 granted
 *   Nov  3 12:00Z  wallet terminated: everything left is voided
 *
 * A second customer (UTC) gets 30 granted on Oct 15 and 1.50 on Oct 16. October's report for the first customer:
 * opening 0 / 5,000; topped up 14,000 / 2,000; recredited 6,000 in all; consumed 1,000 / 6,500;
 * voided 0 / 1,000; expired 0 / 500; clawed back 4,000 / 0; closing 14,000 in all.
 */
import { auditLedger } from '@wallets/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouterOutputs, WalletClient } from '../src/client/index.js';
import { errorOf, type Harness, startHarness } from './harness.js';

let h: Harness;
let client: WalletClient;
let apiKey: string;
let walletId: string;
let otherWalletId: string;

const EUR_INVOICE = (id: string, customer: string, cents: number) => ({
  id,
  externalCustomerId: customer,
  currency: 'EUR',
  invoiceType: 'subscription' as const,
  totalAmountCents: cents,
  fees: [{ id: `${id}-f0`, feeType: 'subscription' as const, amountCents: cents }],
});

const at = (iso: string) => new Date(iso);
/** Midnight in Paris: 22:00Z the day before in summer time (to Oct 25), 23:00Z after. */
const OCT_1 = at('2026-09-30T22:00:00Z');
const OCT_10 = at('2026-10-09T22:00:00Z');
const OCT_24 = at('2026-10-23T22:00:00Z');
const NOV_1 = at('2026-10-31T23:00:00Z');
const DEC_1 = at('2026-11-30T23:00:00Z');

beforeAll(async () => {
  h = await startHarness({ ownDatabase: true });
  const tenant = await h.newTenant('finance');
  client = tenant.client;
  apiKey = tenant.apiKey;
  const step = (iso: string) => h.clock.set(iso);

  step('2026-09-20T09:00:00Z');
  await client.customers.upsert.mutate({ externalId: 'fin_a', currency: 'EUR', timezone: 'Europe/Paris' });
  await client.customers.upsert.mutate({ externalId: 'fin_b', currency: 'EUR' });
  step('2026-09-20T10:00:00Z');
  walletId = (await client.wallets.create.mutate({ externalCustomerId: 'fin_a', rateAmount: '1', grantedCredits: '50' })).id;

  step('2026-10-02T09:00:00Z');
  const [p1] = (await client.walletTransactions.create.mutate({ walletId, paidCredits: '100' })).transactions;
  step('2026-10-03T09:00:00Z');
  await client.walletTransactions.create.mutate({ walletId, grantedCredits: '20', expirationAt: at('2026-10-20T00:00:00Z') });
  step('2026-10-05T12:00:00Z');
  await client.walletTransactions.recordPayment.mutate({ id: p1!.id, status: 'succeeded' });
  step('2026-10-08T12:00:00Z');
  await client.invoices.applyPrepaidCredits.mutate({ invoice: EUR_INVOICE('inv_a', 'fin_a', 1_500) });
  step('2026-10-15T12:00:00Z');
  otherWalletId = (await client.wallets.create.mutate({ externalCustomerId: 'fin_b', rateAmount: '1', grantedCredits: '30' })).id;
  step('2026-10-16T12:00:00Z');
  // A name and metadata that need quoting in CSV, and characters outside ASCII.
  await client.walletTransactions.create.mutate({
    walletId: otherWalletId,
    grantedCredits: '1.5',
    name: 'Crédit, "bonus"\r\nligne 2 🎁',
    metadata: [{ key: 'note', value: ' a,b "c" ' }],
  });
  step('2026-10-20T00:00:00Z');
  expect(await h.admin.admin.runScheduledJobs.mutate({ asOf: at('2026-10-20T00:00:00Z') })).toMatchObject({ lotsExpired: 1 });
  step('2026-10-22T12:00:00Z');
  const invB = await client.invoices.applyPrepaidCredits.mutate({ invoice: EUR_INVOICE('inv_b', 'fin_a', 6_000) });
  expect([invB.prepaidGrantedCreditAmountCents, invB.prepaidPurchasedCreditAmountCents]).toEqual([5_000, 1_000]);
  step('2026-10-24T12:00:00Z');
  await client.invoices.void.mutate({ invoiceId: 'inv_b' });
  step('2026-10-26T12:00:00Z');
  const [p2] = (await client.walletTransactions.create.mutate({ walletId, paidCredits: '40' })).transactions;
  step('2026-10-27T12:00:00Z');
  await client.walletTransactions.recordPayment.mutate({ id: p2!.id, status: 'succeeded' });
  step('2026-10-28T12:00:00Z');
  await client.walletTransactions.recordPayment.mutate({ id: p2!.id, status: 'failed' });
  step('2026-10-30T12:00:00Z');
  await client.walletTransactions.create.mutate({ walletId, voidedCredits: '10' });
  step('2026-11-03T12:00:00Z');
  await client.wallets.terminate.mutate({ id: walletId });
  step('2026-12-15T12:00:00Z');
}, 60_000);
afterAll(() => h?.stop());

type Report = RouterOutputs['reports']['credits'];
const LINES = ['toppedUp', 'recredited', 'consumed', 'voided', 'expired', 'terminated', 'clawedBack'] as const;
const IN = ['toppedUp', 'recredited'] as const;
const OUT = ['consumed', 'voided', 'expired', 'terminated', 'clawedBack'] as const;
const total = (k: { purchasedCents: number; grantedCents: number }) => k.purchasedCents + k.grantedCents;

/** opening + in - out = closing, per kind, to the cent (the test's own sum). */
function expectIdentity(r: Report): void {
  for (const kind of ['purchasedCents', 'grantedCents'] as const) {
    const sum = r.opening[kind] + IN.reduce((s, l) => s + r[l][kind], 0) - OUT.reduce((s, l) => s + r[l][kind], 0);
    expect(sum, kind).toBe(r.closing[kind]);
  }
}

describe('wallets.get with asOf', () => {
  it('answers the balances as the settled ledger stood, zero before the first transaction', async () => {
    const asOf = async (iso: string) => {
      const w = await client.wallets.get.query({ id: walletId, asOf: at(iso) });
      if (!('asOf' in w)) throw new Error('no asOf echoed');
      return w;
    };
    const before = await asOf('2026-09-20T09:59:59.999Z');
    expect(before).toMatchObject({ asOf: at('2026-09-20T09:59:59.999Z'), balanceCents: 0, creditsBalance: '0', purchasedCents: 0, grantedCents: 0 });
    expect([before.ongoingBalanceCents, before.creditsOngoingBalance, before.ongoingUsageBalanceCents, before.creditsOngoingUsageBalance]).toEqual([
      null,
      null,
      null,
      null,
    ]);
    // Settings are as they are now (terminated), balances as they were then.
    expect(before.status).toBe('terminated');
    expect(await asOf('2026-09-20T10:00:00Z')).toMatchObject({ balanceCents: 5_000, creditsBalance: '50', grantedCents: 5_000, purchasedCents: 0 });
    // The paid top-up counts from its payment (Oct 5), not from its creation (Oct 2).
    expect(await asOf('2026-10-04T12:00:00Z')).toMatchObject({ balanceCents: 7_000, purchasedCents: 0, grantedCents: 7_000 });
    expect(await asOf('2026-10-05T12:00:00Z')).toMatchObject({ balanceCents: 17_000, purchasedCents: 10_000, grantedCents: 7_000 });
    expect(await asOf('2026-10-21T00:00:00Z')).toMatchObject({
      balanceCents: 15_000,
      purchasedCents: 10_000,
      grantedCents: 5_000,
      consumedAmountCents: 2_000,
    });
    expect(await asOf('2026-10-23T00:00:00Z')).toMatchObject({
      balanceCents: 9_000,
      purchasedCents: 9_000,
      grantedCents: 0,
      consumedAmountCents: 8_000,
    });
    const afterVoid = await asOf('2026-10-25T00:00:00Z');
    expect(afterVoid.balanceCents).toBe(15_000);
    expect(afterVoid.purchasedCents).toBeGreaterThanOrEqual(9_000); // 9,000, or 10,000 once voids recredit purchased as purchased
    expect(await asOf('2026-10-31T00:00:00Z')).toMatchObject({ balanceCents: 14_000 });
    expect(await asOf('2026-11-30T00:00:00Z')).toMatchObject({ balanceCents: 0, creditsBalance: '0', purchasedCents: 0, grantedCents: 0 });
    // Without asOf the read is the stored wallet, as before.
    const now = await client.wallets.get.query({ id: walletId });
    expect('asOf' in now).toBe(false);
    expect(now.balanceCents).toBe(0);
  });

  it('refuses another organization’s wallet and a bad date', async () => {
    const other = await h.newTenant();
    expect((await errorOf(other.client.wallets.get.query({ id: walletId, asOf: at('2026-10-05T12:00:00Z') }))).walletErrorCode).toBe(
      'WALLET_NOT_FOUND',
    );
    expect((await errorOf(client.wallets.get.query({ id: walletId, asOf: new Date(Number.NaN) }))).walletErrorCode).toBe('VALIDATION_FAILED');
  });
});

describe('wallets.balanceHistory', () => {
  it('gives a point at each local day end, each equal to the balance as of that moment', async () => {
    const { points } = await client.wallets.balanceHistory.query({ id: walletId, from: OCT_1, to: NOV_1, interval: 'day' });
    expect(points).toHaveLength(31);
    expect(points[0]?.at).toEqual(at('2026-10-01T22:00:00Z'));
    // Summer time ends on Oct 25 in Paris: the next midnights are at 23:00Z.
    expect(points.map((p) => p.at.toISOString()).slice(23, 26)).toEqual([
      '2026-10-24T22:00:00.000Z',
      '2026-10-25T23:00:00.000Z',
      '2026-10-26T23:00:00.000Z',
    ]);
    expect(points[30]?.at).toEqual(NOV_1);
    for (const point of points) {
      const asOf = await client.wallets.get.query({ id: walletId, asOf: point.at });
      if (!('asOf' in asOf)) throw new Error('no asOf echoed');
      expect([point.balanceCents, point.creditsBalance, point.purchasedCents, point.grantedCents], point.at.toISOString()).toEqual([
        asOf.balanceCents,
        asOf.creditsBalance,
        asOf.purchasedCents,
        asOf.grantedCents,
      ]);
    }
    expect(points.find((p) => p.at.toISOString() === '2026-10-05T22:00:00.000Z')).toMatchObject({ balanceCents: 17_000, purchasedCents: 10_000 });
  });

  it('ends weeks on Mondays and months on the first, in the customer’s zone', async () => {
    const weeks = await client.wallets.balanceHistory.query({ id: walletId, from: OCT_1, to: NOV_1, interval: 'week' });
    expect(weeks.points.map((p) => p.at.toISOString())).toEqual([
      '2026-10-04T22:00:00.000Z',
      '2026-10-11T22:00:00.000Z',
      '2026-10-18T22:00:00.000Z',
      '2026-10-25T23:00:00.000Z',
    ]);
    const months = await client.wallets.balanceHistory.query({ id: walletId, from: at('2026-09-01T00:00:00Z'), to: DEC_1, interval: 'month' });
    expect(months.points.map((p) => [p.at.toISOString(), p.balanceCents])).toEqual([
      ['2026-09-30T22:00:00.000Z', 5_000],
      ['2026-10-31T23:00:00.000Z', 14_000],
      ['2026-11-30T23:00:00.000Z', 0],
    ]);
  });

  it('refuses more than 1,000 points and an empty period with VALIDATION_FAILED', async () => {
    const tooMany = await errorOf(
      client.wallets.balanceHistory.query({ id: walletId, from: at('2020-01-01T00:00:00Z'), to: DEC_1, interval: 'day' }),
    );
    expect([tooMany.code, tooMany.walletErrorCode]).toEqual(['BAD_REQUEST', 'VALIDATION_FAILED']);
    // 1,000 days exactly is allowed.
    const thousand = await client.wallets.balanceHistory.query({
      id: walletId,
      from: at('2024-03-06T00:00:00Z'),
      to: at('2026-12-01T00:00:00Z'),
      interval: 'day',
    });
    expect(thousand.points).toHaveLength(1_000);
    expect((await errorOf(client.wallets.balanceHistory.query({ id: walletId, from: NOV_1, to: OCT_1, interval: 'day' }))).walletErrorCode).toBe(
      'VALIDATION_FAILED',
    );
  });
});

describe('reports.credits', () => {
  const report = (from: Date, to: Date, externalCustomerId?: string) =>
    client.reports.credits.query({ currency: 'EUR', from, to, ...(externalCustomerId ? { externalCustomerId } : {}) });

  it('ties out October for one customer, line by line', async () => {
    const r = await report(OCT_1, NOV_1, 'fin_a');
    expect(r).toMatchObject({
      currency: 'EUR',
      opening: { purchasedCents: 0, grantedCents: 5_000 },
      toppedUp: { purchasedCents: 14_000, grantedCents: 2_000 },
      consumed: { purchasedCents: 1_000, grantedCents: 6_500 },
      voided: { purchasedCents: 0, grantedCents: 1_000 },
      expired: { purchasedCents: 0, grantedCents: 500 },
      terminated: { purchasedCents: 0, grantedCents: 0 },
      clawedBack: { purchasedCents: 4_000, grantedCents: 0 },
      pendingPurchasesCents: 0,
    });
    expect(total(r.recredited)).toBe(6_000);
    // Recredits are classified by the kind of the lots the void created, whatever kind that is.
    const recredits = (await client.walletTransactions.list.query({ walletId, limit: 100 })).items.filter((tx) => tx.source === 'invoice_void');
    const byKind = (kind: string) => recredits.filter((tx) => tx.transactionStatus === kind).reduce((sum, tx) => sum + tx.amountCents, 0);
    expect(r.recredited).toEqual({ purchasedCents: byKind('purchased'), grantedCents: byKind('granted') });
    expect(total(r.closing)).toBe(14_000);
    expectIdentity(r);
    // The closing is what the wallet held at the end of the month, per kind.
    const end = await client.wallets.get.query({ id: walletId, asOf: NOV_1 });
    if (!('asOf' in end)) throw new Error('no asOf echoed');
    expect(r.closing).toEqual({ purchasedCents: end.purchasedCents, grantedCents: end.grantedCents });
  });

  it('chains sub-periods: each closing is the next opening, and their movements add up to the month', async () => {
    const bounds = [OCT_1, OCT_10, OCT_24, NOV_1];
    const parts: Report[] = [];
    for (let i = 0; i + 1 < bounds.length; i++) parts.push(await report(bounds[i]!, bounds[i + 1]!, 'fin_a'));
    const month = await report(OCT_1, NOV_1, 'fin_a');
    for (const part of parts) expectIdentity(part);
    for (let i = 0; i + 1 < parts.length; i++) expect(parts[i + 1]?.opening).toEqual(parts[i]?.closing);
    expect(parts[0]?.opening).toEqual(month.opening);
    expect(parts[2]?.closing).toEqual(month.closing);
    for (const line of LINES) {
      for (const kind of ['purchasedCents', 'grantedCents'] as const) {
        expect(
          parts.reduce((s, p) => s + p[line][kind], 0),
          `${line}.${kind}`,
        ).toBe(month[line][kind]);
      }
    }
    // P1 was pending from Oct 2 to Oct 5: a period ending Oct 4 shows it as pending.
    expect((await report(OCT_1, at('2026-10-04T00:00:00Z'), 'fin_a')).pendingPurchasesCents).toBe(10_000);
    expect(parts[0]?.toppedUp).toEqual({ purchasedCents: 10_000, grantedCents: 2_000 });
  });

  it('ends November at zero through the termination, and adds the other customer for the organization', async () => {
    const nov = await report(NOV_1, DEC_1, 'fin_a');
    expectIdentity(nov);
    expect(total(nov.terminated)).toBe(14_000);
    expect(nov.closing).toEqual({ purchasedCents: 0, grantedCents: 0 });
    const org = await report(OCT_1, NOV_1);
    expectIdentity(org);
    expect(org.toppedUp).toEqual({ purchasedCents: 14_000, grantedCents: 5_150 });
    expect(total(org.closing)).toBe(17_150);
    const usd = await client.reports.credits.query({ currency: 'USD', from: OCT_1, to: NOV_1 });
    expect(total(usd.opening) + total(usd.closing) + total(usd.toppedUp)).toBe(0);
  });

  it('refuses an unknown customer and a period that ends before it starts', async () => {
    expect((await errorOf(report(OCT_1, NOV_1, 'nobody'))).walletErrorCode).toBe('CUSTOMER_NOT_FOUND');
    expect((await errorOf(report(NOV_1, OCT_1))).walletErrorCode).toBe('VALIDATION_FAILED');
  });
});

describe('customers.list with totals', () => {
  it('sums active wallets per currency', async () => {
    const { items } = await client.customers.list.query({ includeTotals: true });
    const byId = new Map(items.map((c) => [c.externalId, 'totals' in c ? c.totals : undefined]));
    expect(byId.get('fin_a')).toEqual([]);
    expect(byId.get('fin_b')).toEqual([{ currency: 'EUR', balanceCents: 3_150, ongoingBalanceCents: 3_150, activeWallets: 1 }]);
    const plain = await client.customers.list.query({});
    expect(plain.items.every((c) => !('totals' in c))).toBe(true);
    void otherWalletId;
  });
});

/** RFC 4180, the test's own: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      record.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i += 2;
    } else {
      if (c === '\r' || c === '\n' || c === '"') throw new Error(`bare ${JSON.stringify(c)} at ${i}`);
      field += c;
      i++;
    }
  }
  if (field !== '' || record.length > 0) throw new Error('the last record has no CRLF');
  return records;
}

const exportUrl = (path: string, params: Record<string, string>) => `${h.app.url}${path}?${new URLSearchParams(params)}`;
const get = (url: string, key = apiKey) => fetch(url, { headers: { authorization: `Bearer ${key}`, 'x-request-id': 'export-test-1' } });

async function allTransactions(id: string) {
  const items: RouterOutputs['walletTransactions']['list']['items'] = [];
  let cursor: string | null = null;
  do {
    const page: RouterOutputs['walletTransactions']['list'] = await client.walletTransactions.list.query({ walletId: id, cursor, limit: 100 });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items.reverse();
}

const cell = (v: unknown) => (v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v));

describe('CSV exports', () => {
  it('exports a wallet’s transactions that parse back into the API’s rows', async () => {
    for (const id of [walletId, otherWalletId]) {
      const response = await get(exportUrl('/exports/wallet-transactions.csv', { walletId: id }));
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8; header=present');
      expect(response.headers.get('x-request-id')).toBe('export-test-1');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      const bytes = new Uint8Array(await response.arrayBuffer());
      expect([bytes[0], bytes[1], bytes[2]]).not.toEqual([0xef, 0xbb, 0xbf]); // no BOM
      const [header, ...rows] = parseCsv(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      const api = await allTransactions(id);
      expect(rows).toHaveLength(api.length);
      const column = (row: string[], name: string) => row[header!.indexOf(name)];
      api.forEach((tx, i) => {
        const row = rows[i]!;
        for (const name of header!) {
          if (name === 'amount' || name === 'remainingAmount' || name === 'metadata') continue;
          expect(column(row, name), `${tx.id} ${name}`).toBe(cell((tx as Record<string, unknown>)[name]));
        }
        expect(JSON.parse(column(row, 'metadata')!)).toEqual(tx.metadata);
        // Decimal units and cents agree exactly (EUR: two digits).
        expect(column(row, 'amount')).toBe((tx.amountCents / 100).toFixed(2));
        expect(column(row, 'remainingAmount')).toBe(tx.remainingAmountCents === null ? '' : (tx.remainingAmountCents / 100).toFixed(2));
      });
    }
    const tricky = (await allTransactions(otherWalletId)).at(-1);
    expect(tricky?.name).toBe('Crédit, "bonus"\r\nligne 2 🎁');
  });

  it('limits by (from, to] and exports the credits report as the API computes it', async () => {
    const october = parseCsv(
      await (await get(exportUrl('/exports/wallet-transactions.csv', { walletId, from: OCT_1.toISOString(), to: NOV_1.toISOString() }))).text(),
    ).slice(1);
    const created = (await allTransactions(walletId)).filter((tx) => tx.createdAt > OCT_1 && tx.createdAt <= NOV_1);
    expect(october.map((r) => r[0])).toEqual(created.map((tx) => tx.id));

    const params = { currency: 'EUR', from: '2026-10-01T00:00:00+02:00', to: NOV_1.toISOString(), externalCustomerId: 'fin_a' };
    const response = await get(exportUrl('/exports/credits-report.csv', params));
    expect(response.status).toBe(200);
    const [header, ...rows] = parseCsv(await response.text());
    expect(header).toEqual([
      'currency',
      'from',
      'to',
      'externalCustomerId',
      'line',
      'purchasedAmount',
      'purchasedCents',
      'grantedAmount',
      'grantedCents',
      'totalAmount',
      'totalCents',
    ]);
    const report = await client.reports.credits.query({ currency: 'EUR', from: OCT_1, to: NOV_1, externalCustomerId: 'fin_a' });
    const expected = [
      ...(['opening', ...LINES, 'closing'] as const).map((line) => [line, report[line].purchasedCents, report[line].grantedCents]),
      ['pendingPurchases', report.pendingPurchasesCents, 0],
    ] as [string, number, number][];
    expect(rows).toEqual(
      expected.map(([line, p, g]) => [
        'EUR',
        OCT_1.toISOString(),
        NOV_1.toISOString(),
        'fin_a',
        line,
        (p / 100).toFixed(2),
        String(p),
        (g / 100).toFixed(2),
        String(g),
        ((p + g) / 100).toFixed(2),
        String(p + g),
      ]),
    );
  });

  it('refuses without a key, with bad parameters and for another organization’s wallet, in the procedures’ codes', async () => {
    const url = exportUrl('/exports/wallet-transactions.csv', { walletId });
    const noKey = await fetch(url);
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    const other = await h.newTenant();
    const foreign = await get(url, other.apiKey);
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: { walletErrorCode: string } }).error.walletErrorCode).toBe('WALLET_NOT_FOUND');
    for (const params of [{ walletId, from: 'yesterday' }, { walletId, extra: '1' }, {}]) {
      const bad = await get(exportUrl('/exports/wallet-transactions.csv', params as Record<string, string>));
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { walletErrorCode: string } }).error.walletErrorCode).toBe('VALIDATION_FAILED');
    }
    const badReport = await get(exportUrl('/exports/credits-report.csv', { currency: 'EURO', from: OCT_1.toISOString(), to: NOV_1.toISOString() }));
    expect(badReport.status).toBe(400);
    const post = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } });
    expect(post.status).toBe(405);
  });
});

describe('the ledger audit', () => {
  it('finds nothing, the report identity included', async () => {
    expect(await auditLedger(h.app.databaseUrl)).toEqual([]);
  });
});
