/**
 * Webhook deliveries in Lago's format, for endpoints created with `format: 'lago'`: the body is
 * `{ webhook_type, object_type, organization_id, <object_type>: object }` with the object in the
 * same wire shape as the REST answers (wire.ts); `X-Lago-Signature` is the base64 HMAC-SHA256 of
 * the raw body keyed with the endpoint's secret string exactly as createEndpoint returned it (its
 * UTF-8 bytes), `X-Lago-Signature-Algorithm: hmac`, and `X-Lago-Unique-Key` is the event id, the
 * same on every retry. Same events, retries and guarantees as the standard format.
 */
import { createHmac } from 'node:crypto';
import type { WalletDto, WalletTransactionDto, WebhookSend } from '@wallets/db';
import { lagoTransaction, lagoWallet } from './wire.js';

export function lagoSignature(secret: string, body: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('base64');
}

/** The body and headers of one Lago-format delivery. */
export function lagoDelivery({ event, secret, organizationId, customerId }: WebhookSend): { body: string; headers: Record<string, string> } {
  const isWallet = event.type.startsWith('wallet.');
  const objectType = isWallet ? 'wallet' : 'wallet_transaction';
  // The outbox holds the DTO as JSON (times as ISO strings); wire.ts reads either form.
  const object = isWallet ? lagoWallet(event.data as WalletDto, customerId ?? '') : lagoTransaction(event.data as WalletTransactionDto);
  const body = JSON.stringify({ webhook_type: event.type, object_type: objectType, organization_id: organizationId ?? null, [objectType]: object });
  return {
    body,
    headers: {
      'x-lago-signature': lagoSignature(secret, body),
      'x-lago-signature-algorithm': 'hmac',
      'x-lago-unique-key': event.id,
    },
  };
}
