/**
 * The finance screens in Chromium against a real server, in one page session. The server's clock is
 * set back to make a history on three past days (granted credits, an invoice and a void, a paid
 * top-up settled the next day); then the test reads, against its own sums: the customers list with
 * totals and paging, the wallet page (balance history table, running balance, CSV download equal
 * to the API's rows) and the month's report tying out. axe-core checks each screen.
 */
import fs from 'node:fs';
import type { Clock } from '@wallets/api';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type ConsoleEnvironment, checkScreen, startConsoleEnvironment } from './browser.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

let clockAt: Date | null = null;
const clock: Clock = { now: () => clockAt ?? new Date() };

let env: ConsoleEnvironment | null = null;
afterAll(async () => {
  await env?.stop();
});

/** Three consecutive past days of one UTC month, all within the last 30 days. */
function historyDays(now: Date): [Date, Date, Date] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const first = now.getUTCDate() >= 4 ? today - 3 * DAY_MS : Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 10);
  return [new Date(first), new Date(first + DAY_MS), new Date(first + 2 * DAY_MS)];
}

/** RFC 4180 records (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field || record.length) records.push([...record, field]);
  return records;
}

/** Credits as 1e-5 units, for the test's own sums. */
const scaled = (credits: string) => {
  const [whole = '0', fraction = ''] = credits.split('.');
  return BigInt(whole) * 100_000n + BigInt(fraction.padEnd(5, '0'));
};
const shownCredits = (units: bigint) => {
  const fraction = (units % 100_000n).toString().padStart(5, '0').replace(/0+$/, '');
  return `${(units / 100_000n).toLocaleString('en-US')}${fraction ? `.${fraction}` : ''}`;
};

async function cellsByHeader(page: Page, tableName: string): Promise<Record<string, string>[]> {
  return page.getByRole('table', { name: tableName }).evaluate((table) => {
    const headers = [...table.querySelectorAll('thead th')].map((th) => th.textContent?.trim() ?? '');
    return [...table.querySelectorAll('tbody tr')].map((tr) =>
      Object.fromEntries([...tr.children].map((cell, index) => [headers[index] ?? String(index), cell.textContent?.trim() ?? ''])),
    );
  });
}

