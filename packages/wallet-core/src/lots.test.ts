import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalletError } from './errors.js';
import { compareLots, type Lot, type LotConsumption, planConsumption, sumLots } from './lots.js';
import { minBig } from './rounding.js';

const T0 = Date.UTC(2025, 0, 1);
const day = (n: number) => new Date(T0 + n * 86_400_000);

function lot(id: string, fields: Partial<Omit<Lot, 'id'>> = {}): Lot {
  return {
    id,
    kind: 'purchased',
    priority: 50,
    expirationAt: null,
    createdAt: day(0),
    remainingCredits: 100_000n,
    remainingCents: 100n,
    ...fields,
  };
}

function refusal(run: () => unknown): WalletError {
  try {
    run();
  } catch (error) {
    if (error instanceof WalletError) return error;
    throw error;
  }
  throw new Error('expected a WalletError');
}

/**
 * The consumption order written again as a sort key, independently of compareLots:
 * (priority, expiry with none as +infinity, granted 0 / purchased 1, creation time, id).
 */
function referenceCompare(a: Lot, b: Lot): number {
  const key = (l: Lot) => [
    l.priority,
    l.expirationAt === null ? Number.POSITIVE_INFINITY : l.expirationAt.getTime(),
    l.kind === 'granted' ? 0 : 1,
    l.createdAt.getTime(),
  ];
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < ka.length; i++) {
    const x = ka[i] as number;
    const y = kb[i] as number;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

describe('compareLots', () => {
  it.each([
    // first, second: first is consumed before second
    [
      'lower priority number first, whatever else',
      lot('b', { priority: 1, createdAt: day(9) }),
      lot('a', { priority: 2, kind: 'granted', expirationAt: day(1) }),
    ],
    ['soonest expiry first', lot('b', { expirationAt: day(10), createdAt: day(5) }), lot('a', { expirationAt: day(20), kind: 'granted' })],
    ['an expiry before none', lot('b', { expirationAt: day(10_000), createdAt: day(5) }), lot('a', { expirationAt: null, kind: 'granted' })],
    [
      'granted before purchased, same expiry',
      lot('b', { kind: 'granted', expirationAt: day(3), createdAt: day(5) }),
      lot('a', { expirationAt: day(3) }),
    ],
    ['granted before purchased, no expiry', lot('b', { kind: 'granted', createdAt: day(5) }), lot('a')],
    ['oldest first', lot('b', { createdAt: day(1) }), lot('a', { createdAt: day(2) })],
    ['oldest first by the millisecond', lot('b', { createdAt: new Date(T0) }), lot('a', { createdAt: new Date(T0 + 1) })],
    ['then id', lot('a'), lot('b')],
  ])('%s', (_, first, second) => {
    expect(compareLots(first, second)).toBeLessThan(0);
    expect(compareLots(second, first)).toBeGreaterThan(0);
  });

  it('ties only a lot with itself', () => {
    const a = lot('a', { kind: 'granted', expirationAt: day(3) });
    expect(compareLots(a, a)).toBe(0);
    expect(compareLots(a, { ...a, remainingCredits: 1n, remainingCents: 1n })).toBe(0);
  });

  it('sorts a mixed wallet into the documented order', () => {
    const lots = [
      lot('p50-none-purchased-old', { createdAt: day(0) }),
      lot('p50-none-granted-new', { kind: 'granted', createdAt: day(7) }),
      lot('p50-jun-purchased', { expirationAt: day(151) }),
      lot('p50-jun-granted', { kind: 'granted', expirationAt: day(151), createdAt: day(9) }),
      lot('p50-feb-purchased', { expirationAt: day(31), createdAt: day(9) }),
      lot('p1-none-purchased', { priority: 1, createdAt: day(20) }),
      lot('p1-mar-purchased', { priority: 1, expirationAt: day(59), createdAt: day(20) }),
      lot('p50-none-purchased-new-b', { createdAt: day(3) }),
      lot('p50-none-purchased-new-a', { createdAt: day(3) }),
    ];
    expect([...lots].sort(compareLots).map((l) => l.id)).toEqual([
      'p1-mar-purchased',
      'p1-none-purchased',
      'p50-feb-purchased',
      'p50-jun-granted',
      'p50-jun-purchased',
      'p50-none-granted-new',
      'p50-none-purchased-old',
      'p50-none-purchased-new-a',
      'p50-none-purchased-new-b',
    ]);
  });
});

describe('planConsumption: examples', () => {
  // EUR at rate 1: 1 credit = 100 cents. Order: C (priority 1), B (expires), A.
  const a = lot('A', { kind: 'granted', createdAt: day(1), remainingCredits: 1_000_000n, remainingCents: 1000n });
  const b = lot('B', { expirationAt: day(151), createdAt: day(2), remainingCredits: 500_000n, remainingCents: 500n });
  const c = lot('C', { priority: 1, createdAt: day(3), remainingCredits: 200_000n, remainingCents: 200n });
  const lots = [a, b, c];

  it.each([
    // credits (1e-5 units), cents, expected parts
    [0n, 0n, []],
    [200_000n, 200n, [{ lotId: 'C', creditAmount: 200_000n, amountCents: 200n }]],
    [
      150_000n,
      150n,
      [{ lotId: 'C', creditAmount: 150_000n, amountCents: 150n }], // C keeps 0.5 credit
    ],
    [
      800_000n, // 8 credits = 2 from C + 5 from B + 1 from A
      800n,
      [
        { lotId: 'C', creditAmount: 200_000n, amountCents: 200n },
        { lotId: 'B', creditAmount: 500_000n, amountCents: 500n },
        { lotId: 'A', creditAmount: 100_000n, amountCents: 100n },
      ],
    ],
    [
      1_700_000n, // everything
      1700n,
      [
        { lotId: 'C', creditAmount: 200_000n, amountCents: 200n },
        { lotId: 'B', creditAmount: 500_000n, amountCents: 500n },
        { lotId: 'A', creditAmount: 1_000_000n, amountCents: 1000n },
      ],
    ],
  ] as const)('%s credits / %s cents', (creditAmount, amountCents, expected) => {
    expect(planConsumption(lots, { creditAmount, amountCents })).toEqual(expected);
    expect(planConsumption([c, a, b], { creditAmount, amountCents })).toEqual(expected);
  });

  it.each([
    [1_700_001n, 1700n], // 0.00001 credit too many
    [1_700_000n, 1701n], // one cent too many
    [2_000_000n, 2000n],
  ])('refuses %s credits / %s cents with INSUFFICIENT_CREDITS and leaves the lots alone', (creditAmount, amountCents) => {
    const before = structuredClone(lots);
    const error = refusal(() => planConsumption(lots, { creditAmount, amountCents }));
    expect(error.code).toBe('INSUFFICIENT_CREDITS');
    expect(error.details).toEqual({ requestedCents: amountCents, availableCents: 1700n });
    expect(lots).toEqual(before);
  });

  it('refuses anything from an empty wallet, and plans nothing for nothing', () => {
    expect(refusal(() => planConsumption([], { creditAmount: 1n, amountCents: 0n })).code).toBe('INSUFFICIENT_CREDITS');
    expect(planConsumption([], { creditAmount: 0n, amountCents: 0n })).toEqual([]);
  });

  it('walks credits and cents separately, so a residue of 0.00001 credit worth 0 cents stays exact', () => {
    // EUR at 0.33333: X is a residue (0.00001 credit, 0 cents), Y holds 1 credit for 33 cents.
    const x = lot('X', { createdAt: day(1), remainingCredits: 1n, remainingCents: 0n });
    const y = lot('Y', { createdAt: day(2), remainingCredits: 100_000n, remainingCents: 33n });
    // 1 credit worth 33 cents: X gives its 0.00001 credit and no cents, Y gives 0.99999 credit and 33 cents
    expect(planConsumption([y, x], { creditAmount: 100_000n, amountCents: 33n })).toEqual([
      { lotId: 'X', creditAmount: 1n, amountCents: 0n },
      { lotId: 'Y', creditAmount: 99_999n, amountCents: 33n },
    ]);
    expect(planConsumption([y, x], { creditAmount: 100_001n, amountCents: 33n })).toEqual([
      { lotId: 'X', creditAmount: 1n, amountCents: 0n },
      { lotId: 'Y', creditAmount: 100_000n, amountCents: 33n },
    ]);
  });

  it('touches a later lot in one unit only when the earlier ones are exhausted in that unit', () => {
    // P runs out of credits before cents: the last cent comes from Q, which gives no credits.
    const p = lot('P', { createdAt: day(1), remainingCredits: 99_999n, remainingCents: 34n });
    const q = lot('Q', { createdAt: day(2), remainingCredits: 100_000n, remainingCents: 33n });
    expect(planConsumption([p, q], { creditAmount: 99_999n, amountCents: 35n })).toEqual([
      { lotId: 'P', creditAmount: 99_999n, amountCents: 34n },
      { lotId: 'Q', creditAmount: 0n, amountCents: 1n },
    ]);
    // and the other way round: P runs out of cents first
    expect(planConsumption([p, q], { creditAmount: 100_001n, amountCents: 34n })).toEqual([
      { lotId: 'P', creditAmount: 99_999n, amountCents: 34n },
      { lotId: 'Q', creditAmount: 2n, amountCents: 0n },
    ]);
  });

  it('skips empty lots', () => {
    const empty = lot('E', { priority: 1, remainingCredits: 0n, remainingCents: 0n });
    const full = lot('F');
    expect(planConsumption([empty, full], { creditAmount: 50_000n, amountCents: 50n })).toEqual([
      { lotId: 'F', creditAmount: 50_000n, amountCents: 50n },
    ]);
  });
});

describe('sumLots', () => {
  it('adds both units', () => {
    expect(sumLots([lot('a', { remainingCredits: 1n, remainingCents: 0n }), lot('b', { remainingCredits: 99_999n, remainingCents: 33n })])).toEqual({
      creditAmount: 100_000n,
      amountCents: 33n,
    });
    expect(sumLots([])).toEqual({ creditAmount: 0n, amountCents: 0n });
  });
});

// Few distinct values, so ties on every key of the order are common.
const lotArb = (id: string) =>
  fc.record({
    id: fc.constant(id),
    kind: fc.constantFrom('granted' as const, 'purchased' as const),
    priority: fc.constantFrom(1, 2, 50),
    expirationAt: fc.option(fc.integer({ min: 0, max: 3 }).map(day), { nil: null }),
    createdAt: fc.integer({ min: 0, max: 3 }).map(day),
    remainingCredits: fc.oneof(fc.bigInt({ min: 0n, max: 10_000_000n }), fc.constantFrom(0n, 1n)),
    remainingCents: fc.oneof(fc.bigInt({ min: 0n, max: 10_000n }), fc.constantFrom(0n, 1n)),
  });

const lotsArb = fc
  .uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'aa', 'B', 'lot-1', 'lot-10', 'lot-2'), { maxLength: 8 })
  .chain((ids) => fc.tuple(...ids.map(lotArb)))
  .map((lots): Lot[] => lots);

