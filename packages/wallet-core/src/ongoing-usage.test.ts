import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planAllocation } from './allocation.js';
import { type OngoingWallet, planOngoingUsage, planUsageNets, type UsageFee, type UsageSnapshotInput } from './ongoing-usage.js';

const C = 100_000n; // 1 cent in 1e-5 cents

/** "10.4" cents -> 1_040_000n (1e-5 cents), parsed here without the module under test. */
function cents(text: string): bigint {
  const [whole = '0', fraction = ''] = text.split('.');
  if (fraction.length > 5) throw new Error(`fixture ${text} has more than 5 places`);
  return BigInt(whole) * C + BigInt(fraction.padEnd(5, '0'));
}

/** `key` is "feeType" or "feeType/metric"; amounts are cents as decimal strings. */
function fee(key: string, amount: string, extra: { coupons?: string; taxes?: string } = {}): UsageFee {
  const [feeType = '', metric] = key.split('/');
  return {
    feeType,
    billableMetricCode: metric ?? null,
    amount: cents(amount),
    coupons: cents(extra.coupons ?? '0'),
    taxes: cents(extra.taxes ?? '0'),
  };
}

function usage(parts: { current?: UsageFee[]; drafts?: UsageFee[]; billed?: UsageFee[] }): UsageSnapshotInput {
  return { currentFees: parts.current ?? [], draftInvoiceFees: parts.drafts ?? [], billedFees: parts.billed ?? [] };
}

function wallet(id: string, balanceCents: number, opts: { feeTypes?: string[]; metrics?: string[]; rule?: boolean } = {}): OngoingWallet {
  return {
    id,
    balanceCents: BigInt(balanceCents),
    feeTypes: opts.feeTypes ?? [],
    billableMetricCodes: opts.metrics ?? [],
    hasActiveThresholdRule: opts.rule ?? false,
  };
}

const allocated = (plan: Map<string, bigint>) => Object.fromEntries([...plan].map(([id, amount]) => [id, Number(amount)]));

const netsByKey = (u: UsageSnapshotInput) =>
  Object.fromEntries(planUsageNets(u).map((n) => [n.billableMetricCode === null ? n.feeType : `${n.feeType}/${n.billableMetricCode}`, n.net]));

describe('planUsageNets: net usage per (feeType, metric)', () => {
  it.each<[string, UsageSnapshotInput, Record<string, bigint>]>([
    [
      'current usage is amount + taxes (its coupons are not subtracted)',
      usage({ current: [fee('charge/api', '1000', { coupons: '50', taxes: '200' })] }),
      { 'charge/api': cents('1200') },
    ],
    [
      'a draft invoice fee is amount - coupons + taxes',
      usage({ drafts: [fee('charge/api', '500', { coupons: '100', taxes: '80' })] }),
      { 'charge/api': cents('480') }, // 500 - 100 + 80
    ],
    [
      'a billed fee (progressive billing, pay in advance) is subtracted, net of coupons, with taxes',
      usage({ billed: [fee('charge/api', '300', { coupons: '30', taxes: '54' })] }),
      { 'charge/api': -cents('324') }, // -(300 - 30 + 54)
    ],
    [
      'the three pools add up on one key',
      usage({
        current: [fee('charge/api', '1000', { coupons: '50', taxes: '200' })],
        drafts: [fee('charge/api', '500', { coupons: '100', taxes: '80' })],
        billed: [fee('charge/api', '300', { coupons: '30', taxes: '54' })],
      }),
      { 'charge/api': cents('1356') }, // 1200 + 480 - 324
    ],
    [
      'keys are (feeType, metric): same metric under another fee type, or no metric, is another key',
      usage({
        current: [
          fee('charge/api', '100'),
          fee('charge/api', '25'),
          fee('fixed_charge/api', '40'),
          fee('charge/storage', '7'),
          fee('subscription', '70'),
        ],
      }),
      { 'charge/api': cents('125'), 'fixed_charge/api': cents('40'), 'charge/storage': cents('7'), subscription: cents('70') },
    ],
    [
      'sub-cent amounts are kept exactly',
      usage({ current: [fee('charge/api', '10', { taxes: '0.333' })], drafts: [fee('charge/api', '0.00001', { coupons: '0.00002' })] }),
      { 'charge/api': cents('10.33299') }, // 10.333 + (0.00001 - 0.00002)
    ],
  ])('%s', (_name, input, expected) => {
    expect(netsByKey(input)).toEqual(expected);
  });
});

