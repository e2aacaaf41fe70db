/**
 * Exact column types. Cents are PostgreSQL bigint <-> JS bigint; credits and rates are
 * numeric(30,5) <-> JS bigint counting 1e-5 units, so change detection compares exact integers
 * (the built-in DecimalType compares through a float and can lose an update).
 */
import { BigIntType, type Platform, Type } from '@mikro-orm/core';
import { formatDecimal, parseDecimal } from '@wallets/core';

export class CreditsType extends Type<bigint | null, string | null> {
  override convertToDatabaseValue(value: bigint | null): string | null {
    return value === null || value === undefined ? null : formatDecimal(value);
  }

  override convertToJSValue(value: string | null): bigint | null {
    if (value === null || value === undefined) return null;
    const parsed = parseDecimal(String(value), { excess: 'reject', allowNegative: true });
    if (!parsed.ok) throw new Error(`numeric column holds ${value}: ${parsed.reason}`);
    return parsed.value;
  }

  override compareAsType(): string {
    return 'bigint';
  }

  override compareValues(a: string | null, b: string | null): boolean {
    return String(a) === String(b);
  }

  override getColumnType(): string {
    return 'numeric(30,5)';
  }
}

export const credits = () => ({ type: CreditsType, columnType: 'numeric(30,5)' }) as const;
export const cents = () => ({ type: new BigIntType('bigint'), columnType: 'bigint' }) as const;
export type { Platform };

/** Columns every table shares: the uuid key, the organization (tenancy), and timestamps to the millisecond. */
export const id = { type: 'uuid', primary: true } as const;
export const org = { kind: 'm:1', entity: 'Organization', fieldName: 'organization_id', deleteRule: 'restrict' } as const;
export const createdAt = { type: 'Date', columnType: 'timestamptz(3)', onCreate: () => new Date() } as const;
export const timestamp = (nullable = true) => ({ type: 'Date', columnType: 'timestamptz(3)', nullable }) as const;
