import { describe, expect, it } from 'vitest';
import { planUpsertCustomer } from './plan-customer.js';
import { clock, group, hour, lot, NOW, refusal, wallet } from './test-records.js';

describe('planUpsertCustomer', () => {
  it('sets the currency of a customer without one, and its timezone, dated now', () => {
    const { delta, customer } = planUpsertCustomer(group({}, null), { currency: 'USD', timezone: 'Europe/Paris' }, clock());
    expect(customer).toMatchObject({ currency: 'USD', timezone: 'Europe/Paris', updatedAt: NOW });
    expect(delta.customer).toEqual(customer);
    expect(delta.events).toEqual([]);
  });

  it('refuses another currency while an active wallet uses the current one, and plans nothing', () => {
    const records = group({ wallets: [wallet('w1')] });
    const error = refusal(() => planUpsertCustomer(records, { currency: 'USD' }, clock()));
    expect(error).toMatchObject({ code: 'CURRENCY_MISMATCH' });
    expect(records.customer.currency).toBe('EUR');
  });

  it('expires a wallet past its expiry first (voiding its lots), then takes the new currency', () => {
    const overdue = wallet('w1', { expirationAt: hour(5), balanceCents: 300n, creditsBalance: 300_000n });
    const { delta, customer } = planUpsertCustomer(group({ wallets: [overdue], lots: [lot('l1', 'w1', 300n)] }), { currency: 'USD' }, clock());
    expect(customer.currency).toBe('USD');
    expect(delta.wallets).toMatchObject([{ id: 'w1', status: 'terminated', balanceCents: 0n, terminatedAt: NOW }]);
    expect(delta.entries).toMatchObject([{ transactionStatus: 'voided', source: 'expiration', amountCents: 300n }]);
    expect(delta.events.map((e) => e.type)).toContain('wallet.terminated');
  });

  it('changes only the timezone when the currency is the same, leaving wallets alone', () => {
    const { delta, customer } = planUpsertCustomer(
      group({ wallets: [wallet('w1', { expirationAt: hour(5) })] }),
      { currency: 'EUR', timezone: 'Asia/Tokyo' },
      clock(),
    );
    expect(customer).toMatchObject({ currency: 'EUR', timezone: 'Asia/Tokyo' });
    expect(delta.wallets).toEqual([]);
  });
});
