/** Which cached lists a live event makes stale. */
import { describe, expect, it } from 'vitest';
import { staleKeysOf } from './live.js';

describe('staleKeysOf', () => {
  it('a wallet event refreshes its customer, the customer wallets, the wallet page and the totals', () => {
    expect(staleKeysOf({ type: 'wallet.updated', data: { id: 'w1', externalCustomerId: 'cus_1' } })).toEqual([
      ['wallets', 'cus_1'],
      ['wallets', 'by-id', 'w1'],
      ['customer', 'cus_1'],
      ['customers'],
      ['report'],
    ]);
  });

  it('a transaction event refreshes its wallet transactions, the wallet lists and the totals', () => {
    expect(staleKeysOf({ type: 'wallet_transaction.created', data: { id: 't1', walletId: 'w1' } })).toEqual([
      ['transactions', 'w1'],
      ['wallets'],
      ['customers'],
      ['report'],
    ]);
  });
});
