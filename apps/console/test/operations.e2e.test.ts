/**
 * Operations in Chromium against a real server, in one page session: an API key created in the
 * console works until it is revoked there (through the confirmation dialog); a webhook endpoint
 * whose receiver answers 500 shows its deliveries with every attempt; the live event log shows the
 * events as they happen. axe-core checks each screen.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWalletClient } from '@wallets/api';
import { afterAll, describe, expect, it } from 'vitest';
import { checkScreen, startConsoleEnvironment } from './browser.js';

let received = 0;
const receiver = http.createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    received += 1;
    response.writeHead(500).end('receiver down');
  });
});

afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
});

/** Polls until the check passes (the server refuses a revoked key within seconds, not at once). */
async function eventually(check: () => Promise<void>, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('operations', () => {
  it('creates and revokes an API key, shows a failing endpoint’s attempts and the live event log', async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    const env = await startConsoleEnvironment({ WALLET_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8' });
    try {
      const page = await env.newPage();
      await page.getByLabel('API key').fill(env.apiKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('link', { name: 'Operations' }).click();
      await page.getByRole('heading', { name: 'Operations' }).waitFor();
      await page.getByRole('status').filter({ hasText: 'Live updates: on' }).waitFor();

      // An API key: the secret is shown once and works.
      await page.getByLabel('Key name').fill('Billing app');
      await page.getByRole('button', { name: 'Create API key' }).click();
      const secret = (await page.getByTestId('secret').textContent()) ?? '';
      expect(secret).toMatch(/^wk_/);
      const billing = createWalletClient({ url: env.app.url, apiKey: secret });
      await billing.customers.upsert.mutate({ externalId: 'cus_ops', currency: 'USD' });
      await page
        .getByRole('row', { name: /Billing app/ })
        .getByText('Active')
        .waitFor();
      await checkScreen(page, '20-operations-api-key-created');
      await page.getByRole('button', { name: 'Done' }).click();

      // Escape closes the dialog and gives the focus back; revoked through the dialog, the key stops working.
      const revoke = page.getByRole('button', { name: 'Revoke key Billing app' });
      await revoke.click();
      const dialog = page.getByRole('alertdialog', { name: 'Revoke API key' });
      await dialog.waitFor();
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      await page.waitForFunction(() => document.activeElement?.textContent === 'Revoke key Billing app', undefined, { timeout: 5_000 });
      await page.keyboard.press('Enter');
      expect(await dialog.textContent()).toContain('refused within seconds');
      await checkScreen(page, '21-operations-revoke-dialog');
      await dialog.getByRole('button', { name: 'Revoke key' }).click();
      await page.getByRole('status').filter({ hasText: 'API key Billing app revoked.' }).waitFor();
      await page
        .getByRole('row', { name: /Billing app/ })
        .getByText(/^Revoked/)
        .waitFor();
      await eventually(async () => {
        await expect(billing.customers.list.query({})).rejects.toMatchObject({ data: { code: 'UNAUTHORIZED' } });
      });

      // A webhook endpoint whose receiver fails: two attempts, a retry planned.
      await page.getByLabel('Endpoint URL').fill(receiverUrl);
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      expect(await page.getByTestId('secret').textContent()).toMatch(/^whsec_/);
      const wallet = await env.client.wallets.create.mutate({ externalCustomerId: 'cus_ops', name: 'Ops', rateAmount: '1', grantedCredits: '3' });
      await env.app.jobs.deliverWebhooks(new Date());
      await env.app.jobs.deliverWebhooks(new Date(Date.now() + 60_000));
      expect(received).toBeGreaterThanOrEqual(2);
      const endpoint = page.getByRole('article', { name: receiverUrl });
      await endpoint.getByRole('button', { name: 'Show deliveries' }).click();
      const created = endpoint.getByRole('row').filter({ hasText: 'wallet.created' });
      await created.waitFor();
      expect(await created.getByRole('cell').nth(1).textContent()).toBe('Retrying');
      expect(await created.getByRole('cell').nth(2).textContent()).toBe('2');
      const attempts = await created.getByRole('listitem').allTextContents();
      expect(attempts).toHaveLength(2);
      for (const attempt of attempts) expect(attempt).toMatch(/: HTTP 500, \d+ ms$/);
      expect(await created.getByRole('cell').nth(4).textContent()).toMatch(/UTC$/);

      // The live event log shows what happened, newest first.
      const log = page.getByRole('region', { name: 'Live event log', exact: true });
      await log.getByRole('row').filter({ hasText: 'wallet.created' }).filter({ hasText: wallet.id }).waitFor();
      await checkScreen(page, '22-operations-webhooks-and-events');
      await page.close();
    } finally {
      await env.stop();
    }
  });
});
