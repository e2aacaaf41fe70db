import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveWalletCode, slugifyWalletCode } from './wallet-code.js';

const CODE_SHAPE = /^[a-z0-9]+(_[a-z0-9]+)*$/;

describe('slugifyWalletCode', () => {
  it.each([
    ['Main Wallet!', 'main_wallet'],
    ['main_wallet', 'main_wallet'],
    ['  Prepaid -- Credits 2024 ', 'prepaid_credits_2024'],
    ['Wallet#1', 'wallet_1'],
    ['__x__', 'x'],
    ['my-wallet', 'my_wallet'],
    ['Café Crème', 'cafe_creme'], // accents dropped after NFKD
    ['ÀÉÎÕÜ', 'aeiou'],
    ['\uFB01nance', 'finance'], // the "fi" ligature decomposes to f + i
    ['ＡＢＣ', 'abc'], // fullwidth letters decompose to ASCII
    ['Crédits 🎉 offerts', 'credits_offerts'],
  ])('%j -> %j', (name, code) => {
    expect(slugifyWalletCode(name)).toBe(code);
  });

  it.each([[''], ['   '], ['!!!'], ['___'], ['钱包'], ['🎉']])('%j has no usable character -> "default"', (name) => {
    expect(slugifyWalletCode(name)).toBe('default');
  });

  it('uses "default" for a missing name', () => {
    expect(slugifyWalletCode(null)).toBe('default');
    expect(slugifyWalletCode(undefined)).toBe('default');
  });

  it('always gives lowercase words joined by single underscores, and is idempotent', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'grapheme' }),
          // letters that decompose (é, the fi ligature, fullwidth A, Å as A + ring), a lone combining accent, separators
          fc.string({ unit: fc.constantFrom('A', 'b', '9', ' ', '_', '-', '\u00E9', '\uFB01', '\uFF21', 'A\u030A', '\u0301', '!', '\u00DF') }),
        ),
        (name) => {
          const code = slugifyWalletCode(name);
          expect(code).toMatch(CODE_SHAPE);
          expect(slugifyWalletCode(code)).toBe(code);
        },
      ),
    );
  });

  it('keeps every ASCII letter and digit of the name, in order', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('A', 'z', '0', '7', ' ', '.', '_', '/') }), (name) => {
        const alnum = name.toLowerCase().replace(/[^a-z0-9]/g, '');
        const code = slugifyWalletCode(name);
        expect(code.replace(/_/g, '')).toBe(alnum === '' ? 'default' : alnum);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('deriveWalletCode', () => {
  it.each([
    ['Main Wallet!', [], 'main_wallet'],
    ['Main Wallet!', ['main_wallet'], 'main_wallet_2'],
    ['Main Wallet!', ['main_wallet', 'main_wallet_2'], 'main_wallet_3'],
    ['Main Wallet!', ['main_wallet', 'main_wallet_3'], 'main_wallet_2'], // the first free suffix
    ['Main Wallet!', ['main_wallet_2'], 'main_wallet'], // the base is free
    ['Main Wallet!', ['other'], 'main_wallet'],
    ['', ['default'], 'default_2'],
    [null, ['default', 'default_2', 'default_3'], 'default_4'],
    ['Main Wallet 2', ['main_wallet_2'], 'main_wallet_2_2'],
  ] as const)('%j with %j taken -> %j', (name, taken, expected) => {
    expect(deriveWalletCode(name, new Set(taken))).toBe(expected);
  });

  it('returns a code not taken, the base when free, else base_N with the smallest free N >= 2', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('Main Wallet', '', 'Promo', 'x'),
        fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 12 }),
        fc.array(fc.constantFrom('other', 'main', 'promo_x')),
        (name, suffixes, others) => {
          const base = slugifyWalletCode(name);
          const taken = new Set([...suffixes.map((n) => (n === 1 ? base : `${base}_${n}`)), ...others]);
          const code = deriveWalletCode(name, taken);
          expect(taken.has(code)).toBe(false);
          expect(code).toMatch(CODE_SHAPE);
          if (!taken.has(base)) {
            expect(code).toBe(base);
          } else {
            let n = 2;
            while (taken.has(`${base}_${n}`)) n++;
            expect(code).toBe(`${base}_${n}`);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
