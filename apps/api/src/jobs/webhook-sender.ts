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
 * Where it may connect: the URL is checked again as at creation (webhook-targets.ts), then the
 * connection goes through `request-filtering-agent`, which checks the address actually connected
 * to, after DNS (so a name that resolves, or is rebound, to an inside address is refused before any
 * connection is made), letting through only ordinary unicast addresses and the allowed networks.
 * Tenants see coarse errors only (`timeout`, `connection failed`, `address not allowed`, or the
 * status), never socket codes or timings of refused addresses that would map the network.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { WebhookAttemptResult, WebhookSend } from '@wallets/db';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { type AllowedNetworks, webhookUrlRefusal } from '../webhook-targets.js';

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

/** The refusal `request-filtering-agent` raises (its own message; it sets no error code). */
function isAddressRefusal(error: unknown): boolean {
  return error instanceof Error && / is not allowed\. Because/.test(error.message);
}

export function createWebhookSender({ timeoutMs, allowedNetworks, lookup }: WebhookSenderOptions): WebhookSender {
  const filter = { allowIPAddressList: [...allowedNetworks], keepAlive: false };
  const agents = { 'http:': new RequestFilteringHttpAgent(filter), 'https:': new RequestFilteringHttpsAgent(filter) };
  return async ({ url, secret, event }) => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    if (webhookUrlRefusal(url, allowedNetworks)) return { statusCode: null, error: 'address not allowed', durationMs: 0 };
    const target = new URL(url);
    const body = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const statusCode = await new Promise<number>((resolve, reject) => {
        const request = (target.protocol === 'https:' ? https : http).request(
          target,
          {
            method: 'POST',
            agent: agents[target.protocol as 'http:' | 'https:'],
            signal,
            ...(lookup ? { lookup } : {}),
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'user-agent': 'wallets-webhooks/1',
              'webhook-id': event.id,
              'webhook-timestamp': String(timestamp),
              'webhook-signature': signWebhook(secret, event.id, timestamp, body),
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
      if (isAddressRefusal(error)) return { statusCode: null, error: 'address not allowed', durationMs: 0 };
      return { statusCode: null, error: signal.aborted ? 'timeout' : 'connection failed', durationMs: elapsed() };
    }
  };
}