describe('planOngoingUsage: the budget', () => {
  it('an over-billed key offsets the others', () => {
    // api: 1000 - 1500 = -500; subscription +800; budget = 300, all of it on subscription.
    const u = usage({ current: [fee('subscription', '800'), fee('charge/api', '1000')], billed: [fee('charge/api', '1500')] });
    expect(allocated(planOngoingUsage(u, [wallet('w', 10_000)]))).toEqual({ w: 300 });
    expect(allocated(planOngoingUsage(u, [wallet('subs', 10_000, { feeTypes: ['subscription'] })]))).toEqual({ subs: 300 });
  });

  it('is never negative: more billed than used allocates nothing', () => {
    const u = usage({ current: [fee('subscription', '200'), fee('charge/api', '100')], billed: [fee('charge/api', '600')] });
    // subscription +200, api -500: budget max(0, -300) = 0.
    expect(allocated(planOngoingUsage(u, [wallet('w1', 1000), wallet('w2', 0, { rule: true })]))).toEqual({ w1: 0, w2: 0 });
    expect(allocated(planOngoingUsage(usage({}), [wallet('w', 1000)]))).toEqual({ w: 0 });
  });

  it('keys are served largest first, each capped by what is left of the budget', () => {
    // api +700, subscription +500, storage -400: budget 800. api takes 700, subscription the 100 left.
    const u = usage({ current: [fee('subscription', '500'), fee('charge/api', '700')], billed: [fee('charge/storage', '400')] });
    const wallets = [wallet('subs', 10_000, { feeTypes: ['subscription'] }), wallet('api', 10_000, { metrics: ['api'] })];
    expect(allocated(planOngoingUsage(u, wallets))).toEqual({ subs: 100, api: 700 });
  });

  it('ties between keys go by (feeType, metric), whatever the input order', () => {
    // charge/api and subscription both +500, storage -500: budget 500, all to "charge" < "subscription".
    const current = [fee('subscription', '500'), fee('charge/api', '500')];
    const wallets = [wallet('subs', 10_000, { feeTypes: ['subscription'] }), wallet('api', 10_000, { metrics: ['api'] })];
    for (const fees of [current, [...current].reverse()]) {
      expect(allocated(planOngoingUsage(usage({ current: fees, billed: [fee('charge/storage', '500')] }), wallets))).toEqual({ subs: 0, api: 500 });
    }
  });

  it('a key no wallet may pay leaves the budget to the others, as the invoice allocator does', () => {
    // add_on +1000 (nobody may pay it), api +500, storage -600: budget 900. Only api can be placed: 500.
    const u = usage({ current: [fee('add_on', '1000'), fee('charge/api', '500')], billed: [fee('charge/storage', '600')] });
    const apiOnly = wallet('api', 10_000, { metrics: ['api'] });
    expect(allocated(planOngoingUsage(u, [apiOnly]))).toEqual({ api: 500 });
    // Billing the same usage (an invoice of 900 with those two fees) takes 500 from this wallet too.
    const invoice = planAllocation({
      totalAmountCents: 900n,
      fees: [
        { feeType: 'add_on', billableMetricCode: null, amount: cents('1000'), coupons: 0n, taxes: 0n, creditNotes: 0n },
        { feeType: 'charge', billableMetricCode: 'api', amount: cents('500'), coupons: 0n, taxes: 0n, creditNotes: 0n },
      ],
      wallets: [apiOnly],
    });
    expect(invoice.amountCents).toBe(500n);
  });
});

