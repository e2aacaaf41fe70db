/**
 * Regenerates the ledger recording (`pnpm record:ledger`). Only for an issue that changes the
 * ledger's behaviour on purpose: list the differences in its closing note.
 *
 * Each seed is recorded twice, in two fresh databases, and the fixture is written only when both
 * recordings are equal and the ledger audit finds nothing. Uses DATABASE_URL's server when set,
 * otherwise a throw-away embedded PostgreSQL.
 */
import fs from 'node:fs';
import { startTestDatabase } from '@wallets/db/testing';
import { firstDifference } from './compare.js';
import { FIXTURE, recordInFreshDatabase, SEEDS, STEPS_PER_SEED } from './recording.js';

const db = await startTestDatabase();
try {
  const lines: string[] = [];
  for (const seed of SEEDS) {
    const started = Date.now();
    const first = await recordInFreshDatabase(db.serverUrl, seed);
    const second = await recordInFreshDatabase(db.serverUrl, seed);
    for (const run of [first, second]) {
      if (run.auditFindings.length > 0) throw new Error(`seed ${seed}: the ledger audit found ${JSON.stringify(run.auditFindings.slice(0, 5))}`);
      if (run.internalErrors.length > 0) throw new Error(`seed ${seed}: internal errors:\n${run.internalErrors.slice(0, 3).join('\n')}`);
    }
    const difference = firstDifference(first.lines, second.lines);
    if (difference) throw new Error(`seed ${seed} is not deterministic (two recordings differ):\n${difference}`);
    lines.push(...first.lines);
    console.log(`seed ${seed}: ${STEPS_PER_SEED} steps recorded twice, equal (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  fs.mkdirSync(new URL('.', `file://${FIXTURE}`).pathname, { recursive: true });
  fs.writeFileSync(FIXTURE, `${lines.join('\n')}\n`);
  console.log(`wrote ${FIXTURE} (${lines.length} steps, ${(fs.statSync(FIXTURE).size / 1e6).toFixed(2)} MB)`);
} finally {
  await db.teardown();
}
