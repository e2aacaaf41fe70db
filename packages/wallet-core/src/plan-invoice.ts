/**
 * Invoices (DESIGN.md flow 3) as planners over one customer's records.
 *
 * Applying an invoice: only subscription, progressive-billing and pay-in-advance invoices take
 * credits. The usable wallets of the invoice currency (active, not past their expiry) first void
 * their lots past expiry; the allocation (allocation.ts) over their balances decides each wallet's
 * share; each share is one outbound invoiced entry consuming the wallet's live lots, and says how
 * much granted and purchased credits paid. The invoice leaves the stored snapshot's drafts, a usage
 * snapshot sent with it is stored, and the group's ongoing balances are settled (which may fire
 * threshold rules: their top-ups are part of the same delta).
 * Invariants (plan-invoice.test.ts): the total never exceeds the invoice total; no wallet pays more
 * than its balance; granted + purchased = total.
 *
 * Voiding an invoice gives each paying wallet that is still usable its share back, each kind as
 * itself: what purchased credits paid as a purchased lot, what granted credits paid as a granted one
 * (priority 50, the wallet's expiry), in the order the wallets paid.
 */
import { type Allocation, type AllocationFee, planAllocation } from './allocation.js';
import { type Amount, amountFromCents } from './conversion.js';
import { isWalletUsable } from './expiry.js';
import { compareWallets, type DraftClock, LedgerDraft, lotKind, type UsageSnapshotUpdate, walletConversion } from './ledger-draft.js';
import type { LotKind } from './lots.js';
import type { EntryRecord, GroupRecords, LedgerDelta, WalletRecord } from './records.js';
import { minBig } from './rounding.js';

export const CREDITABLE_INVOICE_TYPES = ['subscription', 'progressive_billing', 'pay_in_advance'] as const;

export function isCreditableInvoice(invoiceType: string): boolean {
  return (CREDITABLE_INVOICE_TYPES as readonly string[]).includes(invoiceType);
}

export interface InvoiceToApply {
  id: string;
  currency: string;
  invoiceType: string;
  totalAmountCents: bigint;
  fees: AllocationFee[];
}

export interface InvoiceShare {
  walletId: string;
  amount: Amount;
  entryId: string;
  grantedCents: bigint;
  purchasedCents: bigint;
}

export interface InvoiceApplication {
  totalCents: bigint;
  grantedCents: bigint;
  purchasedCents: bigint;
  shares: InvoiceShare[];
}

/** What one wallet's share is worth in credits: the round trip, never more than the wallet holds. */
export function shareAmount(
  wallet: Pick<WalletRecord, 'rateAmount' | 'currency' | 'balanceCents' | 'creditsBalance'>,
  amountCents: bigint,
  balance: Amount = { amountCents: wallet.balanceCents, creditAmount: wallet.creditsBalance },
): Amount {
  if (amountCents === balance.amountCents) return { amountCents, creditAmount: balance.creditAmount };
  const { creditAmount } = amountFromCents(amountCents, walletConversion(wallet));
  return { amountCents, creditAmount: minBig(creditAmount, balance.creditAmount) };
}

/** The allocation of an invoice over wallets in application order, with their balances (wallets holding nothing left out). */
export function allocateInvoice(
  invoice: Pick<InvoiceToApply, 'totalAmountCents' | 'fees'>,
  wallets: readonly Pick<WalletRecord, 'id' | 'balanceCents' | 'appliesToFeeTypes' | 'appliesToBillableMetricCodes'>[],
  balances?: ReadonlyMap<string, Amount>,
): Allocation {
  return planAllocation({
    totalAmountCents: invoice.totalAmountCents,
    fees: invoice.fees,
    wallets: wallets
      .map((w) => ({
        id: w.id,
        balanceCents: balances?.get(w.id)?.amountCents ?? w.balanceCents,
        feeTypes: w.appliesToFeeTypes,
        billableMetricCodes: w.appliesToBillableMetricCodes,
      }))
      .filter((w) => w.balanceCents > 0n),
  });
}

export function summariseShares(shares: InvoiceShare[]): InvoiceApplication {
  let totalCents = 0n;
  let grantedCents = 0n;
  let purchasedCents = 0n;
  for (const share of shares) {
    totalCents += share.amount.amountCents;
    grantedCents += share.grantedCents;
    purchasedCents += share.purchasedCents;
  }
  return { totalCents, grantedCents, purchasedCents, shares };
}

/**
 * Applies an invoice to the customer's records (`records.wallets`: the active wallets of the invoice
 * currency as loaded, `records.snapshots`: the stored snapshot of that currency). The caller has
 * claimed the invoice id.
 */
