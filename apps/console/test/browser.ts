/**
 * The e2e environment: a real API server (startApp) serving the built console on a fresh
 * database, an organization with its key, the typed client for arranging data and Chromium
 * through playwright-core (Debian's binary; playwright never downloads a browser here).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Clock, createWalletClient, type RunningApp, readEnv, startApp, type WalletClient } from '@wallets/api';
import { type Browser, chromium, type Page } from 'playwright-core';
import { expect, inject } from 'vitest';
import { distDir } from '../scripts/build-if-stale.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const ARTIFACTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test-artifacts');

export interface ConsoleEnvironment {
  app: RunningApp;
  apiKey: string;
  client: WalletClient;
  browser: Browser;
  newPage(): Promise<Page>;
  stop(): Promise<void>;
}

/** Chromium is required: its absence fails the tests with what to install, never skips them. */
function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium was not found at ${CHROMIUM_PATH}. The console's browser tests need it: on Debian or Ubuntu run ` +
        '`apt-get update && apt-get install -y chromium` (as root), or set CHROMIUM_PATH to a Chromium binary.',
    );
  }
}

export async function startConsoleEnvironment(extraEnv: Record<string, string> = {}, clock?: Clock): Promise<ConsoleEnvironment> {
  requireChromium();
  const env = readEnv({
    DATABASE_URL: inject('databaseUrl'),
    PORT: '0',
    HOST: '127.0.0.1',
    WALLET_ADMIN_TOKEN: ADMIN_TOKEN,
    WALLET_WORKER_CONCURRENCY: '0',
    // One line per request would bury the test output.
    LOG_LEVEL: 'warn',
    ...extraEnv,
  });
  const app = await startApp(env, { log: () => undefined, consoleDir: distDir, ...(clock ? { clock } : {}) });
  const admin = createWalletClient({ url: app.url, apiKey: ADMIN_TOKEN });
  const { apiKey } = await admin.admin.createOrganization.mutate({ name: 'Console e2e' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  return {
    app,
    apiKey,
    client: createWalletClient({ url: app.url, apiKey }),
    browser,
    async newPage() {
      const page = await browser.newPage({ viewport: { width: WIDE, height: 900 }, locale: 'en-US', timezoneId: 'UTC' });
      await page.goto(app.url);
      return page;
    },
    async stop() {
      await browser.close();
      await app.stop();
    },
  };
}

const WIDE = 1440;
const NARROW = 390;

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * One screen as a person sees it, at 1440 and at 390 px wide: axe-core finds no serious or critical
 * violation (WCAG 2.x A and AA rules and best practices) and a full-page screenshot is saved.
 */
export async function checkScreen(page: Page, name: string): Promise<void> {
  const viewport = page.viewportSize() ?? { width: WIDE, height: 900 };
  for (const width of [WIDE, NARROW]) {
    await page.setViewportSize(width === WIDE ? viewport : { width, height: 844 });
    await expectNoSeriousViolation(page, `${name} at ${width} px`);
    await screenshot(page, `${name}-${width}`);
  }
  await page.setViewportSize(viewport);
}

async function expectNoSeriousViolation(page: Page, what: string): Promise<void> {
  // Evaluated through the debugging protocol: the console's CSP (rightly) refuses inline scripts.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    serious.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`),
    `axe on ${what}`,
  ).toEqual([]);
}

/** Saves a full-page screenshot to apps/console/test-artifacts/ (kept by CI as an artifact). */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
}

/** Signs in with the key and opens a customer's Wallets tab through the customers search. */
export async function openCustomer(page: Page, apiKey: string, externalId: string): Promise<void> {
  await page.getByLabel('API key').fill(apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Search customers').fill(externalId);
  await page.getByRole('link', { name: externalId, exact: true }).click();
  await page.getByRole('tab', { name: 'Wallets' }).waitFor();
}
