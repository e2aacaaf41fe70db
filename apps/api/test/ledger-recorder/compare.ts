/**
 * The first difference between two recordings, told readably: the step, its call and input, and
 * what differs (the answer or error, or the first row: table, key, columns expected and actual).
 */

type Json = unknown;

interface Line {
  seed: number;
  step: number;
  at: string;
  call: string;
  input: Json;
  ok?: Json;
  error?: Json;
  rows: [string, string, string, Record<string, Json>?][];
}

const show = (value: Json) => JSON.stringify(value);

function columnsDiffer(expected: Record<string, Json> | undefined, actual: Record<string, Json> | undefined): string[] {
  const keys = new Set([...Object.keys(expected ?? {}), ...Object.keys(actual ?? {})]);
  const out: string[] = [];
  for (const key of [...keys].sort()) {
    const e = expected?.[key];
    const a = actual?.[key];
    if (show(e) !== show(a)) out.push(`    ${key}: expected ${show(e) ?? '(absent)'}, got ${show(a) ?? '(absent)'}`);
  }
  return out;
}

function rowText(row: Line['rows'][number] | undefined): string {
  return row ? `${row[0]} ${row[1]} ${row[2]}` : '(no row)';
}

/** Null when equal; otherwise a readable account of the first difference. */
export function firstDifference(expected: string[], actual: string[]): string | null {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (expected[i] === actual[i]) continue;
    if (expected[i] === undefined) return `the recording has more steps than the fixture (from line ${i + 1}): ${actual[i]?.slice(0, 300)}`;
    if (actual[i] === undefined) return `the recording stops at line ${i}; the fixture goes on: ${expected[i]?.slice(0, 300)}`;
    const e = JSON.parse(expected[i]!) as Line;
    const a = JSON.parse(actual[i]!) as Line;
    const head = `seed ${e.seed}, step ${e.step} (${e.at}): ${e.call} ${show(e.input).slice(0, 600)}`;
    const lines = [`first difference at ${head}`];
    if (a.call !== e.call || show(a.input) !== show(e.input) || a.at !== e.at) {
      lines.push(`  the call differs: got ${a.at} ${a.call} ${show(a.input).slice(0, 600)}`);
      lines.push('  (the scenario itself changed: an earlier difference in the state it reads, or a change of the generator)');
      return lines.join('\n');
    }
    if (show(e.error) !== show(a.error) || show(e.ok) !== show(a.ok)) {
      lines.push(`  answer expected: ${show(e.error ? { error: e.error } : e.ok).slice(0, 1500)}`);
      lines.push(`  answer actual:   ${show(a.error ? { error: a.error } : a.ok).slice(0, 1500)}`);
      if (e.ok && a.ok && typeof e.ok === 'object' && typeof a.ok === 'object') {
        lines.push(...columnsDiffer(e.ok as Record<string, Json>, a.ok as Record<string, Json>));
      }
    }
    const m = Math.max(e.rows.length, a.rows.length);
    for (let r = 0; r < m; r++) {
      const er = e.rows[r];
      const ar = a.rows[r];
      if (show(er) === show(ar)) continue;
      if (er && ar && er[0] === ar[0] && er[1] === ar[1] && er[2] === ar[2]) {
        lines.push(`  row ${r + 1}: ${rowText(er)} differs:`);
        lines.push(...columnsDiffer(er[3], ar[3]));
      } else {
        lines.push(`  row ${r + 1}: expected ${rowText(er)} ${show(er?.[3] ?? null).slice(0, 800)}`);
        lines.push(`  row ${r + 1}: actual   ${rowText(ar)} ${show(ar?.[3] ?? null).slice(0, 800)}`);
      }
      break;
    }
    return lines.join('\n');
  }
  return null;
}
