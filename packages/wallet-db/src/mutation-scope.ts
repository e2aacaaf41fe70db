/** What a mutation runs for: the tenant, the procedure, its idempotency key, the request as received, and now. */
import { createHash } from 'node:crypto';

export interface MutationScope {
  organizationId: string;
  procedure: string;
  idempotencyKey?: string | null | undefined;
  /** The request as received (without its key): a replay must match it exactly. */
  request: unknown;
  now: Date;
}

function canonical(value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

export function requestHash(request: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(request)))
    .digest('hex');
}
