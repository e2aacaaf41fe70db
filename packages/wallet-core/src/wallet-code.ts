/**
 * Wallet codes: unique per customer among active wallets. An absent code is derived from the name
 * (lowercase words joined by "_", or "default"); when the derived code is taken, a numeric suffix
 * makes it unique. A code given explicitly is never rewritten.
 */
export function slugifyWalletCode(name: string | null | undefined): string {
  const slug = (name ?? '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return slug || 'default';
}

export function deriveWalletCode(name: string | null | undefined, takenCodes: ReadonlySet<string>): string {
  const base = slugifyWalletCode(name);
  if (!takenCodes.has(base)) return base;
  for (let n = 2; ; n++) {
    const candidate = `${base}_${n}`;
    if (!takenCodes.has(candidate)) return candidate;
  }
}
