/**
 * `customers.upsert` as a planner over the customer's records (the customer row exists: the loader
 * creates it when new). The currency is set once, by the host or by the first wallet, and changes
 * only while no active wallet uses it: wallets past their expiry are expired first (they no longer
 * hold it), then any active wallet left refuses the change (CURRENCY_MISMATCH). The timezone may
 * change at any time; it places interval rules' anniversaries from their next check on.
 */
import { WalletError } from './errors.js';
import { isWalletExpired } from './expiry.js';
import { type DraftClock, LedgerDraft } from './ledger-draft.js';
import type { CustomerRecord, GroupRecords, LedgerDelta } from './records.js';

export interface UpsertCustomerCommand {
  currency?: string | undefined;
  timezone?: string | undefined;
}

/** `records` hold the customer's active wallets of every currency, with the lots of those past their expiry. */
export function planUpsertCustomer(
  records: GroupRecords,
  command: UpsertCustomerCommand,
  clock: DraftClock,
): { delta: LedgerDelta; customer: CustomerRecord } {
  const draft = new LedgerDraft(records, clock);
  const customer = draft.customer;
  if (command.currency !== undefined && command.currency !== customer.currency) {
    // A wallet past its expiry is expired now and no longer holds the currency.
    for (const overdue of draft.allActiveWallets()) {
      if (isWalletExpired(overdue, clock.now)) draft.terminate(overdue, 'expiration');
    }
    if (customer.currency !== null && draft.allActiveWallets().length > 0) {
      throw new WalletError('CURRENCY_MISMATCH', `customer ${customer.externalId} has active wallets in ${customer.currency}`, {
        field: 'currency',
        currency: customer.currency,
      });
    }
    customer.currency = command.currency;
  }
  if (command.timezone !== undefined) customer.timezone = command.timezone;
  customer.updatedAt = clock.now;
  draft.settleOngoing();
  return { delta: draft.toDelta(), customer: { ...customer } };
}
