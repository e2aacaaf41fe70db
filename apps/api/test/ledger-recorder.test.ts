/**
 * The ledger recorder (ledger-recorder/): replays the committed seeds through the tRPC router, each
 * in a fresh database, and requires the recording to equal the fixture
 * (fixtures/ledger-recording.jsonl) row for row: every ledger row, consumption, lot remainder,
 * wallet balance, rule, usage snapshot, invoice application, outbox event and idempotent answer,
 * and every answer or error code. It pins the ledger's behaviour while the ledger is rebuilt; only
 * an issue that changes behaviour on purpose regenerates it (`pnpm record:ledger`) and lists the
 * differences in its closing note. On a difference the message names the seed, step, call, table,
 * row and columns. The ledger audit must be clean after every seed. LEDGER_RECORDER_STEPS=N replays
 * only the first N steps of each seed (quicker while iterating; CI replays them all).
 */
import fs from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { firstDifference } from './ledger-recorder/compare.js';
import { FIXTURE, recordInFreshDatabase, SEEDS } from './ledger-recorder/recording.js';

const fixture = fs.readFileSync(FIXTURE, 'utf8').split('\n').filter(Boolean);
/** While iterating: replay only the first N steps of each seed (the same prefix of the same sequence). */
const STEPS = Number(process.env.LEDGER_RECORDER_STEPS ?? Number.POSITIVE_INFINITY);

function fixtureOf(seed: number): string[] {
  return fixture.filter((line) => line.startsWith(`{"seed":${seed},`));
}

function expectedOf(seed: number): string[] {
  return fixtureOf(seed).slice(0, STEPS);
}

describe('ledger recorder', () => {
  it('the fixture holds every seed', () => {
    expect(fixture.length).toBeGreaterThan(1000);
    expect(SEEDS.map((seed) => fixtureOf(seed).length).reduce((a, b) => a + b, 0)).toBe(fixture.length);
  });

  it('names the step, call, table, row and column of the first difference', () => {
    const expected = fixtureOf(SEEDS[0]!).slice(0, 40);
    const at = expected.findIndex((line) => line.includes('"wallet_transactions","+"'));
    const line = JSON.parse(expected[at]!) as { step: number; call: string; rows: [string, string, string, Record<string, unknown>][] };
    const row = line.rows.find((r) => r[0] === 'wallet_transactions')!;
    row[3].amount_cents = '999999';
    const actual = [...expected];
    actual[at] = JSON.stringify(line);
    const difference = firstDifference(expected, actual) ?? '';
    expect(difference).toContain(`step ${line.step}`);
    expect(difference).toContain(line.call);
    expect(difference).toContain(`wallet_transactions + ${row[2]} differs`);
    expect(difference).toContain('amount_cents: expected');
    expect(difference).toContain('got "999999"');
    expect(firstDifference(expected, expected)).toBeNull();
    expect(firstDifference(expected, expected.slice(0, 10))).toContain('stops at line 10');
  });

  it('replays every seed with the recorded rows, answers and events', { timeout: 600_000 }, async () => {
    const serverUrl = inject('serverUrl');
    // Two seeds at a time, each in its own database (the recording of a seed does not depend on it).
    const results = new Map<number, Awaited<ReturnType<typeof recordInFreshDatabase>>>();
    const queue = [...SEEDS];
    await Promise.all(
      [0, 1].map(async () => {
        for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
          results.set(seed, await recordInFreshDatabase(serverUrl, seed, expectedOf(seed).length));
        }
      }),
    );
    for (const seed of SEEDS) {
      const run = results.get(seed)!;
      expect(run.internalErrors, `seed ${seed}: internal errors`).toEqual([]);
      expect(run.auditFindings, `seed ${seed}: the ledger audit`).toEqual([]);
      const difference = firstDifference(expectedOf(seed), run.lines);
      if (difference)
        expect.fail(`the ledger no longer does what the recording says (regenerate only on purpose: pnpm record:ledger)\n${difference}`);
    }
  });
});
