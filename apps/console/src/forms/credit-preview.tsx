/**
 * What typed credits are worth and will be stored as, before anything is sent: the same rule as the
 * server, imported from wallet-core (`planAmount`), never re-implemented here. Credits are floored
 * to 5 decimals as the API does, the amount is credits x credit value rounded half up to the minor
 * unit, and purchased or granted credits are stored as that amount / credit value (half up, 5
 * decimals), so a wallet holds exactly what was paid.
 */
import { currencyExponent, formatDecimal, parseDecimal, planAmount, WalletError } from '@wallets/core';
import { formatCredits, formatMoney, formatRate } from '../format.js';

export const CONVERSION_RULE =
  'The amount is credits × credit value, rounded half up to the cent; the credits stored are that amount ÷ credit value, to 5 decimals, so the wallet holds exactly what was paid.';

export type CreditPreview = { ok: true; typedCredits: string; storedCredits: string; amountCents: number } | { ok: false; reason: string } | null;

/** The preview of one entry, or null when nothing (or no usable credit value) is typed. */
export function previewCredits(kind: 'paid' | 'granted', creditsText: string, rateText: string, currency: string): CreditPreview {
  const text = creditsText.trim();
  if (!text) return null;
  const rate = parseDecimal(rateText.trim(), { excess: 'reject' });
  if (!rate.ok || rate.value <= 0n) return null;
  const credits = parseDecimal(text, { excess: 'floor' });
  if (!credits.ok) return { ok: false, reason: 'Enter credits such as 10 or 10.5.' };
  try {
    const amount = planAmount(kind, credits.value, { rate: rate.value, exponent: currencyExponent(currency) });
    return {
      ok: true,
      typedCredits: formatDecimal(credits.value),
      storedCredits: formatDecimal(amount.creditAmount),
      amountCents: Number(amount.amountCents),
    };
  } catch (error) {
    if (error instanceof WalletError && error.code === 'AMOUNT_ROUNDS_TO_ZERO')
      return { ok: false, reason: 'Worth less than one cent: the server refuses it.' };
    if (error instanceof WalletError && error.code === 'AMOUNT_ABOVE_MAXIMUM') return { ok: false, reason: 'Worth more than one entry can hold.' };
    throw error;
  }
}

function previewSentence(label: string, preview: CreditPreview, rate: string, currency: string): string | null {
  if (!preview) return null;
  if (!preview.ok) return `${label}: ${preview.reason}`;
  const worth = `${formatCredits(preview.typedCredits)} at ${formatRate(rate, currency)} are worth ${formatMoney(preview.amountCents, currency)}`;
  return preview.storedCredits === preview.typedCredits
    ? `${label}: ${worth}, stored as typed.`
    : `${label}: ${worth}, stored as ${formatCredits(preview.storedCredits)}.`;
}

/** The live preview under the credit fields; announced politely as it changes. */
export function CreditPreviewNote({ rate, currency, paid, granted }: { rate: string; currency: string; paid: string; granted: string }) {
  const lines = [
    previewSentence('Purchased', previewCredits('paid', paid, rate, currency), rate.trim(), currency),
    previewSentence('Granted', previewCredits('granted', granted, rate, currency), rate.trim(), currency),
  ].filter((line): line is string => line !== null);
  return (
    <div className="preview" data-testid="credit-preview" aria-live="polite">
      {lines.length > 0 ? (
        <>
          {lines.map((line) => (
            <p key={line}>{line}</p>
          ))}
          <p className="hint">{CONVERSION_RULE}</p>
        </>
      ) : (
        <p className="hint">Type credits to see what they are worth and how they are stored.</p>
      )}
    </div>
  );
}
