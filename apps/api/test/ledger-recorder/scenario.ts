/**
 * The ledger recorder's hands: seeded random command sequences over every procedure that moves a
 * balance, sent through the tRPC router (the in-process client, the same router, validation,
 * idempotency and error mapping as HTTP) with an injected clock, and `admin.runScheduledJobs({ asOf })`
 * for expiry (per wallet and in batches), rule expiry and interval rules. After each call the
 * recorder (recorder.ts) lists the rows it wrote; one JSON line per step.
 *
 * The generator chooses only from the recorder's normalised state (labels, never raw ids) and its
 * own PRNG, so the same seed sends the same calls. It avoids the ties that random UUIDs would break
 * differently from run to run:
 * - the clock moves forward between steps, so rows of different steps never share a time;
 * - a top-up on a wallet with its own threshold rule carries a lot priority other than the rule's
 *   50 (the rule's top-up in the same request would otherwise tie with it: same time, kind, expiry);
 * - a threshold rule is created with no initial credits; an invoice is not voided while a wallet
 *   of its customer has a threshold rule (the re-granted lots could tie with the rule's);
 * - fixed threshold rules buy paid credits only: before the one door, wallets.create, update and
 *   terminate ran the ongoing settlement twice, each with its own "fired" set, so a granted fixed
 *   rule could fire twice there, giving two equal lots that tie (seen in the first recordings; a
 *   paid rule is held back by its pending top-up). The planners now settle once; the scenario
 *   keeps to paid rules so that the recording stays the one made before the move;
 * - at most one interval rule is active per customer, and a job run takes an `asOf` at which no
 *   customer has two wallets due for expiry (jobs for one customer run in wallet-id order);
 * - in a job run, wallets of different customers are handled in id order: the step's events are
 *   listed per wallet (by label), each wallet's in the order they were written.
 */
import { JobRunner } from '@wallets/api';
import { formatDecimal, parseDecimal } from '@wallets/core';
import { type Orm, openOrm } from '@wallets/db';
import { auditLedger, seededRandom } from '@wallets/db/testing';
import pg from 'pg';
import type { WalletClient } from '../../src/client/index.js';
import { createInProcessWalletClient } from '../../src/in-process.js';
import type { Clock } from '../../src/trpc.js';
import { compareLabels, installChangeLog, LedgerRecorder, type Row } from './recorder.js';

