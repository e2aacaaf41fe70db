/**
 * The only code that moves balances. Each method writes ledger rows and updates the wallet's stored
 * balances by exactly the same amounts, so balances always equal the ledger sums. Callers hold the
 * customer lock and run inside one database transaction; wallet-core decides amounts and lots.
 * Every wallet whose balance moves is touched; `settleOngoing` (run before commit by runMutation)
 * recomputes the ongoing balances of the touched customers and fires their threshold rules.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  type Amount,
  invariant,
  isLotExpired,
  type Lot,
  type LotConsumption,
  MAX_AMOUNT_CENTS,
  planConsumption,
  sumLots,
  WalletError,
} from '@wallets/core';
import type { CommandContext } from './context.js';
import {
  type MetadataItem,
  RecurringTransactionRule,
  type TransactionSource,
  UsageSnapshot,
  type Wallet,
  WalletTransaction,
  WalletTransactionConsumption,
} from './entities/index.js';
import type { EventRecorder } from './events.js';
import { LedgerJournal } from './ledger-rows.js';
import { applyOngoing, recomputeOngoingBalances } from './ongoing-balance.js';
import { findLots, findLotsOfWallets } from './repositories.js';
import type { SqlStatement } from './sql-statements.js';
import { fireThresholdRules } from './threshold-rules.js';

export interface TransactionDetails {
  source?: TransactionSource;
  name?: string | null;
  metadata?: MetadataItem[];
  priority?: number;
  expirationAt?: Date | null;
  invoiceId?: string | null;
  voidedInvoiceId?: string | null;
  voidedTransactionId?: string | null;
  invoiceRequiresSuccessfulPayment?: boolean;
}

export interface ConsumedPart {
  lot: WalletTransaction;
  creditAmount: bigint;
  amountCents: bigint;
}

export function toLot(tx: WalletTransaction): Lot {
  return {
    id: tx.id,
    kind: tx.transactionStatus === 'granted' ? 'granted' : 'purchased',
    priority: tx.priority,
    expirationAt: tx.expirationAt,
    createdAt: tx.createdAt,
    remainingCredits: tx.remainingCreditAmount ?? 0n,
    remainingCents: tx.remainingAmountCents ?? 0n,
  };
}

export class Ledger {
  /** Wallets whose balances or scope changed in this request: their ongoing balances are recomputed before commit. */
  private readonly touched = new Map<string, Wallet>();
  /** Groups whose complete wallet list (and maybe active rules) a command already loaded (saves loading them again). */
  private readonly knownGroups = new Map<string, { wallets: Wallet[]; rules?: RecurringTransactionRule[] | undefined }>();
  /** Usage snapshots loaded or created in this request, by customer and currency. */
  private readonly snapshots = new Map<string, UsageSnapshot | null>();
  /** Set when the ledger works on detached wallets and lots (see `useJournal`). */
  private journal: LedgerJournal | null = null;

  constructor(
    private readonly em: EntityManager,
    private readonly ctx: CommandContext,
    readonly events: EventRecorder,
  ) {}

  private newTransaction(wallet: Wallet, fields: Partial<WalletTransaction> & Amount, details: TransactionDetails): WalletTransaction {
    const data = {
      id: randomUUID(),
      organization: wallet.organization,
      wallet,
      customer: wallet.customer,
      source: details.source ?? 'manual',
      name: details.name ?? null,
      metadata: details.metadata ?? [],
      priority: details.priority ?? 50,
      expirationAt: details.expirationAt ?? null,
      invoiceId: details.invoiceId ?? null,
      voidedInvoiceId: details.voidedInvoiceId ?? null,
      voidedTransactionId: details.voidedTransactionId ?? null,
      invoiceRequiresSuccessfulPayment: details.invoiceRequiresSuccessfulPayment ?? wallet.invoiceRequiresSuccessfulPayment,
      remainingCreditAmount: null,
      remainingAmountCents: null,
      settledAt: null,
      failedAt: null,
      clawedBackAt: null,
      createdAt: this.ctx.now,
      ...fields,
    };
    if (!this.journal) return this.em.create(WalletTransaction, data as never);
    const tx = data as unknown as WalletTransaction;
    this.journal.transactions.push(tx);
    return tx;
  }

  /**
   * From now on the ledger works on detached wallets and lots (read by plain SQL, see ledger-rows.ts):
   * what it writes is collected and sent by `journalStatements` in the request's last round trip,
   * not by the ORM flush. Consuming, granting, purchasing and recomputing run so; operations that
   * read this request's ledger rows back (settle, fail, terminate, lots not handed in) refuse.
   * Threshold rules fire as usual: their reads (pending and failed purchases) concern rows from
   * before this request, since a wallet has at most one active rule and it fires once per request.
   */
  useJournal(): void {
    this.journal = new LedgerJournal();
  }

  /** The journal's writes (none without `useJournal`); the journal is empty afterwards. */
  journalStatements(): SqlStatement[] {
    if (!this.journal) return [];
    const statements = this.journal.statements(this.ctx.organizationId);
    this.journal.clear();
    return statements;
  }

  private ormOnly(operation: string): void {
    invariant(!this.journal, `${operation} needs ORM-managed rows; this ledger works on detached ones`);
  }

  private credit(wallet: Wallet, amount: Amount): void {
    // Cents travel as JSON numbers: a balance past 2^53 - 1 minor units could not be shown exactly.
    if (wallet.balanceCents + amount.amountCents > MAX_AMOUNT_CENTS) {
      throw new WalletError('AMOUNT_ABOVE_MAXIMUM', `the wallet balance would pass ${MAX_AMOUNT_CENTS} minor units, the largest it holds`, {
        walletId: wallet.id,
        maximumCents: MAX_AMOUNT_CENTS,
      });
    }
    wallet.balanceCents += amount.amountCents;
    wallet.creditsBalance += amount.creditAmount;
    this.refreshOngoing(wallet);
  }

  touch(wallet: Wallet): void {
    wallet.updatedAt = this.ctx.now;
    this.touched.set(wallet.id, wallet);
    this.journal?.wallets.add(wallet);
  }

  /**
   * Marks `wallets` as every active wallet of one customer and currency (and `rules`, when given, as
   * all their active rules, unchanged in this request), and touches them.
   */
  touchGroup(customerId: string, currency: string, wallets: Wallet[], rules?: RecurringTransactionRule[]): void {
    this.knownGroups.set(`${customerId}/${currency}`, { wallets, rules });
    for (const wallet of wallets) this.touch(wallet);
  }

  async usageSnapshot(customerId: string, currency: string): Promise<UsageSnapshot | null> {
    const key = `${customerId}/${currency}`;
    if (!this.snapshots.has(key)) {
      this.snapshots.set(key, await this.em.findOne(UsageSnapshot, { organization: this.ctx.organizationId, customer: customerId, currency }));
    }
    return this.snapshots.get(key) ?? null;
  }

  rememberSnapshot(customerId: string, currency: string, snapshot: UsageSnapshot | null): void {
    this.snapshots.set(`${customerId}/${currency}`, snapshot);
  }

  private refreshOngoing(wallet: Wallet): void {
    this.touch(wallet);
    this.events.wallet('wallet.updated', wallet);
  }

  /** Recomputes the ongoing balances of every (customer, currency) touched; terminated wallets drop their usage. */
  async settleOngoing(): Promise<void> {
    const groups = new Map<string, { customerId: string; currency: string }>();
    for (const wallet of this.touched.values()) {
      if (wallet.status !== 'active') applyOngoing(wallet, 0n, this.events);
      groups.set(`${wallet.customer.id}/${wallet.currency}`, { customerId: wallet.customer.id, currency: wallet.currency });
    }
    this.touched.clear();
    for (const [key, { customerId, currency }] of groups) {
      // A threshold grant moves the balance, so recompute once more; each rule fires at most once per request.
      const fired = new Set<string>();
      const group = this.knownGroups.get(key);
      invariant(!this.journal || group, 'a journaled ledger recomputes only groups handed to touchGroup');
      let known = group?.wallets.filter((w) => w.status === 'active');
      let knownRules = group?.rules;
      for (let round = 0; round < 3; round++) {
        const { wallets, rules } = await recomputeOngoingBalances(
          this.em,
          this.ctx,
          { customerId, currency, wallets: known, rules: knownRules },
          this.events,
          () => this.usageSnapshot(customerId, currency),
        );
        known = wallets;
        knownRules = rules;
        if (!(await fireThresholdRules(this.em, this.ctx, this, wallets, rules, fired))) break;
      }
    }
  }

  /** A settled inbound lot (granted credits, recredits): the balance rises at once. */
  grant(wallet: Wallet, amount: Amount, details: TransactionDetails = {}): WalletTransaction {
    const tx = this.newTransaction(
      wallet,
      {
        ...amount,
        transactionType: 'inbound',
        transactionStatus: 'granted',
        status: 'settled',
        settledAt: this.ctx.now,
        remainingCreditAmount: amount.creditAmount,
        remainingAmountCents: amount.amountCents,
      },
      details,
    );
    this.credit(wallet, amount);
    this.events.transaction('wallet_transaction.created', tx);
    return tx;
  }

  /** A pending purchase: nothing moves until the host reports the payment. */
  purchase(wallet: Wallet, amount: Amount, details: TransactionDetails = {}): WalletTransaction {
    const tx = this.newTransaction(wallet, { ...amount, transactionType: 'inbound', transactionStatus: 'purchased', status: 'pending' }, details);
    this.events.transaction('wallet_transaction.created', tx);
    return tx;
  }

  /** pending -> failed. */
  fail(tx: WalletTransaction): void {
    this.ormOnly('fail');
    invariant(tx.transactionStatus === 'purchased' && tx.status === 'pending', 'only a pending purchase fails');
    tx.status = 'failed';
    tx.failedAt = this.ctx.now;
    this.events.transaction('wallet_transaction.updated', tx);
  }

  /**
   * An outbound amount consuming the given lots (default: all of the wallet's lots) in the fixed
   * order. Refuses (INSUFFICIENT_CREDITS) when the lots do not hold it.
   */
  async consume(
    wallet: Wallet,
    amount: Amount,
    kind: 'voided' | 'invoiced',
    details: TransactionDetails = {},
    lots?: WalletTransaction[],
  ): Promise<WalletTransaction> {
    return (await this.consumeTracked(wallet, amount, kind, details, lots)).transaction;
  }

  /** `consume`, also returning which lot paid how much (for the granted/purchased split). */
  async consumeTracked(
    wallet: Wallet,
    amount: Amount,
    kind: 'voided' | 'invoiced',
    details: TransactionDetails = {},
    lots?: WalletTransaction[],
  ): Promise<{ transaction: WalletTransaction; parts: ConsumedPart[] }> {
    if (!lots) this.ormOnly('consuming without the lots');
    const available = lots ?? (await findLots(this.em, wallet.organization.id, wallet.id));
    const plan = planConsumption(available.map(toLot), amount);
    const tx = this.newTransaction(
      wallet,
      { ...amount, transactionType: 'outbound', transactionStatus: kind, status: 'settled', settledAt: this.ctx.now },
      details,
    );
    const parts = this.recordConsumption(tx, available, plan);
    wallet.balanceCents -= amount.amountCents;
    wallet.creditsBalance -= amount.creditAmount;
    wallet.consumedCredits += amount.creditAmount;
    wallet.consumedAmountCents += amount.amountCents;
    invariant(wallet.balanceCents >= 0n && wallet.creditsBalance >= 0n, 'a balance went below zero');
    this.refreshOngoing(wallet);
    this.events.transaction('wallet_transaction.created', tx);
    return { transaction: tx, parts };
  }

  private recordConsumption(outbound: WalletTransaction, lots: WalletTransaction[], plan: LotConsumption[]): ConsumedPart[] {
    const byId = new Map(lots.map((lot) => [lot.id, lot]));
    const parts: ConsumedPart[] = [];
    for (const part of plan) {
      const lot = byId.get(part.lotId);
      invariant(lot && lot.remainingAmountCents !== null && lot.remainingCreditAmount !== null, 'consumed lot is not a lot');
      lot.remainingAmountCents -= part.amountCents;
      lot.remainingCreditAmount -= part.creditAmount;
      const consumption = {
        id: randomUUID(),
        inbound: lot,
        outbound,
        creditAmount: part.creditAmount,
        amountCents: part.amountCents,
        createdAt: this.ctx.now,
      };
      if (this.journal) {
        this.journal.consumptions.push(consumption);
        this.journal.lots.add(lot);
      } else {
        this.em.create(WalletTransactionConsumption, { ...consumption, organization: outbound.organization } as never);
      }
      parts.push({ lot, creditAmount: part.creditAmount, amountCents: part.amountCents });
    }
    return parts;
  }

  /** Voids whatever the given lots still hold (system voids: may be worth 0 cents). */
  async voidRemainder(wallet: Wallet, lots: WalletTransaction[], details: TransactionDetails): Promise<WalletTransaction | null> {
    const remainder = sumLots(lots.map(toLot));
    if (remainder.amountCents === 0n && remainder.creditAmount === 0n) return null;
    return this.consume(wallet, remainder, 'voided', details, lots);
  }

  /**
   * The usable lots of several wallets (one query, unless the caller already loaded them): lots past
   * their own expiry are voided first and left out.
   */
  async liveLots(wallets: readonly Wallet[], loaded?: Map<string, WalletTransaction[]>): Promise<Map<string, WalletTransaction[]>> {
    const byWallet =
      loaded ??
      (await findLotsOfWallets(
        this.em,
        this.ctx.organizationId,
        wallets.map((w) => w.id),
      ));
    for (const wallet of wallets) byWallet.set(wallet.id, await this.voidExpiredLots(wallet, byWallet.get(wallet.id) ?? []));
    return byWallet;
  }

  /** Voids the remainder of each given lot whose own expiry has passed (one entry per lot); returns the others. */
  private async voidExpiredLots(wallet: Wallet, lots: WalletTransaction[]): Promise<WalletTransaction[]> {
    const live: WalletTransaction[] = [];
    for (const lot of lots) {
      if (isLotExpired(lot, this.ctx.now)) {
        await this.voidRemainder(wallet, [lot], { source: 'expiration', voidedTransactionId: lot.id, name: lot.name });
      } else {
        live.push(lot);
      }
    }
    return live;
  }

  /** Voids the remainder of every lot whose own expiry has passed, one entry per lot. */
  async expireDueLots(wallet: Wallet): Promise<number> {
    this.ormOnly('expireDueLots');
    const lots = await findLots(this.em, wallet.organization.id, wallet.id);
    return lots.length - (await this.voidExpiredLots(wallet, lots)).length;
  }

  /**
   * Terminate (by request or by expiry): every remaining credit voided by one ledger entry, pending
   * top-ups failed, rules ended, status terminated. Idempotent: a terminated wallet is left as is.
   */
  async terminate(wallet: Wallet, source: 'termination' | 'expiration'): Promise<boolean> {
    this.ormOnly('terminate');
    if (wallet.status === 'terminated') return false;
    const lots = await findLots(this.em, wallet.organization.id, wallet.id);
    await this.voidRemainder(wallet, lots, { source });
    const pending = await this.em.find(WalletTransaction, {
      organization: wallet.organization.id,
      wallet: wallet.id,
      transactionStatus: 'purchased',
      status: 'pending',
    });
    for (const tx of pending) this.fail(tx);
    const rules = await this.em.find(RecurringTransactionRule, { organization: wallet.organization.id, wallet: wallet.id, status: 'active' });
    for (const rule of rules) {
      rule.status = 'terminated';
      rule.terminatedAt = this.ctx.now;
    }
    wallet.status = 'terminated';
    wallet.terminatedAt = this.ctx.now;
    this.events.wallet('wallet.terminated', wallet);
    return true;
  }
}
