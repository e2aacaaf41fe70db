/**
 * The console in Chromium against a real server: the seed's wallet screens end to end (add a
 * wallet with credits, top up, void, edit the expiration, terminate, balances on screen), server
 * errors beside their fields, and keyboard use with a visible focus ring.
 */
import type { Locator, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type ConsoleEnvironment, checkScreen, openCustomer, screenshot, startConsoleEnvironment } from './browser.js';

const nextYear = new Date().getUTCFullYear() + 1;

// Started by the first test that needs it (not in beforeAll, where a failure would mark the tests
// skipped): without Chromium every test fails with what to install.
let started: Promise<ConsoleEnvironment> | null = null;
const environment = () => (started ??= startConsoleEnvironment());

afterAll(async () => {
  const env = await started?.catch(() => null);
  await env?.stop();
});

/** Waits until the element shows exactly this text; on timeout says what it showed instead. */
async function expectText(locator: Locator, text: string): Promise<void> {
  try {
    await locator.filter({ hasText: text }).first().waitFor({ timeout: 10_000 });
  } catch {
    throw new Error(
      `expected "${text}", the page shows "${
        (await locator
          .first()
          .textContent({ timeout: 1_000 })
          .catch(() => null)) ?? '(nothing)'
      }"`,
    );
  }
  expect((await locator.first().textContent())?.trim()).toBe(text);
}

/** The error shown beside a control: the element its aria-describedby names with class field-error. */
async function errorBeside(control: Locator): Promise<string | null> {
  expect(await control.getAttribute('aria-invalid')).toBe('true');
  const ids = (await control.getAttribute('aria-describedby'))?.split(' ') ?? [];
  for (const id of ids) {
    const element = control.page().locator(`[id="${id}"].field-error`);
    if (await element.count()) return (await element.textContent())?.trim() ?? null;
  }
  return null;
}

async function addWallet(page: Page, fields: { name: string; rate: string; granted?: string; paid?: string; expiration?: string }) {
  await page.getByRole('button', { name: 'Add a wallet & credits' }).click();
  const form = page.getByRole('region', { name: 'Add a wallet & credits' });
  await form.getByLabel('Name (optional)').fill(fields.name);
  await form.getByLabel('Credit value').fill(fields.rate);
  if (fields.paid) await form.getByLabel('Purchased credits').fill(fields.paid);
  if (fields.granted) await form.getByLabel('Granted credits').fill(fields.granted);
  if (fields.expiration) await form.getByLabel('Expiration date (optional)').fill(fields.expiration);
  return form;
}