export function planApplyInvoice(
  records: GroupRecords,
  invoice: InvoiceToApply,
  usage: UsageSnapshotUpdate | undefined,
  clock: DraftClock,
): { delta: LedgerDelta; application: InvoiceApplication } {
  const draft = new LedgerDraft(records, clock);
  const shares: InvoiceShare[] = [];
  let wallets: WalletRecord[] = [];
  if (isCreditableInvoice(invoice.invoiceType)) {
    wallets = draft.activeWallets(invoice.currency).filter((w) => isWalletUsable(w, clock.now));
    const lots = draft.liveLots(wallets);
    const allocation = allocateInvoice(invoice, wallets);
    for (const part of allocation.wallets) {
      const wallet = draft.wallet(part.walletId)!;
      const amount = shareAmount(wallet, part.amountCents);
      const { entry, parts } = draft.consume(wallet, amount, 'invoiced', { invoiceId: invoice.id }, lots.get(wallet.id));
      let grantedCents = 0n;
      let purchasedCents = 0n;
      for (const p of parts) {
        if (lotKind(p.lot) === 'granted') grantedCents += p.amountCents;
        else purchasedCents += p.amountCents;
      }
      shares.push({ walletId: wallet.id, amount, entryId: entry.id, grantedCents, purchasedCents });
    }
  }
  // The finalized invoice is no longer a draft; a snapshot sent with it replaces the stored one.
  const draftDropped = draft.dropDraftInvoice(invoice.currency, invoice.id);
  const usageStored = usage ? draft.storeUsageSnapshot(invoice.currency, usage) : false;
  if (wallets.length > 0 || draftDropped || usageStored) draft.touchGroup(invoice.currency);
  draft.settleOngoing();
  return { delta: draft.toDelta(), application: summariseShares(shares) };
}

/** What paid an outbound entry, per kind of the lots it consumed. */
export interface PaidPart {
  kind: LotKind;
  creditAmount: bigint;
  amountCents: bigint;
}

/**
 * Voids an applied invoice: `outbound` are its invoiced entries (oldest first), `paidBy` what paid
 * each of them by lot kind (its consumptions); `records.wallets` holds the customer's active
 * wallets. Each paying wallet still usable gets back, in the order the wallets paid, the purchased
 * part as a settled purchased lot, then the granted part as a granted lot: one entry per kind (a
 * wallet paid by granted credits only gets one granted lot; an entry whose consumptions are
 * unknown comes back as granted). Each lot has priority 50 and the wallet's expiry. Returns the
 * recredited lots as they were created.
 */
export function planVoidInvoice(
  records: GroupRecords,
  invoiceId: string,
  outbound: readonly EntryRecord[],
  clock: DraftClock,
  paidBy: ReadonlyMap<string, readonly PaidPart[]> = new Map(),
): { delta: LedgerDelta; recredits: EntryRecord[] } {
  const draft = new LedgerDraft(records, clock);
  const byWallet = new Map<string, { wallet: WalletRecord; purchased: Amount; granted: Amount }>();
  for (const entry of outbound) {
    const wallet = draft.wallet(entry.walletId);
    if (!wallet) continue;
    const item = byWallet.get(wallet.id) ?? { wallet, purchased: zero(), granted: zero() };
    byWallet.set(wallet.id, item);
    const parts = paidBy.get(entry.id) ?? [];
    const known =
      parts.length > 0 &&
      parts.reduce((sum, p) => sum + p.amountCents, 0n) === entry.amountCents &&
      parts.reduce((sum, p) => sum + p.creditAmount, 0n) === entry.creditAmount;
    for (const part of known ? parts : [{ kind: 'granted' as const, creditAmount: entry.creditAmount, amountCents: entry.amountCents }]) {
      const into = part.kind === 'purchased' ? item.purchased : item.granted;
      into.creditAmount += part.creditAmount;
      into.amountCents += part.amountCents;
    }
  }
  // Give back in the order the wallets paid (priority, then creation).
  const paid = [...byWallet.values()].sort((a, b) => compareWallets(a.wallet, b.wallet));
  const recredits: EntryRecord[] = [];
  const details = { source: 'invoice_void', voidedInvoiceId: invoiceId, priority: 50 } as const;
  for (const { wallet, purchased, granted } of paid) {
    if (!isWalletUsable(wallet, clock.now)) continue;
    const lots: EntryRecord[] = [];
    if (purchased.creditAmount > 0n || purchased.amountCents > 0n) {
      lots.push(draft.settledLot(wallet, purchased, 'purchased', { ...details, expirationAt: wallet.expirationAt }));
    }
    if (granted.creditAmount > 0n || granted.amountCents > 0n || lots.length === 0) {
      lots.push(draft.settledLot(wallet, granted, 'granted', { ...details, expirationAt: wallet.expirationAt }));
    }
    for (const lot of lots) recredits.push({ ...lot, metadata: lot.metadata.map((m) => ({ ...m })) });
    wallet.updatedAt = clock.now;
  }
  draft.settleOngoing();
  return { delta: draft.toDelta(), recredits };
}

const zero = (): Amount => ({ creditAmount: 0n, amountCents: 0n });
