/**
 * The ledger of one customer, in memory: every balance move, decided once, on plain records.
 * A planner opens a draft on the records loaded under the customer's lock, applies its command
 * (new wallets and rules, grant, purchase, settle, fail, consume, void, terminate), settles the ongoing balances (which may
 * fire threshold rules, whose top-ups land in the same draft) and hands `toDelta()` to the writer.
 *
 * What it decides:
 * - lot kinds and consumption order (lots.ts), which lots are live (expiry.ts);
 * - an outbound entry consumes lots whose parts sum to it exactly; a lot's remainder never goes
 *   below zero; a balance never goes below zero nor above MAX_AMOUNT_CENTS;
 * - termination: every remainder voided by one entry, pending purchases failed, rules ended;
 * - ongoing balances: the usage snapshot allocated over the active wallets of a currency (the
 *   absorber is a wallet with a live threshold rule, else the last one that may pay), the depletion
 *   latch, and threshold firing (at most once per rule per settlement, never a second pending
 *   threshold purchase, no paid top-up for an hour after a failed one);
 * - the outbox: transaction events in the order they happened (each showing its entry as it was
 *   then), then one event per wallet that moved, in the order it first moved: `wallet.created` or
 *   `wallet.terminated` in place of `wallet.updated`, and `wallet.depleted_ongoing_balance` when the
 *   request leaves it depleted.
 * Invariants (ledger-draft.test.ts): each wallet's balance moves by exactly the sum of its new
 * entries (inbound settled up, outbound down), consumptions sum to their outbound entry and never
 * exceed a lot's remainder, and the same records, command, time and ids give the same delta.
 *
 * Pure: time and ids are parameters (`now`, `newId`).
 */

import { type Amount, type Conversion, centsToCredits, MAX_AMOUNT_CENTS, planAmount } from './conversion.js';
import { currencyExponent } from './currency.js';
import { invariant, WalletError } from './errors.js';
import { isLotExpired, isRuleLive, isWalletExpired } from './expiry.js';
import { type Lot, type LotKind, planConsumption, sumLots } from './lots.js';
import { planOngoingUsage, type UsageFee, type UsageSnapshotInput } from './ongoing-usage.js';
import { isSettledPayment } from './payment.js';
import {
  type ConsumptionRecord,
  type CustomerRecord,
  copyEntry,
  copyRule,
  copySnapshot,
  copyWallet,
  type DeltaEvent,
  type EntryKind,
  type EntryRecord,
  type EntrySource,
  type GroupRecords,
  type LedgerDelta,
  type MetadataPair,
  type RuleRecord,
  sameRecord,
  type TransactionEventType,
  type UsageSnapshotRecord,
  type WalletEventType,
  type WalletRecord,
} from './records.js';
import { planThresholdTopUp, type TopUpPlan } from './threshold-top-up.js';
import { checkPaidTopUpLimits } from './top-up-limits.js';

/** How long a failed threshold purchase holds back the next paid threshold top-up. */
export const THRESHOLD_BACKOFF_MS = 60 * 60 * 1000;

export interface EntryDetails {
  source?: EntrySource;
  name?: string | null;
  metadata?: MetadataPair[];
  priority?: number;
  expirationAt?: Date | null;
  invoiceId?: string | null;
  voidedInvoiceId?: string | null;
  voidedTransactionId?: string | null;
  invoiceRequiresSuccessfulPayment?: boolean;
}

export interface ConsumedPart {
  lot: EntryRecord;
  creditAmount: bigint;
  amountCents: bigint;
}

export interface DraftClock {
  now: Date;
  /** A fresh id for each new row (entries, consumptions, snapshots), in the order they are made. */
  newId: () => string;
}

export interface UsageSnapshotUpdate {
  asOf?: Date | undefined;
  fees: UsageFee[];
  draftInvoices?: { id: string; fees: UsageFee[] }[] | undefined;
  billedFees?: UsageFee[] | undefined;
}

export type RuleTopUpOutcome = 'skipped' | 'purchased' | 'granted';

