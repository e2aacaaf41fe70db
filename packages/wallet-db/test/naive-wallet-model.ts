/**
 * A naive reference model of one customer's wallets, for the model-based test. It imports nothing
 * from wallet-core or from wallet-db's src: it is a second, deliberately simple implementation of
 * DESIGN.md (flows 1, 2 and 6), so a bug shared by both would need to be written twice.
 *
 * Units: credits and rates are bigints counting 1e-5 (Lago's decimal(30,5)); money is an integer
 * count of the currency's minor unit. Rounding "half up" is done here by looking at the first dropped
 * decimal digit of the exact product, not by the integer formula the real code uses.
 *
 * Every operation works on a copy of the wallet and returns the copy; the caller keeps it only when
 * the real system accepted the request too, so a refusal leaves the model exactly as it was (as a
 * refused request must leave the database). Refusals throw ModelRefusal with the expected code.
 *
 * Lot expiry is applied where the real system promises to look at lots: a top-up/grant/void call
 * (before its own checks), a successful payment on an active wallet, and the expiration job.
 * Termination (by request, by the job, by any payment report on a wallet past its expiry, or by a
 * new wallet's creation for the customer's overdue wallets) voids everything in one entry and fails
 * pending purchases. Consumption order of lots: priority, soonest expiry (none last), granted before
 * purchased, oldest (by creation) first.
 */

export const CURRENCY_DIGITS: Readonly<Record<string, number>> = { EUR: 2, JPY: 0, KWD: 3, USD: 2 };