const ADMIN_TOKEN = 'ledger-recorder-admin-token-0123';
const START = Date.parse('2026-03-02T08:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const CURRENCIES = ['EUR', 'JPY', 'KWD', 'USD'];
const TIMEZONES = ['UTC', 'Europe/Paris', 'Asia/Tokyo', 'America/New_York', 'Pacific/Auckland'];
const RATES = ['1', '0.5', '1.1', '2.5', '0.01', '3.33333', '0.125', '7'];
const FEE_TYPES = ['subscription', 'charge', 'fixed_charge', 'commitment', 'add_on', 'credit'] as const;
const METRICS = ['calls', 'storage', 'seats'];
const INVOICE_TYPES = ['subscription', 'subscription', 'progressive_billing', 'pay_in_advance', 'one_off', 'credit'] as const;
const INTERVALS = ['weekly', 'monthly', 'quarterly', 'semiannual', 'yearly'] as const;
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** The sum of two decimal strings of credits (6 digits at most each), exactly. */
function addCredits(a: string, b: string): string {
  const units = (text: string) => {
    const [whole, fraction = ''] = text.split('.');
    return BigInt(whole!) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
  };
  const sum = units(a) + units(b);
  return `${sum / 1_000_000n}.${String(sum % 1_000_000n).padStart(6, '0')}`;
}

/** A numeric column's text holds more than zero (read exactly, as text). */
const isPositiveDecimal = (value: unknown) => {
  const parsed = parseDecimal(String(value ?? '0'), { excess: 'reject', allowNegative: true });
  return parsed.ok && parsed.value > 0n;
};

/** One recorded step. */
export interface StepLine {
  seed: number;
  step: number;
  at: string;
  call: string;
  input: unknown;
  ok?: unknown;
  error?: { code: string; walletErrorCode: string | null };
  rows: unknown[];
}

class ScenarioClock implements Clock {
  current = START;
  now(): Date {
    return new Date(this.current);
  }
}

type Call = { call: string; input: Record<string, unknown>; jobs?: boolean };

class Generator {
  private readonly random: () => number;
  private customerCount = 0;
  private invoiceCount = 0;
  /** Invoices sent, by id: the input as sent (to replay it or change it). */
  private readonly invoices: { id: string; input: Record<string, unknown> }[] = [];
  private last: Call | null = null;
  private keyCount = 0;

  constructor(
    seed: number,
    private readonly recorder: LedgerRecorder,
    private readonly clock: ScenarioClock,
  ) {
    this.random = seededRandom(seed);
  }

  private int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }
  private chance(p: number): boolean {
    return this.random() < p;
  }
  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  /** A decimal string of credits: mostly small, with up to 6 fractional digits (the 6th is floored). */
  private credits(): string {
    const r = this.random();
    if (r < 0.03) return '0.000001';
    if (r < 0.06) return '0.00001';
    const whole = this.pick([0, 1, 2, 5, 10, 25, 50, 100, 250, 1000]) + this.int(0, 9);
    const digits = this.int(0, 6);
    const fraction = digits === 0 ? '' : `.${String(this.int(0, 10 ** digits - 1)).padStart(digits, '0')}`;
    const text = `${whole}${fraction}`;
    return /^0(\.0*)?$/.test(text) ? '1' : text;
  }

  /** Cents as an integer or (for coupons, taxes, credit notes) a decimal string of cents. */
  private subCents(max: number): number | string {
    if (this.chance(0.5)) return this.int(0, max);
    return `${this.int(0, max)}.${String(this.int(0, 99_999)).padStart(5, '0')}`;
  }

  private key(): string | undefined {
    return this.chance(0.3) ? `key-${++this.keyCount}` : undefined;
  }

  private later(minMs: number, maxMs: number): Date {
    return new Date(this.clock.current + this.int(minMs, maxMs));
  }

  private rows(table: string): [string, Row][] {
    return [...this.recorder.state.get(table)!.entries()].sort(([a], [b]) => compareLabels(a, b));
  }
  private customers() {
    return this.rows('customers');
  }
  private wallets(status?: string) {
    return this.rows('wallets').filter(([, w]) => !status || w.status === status);
  }
  private activeRule(wallet: string): [string, Row] | undefined {
    return this.rows('recurring_transaction_rules').find(([, r]) => r.wallet_id === wallet && r.status === 'active');
  }
  private customerHasIntervalRule(customer: string, except?: string): boolean {
    const wallets = new Map(this.wallets());
    return this.rows('recurring_transaction_rules').some(
      ([, r]) =>
        r.status === 'active' && r.trigger === 'interval' && r.wallet_id !== except && wallets.get(String(r.wallet_id))?.customer_id === customer,
    );
  }
  private customerHasThresholdRule(customer: string): boolean {
    const wallets = new Map(this.wallets());
    return this.rows('recurring_transaction_rules').some(
      ([, r]) => r.status === 'active' && r.trigger === 'threshold' && wallets.get(String(r.wallet_id))?.customer_id === customer,
    );
  }
  private id(label: string): string {
    return this.recorder.idOf(label);
  }

  private fee(index: number, forUsage: boolean): Record<string, unknown> {
    const feeType = this.pick(FEE_TYPES);
    const amount = this.pick([0, 1, 99, 500, 1234, 5000, 20_000, 100_000]) + this.int(0, 999);
    const fee: Record<string, unknown> = { feeType, amountCents: forUsage && this.chance(0.3) ? this.subCents(amount) : amount };
    if (!forUsage) fee.id = `fee_${index}`;
    if (feeType === 'charge' || this.chance(0.2)) fee.billableMetricCode = this.pick(METRICS);
    if (this.chance(0.3)) fee.couponsAmountCents = this.subCents(Math.floor(amount / 3));
    if (this.chance(0.4)) fee.taxesAmountCents = this.subCents(Math.floor(amount / 5));
    if (!forUsage && this.chance(0.15)) fee.creditNotesAmountCents = this.subCents(Math.floor(amount / 4));
    return fee;
  }

  private usage(externalCustomerId: string, currency: string): Record<string, unknown> {
    const input: Record<string, unknown> = {
      externalCustomerId,
      currency,
      fees: Array.from({ length: this.int(0, 4) }, (_, i) => this.fee(i, true)),
    };
    if (this.chance(0.4))
      input.draftInvoices = [{ id: `draft_${this.int(1, 3)}`, fees: Array.from({ length: this.int(1, 2) }, (_, i) => this.fee(i, true)) }];
    if (this.chance(0.3)) input.billedFees = Array.from({ length: this.int(1, 2) }, (_, i) => this.fee(i, true));
    // Mostly now; sometimes a stale snapshot (older than the stored one: ignored).
    input.asOf = this.chance(0.15) ? new Date(this.clock.current - this.int(1, 30) * DAY) : this.clock.now();
    return input;
  }

  private rule(customer: string, wallet: string | null, forCreate: boolean): Record<string, unknown> | null {
    const interval = !this.customerHasIntervalRule(customer, wallet ?? undefined) && this.chance(0.5);
    if (interval) {
      const rule: Record<string, unknown> = { trigger: 'interval', interval: this.pick(INTERVALS), method: 'fixed' };
      if (this.chance(0.7)) rule.grantedCredits = this.credits();
      if (this.chance(0.5)) rule.paidCredits = this.credits();
      if (this.chance(0.3)) {
        rule.method = 'target';
        rule.targetOngoingBalance = this.credits();
      }
      if (this.chance(0.5)) rule.startedAt = new Date(this.clock.current - this.int(0, 60) * DAY - this.int(0, DAY));
      if (this.chance(0.2)) rule.expirationAt = this.later(10 * DAY, 200 * DAY);
      if (this.chance(0.3)) rule.transactionName = `interval top-up ${this.int(1, 9)}`;
      if (this.chance(0.3)) rule.transactionMetadata = [{ key: 'source', value: 'recorder' }];
      if (this.chance(0.2)) rule.invoiceRequiresSuccessfulPayment = true;
      if (this.chance(0.2)) rule.ignorePaidTopUpLimits = true;
      return rule;
    }
    if (forCreate && this.chance(0.3)) return null;
    const rule: Record<string, unknown> = { trigger: 'threshold', method: this.chance(0.6) ? 'fixed' : 'target', thresholdCredits: this.credits() };
    if (rule.method === 'fixed') {
      // Paid credits only: wallets.create, update and terminate may fire a rule twice in one
      // request (two settleOngoing passes), and two equal granted lots of one request would tie.
      rule.paidCredits = this.credits();
    } else {
      // Mostly above the threshold, so the rule tops up (granted with grantsTargetTopUp).
      rule.targetOngoingBalance = this.chance(0.8) ? addCredits(String(rule.thresholdCredits), this.credits()) : this.credits();
      if (this.chance(0.4)) rule.grantsTargetTopUp = true;
    }
    if (this.chance(0.2)) rule.ignorePaidTopUpLimits = true;
    if (this.chance(0.2)) rule.invoiceRequiresSuccessfulPayment = true;
    if (this.chance(0.15)) rule.expirationAt = this.later(5 * DAY, 120 * DAY);
    return rule;
  }

  /** The next call, or null when nothing fits (the step is skipped). */
  next(step: number): Call {
    // Time moves forward between steps: mostly minutes to hours, sometimes days.
    const r0 = this.random();
    this.clock.current += r0 < 0.6 ? this.int(MINUTE, 3 * HOUR) : r0 < 0.9 ? this.int(3 * HOUR, DAY) : this.int(DAY, 5 * DAY);
    const customers = this.customers();
    if (customers.length < 2 || (customers.length < 8 && this.chance(0.02))) return this.upsertCustomer();
    // Repeats of the previous mutation under its idempotency key: the same answer, or a reuse error.
    if (this.last?.input.idempotencyKey && this.chance(0.25)) {
      const last = this.last;
      this.last = null;
      if (this.chance(0.8)) return last;
      return { call: last.call, input: changedInput(last.input) };
    }
    const r = this.random();
    const call =
      r < 0.12
        ? this.createWallet()
        : r < 0.3
          ? this.topUp()
          : r < 0.42
            ? this.recordPayment()
            : r < 0.6
              ? this.applyInvoice()
              : r < 0.65
                ? this.voidInvoice()
                : r < 0.75
                  ? this.usageSync()
                  : r < 0.83
                    ? this.updateWallet()
                    : r < 0.86
                      ? this.terminate()
                      : r < 0.93 || step % 40 === 0
                        ? this.runJobs()
                        : r < 0.96
                          ? this.upsertCustomer()
                          : this.invalid();
    this.last = call.jobs ? null : call;
    return call;
  }

  private upsertCustomer(): Call {
    const customers = this.customers();
    if (customers.length >= 2 && this.chance(0.4)) {
      // An existing customer: a currency change (refused while it has active wallets in another) or a new time zone.
      const [, customer] = this.pick(customers);
      const input: Record<string, unknown> = { externalId: customer.external_id };
      if (this.chance(0.5)) input.currency = this.pick(CURRENCIES);
      else input.timezone = this.pick(TIMEZONES);
      return { call: 'customers.upsert', input };
    }
    const input: Record<string, unknown> = { externalId: `cus_${++this.customerCount}`, timezone: this.pick(TIMEZONES) };
    if (this.chance(0.8)) input.currency = this.pick(CURRENCIES);
    return { call: 'customers.upsert', input };
  }

  private createWallet(): Call {
    const [customerLabel, customer] = this.pick(this.customers());
    const currency = customer.currency && this.chance(0.92) ? customer.currency : this.pick(CURRENCIES);
    const input: Record<string, unknown> = { externalCustomerId: customer.external_id, rateAmount: this.pick(RATES), currency };
    if (this.chance(0.2)) delete input.currency;
    if (this.chance(0.5)) input.priority = this.int(1, 50);
    if (this.chance(0.5)) input.name = `wallet ${this.int(1, 99)}`;
    if (this.chance(0.3)) input.code = `code_${this.int(1, 4)}`;
    if (this.chance(0.3)) input.expirationAt = this.later(DAY, 60 * DAY);
    const byFeeType = this.chance(0.2);
    if (byFeeType) input.appliesTo = { feeTypes: [this.pick(FEE_TYPES)] };
    else if (this.chance(0.2)) input.appliesTo = { billableMetricCodes: [this.pick(METRICS)] };
    if (this.chance(0.15)) input.paidTopUpMinAmountCents = this.int(100, 1000);
    if (this.chance(0.15)) input.paidTopUpMaxAmountCents = this.int(1000, 200_000);
    if (this.chance(0.3)) input.invoiceRequiresSuccessfulPayment = true;
    const rule = this.chance(0.45) ? this.rule(String(customerLabel), null, true) : null;
    if (rule) input.recurringTransactionRules = [rule];
    if (rule?.trigger !== 'threshold') {
      if (this.chance(0.6)) input.grantedCredits = this.credits();
      if (this.chance(0.5)) input.paidCredits = this.credits();
      if (input.paidCredits && this.chance(0.3)) input.ignorePaidTopUpLimitsOnCreation = true;
      if (this.chance(0.3)) input.transactionName = 'welcome';
      if (this.chance(0.2)) input.transactionMetadata = [{ key: 'campaign', value: `c${this.int(1, 3)}` }];
    }
    const key = this.key();
    if (key) input.idempotencyKey = key;
    return { call: 'wallets.create', input };
  }

  private someWallet(): [string, Row] | null {
    const active = this.wallets('active');
    const all = this.wallets();
    if (all.length === 0) return null;
    return active.length > 0 && this.chance(0.93) ? this.pick(active) : this.pick(all);
  }

  private topUp(): Call {
    const picked = this.someWallet();
    if (!picked) return this.createWallet();
    const [label, wallet] = picked;
    const input: Record<string, unknown> = { walletId: this.id(label) };
    const r = this.random();
    if (r < 0.25) {
      // A manual void, alone in its request (it may fire the wallet's threshold rule).
      // A share of the balance, drawn in exact 1e-5 units (never through a float of the amount).
      const balance = parseDecimal(String(wallet.credits_balance), { excess: 'reject' });
      const units = balance.ok ? balance.value : 0n;
      const share = (units * BigInt(Math.floor(this.random() * 1_000_000))) / 1_000_000n;
      input.voidedCredits = this.chance(0.85) && units > 0n ? formatDecimal(share > 0n ? share : 1n) : this.credits();
    } else {
      if (r < 0.65 || this.chance(0.4)) input.grantedCredits = this.credits();
      if (r >= 0.45) input.paidCredits = this.credits();
      if (this.chance(0.25)) input.expirationAt = this.later(HOUR, 40 * DAY);
      const rule = this.activeRule(label);
      if (rule?.[1].trigger === 'threshold') input.priority = this.int(1, 49);
      else if (this.chance(0.3)) input.priority = this.int(1, 50);
      if (this.chance(0.2)) input.invoiceRequiresSuccessfulPayment = this.chance(0.5);
      if (this.chance(0.15)) input.ignorePaidTopUpLimits = true;
      if (this.chance(0.2)) input.name = `top-up ${this.int(1, 9)}`;
      if (this.chance(0.15)) input.metadata = [{ key: 'order', value: `o${this.int(1, 99)}` }];
    }
    const key = this.key();
    if (key) input.idempotencyKey = key;
    return { call: 'walletTransactions.create', input };
  }

  private recordPayment(): Call {
    const purchases = this.rows('wallet_transactions').filter(([, t]) => t.transaction_status === 'purchased' && t.transaction_type === 'inbound');
    const pending = purchases.filter(([, t]) => t.status === 'pending');
    const failed = purchases.filter(([, t]) => t.status === 'failed');
    // Settled purchases with credits left: a failure report claws them back.
    const settled = purchases.filter(([, t]) => t.status === 'settled' && BigInt(String(t.remaining_amount_cents)) > 0n);
    const r = this.random();
    const pool = r < 0.6 && pending.length ? pending : r < 0.75 && failed.length ? failed : r < 0.95 && settled.length ? settled : null;
    let target: string;
    if (pool) target = this.pick(pool)[0];
    else {
      const other = this.rows('wallet_transactions').filter(([, t]) => t.transaction_status !== 'purchased');
      if (other.length === 0) return this.topUp();
      target = this.pick(other)[0];
    }
    const input: Record<string, unknown> = { id: this.id(target), status: this.chance(0.7) ? 'succeeded' : 'failed' };
    if (this.chance(0.4)) input.invoiceId = `topup_inv_${this.int(1, 500)}`;
    const key = this.key();
    if (key) input.idempotencyKey = key;
    return { call: 'walletTransactions.recordPayment', input };
  }

  private applyInvoice(): Call {
    if (this.invoices.length > 0 && this.chance(0.08)) {
      // The same invoice again: the first allocation, or INVOICE_ALREADY_APPLIED with other content.
      const previous = this.pick(this.invoices);
      const input = structuredClone(previous.input);
      if (this.chance(0.4)) (input.invoice as Record<string, unknown>).totalAmountCents = 1;
      return { call: 'invoices.applyPrepaidCredits', input };
    }
    const [, customer] = this.pick(this.customers());
    const currency = customer.currency && this.chance(0.93) ? String(customer.currency) : this.pick(CURRENCIES);
    const fees = Array.from({ length: this.int(1, 4) }, (_, i) => this.fee(i, false));
    const cap = (fee: Record<string, unknown>) => {
      const cents = (v: unknown) => (v === undefined ? 0 : Number(v));
      return Math.max(0, cents(fee.amountCents) - cents(fee.couponsAmountCents) + cents(fee.taxesAmountCents) - cents(fee.creditNotesAmountCents));
    };
    const sum = Math.round(fees.reduce((total, fee) => total + cap(fee), 0));
    const id = `inv_${++this.invoiceCount}`;
    const invoice = {
      id,
      externalCustomerId: customer.external_id,
      currency,
      invoiceType: this.pick(INVOICE_TYPES),
      totalAmountCents: this.chance(0.8) ? sum : this.int(0, sum),
      fees,
    };
    const input: Record<string, unknown> = { invoice };
    if (this.chance(0.3)) input.usage = this.usage(String(customer.external_id), currency);
    const key = this.key();
    if (key) input.idempotencyKey = key;
    this.invoices.push({ id, input });
    return { call: 'invoices.applyPrepaidCredits', input };
  }

  private voidInvoice(): Call {
    const applications = this.rows('invoice_applications').filter(([, a]) => !this.customerHasThresholdRule(String(a.customer_id)));
    const r = this.random();
    const invoiceId =
      r < 0.85 && applications.length > 0
        ? String(this.pick(applications)[0])
        : r < 0.92
          ? `inv_unknown_${this.int(1, 9)}`
          : `inv_${this.invoiceCount + 1}`;
    const input: Record<string, unknown> = { invoiceId };
    const key = this.key();
    if (key) input.idempotencyKey = key;
    return { call: 'invoices.void', input };
  }

  private usageSync(): Call {
    const [, customer] = this.pick(this.customers());
    const currency = customer.currency ? String(customer.currency) : this.pick(CURRENCIES);
    const input = this.usage(String(customer.external_id), currency);
    const key = this.key();
    if (key) input.idempotencyKey = key;
    return { call: 'usage.sync', input };
  }

  private updateWallet(): Call {
    const picked = this.someWallet();
    if (!picked) return this.createWallet();
    const [label, wallet] = picked;
    const input: Record<string, unknown> = { id: this.id(label) };
    if (this.chance(0.3)) input.priority = this.int(1, 50);
    if (this.chance(0.2)) input.expirationAt = this.chance(0.8) ? this.later(HOUR, 50 * DAY) : null;
    if (this.chance(0.15)) input.appliesTo = this.chance(0.5) ? { feeTypes: [this.pick(FEE_TYPES)] } : { billableMetricCodes: [], feeTypes: [] };
    if (this.chance(0.1)) input.paidTopUpMaxAmountCents = this.chance(0.5) ? this.int(500, 100_000) : null;
    if (this.chance(0.1)) input.name = `renamed ${this.int(1, 9)}`;
    if (this.chance(0.1)) input.invoiceRequiresSuccessfulPayment = this.chance(0.5);
    const rule = this.activeRule(label);
    const r = this.random();
    if (r < 0.45) {
      const fresh = this.rule(String(wallet.customer_id), label, false);
      if (fresh) input.recurringTransactionRules = [fresh];
    } else if (r < 0.6 && rule) {
      const change: Record<string, unknown> = { id: this.id(rule[0]) };
      if (rule[1].trigger === 'threshold') change.thresholdCredits = this.credits();
      else change.grantedCredits = this.credits();
      if (this.chance(0.3)) change.paidCredits = this.credits();
      input.recurringTransactionRules = [change];
    } else if (r < 0.7 && rule) input.recurringTransactionRules = [];
    const key = this.key();
    if (key) input.idempotencyKey = key;
    return { call: 'wallets.update', input };
  }

  private terminate(): Call {
    const picked = this.someWallet();
    if (!picked) return this.createWallet();
    const input: Record<string, unknown> = { id: this.id(picked[0]) };
    const key = this.key();
    if (key) input.idempotencyKey = key;
    return { call: 'wallets.terminate', input };
  }

  /**
   * A job run as of now, or earlier when a customer has two wallets due (their jobs would run in
   * wallet-id order): just before the second one falls due, so each run expires at most one of them.
   */
  private runJobs(): Call {
    const now = this.clock.current;
    const lotsDue = new Map<string, number>();
    for (const [, t] of this.rows('wallet_transactions')) {
      if (t.transaction_type !== 'inbound' || t.status !== 'settled' || !t.expiration_at) continue;
      if (BigInt(String(t.remaining_amount_cents ?? 0)) <= 0n && !isPositiveDecimal(t.remaining_credit_amount)) continue;
      const due = Date.parse(String(t.expiration_at));
      const wallet = String(t.wallet_id);
      lotsDue.set(wallet, Math.min(lotsDue.get(wallet) ?? Number.POSITIVE_INFINITY, due));
    }
    const groups = new Map<string, number[]>();
    for (const [label, w] of this.wallets('active')) {
      const due = Math.min(
        w.expiration_at ? Date.parse(String(w.expiration_at)) : Number.POSITIVE_INFINITY,
        lotsDue.get(label) ?? Number.POSITIVE_INFINITY,
      );
      if (due > now) continue;
      const group = `${w.customer_id}/${w.currency}`;
      groups.set(group, [...(groups.get(group) ?? []), due]);
    }
    let asOf = now;
    for (const dues of groups.values()) {
      if (dues.length < 2) continue;
      dues.sort((a, b) => a - b);
      asOf = Math.min(asOf, dues[1]! - 1);
    }
    return { call: 'admin.runScheduledJobs', input: { asOf: new Date(asOf) }, jobs: true };
  }

  private invalid(): Call {
    const r = this.random();
    if (r < 0.25) return { call: 'walletTransactions.create', input: { walletId: UNKNOWN_ID, grantedCredits: '1' } };
    if (r < 0.45) {
      const picked = this.someWallet();
      if (picked) return { call: 'walletTransactions.create', input: { walletId: this.id(picked[0]), grantedCredits: 5 } };
    }
    if (r < 0.6) {
      const picked = this.someWallet();
      if (picked) return { call: 'walletTransactions.create', input: { walletId: this.id(picked[0]), voidedCredits: '1000000' } };
    }
    if (r < 0.75) return { call: 'walletTransactions.recordPayment', input: { id: UNKNOWN_ID, status: 'succeeded' } };
    if (r < 0.9) return { call: 'wallets.create', input: { externalCustomerId: 'cus_nobody', rateAmount: '1', currency: 'EUR' } };
    return { call: 'wallets.update', input: { id: UNKNOWN_ID, priority: 0 } };
  }
}