/** Credits <-> money for a wallet (its rate and its currency's exponent). */
export function walletConversion(wallet: Pick<WalletRecord, 'rateAmount' | 'currency'>): Conversion {
  return { rate: wallet.rateAmount, exponent: currencyExponent(wallet.currency) };
}

/** A lot's kind: granted credits, or purchased ones (paid for). */
export function lotKind(entry: Pick<EntryRecord, 'transactionStatus'>): LotKind {
  return entry.transactionStatus === 'granted' ? 'granted' : 'purchased';
}

export function toLot(entry: EntryRecord): Lot {
  return {
    id: entry.id,
    kind: lotKind(entry),
    priority: entry.priority,
    expirationAt: entry.expirationAt,
    createdAt: entry.createdAt,
    remainingCredits: entry.remainingCreditAmount ?? 0n,
    remainingCents: entry.remainingAmountCents ?? 0n,
  };
}

/** A settled inbound entry with something left to consume. */
export function isLot(entry: EntryRecord): boolean {
  return (
    entry.transactionType === 'inbound' &&
    entry.status === 'settled' &&
    ((entry.remainingAmountCents ?? 0n) > 0n || (entry.remainingCreditAmount ?? 0n) > 0n)
  );
}

/** Wallets in application order: priority, then creation, then id. */
export function compareWallets(a: WalletRecord, b: WalletRecord): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  const ca = a.createdAt.getTime();
  const cb = b.createdAt.getTime();
  if (ca !== cb) return ca - cb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export class LedgerDraft {
  readonly now: Date;
  readonly customer: CustomerRecord;
  private readonly newId: () => string;
  private readonly originalCustomer: CustomerRecord;
  private readonly originals = {
    wallets: new Map<string, WalletRecord>(),
    entries: new Map<string, EntryRecord>(),
    rules: new Map<string, RuleRecord>(),
  };
  private readonly walletMap = new Map<string, WalletRecord>();
  private readonly newWallets = new Set<WalletRecord>();
  private readonly newRules = new Set<RuleRecord>();
  /** Existing entries (lots and purchases) first, in loaded order, then new ones. */
  private readonly entryList: EntryRecord[] = [];
  private readonly newEntries = new Set<EntryRecord>();
  private readonly consumptions: ConsumptionRecord[] = [];
  private readonly ruleList: RuleRecord[];
  private readonly snapshots: Map<string, UsageSnapshotRecord>;
  private readonly storedSnapshotCurrencies: ReadonlySet<string>;
  private changedSnapshot: UsageSnapshotRecord | null = null;
  private readonly latestPurchaseSettledAt: ReadonlyMap<string, Date>;
  private readonly transactionEvents: { type: TransactionEventType; entry: EntryRecord }[] = [];
  private readonly walletEvents = new Map<string, Set<WalletEventType>>();
  /** Wallets whose balances or scope changed: their ongoing balances are recomputed by `settleOngoing`. */
  private readonly touched = new Map<string, WalletRecord>();

  constructor(records: GroupRecords, clock: DraftClock) {
    this.now = clock.now;
    this.newId = clock.newId;
    this.customer = { ...records.customer };
    this.originalCustomer = records.customer;
    for (const wallet of records.wallets) {
      this.originals.wallets.set(wallet.id, wallet);
      this.walletMap.set(wallet.id, copyWallet(wallet));
    }
    for (const entry of [...records.lots, ...records.purchases]) {
      if (this.originals.entries.has(entry.id)) continue;
      this.originals.entries.set(entry.id, entry);
      this.entryList.push(copyEntry(entry));
    }
    this.ruleList = records.rules.map((rule) => {
      this.originals.rules.set(rule.id, rule);
      return copyRule(rule);
    });
    this.snapshots = new Map([...records.snapshots].map(([currency, snapshot]) => [currency, copySnapshot(snapshot)]));
    this.storedSnapshotCurrencies = new Set(records.snapshots.keys());
    this.latestPurchaseSettledAt = records.latestPurchaseSettledAt;
  }

  // ---------------------------------------------------------------------------------------------
  // Reading the draft.

  wallet(walletId: string): WalletRecord | undefined {
    return this.walletMap.get(walletId);
  }

  /** The wallets of a currency that are active now, in application order. */
  activeWallets(currency: string): WalletRecord[] {
    return [...this.walletMap.values()].filter((w) => w.status === 'active' && w.currency === currency).sort(compareWallets);
  }

  /** The active rules of the given wallets, oldest first (as loaded). */
  activeRules(walletIds: ReadonlySet<string>): RuleRecord[] {
    return this.ruleList.filter((rule) => rule.status === 'active' && walletIds.has(rule.walletId));
  }

  /** A wallet's lots now: settled inbound entries with something left (loaded first, then new). */
  lotsOf(walletId: string): EntryRecord[] {
    return this.entryList.filter((entry) => entry.walletId === walletId && isLot(entry));
  }

  pendingPurchasesOf(walletId: string): EntryRecord[] {
    return this.entryList.filter((e) => e.walletId === walletId && e.transactionStatus === 'purchased' && e.status === 'pending');
  }

  entry(entryId: string): EntryRecord | undefined {
    return this.entryList.find((entry) => entry.id === entryId);
  }

  snapshot(currency: string): UsageSnapshotRecord | null {
    return this.snapshots.get(currency) ?? null;
  }

  /** The customer's wallets that are active now, of every currency loaded, in application order. */
  allActiveWallets(): WalletRecord[] {
    return [...this.walletMap.values()].filter((w) => w.status === 'active').sort(compareWallets);
  }

  // ---------------------------------------------------------------------------------------------
  // New wallets and rules.

  /** A new wallet of the customer (the draft keeps and returns its own copy). */
  addWallet(wallet: WalletRecord): WalletRecord {
    invariant(wallet.customerId === this.customer.id && !this.walletMap.has(wallet.id), 'a new wallet of this customer');
    const copy = copyWallet(wallet);
    this.walletMap.set(copy.id, copy);
    this.newWallets.add(copy);
    return copy;
  }

  /** A new rule of a wallet in the draft (the draft keeps and returns its own copy). */
  addRule(rule: RuleRecord): RuleRecord {
    invariant(this.walletMap.has(rule.walletId), 'a new rule of a wallet in the draft');
    const copy = copyRule(rule);
    this.ruleList.push(copy);
    this.newRules.add(copy);
    return copy;
  }

  // ---------------------------------------------------------------------------------------------
  // Events.

  private transactionEvent(type: TransactionEventType, entry: EntryRecord): void {
    this.transactionEvents.push({ type, entry: copyEntry(entry) });
  }

  walletEvent(type: WalletEventType, wallet: WalletRecord): void {
    const types = this.walletEvents.get(wallet.id) ?? new Set<WalletEventType>();
    types.add(type);
    this.walletEvents.set(wallet.id, types);
  }

  /** `wallet_transaction.payment_failure` for a purchase whose payment failed. */
  reportPaymentFailure(entry: EntryRecord): void {
    this.transactionEvent('wallet_transaction.payment_failure', entry);
  }

  // ---------------------------------------------------------------------------------------------
  // Balance moves.

  touch(wallet: WalletRecord): void {
    wallet.updatedAt = this.now;
    this.touched.set(wallet.id, wallet);
  }

  /** Touches every wallet of the currency that was active when loaded (their ongoing balances are recomputed). */
  touchGroup(currency: string): void {
    for (const wallet of this.walletMap.values()) {
      if (wallet.currency === currency && this.originals.wallets.get(wallet.id)?.status === 'active') this.touch(wallet);
    }
  }

  private refreshOngoing(wallet: WalletRecord): void {
    this.touch(wallet);
    this.walletEvent('wallet.updated', wallet);
  }

  private checkCredit(wallet: WalletRecord, amount: Amount): void {
    // Cents travel as JSON numbers: a balance past 2^53 - 1 minor units could not be shown exactly.
    if (wallet.balanceCents + amount.amountCents > MAX_AMOUNT_CENTS) {
      throw new WalletError('AMOUNT_ABOVE_MAXIMUM', `the wallet balance would pass ${MAX_AMOUNT_CENTS} minor units, the largest it holds`, {
        walletId: wallet.id,
        maximumCents: MAX_AMOUNT_CENTS,
      });
    }
  }

  private credit(wallet: WalletRecord, amount: Amount): void {
    this.checkCredit(wallet, amount);
    wallet.balanceCents += amount.amountCents;
    wallet.creditsBalance += amount.creditAmount;
    this.refreshOngoing(wallet);
  }

  private newEntry(
    wallet: WalletRecord,
    fields: Pick<EntryRecord, 'transactionType' | 'transactionStatus' | 'status'> & Partial<EntryRecord> & Amount,
    details: EntryDetails,
  ): EntryRecord {
    const entry: EntryRecord = {
      id: this.newId(),
      walletId: wallet.id,
      customerId: wallet.customerId,
      source: details.source ?? 'manual',
      remainingCreditAmount: null,
      remainingAmountCents: null,
      priority: details.priority ?? 50,
      expirationAt: details.expirationAt ?? null,
      name: details.name ?? null,
      metadata: details.metadata ?? [],
      invoiceId: details.invoiceId ?? null,
      voidedInvoiceId: details.voidedInvoiceId ?? null,
      voidedTransactionId: details.voidedTransactionId ?? null,
      invoiceRequiresSuccessfulPayment: details.invoiceRequiresSuccessfulPayment ?? wallet.invoiceRequiresSuccessfulPayment,
      settledAt: null,
      failedAt: null,
      clawedBackAt: null,
      createdAt: this.now,
      ...fields,
    };
    this.entryList.push(entry);
    this.newEntries.add(entry);
    return entry;
  }

  /** A settled inbound lot (granted credits, recredits): the balance rises at once. */
  grant(wallet: WalletRecord, amount: Amount, details: EntryDetails = {}): EntryRecord {
    return this.settledLot(wallet, amount, 'granted', details);
  }

  /**
   * A settled lot of either kind (a grant, or purchased credits given back by an invoice void,
   * already paid for by the purchase they came from).
   */
  settledLot(wallet: WalletRecord, amount: Amount, kind: LotKind, details: EntryDetails = {}): EntryRecord {
    // Checked before the entry exists, so a refused lot leaves no row behind.
    this.checkCredit(wallet, amount);
    const entry = this.newEntry(
      wallet,
      {
        ...amount,
        transactionType: 'inbound',
        transactionStatus: kind,
        status: 'settled',
        settledAt: this.now,
        remainingCreditAmount: amount.creditAmount,
        remainingAmountCents: amount.amountCents,
      },
      details,
    );
    this.credit(wallet, amount);
    this.transactionEvent('wallet_transaction.created', entry);
    return entry;
  }

  /** A pending purchase: nothing moves until the host reports the payment. */
  purchase(wallet: WalletRecord, amount: Amount, details: EntryDetails = {}): EntryRecord {
    const entry = this.newEntry(wallet, { ...amount, transactionType: 'inbound', transactionStatus: 'purchased', status: 'pending' }, details);
    this.transactionEvent('wallet_transaction.created', entry);
    return entry;
  }

  /** pending|failed -> settled: the purchase becomes a lot and the balance rises. */
  settle(wallet: WalletRecord, entry: EntryRecord): void {
    invariant(entry.transactionStatus === 'purchased' && entry.status !== 'settled', 'only an unsettled purchase settles');
    this.checkCredit(wallet, entry);
    entry.status = 'settled';
    entry.settledAt = this.now;
    entry.remainingCreditAmount = entry.creditAmount;
    entry.remainingAmountCents = entry.amountCents;
    this.credit(wallet, entry);
    this.transactionEvent('wallet_transaction.updated', entry);
  }

  /** pending -> failed. */
  fail(entry: EntryRecord): void {
    invariant(entry.transactionStatus === 'purchased' && entry.status === 'pending', 'only a pending purchase fails');
    entry.status = 'failed';
    entry.failedAt = this.now;
    this.transactionEvent('wallet_transaction.updated', entry);
  }

  /**
   * An outbound amount consuming the given lots (default: all of the wallet's lots) in the fixed
   * order, with which lot paid how much. Refuses (INSUFFICIENT_CREDITS) when the lots do not hold it.
   */
  consume(
    wallet: WalletRecord,
    amount: Amount,
    kind: Extract<EntryKind, 'voided' | 'invoiced'>,
    details: EntryDetails = {},
    lots: EntryRecord[] = this.lotsOf(wallet.id),
  ): { entry: EntryRecord; parts: ConsumedPart[] } {
    const plan = planConsumption(lots.map(toLot), amount);
    const entry = this.newEntry(
      wallet,
      { ...amount, transactionType: 'outbound', transactionStatus: kind, status: 'settled', settledAt: this.now },
      details,
    );
    const byId = new Map(lots.map((lot) => [lot.id, lot]));
    const parts: ConsumedPart[] = [];
    for (const part of plan) {
      const lot = byId.get(part.lotId);
      invariant(lot && lot.remainingAmountCents !== null && lot.remainingCreditAmount !== null, 'consumed lot is not a lot');
      lot.remainingAmountCents -= part.amountCents;
      lot.remainingCreditAmount -= part.creditAmount;
      this.consumptions.push({
        id: this.newId(),
        inboundId: lot.id,
        outboundId: entry.id,
        creditAmount: part.creditAmount,
        amountCents: part.amountCents,
        createdAt: this.now,
      });
      parts.push({ lot, creditAmount: part.creditAmount, amountCents: part.amountCents });
    }
    wallet.balanceCents -= amount.amountCents;
    wallet.creditsBalance -= amount.creditAmount;
    wallet.consumedCredits += amount.creditAmount;
    wallet.consumedAmountCents += amount.amountCents;
    invariant(wallet.balanceCents >= 0n && wallet.creditsBalance >= 0n, 'a balance went below zero');
    this.refreshOngoing(wallet);
    this.transactionEvent('wallet_transaction.created', entry);
    return { entry, parts };
  }

  /** Voids whatever the given lots still hold (system voids: may be worth 0 cents). */
  voidRemainder(wallet: WalletRecord, lots: EntryRecord[], details: EntryDetails): EntryRecord | null {
    const remainder = sumLots(lots.map(toLot));
    if (remainder.amountCents === 0n && remainder.creditAmount === 0n) return null;
    return this.consume(wallet, remainder, 'voided', details, lots).entry;
  }

  /** The usable lots of several wallets: lots past their own expiry are voided first (one entry each) and left out. */
  liveLots(wallets: readonly WalletRecord[]): Map<string, EntryRecord[]> {
    const byWallet = new Map<string, EntryRecord[]>();
    for (const wallet of wallets) byWallet.set(wallet.id, this.voidExpiredLots(wallet, this.lotsOf(wallet.id)));
    return byWallet;
  }

  private voidExpiredLots(wallet: WalletRecord, lots: EntryRecord[]): EntryRecord[] {
    const live: EntryRecord[] = [];
    for (const lot of lots) {
      if (isLotExpired(lot, this.now)) {
        this.voidRemainder(wallet, [lot], { source: 'expiration', voidedTransactionId: lot.id, name: lot.name });
      } else {
        live.push(lot);
      }
    }
    return live;
  }

  /** Voids the remainder of every lot of the wallet whose own expiry has passed; returns how many. */
  expireDueLots(wallet: WalletRecord): number {
    const lots = this.lotsOf(wallet.id);
    return lots.length - this.voidExpiredLots(wallet, lots).length;
  }

  /**
   * Terminate (by request or by expiry): every remaining credit voided by one entry, pending
   * purchases failed, rules ended, status terminated. A terminated wallet is left as it is.
   */
  terminate(wallet: WalletRecord, source: 'termination' | 'expiration'): boolean {
    if (wallet.status === 'terminated') return false;
    this.voidRemainder(wallet, this.lotsOf(wallet.id), { source });
    for (const entry of this.pendingPurchasesOf(wallet.id)) this.fail(entry);
    for (const rule of this.ruleList) {
      if (rule.walletId !== wallet.id || rule.status !== 'active') continue;
      rule.status = 'terminated';
      rule.terminatedAt = this.now;
    }
    wallet.status = 'terminated';
    wallet.terminatedAt = this.now;
    this.walletEvent('wallet.terminated', wallet);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Usage snapshots.

  /** Stores the snapshot unless an equal or newer one (by `asOf`) is stored; true when stored. */
  storeUsageSnapshot(currency: string, update: UsageSnapshotUpdate): boolean {
    const asOf = update.asOf ?? this.now;
    let snapshot = this.snapshots.get(currency);
    if (snapshot && snapshot.asOf >= asOf) return false;
    if (!snapshot) {
      snapshot = { id: this.newId(), currency, asOf, fees: [], draftInvoices: [], billedFees: [], updatedAt: this.now };
      this.snapshots.set(currency, snapshot);
    }
    snapshot.asOf = asOf;
    snapshot.fees = update.fees.map((fee) => ({ ...fee }));
    snapshot.draftInvoices = (update.draftInvoices ?? []).map((draft) => ({ id: draft.id, fees: draft.fees.map((fee) => ({ ...fee })) }));
    snapshot.billedFees = (update.billedFees ?? []).map((fee) => ({ ...fee }));
    snapshot.updatedAt = this.now;
    this.changedSnapshot = snapshot;
    return true;
  }

  /** A finalized invoice is no longer a draft: its fees leave the stored snapshot. True when it was there. */
  dropDraftInvoice(currency: string, invoiceId: string): boolean {
    const snapshot = this.snapshots.get(currency);
    if (!snapshot?.draftInvoices.some((draft) => draft.id === invoiceId)) return false;
    snapshot.draftInvoices = snapshot.draftInvoices.filter((draft) => draft.id !== invoiceId);
    snapshot.updatedAt = this.now;
    this.changedSnapshot = snapshot;
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Ongoing balances and threshold rules.

  /**
   * Recomputes the ongoing balances of every currency touched since the last settlement (terminated
   * wallets drop their usage) and fires threshold rules; a threshold grant moves a balance, so the
   * group is recomputed again, at most three times, each rule firing at most once.
   */
  settleOngoing(): void {
    const currencies = new Set<string>();
    for (const wallet of this.touched.values()) {
      if (wallet.status !== 'active') this.applyOngoing(wallet, 0n);
      currencies.add(wallet.currency);
    }
    this.touched.clear();
    for (const currency of currencies) {
      const fired = new Set<string>();
      for (let round = 0; round < 3; round++) {
        const wallets = this.activeWallets(currency);
        const rules = this.activeRules(new Set(wallets.map((w) => w.id)));
        this.recomputeOngoing(currency, wallets, rules);
        if (!this.fireThresholdRules(wallets, rules, fired)) break;
      }
    }
  }

  private recomputeOngoing(currency: string, wallets: WalletRecord[], rules: RuleRecord[]): void {
    // Only rules that can still fire absorb usage: live, on a wallet not past its expiry.
    const live = new Set(wallets.filter((w) => !isWalletExpired(w, this.now)).map((w) => w.id));
    const withRule = new Set(
      rules.filter((r) => r.trigger === 'threshold' && live.has(r.walletId) && isRuleLive(r, this.now)).map((r) => r.walletId),
    );
    const usage = planOngoingUsage(
      snapshotInput(this.snapshot(currency)),
      wallets.map((w) => ({
        id: w.id,
        balanceCents: w.balanceCents,
        feeTypes: w.appliesToFeeTypes,
        billableMetricCodes: w.appliesToBillableMetricCodes,
        hasActiveThresholdRule: withRule.has(w.id),
      })),
    );
    for (const wallet of wallets) this.applyOngoing(wallet, usage.get(wallet.id) ?? 0n);
  }

  /** Sets a wallet's ongoing fields from its allocated usage and fires the depletion latch. */
  private applyOngoing(wallet: WalletRecord, usageCents: bigint): void {
    const before = [wallet.ongoingBalanceCents, wallet.creditsOngoingBalance, wallet.ongoingUsageBalanceCents];
    const usageCredits = centsToCredits(usageCents, walletConversion(wallet));
    wallet.ongoingUsageBalanceCents = usageCents;
    wallet.creditsOngoingUsageBalance = usageCredits;
    wallet.ongoingBalanceCents = wallet.balanceCents - usageCents;
    wallet.creditsOngoingBalance = wallet.creditsBalance - usageCredits;
    if (wallet.status === 'active' && !wallet.depletedOngoingBalance && wallet.ongoingBalanceCents <= 0n) {
      wallet.depletedOngoingBalance = true;
      this.walletEvent('wallet.depleted_ongoing_balance', wallet);
    } else if (wallet.depletedOngoingBalance && wallet.ongoingBalanceCents > 0n) {
      wallet.depletedOngoingBalance = false;
    }
    const after = [wallet.ongoingBalanceCents, wallet.creditsOngoingBalance, wallet.ongoingUsageBalanceCents];
    if (before.some((value, index) => value !== after[index])) this.walletEvent('wallet.updated', wallet);
  }

  /** Returns true when a grant changed a balance (ongoing balances must be recomputed). */
  private fireThresholdRules(wallets: readonly WalletRecord[], activeRules: readonly RuleRecord[], fired: Set<string>): boolean {
    // A wallet past its expiry is expired even before the job has run: its rules do not fire.
    const active = wallets.filter((w) => w.status === 'active' && !isWalletExpired(w, this.now));
    if (active.length === 0) return false;
    const walletIds = new Set(active.map((w) => w.id));
    const rules = activeRules.filter((r) => r.trigger === 'threshold' && walletIds.has(r.walletId) && isRuleLive(r, this.now));
    let granted = false;
    for (const rule of rules) {
      if (fired.has(rule.id)) continue;
      const wallet = active.find((w) => w.id === rule.walletId)!;
      const pending = this.pendingPurchasesOf(wallet.id);
      if (pending.some((entry) => entry.source === 'threshold')) continue;
      const plan = planThresholdTopUp(rule, {
        creditsOngoingBalance: wallet.creditsOngoingBalance,
        pendingCredits: pending.reduce((sum, entry) => sum + entry.creditAmount, 0n),
        paidTopUpMinAmountCents: wallet.paidTopUpMinAmountCents,
        paidTopUpMaxAmountCents: wallet.paidTopUpMaxAmountCents,
        conversion: walletConversion(wallet),
      });
      if (!plan) continue;
      if (plan.paidCredits > 0n && this.inThresholdBackoff(wallet)) continue;
      fired.add(rule.id);
      if (this.ruleTopUp(wallet, rule, plan, 'threshold') === 'granted') granted = true;
    }
    return granted;
  }

  /** A threshold purchase failed within the back-off period and no purchase settled since. */
  private inThresholdBackoff(wallet: WalletRecord): boolean {
    const since = this.now.getTime() - THRESHOLD_BACKOFF_MS;
    let failedAt: Date | null = null;
    for (const entry of this.entryList) {
      if (entry.walletId !== wallet.id || entry.source !== 'threshold' || entry.transactionStatus !== 'purchased') continue;
      if (entry.status !== 'failed' || !entry.failedAt || entry.failedAt.getTime() <= since) continue;
      if (!failedAt || entry.failedAt > failedAt) failedAt = entry.failedAt;
    }
    if (!failedAt) return false;
    const latest = this.latestPurchaseSettledAt.get(wallet.id);
    if (latest && latest > failedAt) return false;
    return !this.entryList.some((e) => e.walletId === wallet.id && isSettledPayment(e) && e.settledAt !== null && e.settledAt > failedAt);
  }

  /**
   * The top-up a recurring rule creates (threshold or interval): paid credits as a pending purchase,
   * granted credits as a settled lot, named and tagged by the rule. A top-up that fails its own checks
   * (worth under one cent, a fixed rule outside the wallet limits) is skipped, never an error.
   */
  ruleTopUp(wallet: WalletRecord, rule: RuleRecord, plan: TopUpPlan, source: 'threshold' | 'interval'): RuleTopUpOutcome {
    const conversion = walletConversion(wallet);
    try {
      const paid = plan.paidCredits > 0n ? planAmount('paid', plan.paidCredits, conversion) : null;
      const granted = plan.grantedCredits > 0n ? planAmount('granted', plan.grantedCredits, conversion) : null;
      if (paid && rule.method === 'fixed' && !rule.ignorePaidTopUpLimits) checkPaidTopUpLimits(paid.amountCents, wallet);
      if (!paid && !granted) return 'skipped';
      const details: EntryDetails = {
        source,
        name: rule.transactionName,
        metadata: rule.transactionMetadata,
        invoiceRequiresSuccessfulPayment: rule.invoiceRequiresSuccessfulPayment,
      };
      if (paid) this.purchase(wallet, paid, details);
      if (granted) this.grant(wallet, granted, details);
      return granted ? 'granted' : 'purchased';
    } catch (error) {
      if (error instanceof WalletError) return 'skipped';
      throw error;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The delta.

  /** The events in their final order (see the module comment). */
  private finalEvents(): DeltaEvent[] {
    const events: DeltaEvent[] = this.transactionEvents.map((event) => ({ type: event.type, entry: event.entry }));
    for (const [walletId, types] of this.walletEvents) {
      const wallet = this.walletMap.get(walletId);
      invariant(wallet, `wallet ${walletId} moved but is not in the draft`);
      const main: WalletEventType[] = types.has('wallet.created')
        ? ['wallet.created']
        : types.has('wallet.terminated')
          ? ['wallet.terminated']
          : types.has('wallet.updated')
            ? ['wallet.updated']
            : [];
      // Only if the request leaves it depleted: a void then a grant in one call dips to zero and back.
      if (types.has('wallet.depleted_ongoing_balance') && wallet.ongoingBalanceCents <= 0n) main.push('wallet.depleted_ongoing_balance');
      for (const type of main) events.push({ type, walletId });
    }
    return events;
  }

  toDelta(): LedgerDelta {
    const changed = <T extends { id: string }>(items: Iterable<T>, originals: Map<string, T>) =>
      [...items].filter((item) => {
        const original = originals.get(item.id);
        return original !== undefined && !sameRecord(item, original);
      });
    return {
      entries: [...this.newEntries].map(copyEntry),
      consumptions: this.consumptions.map((c) => ({ ...c })),
      changedEntries: changed(this.entryList, this.originals.entries).map(copyEntry),
      newWallets: [...this.newWallets].map(copyWallet),
      wallets: changed(this.walletMap.values(), this.originals.wallets).map(copyWallet),
      newRules: [...this.newRules].map(copyRule),
      rules: changed(this.ruleList, this.originals.rules).map(copyRule),
      customer: sameRecord(this.customer, this.originalCustomer) ? null : { ...this.customer },
      snapshot: this.changedSnapshot
        ? { record: copySnapshot(this.changedSnapshot), created: !this.storedSnapshotCurrencies.has(this.changedSnapshot.currency) }
        : null,
      events: this.finalEvents(),
    };
  }
}

/** The snapshot as the ongoing allocation reads it (draft invoices flattened). */
export function snapshotInput(snapshot: UsageSnapshotRecord | null): UsageSnapshotInput {
  if (!snapshot) return { currentFees: [], draftInvoiceFees: [], billedFees: [] };
  return {
    currentFees: snapshot.fees,
    draftInvoiceFees: snapshot.draftInvoices.flatMap((draft) => draft.fees),
    billedFees: snapshot.billedFees,
  };
}