describe('wallets console', () => {
  it('adds a wallet with credits, tops up, voids, edits the expiration and terminates, with the balances on screen', async () => {
    const env = await environment();
    await env.client.customers.upsert.mutate({ externalId: 'cus_flow', currency: 'USD' });
    const page = await env.newPage();
    await openCustomer(page, env.apiKey, 'cus_flow');
    await checkScreen(page, '01-wallets-tab-empty');

    const form = await addWallet(page, { name: 'Main', rate: '5', granted: '10', paid: '4', expiration: `${nextYear}-06-30` });
    await expectText(form.getByText('1 credit = $5.00'), '1 credit = $5.00');
    // The preview uses wallet-core's rule: 4 credits at $5.00 are worth $20.00.
    await expectText(form.getByTestId('credit-preview').locator('p').first(), 'Purchased: 4 credits at $5.00 are worth $20.00, stored as typed.');
    await form.getByLabel('Invoice a top-up only after a successful payment').check();
    await form.getByLabel('Usage-based charges').check();
    await form.getByLabel('Billable metrics').fill('api_calls, storage');
    await checkScreen(page, '02-add-wallet-form');
    await form.getByRole('button', { name: 'Add wallet & credits' }).click();

    const wallet = page.getByRole('article', { name: 'Main' });
    await expectText(wallet.getByTestId('balance'), '10 credits · $50.00');
    await expectText(wallet.getByTestId('ongoing-balance'), '10 credits · $50.00');
    await expectText(wallet.getByTestId('expiration'), `${nextYear}-06-30`);
    await expectText(wallet.locator('dd', { hasText: 'metrics' }), 'Usage-based charges; metrics api_calls, storage');
    await expectText(wallet.getByTestId('pending-purchases'), '4 credits · $20.00 (1 top-up awaits payment)');
    await checkScreen(page, '03-wallet-added');

    await wallet.getByRole('button', { name: 'Top up' }).click();
    const topUp = wallet.getByRole('region', { name: 'Top up' });
    await topUp.getByLabel('Granted credits').fill('2.5');
    await topUp.getByRole('button', { name: 'Top up' }).click();
    await expectText(wallet.getByTestId('balance'), '12.5 credits · $62.50');
    await page.getByRole('status').filter({ hasText: 'Wallet Main topped up: 2.5 credits granted ($12.50).' }).waitFor();

    await wallet.getByRole('button', { name: 'Void credits' }).click();
    await wallet.getByLabel('Credits to void').fill('0.5');
    await wallet.getByRole('region', { name: 'Void credits' }).getByRole('button', { name: 'Void credits' }).click();
    await expectText(wallet.getByTestId('balance'), '12 credits · $60.00');

    await wallet.getByRole('button', { name: 'Show transactions' }).click();
    const rows = wallet.getByRole('table').locator('tbody tr');
    await rows.nth(3).waitFor();
    expect(await rows.count()).toBe(4);
    const statuses = await rows.evaluateAll((trs) => {
      const headers = [...(trs[0]?.closest('table')?.querySelectorAll('thead th') ?? [])].map((th) => th.textContent?.trim());
      const cell = (tr: Element, name: string) => tr.children[headers.indexOf(name)]?.textContent;
      return trs.map((tr) => `${cell(tr, 'Kind')} ${cell(tr, 'Status')}`);
    });
    expect(statuses.sort()).toEqual(['Granted Settled', 'Granted Settled', 'Purchased Pending', 'Voided Settled']);
    await checkScreen(page, '04-transactions');

    await wallet.getByRole('button', { name: 'Edit wallet' }).click();
    await page.getByRole('menuitem', { name: 'Edit information' }).click();
    const edit = wallet.getByRole('region', { name: 'Edit information' });
    expect(await edit.getByLabel('Expiration date (optional)').inputValue()).toBe(`${nextYear}-06-30`);
    await edit.getByLabel('Expiration date (optional)').fill(`${nextYear}-12-31`);
    await edit.getByLabel('Name (optional)').fill('Main account');
    await edit.getByRole('button', { name: 'Edit information' }).click();
    await page.getByRole('status').filter({ hasText: 'Wallet Main renamed to Main account.' }).waitFor();
    const renamed = page.getByRole('article', { name: 'Main account' });
    await expectText(renamed.getByTestId('expiration'), `${nextYear}-12-31`);
    expect((await env.client.wallets.list.query({ externalCustomerId: 'cus_flow' })).items[0]?.expirationAt?.toISOString()).toBe(
      `${nextYear}-12-31T23:59:59.000Z`,
    );

    // Terminate with the keyboard only: the menu opens on ArrowDown, the focus ring is visible.
    await wallet.getByRole('button', { name: 'Edit wallet' }).focus();
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() => document.activeElement?.textContent === 'Edit information', undefined, { timeout: 5_000 });
    await page.keyboard.press('ArrowDown');
    const focused = page.locator(':focus');
    expect(await focused.textContent()).toBe('Terminate wallet');
    expect(await focused.evaluate((el) => getComputedStyle(el).outlineStyle)).not.toBe('none');
    await page.keyboard.press('Enter');
    const confirm = wallet.getByRole('alertdialog', { name: 'Terminate wallet' });
    // The dialog is modal and the safe choice has the focus.
    await page.waitForFunction(() => document.activeElement?.textContent === 'Cancel' && document.activeElement.closest('dialog[open]'), undefined, {
      timeout: 5_000,
    });
    const warning = (await confirm.textContent()) ?? '';
    expect(warning).toContain('voids every remaining credit (12 credits, $60.00)');
    expect(warning).toContain('cannot be undone');
    await checkScreen(page, '05-terminate-confirmation');
    await confirm.getByRole('button', { name: 'Terminate wallet' }).click();
    await expectText(wallet.locator('.badge').first(), 'Terminated');
    await expectText(wallet.getByTestId('balance'), '0 credits · $0.00');
    await page.getByRole('status').filter({ hasText: 'Wallet Main account terminated: 12 credits ($60.00) voided.' }).waitFor();
    await checkScreen(page, '06-terminated');
    await page.close();
  });

  it('updates a balance on screen from a live event, without a reload', async () => {
    const env = await environment();
    await env.client.customers.upsert.mutate({ externalId: 'cus_live', currency: 'USD' });
    const created = await env.client.wallets.create.mutate({ externalCustomerId: 'cus_live', name: 'Live', rateAmount: '1', grantedCredits: '5' });
    const page = await env.newPage();
    await openCustomer(page, env.apiKey, 'cus_live');
    const wallet = page.getByRole('article', { name: 'Live' });
    await expectText(wallet.getByTestId('balance'), '5 credits · $5.00');
    await page.getByRole('status').filter({ hasText: 'Live updates: on' }).waitFor();
    await page.evaluate(() => Object.assign(window, { keptAcrossUpdates: true }));

    // Another user (here: the host through the typed client) changes the wallet.
    await env.client.walletTransactions.create.mutate({ walletId: created.id, grantedCredits: '7.25' });
    await expectText(wallet.getByTestId('balance'), '12.25 credits · $12.25');
    await env.client.walletTransactions.create.mutate({ walletId: created.id, voidedCredits: '2.25' });
    await expectText(wallet.getByTestId('balance'), '10 credits · $10.00');
    expect(await page.evaluate(() => (window as unknown as { keptAcrossUpdates?: boolean }).keptAcrossUpdates)).toBe(true);
    await screenshot(page, '08-live-update');
    await page.close();
  });

  it('shows each server error beside its field and keeps every entry', async () => {
    const env = await environment();
    await env.client.customers.upsert.mutate({ externalId: 'cus_errors', currency: 'EUR' });
    const page = await env.newPage();
    await openCustomer(page, env.apiKey, 'cus_errors');

    const form = await addWallet(page, { name: 'Keep me', rate: 'five', granted: '10', expiration: '2020-01-01' });
    await form.getByRole('button', { name: 'Add wallet & credits' }).click();
    const rate = form.getByLabel('Credit value');
    await rate.and(page.locator('[aria-invalid="true"]')).waitFor();
    expect(await errorBeside(rate)).toBe('Must be a decimal string such as "10" or "10.5".');
    expect(await form.getByLabel('Name (optional)').inputValue()).toBe('Keep me');
    expect(await form.getByLabel('Granted credits').inputValue()).toBe('10');
    // Focus moves to the first field in error.
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'rateAmount', undefined, { timeout: 5_000 });

    await rate.fill('2');
    await form.getByRole('button', { name: 'Add wallet & credits' }).click();
    const expiration = form.getByLabel('Expiration date (optional)');
    await expiration.and(page.locator('[aria-invalid="true"]')).waitFor();
    expect(await errorBeside(expiration)).toBe('The expiration date must be in the future.');
    expect(await rate.getAttribute('aria-invalid')).toBeNull();
    expect(await form.getByLabel('Name (optional)').inputValue()).toBe('Keep me');
    expect(await expiration.inputValue()).toBe('2020-01-01');
    await checkScreen(page, '07-error-beside-field');
    expect((await env.client.wallets.list.query({ externalCustomerId: 'cus_errors' })).items).toHaveLength(0);

    await expiration.fill('');
    await form.getByRole('button', { name: 'Add wallet & credits' }).click();
    const wallet = page.getByRole('article', { name: 'Keep me' });
    await expectText(wallet.getByTestId('balance'), '10 credits · €20.00');

    await wallet.getByRole('button', { name: 'Void credits' }).click();
    const voided = wallet.getByLabel('Credits to void');
    await voided.fill('11');
    await wallet.getByRole('region', { name: 'Void credits' }).getByRole('button', { name: 'Void credits' }).click();
    await voided.and(page.locator('[aria-invalid="true"]')).waitFor();
    expect(await errorBeside(voided)).toBe('The wallet does not hold that many credits.');
    expect(await voided.inputValue()).toBe('11');
    await expectText(wallet.getByTestId('balance'), '10 credits · €20.00');
    await page.close();
  });
});