/** The same request with one field changed (under the same key: IDEMPOTENCY_KEY_REUSED). */
function changedInput(input: Record<string, unknown>): Record<string, unknown> {
  const changed = structuredClone(input);
  if (changed.invoice) (changed.invoice as Record<string, unknown>).totalAmountCents = 7;
  else if ('invoiceId' in changed) changed.invoiceId = `${changed.invoiceId}_other`;
  else if ('status' in changed) changed.status = changed.status === 'failed' ? 'succeeded' : 'failed';
  else if ('fees' in changed) changed.fees = [];
  else changed.name = 'changed'; // (wallets.terminate takes no name: there, the same request again)
  return changed;
}

type Procedure = (input: unknown) => Promise<unknown>;

function procedureOf(client: WalletClient, admin: WalletClient, call: string): Procedure {
  const [router, name] = call.split('.') as [string, string];
  const target = (router === 'admin' ? admin : client) as unknown as Record<string, Record<string, { mutate: Procedure }>>;
  return (input) => target[router]![name]!.mutate(input);
}

/** Wallet label an event concerns (job runs list their events per wallet). */
function eventWallet(recorder: LedgerRecorder, row: Row): string {
  const data = row.data as Record<string, unknown>;
  const id = String(String(row.type).startsWith('wallet_transaction') ? data.walletId : data.id);
  return recorder.label(id);
}

