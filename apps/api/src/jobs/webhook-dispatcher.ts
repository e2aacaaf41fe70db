/**
 * Sends due webhook deliveries, fairly. A process has `lanes` POSTs in flight at most; each lane is
 * a claimed delivery (a lease in the database, see wallet-db webhooks.ts) being sent with no
 * transaction and no database connection held, then recorded.
 *
 * Fairness: lanes are handed out round-robin over the organizations with due work, the one served
 * longest ago first, one claim per organization per turn; the database caps an organization's
 * deliveries in flight (across processes) at `lanesPerOrganization` and an endpoint's at one. So an
 * organization whose endpoints never answer holds at most its share of lanes, each for one timeout
 * at most, and another organization's delivery is claimed by the next free lane.
 *
 * `drain(asOf)` fans new events out and sends everything claimable at `asOf`, refilling lanes as
 * sends finish, until nothing is left that it can claim; several drains may run at once (the
 * periodic tick starts one while another waits on slow receivers) and share the lanes.
 */
import { claimWebhookDelivery, type EntityManager, fanOutWebhookEvents, findOrganizationsWithDueWebhooks, recordWebhookAttempt } from '@wallets/db';
import type { WebhookSender } from './webhook-sender.js';

export interface WebhookDispatcherOptions {
  em: () => EntityManager;
  send: WebhookSender;
  /** POSTs in flight at once in this process. */
  lanes: number;
  /** Deliveries of one organization in flight at once, across processes. */
  lanesPerOrganization: number;
  /** How long a claim lasts (database time); longer than the POST timeout. */
  leaseMs: number;
  onError: (error: unknown) => void;
}

export class WebhookDispatcher {
  private inFlight = 0;
  private turn = 0;
  /** The turn at which each organization was last served (round-robin order). */
  private readonly served = new Map<string, number>();
  private readonly drains = new Set<Promise<unknown>>();
  private stopping = false;

  constructor(private readonly options: WebhookDispatcherOptions) {}

  /** Starts a drain in the background when a lane is free (the periodic tick). */
  kick(asOf: Date): void {
    if (this.stopping || this.inFlight >= this.options.lanes) return;
    const drain = this.drain(asOf).catch(this.options.onError);
    this.drains.add(drain);
    void drain.finally(() => this.drains.delete(drain));
  }

  /** Fans out, then sends every delivery it can claim at `asOf`; returns the attempts it recorded. */
  async drain(asOf: Date): Promise<number> {
    await fanOutWebhookEvents(this.options.em(), asOf);
    let attempts = 0;
    const running = new Set<Promise<void>>();
    for (;;) {
      await this.fill(asOf, (send) => {
        const tracked: Promise<void> = send
          .then((recorded) => {
            if (recorded) attempts++;
          }, this.options.onError)
          .finally(() => running.delete(tracked));
        running.add(tracked);
      });
      if (running.size === 0) return attempts;
      await Promise.race(running);
    }
  }

  /** Claims round-robin over the organizations until the lanes are full or nothing is claimable. */
  private async fill(asOf: Date, started: (send: Promise<boolean>) => void): Promise<void> {
    const em = this.options.em();
    while (!this.stopping && this.inFlight < this.options.lanes) {
      const organizations = await findOrganizationsWithDueWebhooks(em, asOf);
      organizations.sort((a, b) => (this.served.get(a) ?? 0) - (this.served.get(b) ?? 0));
      let claimed = 0;
      for (const organizationId of organizations) {
        if (this.stopping || this.inFlight >= this.options.lanes) return;
        this.inFlight++; // the lane is reserved before the claim, so concurrent drains never exceed the lanes
        let claim: Awaited<ReturnType<typeof claimWebhookDelivery>> = null;
        try {
          claim = await claimWebhookDelivery(em, organizationId, asOf, {
            leaseMs: this.options.leaseMs,
            maxInFlight: this.options.lanesPerOrganization,
          });
        } finally {
          if (!claim) this.inFlight--;
        }
        if (!claim) continue;
        const delivery = claim;
        this.served.set(organizationId, ++this.turn);
        claimed++;
        started(
          this.options
            .send(delivery)
            .then(async (result) => (await recordWebhookAttempt(this.options.em(), delivery, result, asOf)) !== null)
            .finally(() => {
              this.inFlight--;
            }),
        );
      }
      if (claimed === 0) return;
    }
  }

  /** Stops starting sends and waits for the drains in progress (each send ends by its timeout). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.drains]);
  }
}
