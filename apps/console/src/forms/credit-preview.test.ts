/** The preview asks wallet-core: what typed credits are worth and what is stored. */
import { describe, expect, it } from 'vitest';
import { previewCredits } from './credit-preview.js';

describe('previewCredits', () => {
  it('1500.5 credits at $0.75 are worth $1,125.38 and stored as 1500.50667 credits', () => {
    expect(previewCredits('paid', '1500.5', '0.75', 'USD')).toEqual({
      ok: true,
      typedCredits: '1500.5',
      storedCredits: '1500.50667',
      amountCents: 112538,
    });
  });

  it('floors typed credits to 5 decimals, as the API does', () => {
    expect(previewCredits('granted', '2.123459', '1', 'USD')).toMatchObject({ typedCredits: '2.12345', amountCents: 212 });
  });

  it('says when credits are worth less than a cent, and waits for a usable credit value', () => {
    expect(previewCredits('paid', '0.001', '1', 'USD')).toEqual({ ok: false, reason: 'Worth less than one cent: the server refuses it.' });
    expect(previewCredits('paid', '10', 'five', 'USD')).toBeNull();
    expect(previewCredits('paid', '', '1', 'USD')).toBeNull();
    expect(previewCredits('paid', 'ten', '1', 'USD')).toEqual({ ok: false, reason: 'Enter credits such as 10 or 10.5.' });
  });

  it('uses the currency exponent (JPY has no minor unit)', () => {
    expect(previewCredits('paid', '3', '0.5', 'JPY')).toEqual({ ok: true, typedCredits: '3', storedCredits: '4', amountCents: 2 });
  });
});
