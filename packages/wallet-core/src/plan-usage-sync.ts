/**
 * A usage sync (DESIGN.md flow 4) as a planner: the customer's snapshot of one currency is replaced
 * unless an equal or newer one (by `asOf`) is stored, then the ongoing balances of that currency are
 * settled (allocation, depletion latch, threshold firing). Refuses (CURRENCY_MISMATCH) a currency
 * other than the customer's.
 *
 * The answer shows the wallets after the first settlement; a threshold grant made there moves a
 * balance, so the group is settled once more before the delta is taken (each settlement fires a
 * rule at most once).
 */
import { WalletError } from './errors.js';
import { type DraftClock, LedgerDraft, type UsageSnapshotUpdate } from './ledger-draft.js';
import { copyRule, copyWallet, type GroupRecords, type LedgerDelta, type RuleRecord, type WalletRecord } from './records.js';

export interface UsageSyncCommand extends UsageSnapshotUpdate {
  currency: string;
}

export function planUsageSync(
  records: GroupRecords,
  command: UsageSyncCommand,
  clock: DraftClock,
): { delta: LedgerDelta; wallets: { wallet: WalletRecord; rules: RuleRecord[] }[] } {
  const { customer } = records;
  if (customer.currency !== null && customer.currency !== command.currency) {
    throw new WalletError('CURRENCY_MISMATCH', `customer ${customer.externalId} is billed in ${customer.currency}`, {
      field: 'currency',
      currency: customer.currency,
    });
  }
  const draft = new LedgerDraft(records, clock);
  draft.storeUsageSnapshot(command.currency, command);
  const group = draft.activeWallets(command.currency);
  draft.touchGroup(command.currency);
  draft.settleOngoing();
  const wallets = group.map((wallet) => ({
    wallet: copyWallet(wallet),
    rules: draft.activeRules(new Set([wallet.id])).map(copyRule),
  }));
  draft.settleOngoing();
  return { delta: draft.toDelta(), wallets };
}
