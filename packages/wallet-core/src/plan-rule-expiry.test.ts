import { describe, expect, it } from 'vitest';
import { planExpireRules } from './plan-rule-expiry.js';
import type { RuleRecord } from './records.js';
import { clock, group, hour, rule as ruleOf, wallet } from './test-records.js';

const rule = (id: string, expirationAt: Date | null) => ruleOf(id, 'wallet', { trigger: 'threshold', interval: null, expirationAt });
const records = (rules: RuleRecord[]) => group({ wallets: [wallet('wallet')], rules });

describe('planExpireRules', () => {
  it('ends the rules past their expiry (at it included), keeps the others, and moves nothing else', () => {
    const { delta, rulesEnded } = planExpireRules(
      records([rule('past', hour(9)), rule('at', hour(10)), rule('later', hour(11)), rule('never', null)]),
      clock(),
    );
    expect(rulesEnded).toBe(2);
    expect(delta.rules.map((r) => [r.id, r.status, r.terminatedAt])).toEqual([
      ['past', 'terminated', hour(10)],
      ['at', 'terminated', hour(10)],
    ]);
    expect({ ...delta, rules: [] }).toEqual({
      entries: [],
      consumptions: [],
      changedEntries: [],
      newWallets: [],
      wallets: [],
      newRules: [],
      rules: [],
      customer: null,
      snapshot: null,
      events: [],
    });
  });

  it('changes nothing when every rule is live', () => {
    expect(planExpireRules(records([rule('later', hour(11))]), clock())).toMatchObject({ rulesEnded: 0, delta: { rules: [], events: [] } });
  });
});
