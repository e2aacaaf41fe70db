/**
 * Before the browser tests: the console is built when stale and the run gets a fresh migrated
 * database. (A missing Chromium fails every test, see browser.ts, so the failures are counted.)
 */
import { provideTestDatabase } from '@wallets/db/testing';
import { buildConsoleIfStale } from '../scripts/build-if-stale.js';

export default async function setup(project: Parameters<typeof provideTestDatabase>[0]) {
  await buildConsoleIfStale();
  return provideTestDatabase(project);
}
