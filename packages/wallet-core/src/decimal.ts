/**
 * Fixed-scale decimals for credits and rates: a bigint counting 1e-5 units (Lago's decimal(30,5)).
 * Parsing is exact: a string either fits (after the named rounding, floor for credits) or is refused.
 * No floats anywhere: "10.5" becomes 1_050_000n and back.
 */
export const DECIMAL_SCALE = 5;
export const SCALE_FACTOR = 100_000n;

/** Credits and rates, in 1e-5 units. */
export type Scaled = bigint;

const DECIMAL_RE = /^(-)?(\d+)(?:\.(\d+))?$/;

export type ParseDecimalResult = { ok: true; value: Scaled } | { ok: false; reason: string };

/**
 * Parses a plain decimal string (no exponent, no sign unless allowed). Digits beyond 5 decimals are
 * floored when `excess` is 'floor' and refused when 'reject'.
 */
export function parseDecimal(text: string, options: { excess: 'floor' | 'reject'; allowNegative?: boolean }): ParseDecimalResult {
  const match = DECIMAL_RE.exec(text);
  if (!match) return { ok: false, reason: 'must be a decimal string such as "10" or "10.5"' };
  const [, sign, whole = '0', fraction = ''] = match;
  if (sign && !options.allowNegative) return { ok: false, reason: 'must not be negative' };
  if (whole.replace(/^0+/, '').length > 25) return { ok: false, reason: 'is too large' };
  let kept = fraction.slice(0, DECIMAL_SCALE);
  const dropped = fraction.slice(DECIMAL_SCALE);
  if (options.excess === 'reject' && /[1-9]/.test(dropped)) {
    return { ok: false, reason: `must have at most ${DECIMAL_SCALE} decimal places` };
  }
  kept = kept.padEnd(DECIMAL_SCALE, '0');
  let value = BigInt(whole) * SCALE_FACTOR + BigInt(kept);
  // Floor toward minus infinity for negatives with dropped digits.
  if (sign) value = /[1-9]/.test(dropped) ? -value - 1n : -value;
  return { ok: true, value };
}

/** Formats 1e-5 units as the shortest exact decimal string: 1_050_000n -> "10.5". */
export function formatDecimal(value: Scaled): string {
  const neg = value < 0n;
  const m = neg ? -value : value;
  const whole = m / SCALE_FACTOR;
  const fraction = (m % SCALE_FACTOR).toString().padStart(DECIMAL_SCALE, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}