export class ModelRefusal extends Error {
  constructor(
    readonly code: string,
    /** Which rule refused, where one code has several (for the test's coverage counts). */
    readonly detail?: string,
  ) {
    super(`model refuses: ${code}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Arithmetic of its own: decimal strings for half-up rounding, remainders for division.

/** 1e-5 units -> shortest decimal string ("10.5", "0.00001", "3"). */
export function formatCredits(units: bigint): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(6, '0');
  const whole = digits.slice(0, digits.length - 5);
  let fraction = digits.slice(digits.length - 5);
  while (fraction.endsWith('0')) fraction = fraction.slice(0, -1);
  return (negative ? '-' : '') + whole + (fraction === '' ? '' : `.${fraction}`);
}

/** A PostgreSQL numeric text ("12.34000") or a wire decimal ("12.34") -> 1e-5 units. */
export function parseCredits(text: string): bigint {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  const dot = body.indexOf('.');
  const whole = dot === -1 ? body : body.slice(0, dot);
  const fraction = dot === -1 ? '' : body.slice(dot + 1);
  if (fraction.length > 5) throw new Error(`unexpected precision in ${text}`);
  const units = BigInt(whole === '' ? '0' : whole) * 100000n + BigInt(fraction.padEnd(5, '0'));
  return negative ? -units : units;
}

/** Drops the last `places` decimal digits of a non-negative integer, rounding half up by digit. */
function dropDigitsHalfUp(value: bigint, places: number): bigint {
  if (value < 0n) throw new Error('only non-negative values are rounded here');
  if (places === 0) return value;
  const text = value.toString().padStart(places + 1, '0');
  const kept = BigInt(text.slice(0, text.length - places));
  const firstDropped = text.charCodeAt(text.length - places) - 48;
  return firstDropped >= 5 ? kept + 1n : kept;
}

/** Money of a number of credits: half up of credits x rate, in minor units. */
export function creditsToMinor(credits: bigint, rate: bigint, digits: number): bigint {
  // credits (1e-5) x rate (1e-5) is in 1e-10 major units; minor units keep `digits` of those ten.
  return dropDigitsHalfUp(credits * rate, 10 - digits);
}

/** Credits bought by an amount of money: half up to 5 digits of amount / rate. */
export function minorToCredits(minor: bigint, rate: bigint, digits: number): bigint {
  const numerator = minor * 10n ** BigInt(10 - digits);
  let quotient = numerator / rate;
  const remainder = numerator - quotient * rate;
  if (remainder + remainder >= rate) quotient += 1n;
  return quotient;
}

// ---------------------------------------------------------------------------------------------
// State

export type TxStatus = 'pending' | 'settled' | 'failed';
export type TxKind = 'purchased' | 'granted' | 'voided';
export type TxSource = 'manual' | 'expiration' | 'termination' | 'payment_failure';

export interface ModelTx {
  /** Serial number inside its wallet; system voids point at lots by it. */
  ref: number;
  /** The real id, once known (from a response, or adopted from the database by content). */
  id: string | null;
  direction: 'inbound' | 'outbound';
  kind: TxKind;
  status: TxStatus;
  source: TxSource;
  credits: bigint;
  cents: bigint;
  /** Only settled inbound transactions (lots) have remainders. */
  remainingCredits: bigint | null;
  remainingCents: bigint | null;
  priority: number;
  expirationAt: number | null;
  createdAt: number;
  voidedRef: number | null;
  clawedBack: boolean;
  invoiceId: string | null;
  /** Lots: when they settled (a paid top-up settles at its payment, not at its creation). */
  settledAt?: number;
  /** Outbound: the cents taken from each lot, by the lot's kind (for the finance report). */
  takes?: { kind: TxKind; cents: bigint }[];
}

export interface ModelWallet {
  /** The real id, once the creation was accepted. */
  id: string;
  code: string;
  currency: string;
  digits: number;
  rate: bigint;
  status: 'active' | 'terminated';
  expirationAt: number | null;
  terminatedAt: number | null;
  terminationSource: 'termination' | 'expiration' | null;
  minCents: bigint | null;
  maxCents: bigint | null;
  balanceCents: bigint;
  balanceCredits: bigint;
  consumedCredits: bigint;
  consumedCents: bigint;
  createdAt: number;
  txs: ModelTx[];
  nextRef: number;
}

export function copyWallet(wallet: ModelWallet): ModelWallet {
  return { ...wallet, txs: wallet.txs.map((tx) => ({ ...tx })) };
}

export function isPastExpiry(wallet: ModelWallet, now: number): boolean {
  return wallet.expirationAt !== null && wallet.expirationAt <= now;
}

function isLot(tx: ModelTx): boolean {
  return tx.direction === 'inbound' && tx.status === 'settled';
}

function holdsSomething(tx: ModelTx): boolean {
  return isLot(tx) && ((tx.remainingCredits ?? 0n) > 0n || (tx.remainingCents ?? 0n) > 0n);
}

/** Consumption order as one sortable string: priority, expiry (none last), granted first, oldest. */
function orderKey(tx: ModelTx): string {
  const expiry = tx.expirationAt === null ? '~' : String(tx.expirationAt).padStart(16, '0');
  return [String(tx.priority).padStart(3, '0'), expiry, tx.kind === 'granted' ? 'a' : 'b', String(tx.createdAt).padStart(16, '0'), tx.id ?? ''].join(
    '|',
  );
}

function addTx(wallet: ModelWallet, fields: Omit<ModelTx, 'ref' | 'id' | 'clawedBack' | 'invoiceId' | 'voidedRef'> & { voidedRef?: number | null }) {
  const tx: ModelTx = { ref: wallet.nextRef++, id: null, clawedBack: false, invoiceId: null, voidedRef: null, ...fields };
  wallet.txs.push(tx);
  return tx;
}

function addLot(wallet: ModelWallet, lot: ModelTx, now: number = lot.createdAt): void {
  lot.settledAt = now;
  lot.remainingCredits = lot.credits;
  lot.remainingCents = lot.cents;
  wallet.balanceCredits += lot.credits;
  wallet.balanceCents += lot.cents;
}

/** An outbound void taking `credits` and `cents` from the given lots, each unit walked in order. */
function voidFromLots(
  wallet: ModelWallet,
  lots: ModelTx[],
  credits: bigint,
  cents: bigint,
  now: number,
  source: TxSource,
  voidedRef: number | null,
): ModelTx {
  const ordered = [...lots].sort((a, b) => (orderKey(a) < orderKey(b) ? -1 : orderKey(a) > orderKey(b) ? 1 : 0));
  let creditsLeft = credits;
  let centsLeft = cents;
  const takes: { kind: TxKind; cents: bigint }[] = [];
  for (const lot of ordered) {
    const takeCredits = (lot.remainingCredits ?? 0n) < creditsLeft ? (lot.remainingCredits ?? 0n) : creditsLeft;
    const takeCents = (lot.remainingCents ?? 0n) < centsLeft ? (lot.remainingCents ?? 0n) : centsLeft;
    lot.remainingCredits = (lot.remainingCredits ?? 0n) - takeCredits;
    lot.remainingCents = (lot.remainingCents ?? 0n) - takeCents;
    creditsLeft -= takeCredits;
    centsLeft -= takeCents;
    if (takeCents > 0n) takes.push({ kind: lot.kind, cents: takeCents });
  }
  if (creditsLeft !== 0n || centsLeft !== 0n) throw new Error('model bug: lots do not hold the void');
  wallet.balanceCredits -= credits;
  wallet.balanceCents -= cents;
  wallet.consumedCredits += credits;
  wallet.consumedCents += cents;
  const tx = addTx(wallet, {
    direction: 'outbound',
    kind: 'voided',
    status: 'settled',
    source,
    credits,
    cents,
    remainingCredits: null,
    remainingCents: null,
    priority: 50,
    expirationAt: null,
    createdAt: now,
    voidedRef,
  });
  tx.takes = takes;
  return tx;
}

/** Voids whatever the lots still hold, as one entry (nothing when they hold nothing). */
function voidAllOf(wallet: ModelWallet, lots: ModelTx[], now: number, source: TxSource, voidedRef: number | null): ModelTx | null {
  let credits = 0n;
  let cents = 0n;
  for (const lot of lots) {
    credits += lot.remainingCredits ?? 0n;
    cents += lot.remainingCents ?? 0n;
  }
  if (credits === 0n && cents === 0n) return null;
  return voidFromLots(wallet, lots, credits, cents, now, source, voidedRef);
}

/** Each lot past its own expiry has its remainder voided by its own entry. Returns how many. */
function expireLots(wallet: ModelWallet, now: number): number {
  let count = 0;
  for (const lot of wallet.txs.filter(holdsSomething)) {
    if (lot.expirationAt !== null && lot.expirationAt <= now) {
      voidAllOf(wallet, [lot], now, 'expiration', lot.ref);
      count++;
    }
  }
  return count;
}

function terminate(wallet: ModelWallet, now: number, source: 'termination' | 'expiration'): void {
  voidAllOf(wallet, wallet.txs.filter(holdsSomething), now, source, null);
  for (const tx of wallet.txs) {
    if (tx.kind === 'purchased' && tx.status === 'pending') tx.status = 'failed';
  }
  wallet.status = 'terminated';
  wallet.terminatedAt = now;
  wallet.terminationSource = source;
}

// ---------------------------------------------------------------------------------------------
// Commands

export interface WalletRequest {
  currency: string | undefined;
  rate: bigint;
  code: string | undefined;
  paidCredits: bigint | undefined;
  grantedCredits: bigint | undefined;
  expirationAt: number | undefined;
  minCents: bigint | undefined;
  maxCents: bigint | undefined;
  ignoreLimits: boolean;
}

export interface TransactionsRequest {
  paidCredits: bigint | undefined;
  grantedCredits: bigint | undefined;
  voidedCredits: bigint | undefined;
  ignoreLimits: boolean;
  expirationAt: number | undefined;
  priority: number | undefined;
}

export const MAX_ACTIVE_WALLETS_PER_CUSTOMER = 6;

function priced(credits: bigint, wallet: { rate: bigint; digits: number }, roundTrip: boolean): { credits: bigint; cents: bigint } {
  const cents = creditsToMinor(credits, wallet.rate, wallet.digits);
  if (credits > 0n && cents === 0n) throw new ModelRefusal('AMOUNT_ROUNDS_TO_ZERO');
  return { credits: roundTrip ? minorToCredits(cents, wallet.rate, wallet.digits) : credits, cents };
}

function checkLimits(cents: bigint, min: bigint | null, max: bigint | null): void {
  if (min !== null && cents < min) throw new ModelRefusal('AMOUNT_BELOW_MINIMUM');
  if (max !== null && cents > max) throw new ModelRefusal('AMOUNT_ABOVE_MAXIMUM');
}

export class NaiveCustomer {
  readonly wallets: ModelWallet[] = [];

  constructor(
    readonly externalId: string,
    public currency: string | null,
  ) {}

  wallet(id: string): ModelWallet | undefined {
    return this.wallets.find((w) => w.id === id);
  }

  activeWallets(): ModelWallet[] {
    return this.wallets.filter((w) => w.status === 'active');
  }

  /**
   * The wallet a creation would add (its id is '' until the real one is known), and the customer's
   * wallets past their expiry, which the creation expires first (they free their place and code).
   */
  planWallet(request: WalletRequest, now: number): { wallet: ModelWallet; expired: ModelWallet[] } {
    const expired = this.activeWallets()
      .filter((w) => isPastExpiry(w, now))
      .map((w) => {
        const copy = copyWallet(w);
        terminate(copy, now, 'expiration');
        return copy;
      });
    const currency = request.currency ?? this.currency;
    if (currency === null) throw new ModelRefusal('VALIDATION_FAILED');
    if (this.currency !== null && currency !== this.currency) throw new ModelRefusal('CURRENCY_MISMATCH');
    const active = this.activeWallets().filter((w) => !isPastExpiry(w, now));
    if (active.length >= MAX_ACTIVE_WALLETS_PER_CUSTOMER) throw new ModelRefusal('WALLET_LIMIT_REACHED');
    if (request.code !== undefined && active.some((w) => w.code === request.code)) throw new ModelRefusal('CODE_ALREADY_EXISTS');
    if (request.expirationAt !== undefined && request.expirationAt <= now) throw new ModelRefusal('INVALID_EXPIRATION_DATE');
    const digits = CURRENCY_DIGITS[currency];
    if (digits === undefined) throw new Error(`model knows no currency ${currency}`);
    const wallet: ModelWallet = {
      id: '',
      code: request.code ?? '',
      currency,
      digits,
      rate: request.rate,
      status: 'active',
      expirationAt: request.expirationAt ?? null,
      terminatedAt: null,
      terminationSource: null,
      minCents: request.minCents ?? null,
      maxCents: request.maxCents ?? null,
      balanceCents: 0n,
      balanceCredits: 0n,
      consumedCredits: 0n,
      consumedCents: 0n,
      createdAt: now,
      txs: [],
      nextRef: 1,
    };
    const paid = request.paidCredits ? priced(request.paidCredits, wallet, true) : null;
    const granted = request.grantedCredits ? priced(request.grantedCredits, wallet, true) : null;
    if (paid && !request.ignoreLimits) checkLimits(paid.cents, wallet.minCents, wallet.maxCents);
    const common = { source: 'manual' as const, remainingCredits: null, remainingCents: null, priority: 50, expirationAt: null, createdAt: now };
    if (paid) addTx(wallet, { ...common, ...paid, direction: 'inbound', kind: 'purchased', status: 'pending' });
    if (granted) addLot(wallet, addTx(wallet, { ...common, ...granted, direction: 'inbound', kind: 'granted', status: 'settled' }));
    return { wallet, expired };
  }

  /** Adds a created wallet (after the real system accepted it and told its id and code). */
  acceptWallet(wallet: ModelWallet, id: string, code: string): void {
    wallet.id = id;
    wallet.code = code;
    if (this.currency === null) this.currency = wallet.currency;
    this.wallets.push(wallet);
  }

  commit(wallet: ModelWallet): void {
    const index = this.wallets.findIndex((w) => w.id === wallet.id);
    if (index === -1) throw new Error('model bug: committing an unknown wallet');
    this.wallets[index] = wallet;
  }

  /** walletTransactions.create: returns the new wallet state and the transactions (paid, granted, voided). */
  createTransactions(walletId: string, request: TransactionsRequest, now: number): { wallet: ModelWallet; created: ModelTx[] } {
    const current = this.wallet(walletId);
    if (!current) throw new ModelRefusal('WALLET_NOT_FOUND');
    if (current.status === 'terminated' || isPastExpiry(current, now)) throw new ModelRefusal('WALLET_TERMINATED');
    if (!request.paidCredits && !request.grantedCredits && !request.voidedCredits) throw new ModelRefusal('VALIDATION_FAILED');
    const wallet = copyWallet(current);
    expireLots(wallet, now);
    if (request.expirationAt !== undefined) {
      if (request.expirationAt <= now) throw new ModelRefusal('INVALID_EXPIRATION_DATE');
      if (wallet.expirationAt !== null && request.expirationAt > wallet.expirationAt) throw new ModelRefusal('INVALID_EXPIRATION_DATE');
    }
    const paid = request.paidCredits ? priced(request.paidCredits, wallet, true) : null;
    const granted = request.grantedCredits ? priced(request.grantedCredits, wallet, true) : null;
    const voided = request.voidedCredits ? priced(request.voidedCredits, wallet, false) : null;
    if (paid && !request.ignoreLimits) checkLimits(paid.cents, wallet.minCents, wallet.maxCents);
    // Refused above the balance in either unit (credits and cents are both kept exactly).
    if (voided && voided.credits > wallet.balanceCredits) throw new ModelRefusal('INSUFFICIENT_CREDITS', 'credits');
    if (voided && voided.cents > wallet.balanceCents) throw new ModelRefusal('INSUFFICIENT_CREDITS', 'cents');
    const lotFields = {
      source: 'manual' as const,
      remainingCredits: null,
      remainingCents: null,
      priority: request.priority ?? 50,
      expirationAt: request.expirationAt ?? null,
      createdAt: now,
    };
    const created: ModelTx[] = [];
    if (paid) created.push(addTx(wallet, { ...lotFields, ...paid, direction: 'inbound', kind: 'purchased', status: 'pending' }));
    // The void is measured against the balance before this call: it never eats its own grant.
    const voidTx = voided ? voidFromLots(wallet, wallet.txs.filter(holdsSomething), voided.credits, voided.cents, now, 'manual', null) : null;
    if (granted) {
      const lot = addTx(wallet, { ...lotFields, ...granted, direction: 'inbound', kind: 'granted', status: 'settled' });
      addLot(wallet, lot);
      created.push(lot);
    }
    if (voidTx) created.push(voidTx);
    return { wallet, created };
  }

  /** walletTransactions.recordPayment. */
  recordPayment(txId: string, outcome: 'succeeded' | 'failed', invoiceId: string | undefined, now: number): { wallet: ModelWallet; tx: ModelTx } {
    const current = this.wallets.find((w) => w.txs.some((t) => t.id === txId));
    if (!current) throw new ModelRefusal('TRANSACTION_NOT_FOUND');
    const wallet = copyWallet(current);
    const tx = wallet.txs.find((t) => t.id === txId) as ModelTx;
    if (tx.kind !== 'purchased') throw new ModelRefusal('TRANSACTION_NOT_PAYABLE');
    const statusBefore = tx.status;
    if (wallet.status === 'active' && isPastExpiry(wallet, now)) terminate(wallet, now, 'expiration');
    const settles = outcome === 'succeeded' && tx.status !== 'settled';
    // (A pending purchase the expiry just failed still takes the failure report as its own.)
    const fails = outcome === 'failed' && statusBefore === 'pending';
    const clawsBack = outcome === 'failed' && tx.status === 'settled' && !tx.clawedBack;
    // The host's invoice id is kept from the first report that takes effect; repeats change nothing.
    if ((settles || fails || clawsBack) && invoiceId !== undefined && tx.invoiceId === null) tx.invoiceId = invoiceId;
    if (settles) {
      tx.status = 'settled';
      addLot(wallet, tx, now);
      if (wallet.status === 'terminated') {
        // Money for a wallet that is gone: settled and voided at once (the host refunds it).
        voidAllOf(wallet, [tx], now, wallet.terminationSource ?? 'termination', tx.ref);
      } else {
        expireLots(wallet, now);
      }
    } else if (fails) {
      tx.status = 'failed';
    } else if (clawsBack) {
      // Claw-back: the purchase stays settled; what is left of its lot is voided.
      tx.clawedBack = true;
      voidAllOf(wallet, [tx], now, 'payment_failure', tx.ref);
    }
    return { wallet, tx };
  }

  /** wallets.terminate: a terminated wallet is returned as it is. */
  terminate(walletId: string, now: number): ModelWallet {
    const current = this.wallet(walletId);
    if (!current) throw new ModelRefusal('WALLET_NOT_FOUND');
    const wallet = copyWallet(current);
    if (wallet.status === 'active') terminate(wallet, now, isPastExpiry(wallet, now) ? 'expiration' : 'termination');
    return wallet;
  }

  /** Whether the expiration job has work on this wallet as of `now`. */
  isDue(wallet: ModelWallet, now: number): boolean {
    if (wallet.status !== 'active') return false;
    if (isPastExpiry(wallet, now)) return true;
    return wallet.txs.some((tx) => holdsSomething(tx) && tx.expirationAt !== null && tx.expirationAt <= now);
  }

  /** The expiration job on one wallet. */
  expire(walletId: string, now: number): { wallet: ModelWallet; walletsExpired: number; lotsExpired: number } {
    const current = this.wallet(walletId);
    if (!current) throw new ModelRefusal('WALLET_NOT_FOUND');
    const wallet = copyWallet(current);
    if (wallet.status !== 'active') return { wallet, walletsExpired: 0, lotsExpired: 0 };
    if (isPastExpiry(wallet, now)) {
      terminate(wallet, now, 'expiration');
      return { wallet, walletsExpired: 1, lotsExpired: 0 };
    }
    return { wallet, walletsExpired: 0, lotsExpired: expireLots(wallet, now) };
  }
}
