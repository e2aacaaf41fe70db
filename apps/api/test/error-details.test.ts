/**
 * Error details in wire units (docs/api.md "Errors"): for every wallet error code that carries
 * details, a real refusal over HTTP and its exact `error.data.details`. Cents are numbers, credits
 * and rates decimal strings ("76", never the internal "7600000"), ids and fields strings.
 * VALIDATION_FAILED carries `issues` instead (checked in validation.test.ts).
 */
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppRouter, isWalletError, WALLET_ERROR_CODES, type WalletClient, type WalletErrorCode } from '../src/client/index.js';
import { MAX_BATCH_CALLS } from '../src/server.js';
import { transformer } from '../src/transformer.js';
import { type Harness, startHarness } from './harness.js';
import { pollUntil } from './processes.js';

let h: Harness;
let client: WalletClient;
let apiKey: string;
beforeAll(async () => {
  h = await startHarness();
  h.clock.set('2026-06-01T00:00:00.000Z');
  ({ client, apiKey } = await h.newTenant('error-details'));
});

/** `calls` wallets.get calls for a wallet that does not exist, sent in one batched request. */
function batchOf(calls: number): Promise<unknown>[] {
  const batched = createTRPCClient<AppRouter>({
    links: [httpBatchLink({ url: `${h.app.url}/trpc`, transformer, maxItems: calls, headers: () => ({ authorization: `Bearer ${apiKey}` }) })],
  });
  return Array.from({ length: calls }, () => batched.wallets.get.query({ id: NO_ID }));
}
afterAll(() => h.stop());

/** The code, tRPC code and details of a refused call. */
async function refusal(promise: Promise<unknown>): Promise<{ walletErrorCode: WalletErrorCode; code: string; details: unknown }> {
  try {
    await promise;
  } catch (error) {
    if (!isWalletError(error)) throw error;
    return { walletErrorCode: error.data.walletErrorCode, code: error.data.code, details: error.data.details };
  }
  throw new Error('expected the call to be refused');
}

let customers = 0;
/** A new EUR customer of the tenant and one wallet of it. */
async function walletOf(
  options: { rateAmount?: string; grantedCredits?: string; paidTopUpMinAmountCents?: number; paidTopUpMaxAmountCents?: number } = {},
) {
  const externalCustomerId = `cus_${++customers}`;
  await client.customers.upsert.mutate({ externalId: externalCustomerId, currency: 'EUR' });
  const wallet = await client.wallets.create.mutate({ externalCustomerId, rateAmount: '1', ...options });
  return { externalCustomerId, wallet };
}

const NO_ID = '00000000-0000-0000-0000-000000000000';

const invoice = (externalCustomerId: string, id: string, totalAmountCents: number) => ({
  id,
  externalCustomerId,
  currency: 'EUR',
  invoiceType: 'subscription' as const,
  totalAmountCents,
  fees: [{ id: `${id}-fee`, feeType: 'subscription' as const, amountCents: totalAmountCents }],
});

