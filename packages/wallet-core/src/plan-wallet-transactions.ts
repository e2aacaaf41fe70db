/**
 * `walletTransactions.create` (DESIGN.md flows 1 and 2) as a planner: on one usable wallet, paid
 * credits become a pending purchase (within the wallet's top-up limits unless ignored), granted
 * credits a settled lot, voided credits an outbound entry consuming the wallet's lots. Lots past
 * their own expiry are voided first. A void is checked against the balance before the call and
 * consumes before the grant of the same call lands, so it never eats that grant.
 * Business rules refuse with their own codes, in this order: WALLET_TERMINATED, VALIDATION_FAILED
 * (nothing to do), INVALID_EXPIRATION_DATE, AMOUNT_ROUNDS_TO_ZERO / AMOUNT_ABOVE_MAXIMUM,
 * AMOUNT_BELOW_MINIMUM / AMOUNT_ABOVE_MAXIMUM (limits), INSUFFICIENT_CREDITS.
 */
import { planAmount } from './conversion.js';
import { WalletError } from './errors.js';
import { assertWalletUsable, checkFutureExpiration } from './expiry.js';
import { type DraftClock, type EntryDetails, LedgerDraft, walletConversion } from './ledger-draft.js';
import { copyEntry, type EntryRecord, type GroupRecords, type LedgerDelta, type MetadataPair } from './records.js';
import { checkPaidTopUpLimits } from './top-up-limits.js';

export interface WalletTransactionsCommand {
  walletId: string;
  paidCredits?: bigint | undefined;
  grantedCredits?: bigint | undefined;
  voidedCredits?: bigint | undefined;
  invoiceRequiresSuccessfulPayment?: boolean | undefined;
  ignorePaidTopUpLimits?: boolean | undefined;
  name?: string | null | undefined;
  metadata?: MetadataPair[] | undefined;
  expirationAt?: Date | null | undefined;
  priority?: number | undefined;
}

/** `records.wallets` holds the wallet (whatever its status) and the active wallets of its currency. */
export function planWalletTransactions(
  records: GroupRecords,
  command: WalletTransactionsCommand,
  clock: DraftClock,
): { delta: LedgerDelta; created: EntryRecord[] } {
  const draft = new LedgerDraft(records, clock);
  const wallet = draft.wallet(command.walletId);
  if (!wallet) throw new WalletError('WALLET_NOT_FOUND', `wallet ${command.walletId} not found`, { walletId: command.walletId });
  assertWalletUsable(wallet, clock.now);
  if (!command.paidCredits && !command.grantedCredits && !command.voidedCredits) {
    throw new WalletError('VALIDATION_FAILED', 'one of paidCredits, grantedCredits or voidedCredits must be positive', {
      issues: [{ path: ['paidCredits'], message: 'one of paidCredits, grantedCredits or voidedCredits must be positive' }],
    });
  }
  draft.expireDueLots(wallet);
  checkFutureExpiration(command.expirationAt, clock.now);
  if (command.expirationAt && wallet.expirationAt && command.expirationAt > wallet.expirationAt) {
    throw new WalletError('INVALID_EXPIRATION_DATE', 'a lot cannot expire after its wallet', { field: 'expirationAt' });
  }
  const conversion = walletConversion(wallet);
  const paid = command.paidCredits ? planAmount('paid', command.paidCredits, conversion) : null;
  const granted = command.grantedCredits ? planAmount('granted', command.grantedCredits, conversion) : null;
  const voided = command.voidedCredits ? planAmount('voided', command.voidedCredits, conversion) : null;
  if (paid && !command.ignorePaidTopUpLimits) checkPaidTopUpLimits(paid.amountCents, wallet);
  // A void is checked against the balance before this call, not counting its own grant.
  if (voided && (voided.creditAmount > wallet.creditsBalance || voided.amountCents > wallet.balanceCents)) {
    throw new WalletError('INSUFFICIENT_CREDITS', 'voidedCredits exceed the wallet balance', {
      field: 'voidedCredits',
      creditsBalance: wallet.creditsBalance,
    });
  }
  const details: EntryDetails = {
    name: command.name ?? null,
    metadata: command.metadata ?? [],
    priority: command.priority ?? 50,
    expirationAt: command.expirationAt ?? null,
    invoiceRequiresSuccessfulPayment: command.invoiceRequiresSuccessfulPayment ?? wallet.invoiceRequiresSuccessfulPayment,
  };
  const created: EntryRecord[] = [];
  if (paid) created.push(draft.purchase(wallet, paid, details));
  if (voided) {
    // Consume before the grant lands, so the void never eats the credits granted by this call.
    const voidEntry = draft.consume(wallet, voided, 'voided', { name: details.name ?? null, metadata: details.metadata ?? [] }).entry;
    if (granted) created.push(draft.grant(wallet, granted, details));
    created.push(voidEntry);
  } else if (granted) {
    created.push(draft.grant(wallet, granted, details));
  }
  wallet.updatedAt = clock.now;
  const answer = created.map(copyEntry);
  draft.settleOngoing();
  return { delta: draft.toDelta(), created: answer };
}
