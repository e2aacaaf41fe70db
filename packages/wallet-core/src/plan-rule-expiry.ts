/**
 * Rule expiry (DESIGN.md flow 5): a rule past its own expiry no longer fires (expiry.ts
 * `isRuleLive`, even before this runs); the expiry job then ends it for good. Ending a rule moves
 * no balance and changes no ongoing balance (a rule that is not live absorbs no usage), so it fires
 * no event.
 */
import { isRuleLive } from './expiry.js';
import { type DraftClock, LedgerDraft } from './ledger-draft.js';
import type { GroupRecords, LedgerDelta } from './records.js';

/** Ends every active rule of the group's wallets that is no longer live. */
export function planExpireRules(records: GroupRecords, clock: DraftClock): { delta: LedgerDelta; rulesEnded: number } {
  const draft = new LedgerDraft(records, clock);
  // The draft's own rules: what changes here is in its delta.
  const ended = draft.activeRules(new Set(records.wallets.map((w) => w.id))).filter((rule) => !isRuleLive(rule, clock.now));
  for (const rule of ended) {
    rule.status = 'terminated';
    rule.terminatedAt = clock.now;
  }
  return { delta: draft.toDelta(), rulesEnded: ended.length };
}