describe('finance screens', () => {
  it('shows totals, a wallet’s history, running balance and CSV, and a month’s report that ties out', async () => {
    env = await startConsoleEnvironment({}, clock);
    const { client } = env;
    const [day1, day2, day3] = historyDays(new Date());
    const at = (day: Date, hours: number) => new Date(day.getTime() + hours * HOUR_MS);

    // Day 1: 100 granted. Day 2: an invoice takes $30, 5 credits voided. Day 3: 50 purchased, paid an hour later.
    clockAt = at(day1, 10);
    await client.customers.upsert.mutate({ externalId: 'cus_fin', currency: 'USD' });
    const wallet = await client.wallets.create.mutate({ externalCustomerId: 'cus_fin', name: 'Ledger', rateAmount: '1', grantedCredits: '100' });
    clockAt = at(day2, 10);
    await client.invoices.applyPrepaidCredits.mutate({
      invoice: {
        id: 'inv_fin_1',
        externalCustomerId: 'cus_fin',
        currency: 'USD',
        invoiceType: 'subscription',
        totalAmountCents: 3_000,
        fees: [{ id: 'fee_1', feeType: 'subscription', amountCents: 3_000 }],
      },
    });
    clockAt = at(day2, 11);
    await client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '5' });
    clockAt = at(day3, 10);
    const { transactions } = await client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '50' });
    clockAt = at(day3, 11);
    await client.walletTransactions.recordPayment.mutate({ id: transactions[0]?.id ?? '', status: 'succeeded' });
    clockAt = null;
    // 21 more customers: the list has two pages.
    for (let i = 1; i <= 21; i++) await client.customers.upsert.mutate({ externalId: `cus_page_${String(i).padStart(2, '0')}` });

    const page = await env.newPage();
    await page.getByLabel('API key').fill(env.apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // Customers: totals and paging (newest first: cus_fin, made on a past day, is on the second page).
    await page.getByTestId('customers-range').filter({ hasText: 'Customers 1–20' }).waitFor();
    await checkScreen(page, '30-customers');
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByTestId('customers-range').filter({ hasText: 'Customers 21–22 of 22' }).waitFor();
    const fin = page.locator('tr[data-customer="cus_fin"]');
    expect(await fin.locator('td').allTextContents()).toEqual(['USD', '$115.00', '$115.00', '1', 'UTC', day1.toISOString().slice(0, 10)]);
    expect(await page.locator('tr[data-customer="cus_page_01"] td').allTextContents()).toEqual(['Not set', '—', '—', '0', 'UTC', expect.any(String)]);
    await checkScreen(page, '30-customers-page-2');
    await page.getByRole('button', { name: 'Previous page' }).click();
    await page.getByTestId('customers-range').filter({ hasText: 'Customers 1–20' }).waitFor();
    await page.getByRole('button', { name: 'Next page' }).click();

    // The wallet's page.
    await page.getByRole('link', { name: 'cus_fin', exact: true }).click();
    await page.getByRole('link', { name: 'Open wallet page of Ledger' }).click();
    await page.getByRole('heading', { name: 'Wallet Ledger' }).waitFor();

    // The balance history table: the ends of the three days, as the test set them.
    await page.getByRole('table', { name: 'Balance history of Ledger' }).waitFor();
    const history = await cellsByHeader(page, 'Balance history of Ledger');
    const row = (end: Date) =>
      history.find(
        (r) =>
          r['Balance at'] === `${end.toLocaleString('en-US', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' })}, 00:00:00 UTC`,
      );
    expect(row(new Date(day1.getTime() + DAY_MS))).toMatchObject({ Purchased: '$0.00', Granted: '$100.00', Balance: '$100.00', Credits: '100' });
    expect(row(new Date(day2.getTime() + DAY_MS))).toMatchObject({ Purchased: '$0.00', Granted: '$65.00', Balance: '$65.00', Credits: '65' });
    expect(row(new Date(day3.getTime() + DAY_MS))).toMatchObject({ Purchased: '$50.00', Granted: '$65.00', Balance: '$115.00', Credits: '115' });
    expect(history[0]).toMatchObject({ 'Balance at': 'To date', Balance: '$115.00' });
    expect(row(new Date(day1.getTime()))).toMatchObject({ Balance: '$0.00' });
    expect(await page.locator('.chart canvas').count()).toBeGreaterThan(0);

    // The running balance equals the test's own sums of the API's rows, oldest first.
    const apiRows = (await client.walletTransactions.list.query({ walletId: wallet.id, limit: 100 })).items;
    let balance = 0n;
    const expected = new Map<string, string>();
    for (const tx of [...apiRows].reverse()) {
      if (tx.status === 'settled') balance += (tx.transactionType === 'inbound' ? 1n : -1n) * scaled(tx.creditAmount);
      expected.set(tx.id, shownCredits(balance));
    }
    const shown = await page
      .getByRole('table', { name: 'Transactions of Ledger' })
      .locator('tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-transaction-id'), tr.querySelector('[data-column="balance-after"]')?.textContent]),
      );
    expect(shown).toHaveLength(apiRows.length);
    expect(Object.fromEntries(shown)).toEqual(Object.fromEntries(expected));
    const transactionsTable = await cellsByHeader(page, 'Transactions of Ledger');
    expect(transactionsTable.find((r) => r.Kind === 'Invoiced')).toMatchObject({ Invoice: 'inv_fin_1', Amount: '−$30.00', Status: 'Settled' });
    await page.getByRole('button', { name: 'Show transaction ids' }).click();
    await page.getByRole('columnheader', { name: 'Transaction id' }).waitFor();
    await checkScreen(page, '31-wallet-page');

    // Download CSV: the file holds the API's rows.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = parseCsv(fs.readFileSync((await download.path()) ?? '', 'utf8'));
    const header = csv[0] ?? [];
    const records = csv.slice(1).map((r) => Object.fromEntries(header.map((name, i) => [name, r[i]])));
    expect(records.map((r) => [r.id, r.status, r.transactionType, r.creditAmount, r.amountCents, r.invoiceId ?? ''])).toEqual(
      [...apiRows].reverse().map((tx) => [tx.id, tx.status, tx.transactionType, tx.creditAmount, String(tx.amountCents), tx.invoiceId ?? '']),
    );

    // Reports: the month of the history, tying out.
    await page.getByRole('link', { name: 'Reports' }).click();
    await page.getByLabel('Month (UTC)').fill(day1.toISOString().slice(0, 7));
    const report = page.getByRole('region', { name: /^Credits report/ });
    await report.waitFor();
    const lines = await report
      .locator('tr[data-line]')
      .evaluateAll((trs) =>
        Object.fromEntries(trs.map((tr) => [tr.getAttribute('data-line'), [...tr.querySelectorAll('td')].map((td) => td.textContent)])),
      );
    expect(lines).toMatchObject({
      opening: ['$0.00', '$0.00', '$0.00'],
      toppedUp: ['$50.00', '$100.00', '$150.00'],
      consumed: ['$0.00', '$30.00', '$30.00'],
      voided: ['$0.00', '$5.00', '$5.00'],
      closing: ['$50.00', '$65.00', '$115.00'],
    });
    expect(await report.getByTestId('identity').textContent()).toBe(
      '$0.00 opening + $150.00 in − $35.00 out = $115.00, the closing balance: the report ties out.',
    );
    await checkScreen(page, '32-reports');
    const [reportCsv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const reportRows = parseCsv(fs.readFileSync((await reportCsv.path()) ?? '', 'utf8'));
    expect(reportRows.length).toBeGreaterThan(8);
    expect(reportRows.map((r) => r.join(',')).join('\n')).toContain('11500');
    await page.close();
  });
});
