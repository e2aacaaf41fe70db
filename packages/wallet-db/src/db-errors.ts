/**
 * PostgreSQL errors translated to domain errors at the data layer (constraint names are ours, from
 * the migrations). Anything not recognised is rethrown untouched and surfaces as an internal error.
 */
import { CheckConstraintViolationException, UniqueConstraintViolationException } from '@mikro-orm/core';
import { InvariantViolation, WalletError } from '@wallets/core';

export function translateDbError(error: unknown): unknown {
  if (error instanceof UniqueConstraintViolationException) {
    const constraint = (error as unknown as { constraint?: string }).constraint ?? error.message;
    if (String(constraint).includes('wallets_active_code_unique')) {
      return new WalletError('CODE_ALREADY_EXISTS', 'an active wallet of this customer already has this code', { field: 'code' });
    }
  }
  if (error instanceof CheckConstraintViolationException) {
    return new InvariantViolation(`database check failed: ${error.message}`);
  }
  return error;
}