describe('planOngoingUsage: priority and scope', () => {
  it('wallets take up to their balance in the order given; the last takes the rest', () => {
    const wallets = [wallet('w1', 300), wallet('w2', 500), wallet('w3', 1000)];
    expect(allocated(planOngoingUsage(usage({ current: [fee('charge/api', '1000')] }), wallets))).toEqual({ w1: 300, w2: 500, w3: 200 });
    expect(allocated(planOngoingUsage(usage({ current: [fee('charge/api', '250')] }), wallets))).toEqual({ w1: 250, w2: 0, w3: 0 });
  });

  it('a limited wallet takes only its keys: metric in its list, or fee type in its list', () => {
    // Keys: api 600, storage 300, subscription 100 (no metric).
    const u = usage({ current: [fee('charge/api', '600'), fee('charge/storage', '300'), fee('subscription', '100')] });
    const wallets = [
      wallet('storage', 5000, { metrics: ['storage'] }),
      wallet('subs', 5000, { feeTypes: ['subscription'] }),
      wallet('general', 100), // the only (so last) candidate for api: takes all 600, beyond its balance
    ];
    expect(allocated(planOngoingUsage(u, wallets))).toEqual({ storage: 300, subs: 100, general: 600 });
    // A fee type in the list covers every metric of that type.
    expect(allocated(planOngoingUsage(u, [wallet('charges', 5000, { feeTypes: ['charge'] }), wallet('general', 0)]))).toEqual({
      charges: 900,
      general: 100,
    });
    // A metric list never matches a key without a metric.
    expect(allocated(planOngoingUsage(u, [wallet('api', 5000, { metrics: ['api'] }), wallet('general', 0)]))).toEqual({ api: 600, general: 400 });
  });

  it('the union rule: metric OR fee type', () => {
    const u = usage({ current: [fee('charge/api', '600'), fee('charge/storage', '300'), fee('subscription', '100')] });
    const wallets = [wallet('both', 5000, { metrics: ['storage'], feeTypes: ['subscription'] }), wallet('general', 0)];
    // both: storage 300 + subscription 100; general (last for api): 600.
    expect(allocated(planOngoingUsage(u, wallets))).toEqual({ both: 400, general: 600 });
  });

  it('an unrestricted wallet takes every key', () => {
    const u = usage({ current: [fee('charge/api', '600'), fee('commitment', '50'), fee('subscription', '100')] });
    expect(allocated(planOngoingUsage(u, [wallet('w', 5000)]))).toEqual({ w: 750 });
  });

  it('a key nobody may pay is not allocated', () => {
    const u = usage({ current: [fee('charge/api', '600'), fee('subscription', '100')] });
    expect(allocated(planOngoingUsage(u, [wallet('storage', 5000, { metrics: ['storage'] })]))).toEqual({ storage: 0 });
    expect(allocated(planOngoingUsage(u, []))).toEqual({});
  });
});

describe('planOngoingUsage: threshold rules and the last candidate', () => {
  it('a wallet with an active threshold rule absorbs all that is left of a key and stops the cascade', () => {
    const u = usage({ current: [fee('charge/api', '1000')] });
    expect(allocated(planOngoingUsage(u, [wallet('ruled', 100, { rule: true }), wallet('w2', 5000)]))).toEqual({ ruled: 1000, w2: 0 });
    // Reached after a wallet that took its balance: the ruled one takes the 700 left, w3 nothing.
    expect(allocated(planOngoingUsage(u, [wallet('w1', 300), wallet('ruled', 0, { rule: true }), wallet('w3', 5000)]))).toEqual({
      w1: 300,
      ruled: 700,
      w3: 0,
    });
  });

  it('a ruled wallet absorbs on every key it may pay, after the wallets before it', () => {
    // api 600: candidates ruled, w3 -> ruled 600. storage 300: storage takes its 100, ruled the 200 left.
    const u = usage({ current: [fee('charge/api', '600'), fee('charge/storage', '300')] });
    const wallets = [wallet('storage', 100, { metrics: ['storage'] }), wallet('ruled', 0, { rule: true }), wallet('w3', 5000)];
    expect(allocated(planOngoingUsage(u, wallets))).toEqual({ storage: 100, ruled: 800, w3: 0 });
  });

  it('a ruled wallet that may not pay a key does not stop its cascade', () => {
    const u = usage({ current: [fee('charge/api', '1500')] });
    const wallets = [wallet('ruled', 0, { rule: true, metrics: ['storage'] }), wallet('w2', 1000), wallet('w3', 0)];
    expect(allocated(planOngoingUsage(u, wallets))).toEqual({ ruled: 0, w2: 1000, w3: 500 });
  });

  it('the last candidate absorbs the overflow and may go beyond its balance', () => {
    const wallets = [wallet('w1', 300), wallet('w2', 500), wallet('w3', 1000)];
    // 2000 - 300 - 500 = 1200 for w3, 200 above its balance.
    expect(allocated(planOngoingUsage(usage({ current: [fee('charge/api', '2000')] }), wallets))).toEqual({ w1: 300, w2: 500, w3: 1200 });
  });

  it('what a wallet took on earlier keys counts against its balance on later ones', () => {
    // api 400: w1 400. subscription 300: w1 has 500 - 400 = 100 left, w2 (last) takes 200, above its 100.
    const u = usage({ current: [fee('charge/api', '400'), fee('subscription', '300')] });
    expect(allocated(planOngoingUsage(u, [wallet('w1', 500), wallet('w2', 100)]))).toEqual({ w1: 500, w2: 200 });
  });

  it('"last" is per key: a wallet last for one key overflows there even if it comes first elsewhere', () => {
    // api 500: candidates w1, api -> w1 100, api (last) 400. storage 300: only w1, so it is last -> +300.
    const u = usage({ current: [fee('charge/api', '500'), fee('charge/storage', '300')] });
    expect(allocated(planOngoingUsage(u, [wallet('w1', 100), wallet('api', 50, { metrics: ['api'] })]))).toEqual({ w1: 400, api: 400 });
  });
});

