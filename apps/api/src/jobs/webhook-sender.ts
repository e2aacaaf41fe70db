/**
 * One webhook POST, signed the Standard Webhooks way (CONTRACT.md "Events"): the body is the event
 * as plain JSON; `webhook-id` is the event id (the same on every retry), `webhook-timestamp` the
 * unix seconds of this send, `webhook-signature` `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`
 * keyed with the decoded `whsec_` secret. Receivers verify with the `standardwebhooks` package.
 *
 * The timestamp is wall-clock time, not the injected clock: receivers reject stale timestamps
 * (replay protection), so it must be the real moment of sending. Redirects are not followed (a 3xx
 * is a failed attempt), and the answer's body is discarded.
 */
import { createHmac } from 'node:crypto';
import type { WebhookAttemptResult, WebhookSend } from '@wallets/db';

export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

function describeError(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const message = error instanceof Error ? error.message : String(error);
  return cause?.code ? `${message}: ${cause.code}` : cause?.message ? `${message}: ${cause.message}` : message;
}

export async function sendWebhook({ url, secret, event }: WebhookSend, timeoutMs: number): Promise<WebhookAttemptResult> {
  const body = JSON.stringify(event);
  const timestamp = Math.floor(Date.now() / 1000);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'wallets-webhooks/1',
        'webhook-id': event.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(secret, event.id, timestamp, body),
      },
      body,
    });
    await response.body?.cancel().catch(() => undefined);
    const ok = response.status >= 200 && response.status < 300;
    return { statusCode: response.status, error: ok ? null : `HTTP ${response.status}`, durationMs: elapsed() };
  } catch (error) {
    return { statusCode: null, error: describeError(error, timeoutMs), durationMs: elapsed() };
  }
}
