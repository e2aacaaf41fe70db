import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mutate, newOrganization, openTestOrm } from '../../test/helpers.js';
import { createWallet, terminateWallet, upsertCustomer } from '../index.js';
import type { Orm } from '../orm.js';
import { auditLedger } from '../testing/index.js';

let orm: Orm;
let org: string;
const now = new Date('2026-03-01T12:00:00Z');

beforeAll(async () => {
  orm = await openTestOrm();
  org = await newOrganization(orm);
});
afterAll(() => orm.close(true));

describe('createWallet', () => {
  it('settles granted credits at once and leaves paid credits pending', async () => {
    await mutate(orm, org, now, (w) => upsertCustomer(w, { externalId: 'c1' }));
    const wallet = await mutate(orm, org, now, (w) =>
      createWallet(w, {
        externalCustomerId: 'c1',
        rateAmount: 150_000n,
        currency: 'EUR',
        name: 'Main wallet',
        grantedCredits: 1_000_000n,
        paidCredits: 500_000n,
      }),
    );
    expect(wallet.code).toBe('main_wallet');
    expect(wallet.balanceCents).toBe(1500);
    expect(wallet.creditsBalance).toBe('10');
    expect(wallet.rateAmount).toBe('1.5');
    const terminated = await mutate(orm, org, now, (w) => terminateWallet(w, wallet.id));
    expect(terminated.status).toBe('terminated');
    expect(terminated.balanceCents).toBe(0);
    expect(await auditLedger(inject('databaseUrl'))).toEqual([]);
  });
});
