/**
 * Threshold top-ups (DESIGN.md flow 5, Lago's ThresholdTopUpService with its runaway fixes):
 * a rule fires when the ongoing balance plus pending top-ups is at or below its threshold.
 * - fixed: buys whole increments of `paidCredits`, enough to land strictly above the threshold,
 *   capped at the wallet maximum unless limits are ignored; grants `grantedCredits`;
 * - target: tops up the gap to `targetOngoingBalance`, raised to the wallet minimum (unless limits are
 *   ignored), or grants it free with `grantsTargetTopUp`.
 * All quantities are credits in 1e-5 units; the money limits are converted with the wallet's rate.
 */
import { type Conversion, centsToCredits } from './conversion.js';
import type { Scaled } from './decimal.js';
import { divFloor, maxBig, minBig } from './rounding.js';

export interface ThresholdRule {
  method: 'fixed' | 'target';
  paidCredits: Scaled;
  grantedCredits: Scaled;
  thresholdCredits: Scaled;
  targetOngoingBalance: Scaled | null;
  grantsTargetTopUp: boolean;
  ignorePaidTopUpLimits: boolean;
}

export interface ThresholdWalletState {
  creditsOngoingBalance: Scaled;
  pendingCredits: Scaled;
  paidTopUpMinAmountCents: bigint | null;
  paidTopUpMaxAmountCents: bigint | null;
  conversion: Conversion;
}

export interface TopUpPlan {
  paidCredits: Scaled;
  grantedCredits: Scaled;
}

export function shouldFire(rule: ThresholdRule, state: ThresholdWalletState): boolean {
  return state.creditsOngoingBalance + state.pendingCredits <= rule.thresholdCredits;
}

/** Smallest credits worth at least `cents` (for raising to the wallet minimum). */
function creditsAtLeast(cents: bigint, conversion: Conversion): Scaled {
  return centsToCredits(cents, conversion);
}

export function planThresholdTopUp(rule: ThresholdRule, state: ThresholdWalletState): TopUpPlan | null {
  if (!shouldFire(rule, state)) return null;
  const ongoing = state.creditsOngoingBalance + state.pendingCredits;
  if (rule.method === 'target') {
    const target = rule.targetOngoingBalance ?? rule.thresholdCredits;
    const gap = maxBig(0n, target - ongoing);
    if (gap === 0n) return null;
    if (rule.grantsTargetTopUp) return { paidCredits: 0n, grantedCredits: gap };
    const min =
      !rule.ignorePaidTopUpLimits && state.paidTopUpMinAmountCents !== null ? creditsAtLeast(state.paidTopUpMinAmountCents, state.conversion) : 0n;
    return { paidCredits: maxBig(gap, min), grantedCredits: 0n };
  }
  let paid = rule.paidCredits;
  if (paid > 0n) {
    const gap = rule.thresholdCredits - ongoing - rule.grantedCredits;
    if (gap >= paid) paid = paid * (divFloor(gap, paid) + 1n);
    if (!rule.ignorePaidTopUpLimits && state.paidTopUpMaxAmountCents !== null) {
      const maxCredits = divFloor(centsToCredits(state.paidTopUpMaxAmountCents, state.conversion), rule.paidCredits) * rule.paidCredits;
      paid = maxBig(rule.paidCredits, minBig(paid, maxCredits));
    }
  }
  if (paid === 0n && rule.grantedCredits === 0n) return null;
  return { paidCredits: paid, grantedCredits: rule.grantedCredits };
}