describe('planOngoingUsage: sub-cent rounding', () => {
  it('shares are rounded once, not one by one', () => {
    // 10.4 + 10.4 = 20.8 -> 21 (one by one would give 10 + 10 = 20); floors 10 + 10, the cent left to the
    // equal remainders' first wallet.
    const u = usage({ current: [fee('charge/x', '10.4'), fee('charge/y', '10.4')] });
    expect(allocated(planOngoingUsage(u, [wallet('wx', 100, { metrics: ['x'] }), wallet('wy', 100, { metrics: ['y'] })]))).toEqual({
      wx: 11,
      wy: 10,
    });
  });

  it('leftover cents go to the largest remainders, not to the first wallets', () => {
    // 0.2 + 0.45 + 0.3 = 0.95 -> 1 cent, to wb (remainder 0.45).
    const u = usage({ current: [fee('charge/a', '0.2'), fee('charge/b', '0.45'), fee('charge/c', '0.3')] });
    const wallets = ['a', 'b', 'c'].map((m) => wallet(`w${m}`, 100, { metrics: [m] }));
    expect(allocated(planOngoingUsage(u, wallets))).toEqual({ wa: 0, wb: 1, wc: 0 });
  });

  it('the total is rounded half up', () => {
    const wallets = [wallet('wa', 100, { metrics: ['a'] }), wallet('wb', 100, { metrics: ['b'] })];
    // 0.25 + 0.25 = 0.5 -> 1; 0.2 + 0.2 = 0.4 -> 0.
    expect(allocated(planOngoingUsage(usage({ current: [fee('charge/a', '0.25'), fee('charge/b', '0.25')] }), wallets))).toEqual({ wa: 1, wb: 0 });
    expect(allocated(planOngoingUsage(usage({ current: [fee('charge/a', '0.2'), fee('charge/b', '0.2')] }), wallets))).toEqual({ wa: 0, wb: 0 });
  });

  it('rounding never lifts a capped wallet above its balance', () => {
    const wallets = [wallet('w1', 10), wallet('w2', 0)];
    // 10.6: w1 10 (its balance), w2 0.6; total 11 = floors 10 + 0, the cent to w2's 0.6.
    expect(allocated(planOngoingUsage(usage({ current: [fee('charge/api', '10.6')] }), wallets))).toEqual({ w1: 10, w2: 1 });
    // 10.4: w1 10, w2 0.4; total 10.
    expect(allocated(planOngoingUsage(usage({ current: [fee('charge/api', '10.4')] }), wallets))).toEqual({ w1: 10, w2: 0 });
  });
});

// ---- properties, checked against a reference written here ----

const FEE_TYPES = ['subscription', 'charge', 'fixed_charge', 'commitment', 'add_on'];
const METRICS = ['api', 'storage', 'seats'];

const feeArb = fc.record({
  feeType: fc.constantFrom(...FEE_TYPES),
  billableMetricCode: fc.option(fc.constantFrom(...METRICS), { nil: null }),
  amount: fc.bigInt({ min: 0n, max: 500_000n * C }),
  coupons: fc.bigInt({ min: 0n, max: 50_000n * C }),
  taxes: fc.bigInt({ min: 0n, max: 100_000n * C }),
});
const walletsArb = fc
  .array(
    fc.record({
      balanceCents: fc.bigInt({ min: 0n, max: 600_000n }),
      feeTypes: fc.subarray(FEE_TYPES),
      billableMetricCodes: fc.subarray(METRICS),
      hasActiveThresholdRule: fc.integer({ min: 0, max: 3 }).map((n) => n === 0), // one wallet in four
    }),
    { maxLength: 6 },
  )
  .map((ws) => ws.map((w, index): OngoingWallet => ({ id: `w${index}`, ...w })));
const usageArb = fc.record({
  currentFees: fc.array(feeArb, { maxLength: 8 }),
  draftInvoiceFees: fc.array(feeArb, { maxLength: 4 }),
  billedFees: fc.array(feeArb, { maxLength: 4 }),
});

