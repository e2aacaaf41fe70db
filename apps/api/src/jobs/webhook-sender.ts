/**
 * One webhook POST, signed the Standard Webhooks way (CONTRACT.md "Events"): the body is the event
 * as plain JSON; `webhook-id` is the event id (the same on every retry), `webhook-timestamp` the
 * unix seconds of this send, `webhook-signature` `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`
 * keyed with the decoded `whsec_` secret. Receivers verify with the `standardwebhooks` package.
 *
 * The timestamp is wall-clock time, not the injected clock: receivers reject stale timestamps
 * (replay protection), so it must be the real moment of sending. Redirects are not followed (a 3xx
 * is a failed attempt), and the answer's body is discarded.
 *
 * An endpoint created with `format: 'lago'` gets Lago's envelope and signature instead
 * (rest/lago-webhooks.ts).
 *
 * Where it may connect: the URL is checked again as at creation (webhook-targets.ts), which covers
 * a literal address host (connected to as it is, without DNS). A name is resolved through a
 * guarding `lookup` given to the request: every address the resolver answers is classified with
 * `ipaddr.js` (same policy as at creation: ordinary unicast, or an allowed network), and one inside
 * answer refuses the connection before it is made. The socket connects only to the addresses that
 * lookup returned, so what is checked is what is connected to: a name resolving, or rebound, to an
 * inside address never gets through. (`request-filtering-agent` does the same, but warns on the
 * console at every send when the allow-list mixes IPv4 and IPv6 networks, and reads IPv4-mapped
 * addresses differently from the creation check.)
 * Tenants see coarse errors only (`timeout`, `connection failed`, `address not allowed`, or the
 * status), never socket codes or timings of refused addresses that would map the network.
 */
import { createHmac } from 'node:crypto';
import dns, { type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { WebhookAttemptResult, WebhookSend } from '@wallets/db';
import { lagoDelivery } from '../rest/lago-webhooks.js';
import { type AllowedNetworks, isAllowedAddress, webhookUrlRefusal } from '../webhook-targets.js';

export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

export interface WebhookSenderOptions {
  /** Per POST, from the first byte sent to the answer's status line. */
  timeoutMs: number;
  /** Private networks that may be reached on purpose (`WALLET_WEBHOOK_ALLOWED_NETWORKS`). */
  allowedNetworks: AllowedNetworks;
  /** The resolver (default: the system's); tests inject one. Its answers are checked like DNS's. */
  lookup?: LookupFunction;
}

export type WebhookSender = (request: WebhookSend) => Promise<WebhookAttemptResult>;

class AddressNotAllowedError extends Error {}

/** A resolver that answers only when every address it found may be reached. */
export function guardedLookup(allowedNetworks: AllowedNetworks, resolve: LookupFunction = dns.lookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, answer) => {
      const addresses = (Array.isArray(answer) ? answer : []) as LookupAddress[];
      if (error) {
        callback(error, '', 0);
      } else if (addresses.length === 0 || addresses.some((a) => !isAllowedAddress(a.address, allowedNetworks))) {
        callback(new AddressNotAllowedError(`${hostname} resolves to an address webhooks may not reach`), '', 0);
      } else if (options.all) {
        (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
      } else {
        callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
      }
    });
  };
}

export function createWebhookSender({ timeoutMs, allowedNetworks, lookup }: WebhookSenderOptions): WebhookSender {
  // No kept-alive sockets: each send connects, through the guarded lookup, anew.
  const agents = { 'http:': new http.Agent({ keepAlive: false }), 'https:': new https.Agent({ keepAlive: false }) };
  const guarded = guardedLookup(allowedNetworks, lookup);
  return async (send) => {
    const { url, secret, event } = send;
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    if (webhookUrlRefusal(url, allowedNetworks)) return { statusCode: null, error: 'address not allowed', durationMs: 0 };
    const target = new URL(url);
    const timestamp = Math.floor(Date.now() / 1000);
    const lago = send.format === 'lago' ? lagoDelivery(send) : null;
    const body = lago ? lago.body : JSON.stringify(event);
    const signing = lago
      ? lago.headers
      : { 'webhook-id': event.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook(secret, event.id, timestamp, body) };
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const statusCode = await new Promise<number>((resolve, reject) => {
        const request = (target.protocol === 'https:' ? https : http).request(
          target,
          {
            method: 'POST',
            agent: agents[target.protocol as 'http:' | 'https:'],
            signal,
            lookup: guarded,
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'user-agent': 'wallets-webhooks/1',
              ...signing,
            },
          },
          (response) => {
            // The status is all we keep: the body is never read.
            response.destroy();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on('error', reject);
        request.end(body);
      });
      const ok = statusCode >= 200 && statusCode < 300;
      return { statusCode, error: ok ? null : `HTTP ${statusCode}`, durationMs: elapsed() };
    } catch (error) {
      if (error instanceof AddressNotAllowedError) return { statusCode: null, error: 'address not allowed', durationMs: 0 };
      return { statusCode: null, error: signal.aborted ? 'timeout' : 'connection failed', durationMs: elapsed() };
    }
  };
}
