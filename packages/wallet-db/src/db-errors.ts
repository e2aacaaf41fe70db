/**
 * Database errors mapped to domain errors once, by SQLSTATE and constraint name, whether they come
 * from the ORM (its exceptions copy the driver error's fields) or from raw `pg` queries (the door):
 * - a unique breach of a constraint named below: its domain code;
 * - a CHECK breach: an InvariantViolation naming the constraint (a planner let through what the
 *   schema forbids: a bug, never the caller's fault);
 * - anything else is returned untouched and surfaces as an internal error.
 * Constraint names are ours, from the migrations.
 */
import { InvariantViolation, WalletError } from '@wallets/core';

const UNIQUE_VIOLATION = '23505';
const CHECK_VIOLATION = '23514';

/** Unique constraints whose breach is the caller's doing, with the domain error it means. */
const UNIQUE_BREACHES: Readonly<Record<string, () => WalletError>> = {
  wallets_active_code_unique: () =>
    new WalletError('CODE_ALREADY_EXISTS', 'an active wallet of this customer already has this code', { field: 'code' }),
};

interface DatabaseErrorFields {
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
}

export function translateDbError(error: unknown): unknown {
  if (!error || typeof error !== 'object' || error instanceof WalletError || error instanceof InvariantViolation) return error;
  const { code, constraint, message } = error as DatabaseErrorFields;
  const name = typeof constraint === 'string' ? constraint : '';
  if (code === UNIQUE_VIOLATION && UNIQUE_BREACHES[name]) return UNIQUE_BREACHES[name]();
  if (code === CHECK_VIOLATION) return new InvariantViolation(`database check ${name || 'unknown'} failed: ${String(message)}`);
  return error;
}