type Key = { feeType: string; billableMetricCode: string | null };

/** Reference nets: the module's stated formula, summed per key without planUsageNets. */
function referenceNets(u: UsageSnapshotInput): Map<string, Key & { net: bigint }> {
  const nets = new Map<string, Key & { net: bigint }>();
  const add = (f: UsageFee, value: bigint) => {
    const id = `${f.feeType}/${f.billableMetricCode ?? '-'}`;
    const entry = nets.get(id) ?? { feeType: f.feeType, billableMetricCode: f.billableMetricCode, net: 0n };
    entry.net += value;
    nets.set(id, entry);
  };
  for (const f of u.currentFees) add(f, f.amount + f.taxes);
  for (const f of u.draftInvoiceFees) add(f, f.amount - f.coupons + f.taxes);
  for (const f of u.billedFees) add(f, f.coupons - f.amount - f.taxes);
  return nets;
}

function mayPayReference(w: OngoingWallet, key: Key): boolean {
  if (w.feeTypes.length === 0 && w.billableMetricCodes.length === 0) return true;
  return w.feeTypes.includes(key.feeType) || (key.billableMetricCode !== null && w.billableMetricCodes.includes(key.billableMetricCode));
}

const roundHalfUp = (sub: bigint) => (sub + C / 2n) / C; // sub >= 0

// Shrinking these inputs can take millions of steps: a failure is reported with the smallest
// counterexample found within the time limit (passing runs take well under a second).
const PROPERTY_OPTIONS = { numRuns: 500, plugins: [fc.interruptAfterTimeLimit(15_000)] };

describe('planOngoingUsage: properties', () => {
  it('places min(budget, usage some wallet may pay), rounded once, and never more than the rounded budget', () => {
    fc.assert(
      fc.property(usageArb, walletsArb, (u, wallets) => {
        const nets = [...referenceNets(u).values()];
        const sumNets = nets.reduce((s, n) => s + n.net, 0n);
        const budget = sumNets > 0n ? sumNets : 0n;
        const payable = nets.filter((n) => n.net > 0n && wallets.some((w) => mayPayReference(w, n))).reduce((s, n) => s + n.net, 0n);
        const placed = payable < budget ? payable : budget;
        const plan = planOngoingUsage(u, wallets);
        const total = [...plan.values()].reduce((s, v) => s + v, 0n);
        expect(total).toBe(roundHalfUp(placed));
        expect(total <= roundHalfUp(budget)).toBe(true);
        expect([...plan.keys()]).toEqual(wallets.map((w) => w.id));
        for (const amount of plan.values()) expect(amount >= 0n).toBe(true);
      }),
      PROPERTY_OPTIONS,
    );
  });

  it('a wallet neither ruled nor last candidate of any key never gets more than its balance; nothing past a ruled wallet', () => {
    fc.assert(
      fc.property(usageArb, walletsArb, (u, wallets) => {
        const keys = [...referenceNets(u).values()].filter((n) => n.net > 0n);
        const plan = planOngoingUsage(u, wallets);
        for (const w of wallets) {
          const mine = keys.map((k) => wallets.filter((x) => mayPayReference(x, k))).filter((candidates) => candidates.includes(w));
          const lastSomewhere = mine.some((candidates) => candidates.at(-1) === w);
          if (!w.hasActiveThresholdRule && !lastSomewhere) expect(plan.get(w.id)! <= w.balanceCents).toBe(true);
          // Behind a ruled candidate on every key it may pay: the cascade never reaches it.
          const shadowed = mine.every((candidates) => candidates.slice(0, candidates.indexOf(w)).some((x) => x.hasActiveThresholdRule));
          if (shadowed) expect(plan.get(w.id)).toBe(0n);
        }
      }),
      PROPERTY_OPTIONS,
    );
  });

  it('is deterministic and does not depend on the order of the fees', () => {
    fc.assert(
      fc.property(usageArb, walletsArb, (u, wallets) => {
        const plan = planOngoingUsage(u, wallets);
        expect(planOngoingUsage(u, wallets)).toEqual(plan);
        const reversed = {
          currentFees: [...u.currentFees].reverse(),
          draftInvoiceFees: [...u.draftInvoiceFees].reverse(),
          billedFees: [...u.billedFees].reverse(),
        };
        expect(planOngoingUsage(reversed, wallets)).toEqual(plan);
      }),
      PROPERTY_OPTIONS,
    );
  });
});
