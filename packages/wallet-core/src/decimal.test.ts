import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECIMAL_SCALE, formatDecimal, parseDecimal, SCALE_FACTOR } from './decimal.js';

type Options = Parameters<typeof parseDecimal>[1];

const FLOOR: Options = { excess: 'floor' };
const REJECT: Options = { excess: 'reject' };
const FLOOR_NEG: Options = { excess: 'floor', allowNegative: true };
const REJECT_NEG: Options = { excess: 'reject', allowNegative: true };

/** Largest magnitude Lago's decimal(30,5) holds: 25 integer digits and 5 fractional ones, in 1e-5 units. */
const MAX_SCALED = 10n ** 30n - 1n;

function parsed(text: string, options: Options): bigint {
  const result = parseDecimal(text, options);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(text)} to parse, got: ${result.reason}`);
  return result.value;
}

describe('parseDecimal: accepted strings', () => {
  it.each([
    // text, options, expected 1e-5 units
    ['0', FLOOR, 0n],
    ['0.0', FLOOR, 0n],
    ['10', FLOOR, 1_000_000n],
    ['10.5', FLOOR, 1_050_000n],
    ['0.00001', FLOOR, 1n],
    ['0.1', REJECT, 10_000n],
    ['123.45678', REJECT, 12_345_678n],
    ['007.5', FLOOR, 750_000n], // leading zeros are only zeros
    ['1.000000000', REJECT, 100_000n], // dropped digits that are all zero lose nothing, so even 'reject' accepts
    ['1.1234500000', REJECT, 112_345n],
    // floor: everything after the 5th decimal is cut, never rounded up
    ['1.123456', FLOOR, 112_345n],
    ['1.999999999', FLOOR, 199_999n],
    ['0.000009', FLOOR, 0n],
    ['0.00000999999999999999999999', FLOOR, 0n],
    // negatives, when allowed
    ['-1.5', REJECT_NEG, -150_000n],
    ['-0', FLOOR_NEG, 0n],
    ['-0.00000', REJECT_NEG, 0n],
    // floor of a negative goes toward minus infinity: -1.000001 -> -1.00001
    ['-1.000001', FLOOR_NEG, -100_001n],
    ['-0.000001', FLOOR_NEG, -1n],
    ['-0.0000000000001', FLOOR_NEG, -1n],
    ['-2.5000000', FLOOR_NEG, -250_000n], // dropped zeros: no step down
  ] as const)('%j (%o) -> %s', (text, options, expected) => {
    expect(parseDecimal(text, options)).toEqual({ ok: true, value: expected });
  });
});

describe('parseDecimal: refused strings', () => {
  const malformed = [
    '',
    ' ',
    ' 1',
    '1 ',
    '1\n',
    '\t1',
    '1 000',
    '+1',
    '.5',
    '1.',
    '-.5',
    '-',
    '.',
    '1e5',
    '1E5',
    '1.5e-3',
    '1,5',
    '1_000',
    '0x10',
    'Infinity',
    'NaN',
    'abc',
    '--1',
    '1.2.3',
    '1-',
    '\u0661', // ARABIC-INDIC DIGIT ONE: \d must mean ASCII digits only
    '\uFF11', // FULLWIDTH DIGIT ONE
  ];
  it.each(malformed)('%j is not a decimal string, in any mode', (text) => {
    for (const options of [FLOOR, REJECT, FLOOR_NEG, REJECT_NEG]) {
      expect(parseDecimal(text, options).ok).toBe(false);
    }
  });

  it.each(['-1', '-0', '-0.5', '-0.00001'])('%j is refused unless negatives are allowed', (text) => {
    expect(parseDecimal(text, FLOOR)).toEqual({ ok: false, reason: 'must not be negative' });
    expect(parseDecimal(text, REJECT).ok).toBe(false);
    expect(parseDecimal(text, FLOOR_NEG).ok).toBe(true);
  });

  it.each(['1.123456', '0.000001', '0.0000000001', '99.999990001'])('%j is refused by reject (a non-zero digit would be lost)', (text) => {
    expect(parseDecimal(text, REJECT)).toEqual({ ok: false, reason: `must have at most ${DECIMAL_SCALE} decimal places` });
    expect(parseDecimal(`-${text}`, REJECT_NEG).ok).toBe(false);
    expect(parseDecimal(text, FLOOR).ok).toBe(true);
  });
});

describe('parseDecimal: huge values', () => {
  it('accepts 25 integer digits, the most decimal(30,5) holds, exactly', () => {
    const text = `${'9'.repeat(25)}.99999`;
    expect(parsed(text, REJECT)).toBe(MAX_SCALED);
    expect(parsed(`-${text}`, REJECT_NEG)).toBe(-MAX_SCALED);
    // 2^53 + 1 is where a float would have lost the last unit
    expect(parsed('90071992547.40993', REJECT)).toBe(9_007_199_254_740_993n);
    expect(parsed(`1${'0'.repeat(24)}.00001`, REJECT)).toBe(10n ** 29n + 1n);
  });

  it('refuses 26 integer digits', () => {
    expect(parseDecimal(`1${'0'.repeat(25)}`, FLOOR)).toEqual({ ok: false, reason: 'is too large' });
    expect(parseDecimal(`-1${'0'.repeat(25)}`, FLOOR_NEG)).toEqual({ ok: false, reason: 'is too large' });
  });

  it('does not count leading zeros as digits of the value', () => {
    // 1 fits decimal(30,5) however many zeros the sender put in front of it
    expect(parsed(`${'0'.repeat(40)}1.5`, REJECT)).toBe(150_000n);
  });
});

describe('formatDecimal', () => {
  it.each([
    [0n, '0'],
    [1n, '0.00001'],
    [-1n, '-0.00001'],
    [10_000n, '0.1'],
    [100_000n, '1'],
    [100_010n, '1.0001'],
    [1_050_000n, '10.5'],
    [-150_000n, '-1.5'],
    [12_345_678n, '123.45678'],
    [MAX_SCALED, `${'9'.repeat(25)}.99999`],
    [-(10n ** 35n), `-1${'0'.repeat(30)}`],
  ])('%s -> %j', (value, expected) => {
    expect(formatDecimal(value)).toBe(expected);
  });
});

/** Any bigint decimal(30,5) can hold, with extra weight on the small ones and the edges. */
const scaled = fc.oneof(
  fc.bigInt({ min: -MAX_SCALED, max: MAX_SCALED }),
  fc.bigInt({ min: -1_000_000n, max: 1_000_000n }),
  fc.constantFrom(0n, 1n, -1n, MAX_SCALED, -MAX_SCALED, SCALE_FACTOR, -SCALE_FACTOR),
);

const digits = (minLength: number, maxLength: number) =>
  fc.array(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), { minLength, maxLength }).map((ds) => ds.join(''));

describe('decimal properties', () => {
  it('format then parse gives back every scaled bigint, in every mode', () => {
    fc.assert(
      fc.property(scaled, (value) => {
        const text = formatDecimal(value);
        expect(parseDecimal(text, REJECT_NEG)).toEqual({ ok: true, value });
        expect(parseDecimal(text, FLOOR_NEG)).toEqual({ ok: true, value });
        if (value >= 0n) expect(parseDecimal(text, REJECT)).toEqual({ ok: true, value });
      }),
      { numRuns: 1000 },
    );
  });

  it('format is the shortest form: no trailing zeros, no leading zeros, no "-0"', () => {
    fc.assert(
      fc.property(scaled, (value) => {
        expect(formatDecimal(value)).toMatch(/^(0|-?0\.\d{0,4}[1-9]|-?[1-9]\d*(\.\d{0,4}[1-9])?)$/);
      }),
      { numRuns: 1000 },
    );
  });

  it('floor cuts to 5 digits toward minus infinity, reject accepts exactly what loses nothing', () => {
    fc.assert(
      fc.property(fc.boolean(), digits(1, 25), digits(0, 12), (negative, whole, fraction) => {
        const text = `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
        // Reference, by rational arithmetic instead of string slicing: the exact value is
        // numerator / 10^fraction.length, and 1e-5 units are numerator * 10^5 / 10^fraction.length.
        const numerator = BigInt(whole + fraction);
        const denominator = 10n ** BigInt(fraction.length);
        const exactTimesScale = numerator * SCALE_FACTOR; // over denominator
        const truncated = exactTimesScale / denominator; // numerator >= 0, so this is floor of the magnitude
        const isExact = exactTimesScale % denominator === 0n;
        const expected = negative ? (isExact ? -truncated : -truncated - 1n) : truncated;

        expect(parseDecimal(text, FLOOR_NEG)).toEqual({ ok: true, value: expected });
        expect(parseDecimal(text, REJECT_NEG).ok).toBe(isExact);
        if (isExact) expect(parseDecimal(text, REJECT_NEG)).toEqual({ ok: true, value: expected });
        if (negative) expect(parseDecimal(text, FLOOR).ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('a valid decimal wrapped in a sign, space or exponent is refused', () => {
    const wrappers = [
      (s: string) => `+${s}`,
      (s: string) => ` ${s}`,
      (s: string) => `${s} `,
      (s: string) => `${s}e0`,
      (s: string) => `${s}E1`,
      (s: string) => `${s}.`,
    ];
    fc.assert(
      fc.property(scaled, fc.constantFrom(...wrappers), (value, wrap) => {
        const text = wrap(formatDecimal(value < 0n ? -value : value).split('.')[0] ?? '');
        expect(parseDecimal(text, FLOOR_NEG).ok).toBe(false);
        expect(parseDecimal(text, REJECT_NEG).ok).toBe(false);
      }),
    );
  });

  it('a fraction without its integer part is refused', () => {
    fc.assert(
      fc.property(digits(1, 10), (fraction) => {
        expect(parseDecimal(`.${fraction}`, FLOOR_NEG).ok).toBe(false);
        expect(parseDecimal(`-.${fraction}`, FLOOR_NEG).ok).toBe(false);
      }),
    );
  });
});
