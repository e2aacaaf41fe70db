/**
 * Webhook claims and leases, on real PostgreSQL: a claimed delivery is held by its sender's lease
 * (no other claim takes it, nor another delivery of the same endpoint); once the lease runs out
 * (short leases here, polled to a deadline) another sender takes the same attempt, and the first
 * sender's late record is refused and writes nothing; an organization never has more than
 * `maxInFlight` deliveries claimed, and its endpoints are served in turn.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cr, mutate, newOrganization, openTestOrm } from '../test/helpers.js';
import { createWallet, upsertCustomer } from './index.js';
import type { Orm } from './orm.js';
import { claimWebhookDelivery, createWebhookEndpoint, fanOutWebhookEvents, recordWebhookAttempt } from './webhooks.js';

let orm: Orm;
let pool: pg.Pool;
const now = new Date('2026-09-01T00:00:00Z');
const em = () => orm.em.fork() as EntityManager;

beforeAll(async () => {
  orm = await openTestOrm();
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
});
afterAll(async () => {
  await pool?.end();
  await orm?.close(true);
});

async function eventfulOrganization(endpoints: number): Promise<{ organizationId: string; endpointIds: string[] }> {
  const organizationId = await newOrganization(orm);
  const endpointIds: string[] = [];
  for (let i = 0; i < endpoints; i++) {
    endpointIds.push((await createWebhookEndpoint(em(), organizationId, `https://hooks.example.test/${i}`, now)).id);
  }
  await mutate(orm, organizationId, now, (w) => upsertCustomer(w, { externalId: 'cus', currency: 'EUR' }));
  await mutate(orm, organizationId, now, (w) => createWallet(w, { externalCustomerId: 'cus', rateAmount: cr('1'), grantedCredits: cr('1') }));
  await fanOutWebhookEvents(em(), now);
  return { organizationId, endpointIds };
}

async function attemptRows(deliveryId: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('select count(*)::text as n from webhook_attempts where delivery_id = $1', [deliveryId]);
  return Number(rows[0]?.n);
}

async function pollClaim(organizationId: string, leaseMs: number) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const claim = await claimWebhookDelivery(em(), organizationId, now, { leaseMs, maxInFlight: 4 });
    if (claim) return claim;
    if (Date.now() > deadline) throw new Error('no delivery became claimable');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const delivered = { statusCode: 204, error: null, durationMs: 5 };

describe('webhook delivery leases', () => {
  it("hold a delivery until they run out; then another sender takes it, and the first one's record is refused", async () => {
    const { organizationId } = await eventfulOrganization(1);
    const first = await claimWebhookDelivery(em(), organizationId, now, { leaseMs: 300, maxInFlight: 4 });
    expect(first).toMatchObject({ organizationId, attemptNumber: 1, url: 'https://hooks.example.test/0' });
    if (!first) throw new Error('nothing claimed');
    // Held: neither it nor the endpoint's other deliveries can be claimed.
    expect(await claimWebhookDelivery(em(), organizationId, now, { leaseMs: 300, maxInFlight: 4 })).toBeNull();

    // The first sender "dies"; its lease runs out and the same attempt is claimed again.
    const second = await pollClaim(organizationId, 60_000);
    expect(second.leaseUntil.getTime()).toBeGreaterThan(first.leaseUntil.getTime());
    expect(second).toMatchObject({ deliveryId: first.deliveryId, attemptNumber: 1, event: first.event });
    expect(second.leaseToken).not.toBe(first.leaseToken);

    // The first sender comes back late: its record is refused and writes nothing.
    expect(await recordWebhookAttempt(em(), first, delivered, now)).toBeNull();
    expect(await attemptRows(first.deliveryId)).toBe(0);
    expect(await recordWebhookAttempt(em(), second, delivered, now)).toBe('delivered');
    expect(await attemptRows(first.deliveryId)).toBe(1);
    const { rows } = await pool.query('select status, attempts, lease_token, lease_until from webhook_deliveries where id = $1', [first.deliveryId]);
    expect(rows).toEqual([{ status: 'delivered', attempts: 1, lease_token: null, lease_until: null }]);
  });

  it('keep an organization within maxInFlight and serve its endpoints in turn', async () => {
    const { organizationId, endpointIds } = await eventfulOrganization(3);
    const claim = () => claimWebhookDelivery(em(), organizationId, now, { leaseMs: 60_000, maxInFlight: 2 });
    const [a, b] = await Promise.all([claim(), claim()]);
    expect(await claim()).toBeNull();
    if (!a || !b) throw new Error('expected two claims');
    expect(a.endpointId).not.toBe(b.endpointId);
    // One finishes (failed: retried later, so not due now); the third endpoint, never served, goes next.
    expect(await recordWebhookAttempt(em(), a, { statusCode: 500, error: 'HTTP 500', durationMs: 1 }, now)).toBe('retrying');
    const c = await claim();
    expect(c?.endpointId).toBe(endpointIds.find((id) => id !== a.endpointId && id !== b.endpointId));
  });
});
