import type { EntityManager } from '@mikro-orm/postgresql';
import { parseDecimal } from '@wallets/core';
import { inject } from 'vitest';
import { createOrganization, type Door, groupDbOf, type Orm, openOrm } from '../src/index.js';

export async function openTestOrm(): Promise<Orm> {
  return openOrm({ databaseUrl: inject('databaseUrl'), poolMax: 20 });
}

export class TestClock {
  constructor(public now = new Date('2026-01-01T00:00:00Z')) {}
  advance(ms: number): Date {
    this.now = new Date(this.now.getTime() + ms);
    return this.now;
  }
}

export async function newOrganization(orm: Orm): Promise<string> {
  const { organization } = await createOrganization(orm.em.fork() as EntityManager, `org-${Math.random().toString(36).slice(2)}`);
  return organization.id;
}

/**
 * The door a procedure hands a command: no transaction around it (the command opens its own), so
 * parallel calls take one connection each.
 */
export function door(orm: Orm, organizationId: string, now: Date, idempotencyKey?: string, procedure = 'test'): { door: Door } {
  return { door: { db: groupDbOf(orm), scope: { organizationId, procedure, idempotencyKey, request: {}, now } } };
}

/** Runs one command the way a procedure does: through its door, at `now`, idempotent under `idempotencyKey`. */
export function mutate<T>(
  orm: Orm,
  organizationId: string,
  now: Date,
  fn: (work: { door: Door }) => Promise<T>,
  idempotencyKey?: string,
  procedure = 'test',
): Promise<T> {
  return fn(door(orm, organizationId, now, idempotencyKey, procedure));
}

/** Credits from a decimal string, exactly (test inputs are written as the wire would carry them). */
export function cr(text: string): bigint {
  const parsed = parseDecimal(text, { excess: 'reject' });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}
