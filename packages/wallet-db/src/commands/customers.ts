/**
 * Customers are the host's; we keep their currency and timezone. `customers.upsert` goes through
 * the door: the loader creates the customer when new and locks it; wallet-core decides
 * (plan-customer.ts: the currency is set once and cannot change while an active wallet uses it).
 */
import { randomUUID } from 'node:crypto';
import { invariant, planUpsertCustomer } from '@wallets/core';
import { type Door, runGroupMutation } from '../group-mutation.js';
import { customerRecordDto } from '../records.js';

export interface UpsertCustomerInput {
  externalId: string;
  currency?: string | undefined;
  timezone?: string | undefined;
}

export async function upsertCustomer(work: { door: Door }, input: UpsertCustomerInput) {
  const load = { customer: { externalId: input.externalId, createAs: randomUUID() }, scope: { allCurrencies: true }, lots: 'expiring' } as const;
  return runGroupMutation(work.door, load, ({ records }, clock) => {
    invariant(records, 'the loader creates a missing customer');
    const { delta, customer } = planUpsertCustomer(records, input, clock);
    return { answer: customerRecordDto(customer), delta };
  });
}
