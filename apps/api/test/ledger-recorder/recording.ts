/**
 * The committed recording: which seeds, how many steps, where the fixture lives, and how one seed
 * is recorded in a fresh database of its own (created on the test server, dropped afterwards).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMigratedDatabase, dropDatabase } from '@wallets/db/testing';
import { type RecordingResult, recordSeed } from './scenario.js';

export const SEEDS = [20261207, 1, 2, 3];
export const STEPS_PER_SEED = 400;
export const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/ledger-recording.jsonl');

export async function recordInFreshDatabase(serverUrl: string, seed: number, steps = STEPS_PER_SEED): Promise<RecordingResult> {
  const url = await createMigratedDatabase(serverUrl, 'ledger_recorder');
  try {
    return await recordSeed(url, seed, steps);
  } finally {
    await dropDatabase(serverUrl, url);
  }
}
