/**
 * The worked examples of docs/api.md ("Credits and money"), computed with the real parser,
 * conversion and formatter: if the code or the table changes, one of them is wrong.
 */
import { describe, expect, it } from 'vitest';
import { planAmount } from './conversion.js';
import { currencyExponent } from './currency.js';
import { formatDecimal, parseDecimal } from './decimal.js';
import { WalletError } from './errors.js';

function credits(text: string): bigint {
  const parsed = parseDecimal(text, { excess: 'floor' });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

function rate(text: string): bigint {
  const parsed = parseDecimal(text, { excess: 'reject' });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

const EXAMPLES = [
  { kind: 'paid', request: '10', rate: '1', currency: 'USD', stored: '10', amountCents: 1000n },
  { kind: 'paid', request: '1500.5', rate: '0.75', currency: 'USD', stored: '1500.50667', amountCents: 112538n },
  { kind: 'paid', request: '3', rate: '0.333', currency: 'EUR', stored: '3.003', amountCents: 100n },
  { kind: 'voided', request: '3', rate: '0.333', currency: 'EUR', stored: '3', amountCents: 100n },
  { kind: 'paid', request: '100', rate: '5', currency: 'JPY', stored: '100', amountCents: 500n },
  { kind: 'paid', request: '1', rate: '1.2345', currency: 'KWD', stored: '1.00041', amountCents: 1235n },
  { kind: 'paid', request: '0.123456789', rate: '1', currency: 'USD', stored: '0.12', amountCents: 12n },
] as const;

describe('docs/api.md worked examples', () => {
  for (const example of EXAMPLES) {
    it(`${example.kind} "${example.request}" at "${example.rate}" ${example.currency}`, () => {
      const amount = planAmount(example.kind, credits(example.request), {
        rate: rate(example.rate),
        exponent: currencyExponent(example.currency),
      });
      expect({ stored: formatDecimal(amount.creditAmount), amountCents: amount.amountCents }).toEqual({
        stored: example.stored,
        amountCents: example.amountCents,
      });
    });
  }

  it('granted "0.001" at "0.01" USD is AMOUNT_ROUNDS_TO_ZERO', () => {
    let error: unknown;
    try {
      planAmount('granted', credits('0.001'), { rate: rate('0.01'), exponent: currencyExponent('USD') });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(WalletError);
    expect((error as WalletError).code).toBe('AMOUNT_ROUNDS_TO_ZERO');
  });
});
