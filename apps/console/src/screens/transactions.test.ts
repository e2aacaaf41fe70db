/** The running balance: from the current balance back, only settled rows move it. */
import { describe, expect, it } from 'vitest';
import type { WalletTransaction } from '../api.js';
import { withRunningBalance } from './transactions.js';

const tx = (id: string, transactionType: 'inbound' | 'outbound', status: 'pending' | 'settled' | 'failed', creditAmount: string) =>
  ({ id, transactionType, status, creditAmount }) as WalletTransaction;

describe('withRunningBalance', () => {
  it('gives each row the balance right after it, newest first', () => {
    const rows = withRunningBalance(
      [
        tx('d', 'outbound', 'settled', '0.5'),
        tx('c', 'inbound', 'pending', '4'),
        tx('b', 'inbound', 'settled', '2.5'),
        tx('a', 'inbound', 'settled', '10'),
      ],
      '12',
    );
    expect(rows.map((r) => [r.tx.id, r.balanceAfter])).toEqual([
      ['d', '12'],
      ['c', '12.5'],
      ['b', '12.5'],
      ['a', '10'],
    ]);
  });
});