/** Lots and an amount they cover: each unit anywhere from 0 to the total. */
const coveredArb = lotsArb.chain((lots) => {
  const total = sumLots(lots);
  return fc.tuple(
    fc.constant(lots),
    fc.record({
      creditAmount: fc.oneof(fc.bigInt({ min: 0n, max: total.creditAmount }), fc.constant(total.creditAmount)),
      amountCents: fc.oneof(fc.bigInt({ min: 0n, max: total.amountCents }), fc.constant(total.amountCents)),
    }),
  );
});

function partsByLot(plan: LotConsumption[]): Map<string, LotConsumption> {
  const byLot = new Map<string, LotConsumption>();
  for (const part of plan) {
    expect(byLot.has(part.lotId)).toBe(false); // each lot at most once
    byLot.set(part.lotId, part);
  }
  return byLot;
}

describe('planConsumption properties', () => {
  it('compareLots is the documented total order', () => {
    fc.assert(
      fc.property(lotsArb, (lots) => {
        const mismatches = lots.flatMap((x) => lots.filter((y) => sign(compareLots(x, y)) !== referenceCompare(x, y)).map((y) => [x.id, y.id]));
        expect(mismatches).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('the parts sum exactly to the amount, in credits and in cents', () => {
    fc.assert(
      fc.property(coveredArb, ([lots, amount]) => {
        const plan = planConsumption(lots, amount);
        expect(plan.reduce((s, p) => s + p.creditAmount, 0n)).toBe(amount.creditAmount);
        expect(plan.reduce((s, p) => s + p.amountCents, 0n)).toBe(amount.amountCents);
      }),
      { numRuns: 1000 },
    );
  });

  it('no part is negative, empty, or more than its lot holds', () => {
    fc.assert(
      fc.property(coveredArb, ([lots, amount]) => {
        const byId = new Map(lots.map((l) => [l.id, l]));
        const bad = [...partsByLot(planConsumption(lots, amount)).values()].filter((part) => {
          const source = byId.get(part.lotId);
          return (
            source === undefined ||
            part.creditAmount < 0n ||
            part.amountCents < 0n ||
            part.creditAmount + part.amountCents === 0n ||
            part.creditAmount > source.remainingCredits ||
            part.amountCents > source.remainingCents
          );
        });
        expect(bad).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('a lot gives a unit only when every lot before it in the order has given all of that unit', () => {
    fc.assert(
      fc.property(coveredArb, ([lots, amount]) => {
        const byLot = partsByLot(planConsumption(lots, amount));
        const ordered = [...lots].sort(referenceCompare);
        for (const unit of ['credits', 'cents'] as const) {
          const taken = (l: Lot) => {
            const part = byLot.get(l.id);
            return unit === 'credits' ? (part?.creditAmount ?? 0n) : (part?.amountCents ?? 0n);
          };
          const held = (l: Lot) => (unit === 'credits' ? l.remainingCredits : l.remainingCents);
          let earlierExhausted = true;
          for (const l of ordered) {
            if (taken(l) > 0n) expect(earlierExhausted).toBe(true);
            if (taken(l) < held(l)) earlierExhausted = false;
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('lists the parts in consumption order', () => {
    fc.assert(
      fc.property(coveredArb, ([lots, amount]) => {
        const byId = new Map(lots.map((l) => [l.id, l]));
        const plan = planConsumption(lots, amount);
        for (let i = 1; i < plan.length; i++) {
          const before = byId.get(plan[i - 1]?.lotId ?? '') as Lot;
          const after = byId.get(plan[i]?.lotId ?? '') as Lot;
          expect(referenceCompare(before, after)).toBe(-1);
        }
      }),
    );
  });

  it('refuses an amount above the total in either unit with INSUFFICIENT_CREDITS', () => {
    fc.assert(
      fc.property(lotsArb, fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 0n, max: 1000n }), fc.boolean(), (lots, over, other, creditsOver) => {
        const total = sumLots(lots);
        const amount = creditsOver
          ? { creditAmount: total.creditAmount + over, amountCents: minBig(other, total.amountCents) }
          : { creditAmount: minBig(other, total.creditAmount), amountCents: total.amountCents + over };
        expect(refusal(() => planConsumption(lots, amount)).code).toBe('INSUFFICIENT_CREDITS');
      }),
      { numRuns: 1000 },
    );
  });

  it('is deterministic and does not depend on the order of the input array', () => {
    fc.assert(
      fc.property(
        coveredArb.chain(([lots, amount]) => fc.tuple(fc.constant(lots), fc.constant(amount), fc.shuffledSubarray(lots, { minLength: lots.length }))),
        ([lots, amount, shuffled]) => {
          const before = structuredClone(lots);
          const plan = planConsumption(lots, amount);
          expect(planConsumption(shuffled, amount)).toEqual(plan);
          expect(planConsumption(lots, amount)).toEqual(plan);
          expect(lots).toEqual(before); // the input is neither mutated nor reordered
        },
      ),
      { numRuns: 500 },
    );
  });
});
