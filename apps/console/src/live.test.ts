/** Which cached lists a live event makes stale. */
import { describe, expect, it } from 'vitest';
import { staleKeysOf } from './live.js';

describe('staleKeysOf', () => {
  it('a wallet event refreshes its customer and the customer wallets', () => {
    expect(staleKeysOf({ type: 'wallet.updated', data: { id: 'w1', externalCustomerId: 'cus_1' } })).toEqual([
      ['wallets', 'cus_1'],
      ['customer', 'cus_1'],
    ]);
  });

  it('a transaction event refreshes its wallet transactions and the wallet lists', () => {
    expect(staleKeysOf({ type: 'wallet_transaction.created', data: { id: 't1', walletId: 'w1' } })).toEqual([['transactions', 'w1'], ['wallets']]);
  });
});