/** Per code: a refused call, and its details exactly. */
const CASES: Record<Exclude<WalletErrorCode, 'VALIDATION_FAILED'>, () => Promise<[Promise<unknown>, unknown]>> = {
  INSUFFICIENT_CREDITS: async () => {
    // 76 credits at 0.5 EUR: 3800 cents. The details speak credits as the wire does.
    const { wallet } = await walletOf({ rateAmount: '0.5', grantedCredits: '76' });
    return [client.walletTransactions.create.mutate({ walletId: wallet.id, voidedCredits: '100' }), { field: 'voidedCredits', creditsBalance: '76' }];
  },
  AMOUNT_BELOW_MINIMUM: async () => {
    const { wallet } = await walletOf({ paidTopUpMinAmountCents: 1000 });
    return [
      client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '2.5' }),
      { field: 'paidCredits', amountCents: 250, paidTopUpMinAmountCents: 1000 },
    ];
  },
  AMOUNT_ABOVE_MAXIMUM: async () => {
    const { wallet } = await walletOf({ paidTopUpMaxAmountCents: 1000 });
    return [
      client.walletTransactions.create.mutate({ walletId: wallet.id, paidCredits: '20.5' }),
      { field: 'paidCredits', amountCents: 2050, paidTopUpMaxAmountCents: 1000 },
    ];
  },
  AMOUNT_ROUNDS_TO_ZERO: async () => {
    const { wallet } = await walletOf();
    return [client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '0.001' }), { field: 'grantedCredits' }];
  },
  CURRENCY_MISMATCH: async () => {
    const { externalCustomerId } = await walletOf();
    return [client.wallets.create.mutate({ externalCustomerId, rateAmount: '1', currency: 'USD' }), { field: 'currency', currency: 'EUR' }];
  },
  INVALID_EXPIRATION_DATE: async () => {
    const { wallet } = await walletOf();
    return [client.wallets.update.mutate({ id: wallet.id, expirationAt: new Date('2026-05-01T00:00:00.000Z') }), { field: 'expirationAt' }];
  },
  WEBHOOK_URL_NOT_ALLOWED: async () => [
    client.webhooks.createEndpoint.mutate({ url: 'http://169.254.169.254/latest' }),
    { field: 'url', reason: expect.any(String) },
  ],
  CUSTOMER_NOT_FOUND: async () => [
    client.wallets.create.mutate({ externalCustomerId: 'cus_nobody', rateAmount: '1', currency: 'EUR' }),
    { externalId: 'cus_nobody' },
  ],
  WALLET_NOT_FOUND: async () => [client.wallets.get.query({ id: NO_ID }), { walletId: NO_ID }],
  TRANSACTION_NOT_FOUND: async () => [client.walletTransactions.get.query({ id: NO_ID }), { transactionId: NO_ID }],
  WEBHOOK_ENDPOINT_NOT_FOUND: async () => [client.webhooks.delete.mutate({ id: NO_ID }), { id: NO_ID }],
  API_KEY_NOT_FOUND: async () => [client.apiKeys.revoke.mutate({ id: NO_ID }), { id: NO_ID }],
  ORGANIZATION_NOT_FOUND: async () => [h.admin.admin.createApiKey.mutate({ organizationId: NO_ID }), { id: NO_ID }],
  WALLET_LIMIT_REACHED: async () => {
    const { externalCustomerId } = await walletOf();
    for (let i = 0; i < 5; i++) await client.wallets.create.mutate({ externalCustomerId, rateAmount: '1' });
    return [client.wallets.create.mutate({ externalCustomerId, rateAmount: '1' }), { limit: 6 }];
  },
  WALLET_TERMINATED: async () => {
    const { wallet } = await walletOf();
    await client.wallets.terminate.mutate({ id: wallet.id });
    return [client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1' }), { walletId: wallet.id }];
  },
  CODE_ALREADY_EXISTS: async () => {
    const { externalCustomerId } = await walletOf();
    await client.wallets.create.mutate({ externalCustomerId, rateAmount: '1', code: 'main' });
    return [client.wallets.create.mutate({ externalCustomerId, rateAmount: '1', code: 'main' }), { field: 'code' }];
  },
  IDEMPOTENCY_KEY_REUSED: async () => {
    const { wallet } = await walletOf();
    await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1', idempotencyKey: 'once' });
    return [
      client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '2', idempotencyKey: 'once' }),
      { idempotencyKey: 'once' },
    ];
  },
  TRANSACTION_NOT_PAYABLE: async () => {
    const { wallet } = await walletOf();
    const [granted] = (await client.walletTransactions.create.mutate({ walletId: wallet.id, grantedCredits: '1' })).transactions;
    const id = granted?.id ?? '';
    return [client.walletTransactions.recordPayment.mutate({ id, status: 'succeeded' }), { transactionId: id }];
  },
  INVOICE_ALREADY_APPLIED: async () => {
    const { externalCustomerId } = await walletOf({ grantedCredits: '50' });
    await client.invoices.applyPrepaidCredits.mutate({ invoice: invoice(externalCustomerId, 'inv-twice', 1000) });
    return [client.invoices.applyPrepaidCredits.mutate({ invoice: invoice(externalCustomerId, 'inv-twice', 2000) }), { invoiceId: 'inv-twice' }];
  },
  INVOICE_VOIDED: async () => {
    const { externalCustomerId } = await walletOf({ grantedCredits: '50' });
    await client.invoices.applyPrepaidCredits.mutate({ invoice: invoice(externalCustomerId, 'inv-voided', 1000) });
    await client.invoices.void.mutate({ invoiceId: 'inv-voided' });
    return [client.invoices.applyPrepaidCredits.mutate({ invoice: invoice(externalCustomerId, 'inv-voided', 1000) }), { invoiceId: 'inv-voided' }];
  },
  WEBHOOK_ENDPOINT_LIMIT_REACHED: async () => {
    const { client: own } = await h.newTenant('error-details-webhooks');
    for (let i = 0; i < 20; i++) await own.webhooks.createEndpoint.mutate({ url: `https://hooks.example.com/${i}` });
    return [own.webhooks.createEndpoint.mutate({ url: 'https://hooks.example.com/21' }), { limit: 20 }];
  },
  BATCH_TOO_LARGE: async () => {
    const calls = batchOf(MAX_BATCH_CALLS + 1);
    for (const call of calls.slice(1)) call.catch(() => undefined);
    return [calls[0] as Promise<unknown>, { calls: MAX_BATCH_CALLS + 1, limit: MAX_BATCH_CALLS }];
  },
  STREAM_LIMIT_REACHED: async () => {
    // One open stream is this organization's limit for the moment: the second is refused.
    const { client: own, organizationId } = await h.newTenant('error-details-streams');
    const limits = h.app.events.limits;
    h.app.events.limits = { ...limits, perOrganization: 1 };
    const first = own.events.onEvent.subscribe({}, { onData: () => undefined });
    await pollUntil('the first stream to open', async () => (h.app.events.openStreams(organizationId) === 1 ? true : undefined), 10_000, 10);
    const second = new Promise<unknown>((resolve, reject) => {
      const subscription = own.events.onEvent.subscribe(
        {},
        {
          onError: (error) => {
            subscription.unsubscribe();
            first.unsubscribe();
            h.app.events.limits = limits;
            reject(error);
          },
          onData: () => resolve(null),
        },
      );
    });
    return [second, { limit: 1, scope: 'organization' }];
  },
  LAST_ACTIVE_API_KEY: async () => {
    const { client: own } = await h.newTenant('error-details-keys');
    const [only] = (await own.apiKeys.list.query()).items;
    const id = only?.id ?? '';
    return [own.apiKeys.revoke.mutate({ id }), { id }];
  },
};

describe('error details in wire units', () => {
  it('covers every code but VALIDATION_FAILED', () => {
    expect(Object.keys(CASES).sort()).toEqual(WALLET_ERROR_CODES.filter((code) => code !== 'VALIDATION_FAILED').sort());
  });

  it(`runs a batch of ${MAX_BATCH_CALLS} calls, each answered on its own`, async () => {
    const answers = await Promise.all(batchOf(MAX_BATCH_CALLS).map((call) => refusal(call)));
    expect(answers.map((a) => a.walletErrorCode)).toEqual(Array(MAX_BATCH_CALLS).fill('WALLET_NOT_FOUND'));
  });

  for (const [code, build] of Object.entries(CASES)) {
    it(code, async () => {
      const [call, details] = await build();
      const refused = await refusal(call);
      expect(refused.walletErrorCode).toBe(code);
      expect(refused.details).toEqual(details);
    });
  }
});