export interface RecordingResult {
  lines: string[];
  /** Milliseconds spent per call (in the procedure, and reading what it wrote). */
  timings: Record<string, { calls: number; procedureMs: number; captureMs: number }>;
  auditFindings: unknown[];
  internalErrors: string[];
}

/**
 * Records `steps` steps of one seed in `databaseUrl` (a fresh, migrated database of its own: the
 * job runs see every organization of their database).
 */
export async function recordSeed(databaseUrl: string, seed: number, steps: number): Promise<RecordingResult> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // `end()` can resolve before an idle client's backend is gone; the database's forced drop then
  // ends that backend, and an idle client's error would otherwise be thrown with nobody to catch it.
  db.on('error', () => undefined);
  let orm: Orm | null = null;
  let jobs: JobRunner | null = null;
  try {
    await installChangeLog(db);
    orm = await openOrm({ databaseUrl, poolMax: 4 });
    const clock = new ScenarioClock();
    jobs = new JobRunner({ orm, databaseUrl, concurrency: 0, now: () => clock.now() });
    const internalErrors: string[] = [];
    const services = {
      orm,
      clock,
      adminToken: ADMIN_TOKEN,
      jobs,
      logError: (error: unknown) => internalErrors.push(String((error as Error)?.stack ?? error)),
    };
    const admin = createInProcessWalletClient(services, ADMIN_TOKEN);
    const { apiKey } = await admin.admin.createOrganization.mutate({ name: `recorder seed ${seed}` });
    const client = createInProcessWalletClient(services, apiKey);
    const recorder = new LedgerRecorder(db);
    await recorder.reset();
    const generator = new Generator(seed, recorder, clock);
    const lines: string[] = [];
    const timings: RecordingResult['timings'] = {};
    for (let step = 1; step <= steps; step++) {
      const { call, input, jobs: isJobRun } = generator.next(step);
      const line: StepLine = { seed, step, at: clock.now().toISOString(), call, input: recorder.normalise(input), rows: [] };
      let answer: unknown = null;
      const t0 = performance.now();
      try {
        answer = await procedureOf(client, admin, call)(input);
      } catch (error) {
        const data = (error as { data?: { code?: string; walletErrorCode?: string | null } }).data;
        line.error = { code: data?.code ?? 'UNKNOWN', walletErrorCode: data?.walletErrorCode ?? null };
      }
      const t1 = performance.now();
      const captured = await recorder.capture(
        answer,
        isJobRun ? (a, b) => compareLabels(eventWallet(recorder, a), eventWallet(recorder, b)) : undefined,
      );
      if (!line.error) line.ok = captured.answer;
      line.rows = captured.rows;
      lines.push(JSON.stringify(line));
      const timing = (timings[call] ??= { calls: 0, procedureMs: 0, captureMs: 0 });
      timing.calls++;
      timing.procedureMs += t1 - t0;
      timing.captureMs += performance.now() - t1;
    }
    return { lines, timings, auditFindings: await auditLedger(databaseUrl), internalErrors };
  } finally {
    await jobs?.stop();
    await orm?.close(true);
    await db.end();
  }
}
