/**
 * The transformer's own serializer against superjson's: the same output (the same JSON text, so
 * the same key order) for any value, its own walk taking the values answers are made of, and the
 * round trip through superjson's deserializer giving the value back.
 */
import fc from 'fast-check';
import superjson from 'superjson';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serialize, transformer } from './transformer.js';

afterEach(() => vi.restoreAllMocks());

/** The JSON text of a serialization, or what it threw (superjson refuses some keys). */
function outcome(serializer: (value: unknown) => unknown, value: unknown): string {
  try {
    return JSON.stringify(serializer(value));
  } catch (error) {
    return `threw ${(error as Error).message}`;
  }
}

/** Keys as answers have them, and the awkward ones for superjson's paths (dots, backslashes). */
const key = fc.oneof(fc.constantFrom('id', 'a.b', 'x\\y', 'c\\.d', '0', 'createdAt', 'amountCents'), fc.string({ maxLength: 6 }));

/** Values of the kinds the fast walk takes, each object a fresh one. */
const answerLike = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt(),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      key.filter((k) => k !== '' && k !== '__proto__' && k !== 'constructor' && k !== 'prototype'),
      tie('value'),
      { maxKeys: 5 },
    ),
  ),
})).value;

describe('transformer.serialize', () => {
  it('gives what superjson gives, without superjson, for the values answers are made of', () => {
    // superjson's annotations come level by level: an integer-like key comes first at its level.
    const ordered = [[{ x: new Date(0) }, new Date(1)], { a: [{ b: 1n }, 2n], c: undefined }, { '': 1n }];
    for (const value of ordered) {
      const expected = JSON.stringify(superjson.serialize(value));
      const spy = vi.spyOn(superjson, 'serialize');
      expect(JSON.stringify(serialize(value))).toBe(expected);
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
    }
    fc.assert(
      fc.property(answerLike, (value) => {
        const expected = JSON.stringify(superjson.serialize(value));
        const spy = vi.spyOn(superjson, 'serialize');
        const actual = JSON.stringify(serialize(value));
        expect(spy).not.toHaveBeenCalled();
        spy.mockRestore();
        expect(actual).toBe(expected);
        expect(transformer.deserialize(JSON.parse(actual))).toEqual(value);
      }),
      { numRuns: 2_000 },
    );
  });

  it('gives what superjson gives for anything else (shared objects, maps, sets, -0, NaN, class instances, sparse arrays)', () => {
    const shared = { at: new Date(0) };
    const cases: unknown[] = [
      { a: shared, b: shared },
      // Equal bigints are one identity to superjson (a referential equality).
      { ' ': [{ ' ': 0n }, 0n] },
      [new Date(1), new Date(1)],
      new Map([[1, 2]]),
      { s: new Set([1]) },
      { n: -0, m: Number.NaN, i: Number.POSITIVE_INFINITY },
      { e: new Error('boom') },
      { r: /x/g },
      { u: new URL('https://example.com/') },
      // biome-ignore lint/suspicious/noSparseArray: a hole on purpose
      [1, , 3],
      { '': 1n },
      Object.assign(Object.create(null), { a: 1n }),
      { d: new Date(Number.NaN) },
    ];
    for (const value of cases) expect(outcome(serialize, value)).toBe(outcome(superjson.serialize, value));
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withNullPrototype: true, withSparseArray: true }),
        (value) => {
          expect(outcome(serialize, value)).toBe(outcome(superjson.serialize, value));
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
