/**
 * The REST routes at /api/v1, Lago's wallet surface plus our payment extension. Each one checks the
 * key, validates its Lago-shaped input (wire.ts), calls the same command as its tRPC procedure (in
 * one transaction, idempotent under `Idempotency-Key`, with the same events) and translates the
 * answer back. Nothing here decides anything about wallets. The table doubles as the OpenAPI
 * source (openapi.ts): one entry per operation.
 */
import {
  createWallet,
  createWalletTransactions,
  customerIdsByExternalId,
  type Door,
  findWalletIdByCode,
  pageCustomers,
  pageWallets,
  pageWalletTransactions,
  readCustomer,
  readTransaction,
  readWallet,
  recordPayment,
  terminateWallet,
  updateWallet,
  upsertCustomer,
  type WalletDto,
} from '@wallets/db';
import type { z } from 'zod';
import type { OrgContext } from '../trpc.js';
import { badRequest, type NotFoundAsField, validationErrors, zodDetails } from './errors.js';
import * as wire from './wire.js';

export interface Call {
  org: OrgContext;
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  /** The one door of every balance-moving command (idempotent under the route's Idempotency-Key, in the command's transaction). */
  door(): { door: Door };
}

export interface RestRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** OpenAPI form, below /api/v1: `/wallets/{lago_id}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: 'Customers' | 'Wallets' | 'Wallet transactions';
  body?: z.ZodType;
  query?: z.ZodObject;
  response: z.ZodType;
  /** HTTP statuses besides 200 and 401 this operation may answer. */
  errors: number[];
  /** Ours, not Lago's (documented as such). */
  extension?: boolean;
  asField?: NotFoundAsField;
  handle(call: Call): Promise<unknown>;
}

const PER_PAGE_DEFAULT = 100;
const PER_PAGE_MAX = 100;

/** Lago ignores page parameters it cannot read; so do we. */
function pageOf(query: Record<string, unknown>): { page: number; perPage: number } {
  const int = (value: unknown) => (typeof value === 'string' && /^[0-9]{1,9}$/.test(value) ? Number(value) : null);
  const page = int(query.page);
  const perPage = int(query.per_page);
  return {
    page: page && page >= 1 ? page : 1,
    perPage: perPage && perPage >= 1 ? Math.min(perPage, PER_PAGE_MAX) : PER_PAGE_DEFAULT,
  };
}

/** A filter value Lago would accept, or nothing (invalid filter values are ignored). */
function filterOf<T extends string>(value: unknown, allowed: readonly T[]): T | undefined {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : undefined;
}

const stringOf = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

/** The body's object under `root` (400 when missing or empty, as Lago), validated by `schema`. */
function bodyOf<S extends z.ZodType>(body: unknown, root: string | null, schema: S): z.infer<S> {
  if (root !== null) {
    const inner = body && typeof body === 'object' ? (body as Record<string, unknown>)[root] : undefined;
    if (!inner || typeof inner !== 'object' || Array.isArray(inner) || Object.keys(inner).length === 0) {
      throw badRequest(`param is missing or the value is empty or invalid: ${root}`);
    }
  } else if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('the body must be a JSON object');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw validationErrors(zodDetails(parsed.error.issues.map((issue) => ({ ...issue, path: root === null ? issue.path : issue.path.slice(1) }))));
  }
  return parsed.data;
}

async function walletAnswer(org: OrgContext, wallet: WalletDto) {
  const ids = await customerIdsByExternalId(org.em, org.organizationId, [wallet.externalCustomerId]);
  return { wallet: wire.lagoWallet(wallet, ids.get(wallet.externalCustomerId) ?? '') };
}

function walletsAnswer(page: { items: (WalletDto & { customerId: string })[]; totalCount: number }, request: { page: number; perPage: number }) {
  return {
    wallets: page.items.map((w) => wire.lagoWallet(w, w.customerId)),
    meta: wire.paginationOf(request.page, request.perPage, page.totalCount),
  };
}

async function createWalletFor(call: Call, externalCustomerId: string | undefined) {
  const { wallet } = bodyOf(call.body, 'wallet', wire.walletCreateInput);
  const customer = externalCustomerId ?? wallet.external_customer_id;
  if (!customer) throw validationErrors({ customer: ['customer_not_found'] });
  const created = await createWallet(call.door(), wire.createWalletInputOf(wallet, customer));
  return walletAnswer(call.org, created);
}

async function updateWalletById(call: Call, id: string) {
  const { wallet } = bodyOf(call.body, 'wallet', wire.walletUpdateInput);
  return walletAnswer(call.org, await updateWallet(call.door(), wire.updateWalletInputOf(id, wallet)));
}

async function listWalletsOf(call: Call, externalCustomerId: string | undefined) {
  const request = pageOf(call.query);
  const page = await pageWallets(call.org.em, call.org.organizationId, { ...request, externalCustomerId, currency: stringOf(call.query.currency) });
  return walletsAnswer(page, request);
}

const codeWalletId = (call: Call) =>
  findWalletIdByCode(call.org.em, call.org.organizationId, call.params.external_id as string, call.params.code as string);

export const REST_ROUTES: RestRoute[] = [
  {
    method: 'POST',
    path: '/customers',
    operationId: 'createCustomer',
    summary: 'Create or update a customer (upsert by external_id)',
    tag: 'Customers',
    body: wire.customerInput,
    response: wire.customerResponse,
    errors: [400, 422],
    async handle(call) {
      const { customer } = bodyOf(call.body, 'customer', wire.customerInput);
      const upserted = await upsertCustomer(call.door(), {
        externalId: customer.external_id,
        currency: customer.currency ?? undefined,
        timezone: customer.timezone ?? undefined,
      });
      return { customer: wire.lagoCustomer(upserted) };
    },
  },
  {
    method: 'GET',
    path: '/customers',
    operationId: 'findAllCustomers',
    summary: 'List customers',
    tag: 'Customers',
    query: wire.listQuery,
    response: wire.customersResponse,
    errors: [],
    async handle(call) {
      const request = pageOf(call.query);
      const page = await pageCustomers(call.org.em, call.org.organizationId, request);
      return { customers: page.items.map(wire.lagoCustomer), meta: wire.paginationOf(request.page, request.perPage, page.totalCount) };
    },
  },
  {
    method: 'GET',
    path: '/customers/{external_id}',
    operationId: 'findCustomer',
    summary: 'Get a customer',
    tag: 'Customers',
    response: wire.customerResponse,
    errors: [404],
    async handle(call) {
      return { customer: wire.lagoCustomer(await readCustomer(call.org.em, call.org.organizationId, call.params.external_id as string)) };
    },
  },
  {
    method: 'POST',
    path: '/wallets',
    operationId: 'createWallet',
    summary: 'Create a wallet; its initial paid and granted credits are in the answer already',
    tag: 'Wallets',
    body: wire.walletCreateInput,
    response: wire.walletResponse,
    errors: [400, 409, 422],
    asField: { CUSTOMER_NOT_FOUND: 'customer' },
    handle: (call) => createWalletFor(call, undefined),
  },
  {
    method: 'GET',
    path: '/wallets',
    operationId: 'findAllWallets',
    summary: "List wallets (a customer's, or the organization's)",
    tag: 'Wallets',
    query: wire.walletListQuery,
    response: wire.walletsResponse,
    errors: [404],
    handle: (call) => listWalletsOf(call, stringOf(call.query.external_customer_id)),
  },
  {
    method: 'GET',
    path: '/wallets/{lago_id}',
    operationId: 'findWallet',
    summary: 'Get a wallet',
    tag: 'Wallets',
    response: wire.walletResponse,
    errors: [404],
    async handle(call) {
      return walletAnswer(call.org, await readWallet(call.org.em, call.org.organizationId, call.params.lago_id as string));
    },
  },
  {
    method: 'PUT',
    path: '/wallets/{lago_id}',
    operationId: 'updateWallet',
    summary: 'Update a wallet and replace its recurring rules',
    tag: 'Wallets',
    body: wire.walletUpdateInput,
    response: wire.walletResponse,
    errors: [400, 404, 409, 422],
    handle: (call) => updateWalletById(call, call.params.lago_id as string),
  },
  {
    method: 'DELETE',
    path: '/wallets/{lago_id}',
    operationId: 'destroyWallet',
    summary: 'Terminate a wallet (its remaining credits are voided)',
    tag: 'Wallets',
    response: wire.walletResponse,
    errors: [404, 409],
    async handle(call) {
      return walletAnswer(call.org, await terminateWallet(call.door(), call.params.lago_id as string));
    },
  },
  {
    method: 'GET',
    path: '/wallets/{lago_id}/wallet_transactions',
    operationId: 'findAllWalletTransactions',
    summary: "List a wallet's transactions",
    tag: 'Wallet transactions',
    query: wire.transactionListQuery,
    response: wire.transactionsPageResponse,
    errors: [404],
    async handle(call) {
      const request = pageOf(call.query);
      const page = await pageWalletTransactions(call.org.em, call.org.organizationId, {
        ...request,
        walletId: call.params.lago_id as string,
        status: filterOf(call.query.status, ['pending', 'settled', 'failed']),
        transactionType: filterOf(call.query.transaction_type, ['inbound', 'outbound']),
        transactionStatus: filterOf(call.query.transaction_status, ['purchased', 'granted', 'voided', 'invoiced']),
      });
      return { wallet_transactions: page.items.map(wire.lagoTransaction), meta: wire.paginationOf(request.page, request.perPage, page.totalCount) };
    },
  },
  {
    method: 'POST',
    path: '/customers/{external_id}/wallets',
    operationId: 'createCustomerWallet',
    summary: 'Create a wallet for this customer',
    tag: 'Wallets',
    body: wire.walletCreateInput,
    response: wire.walletResponse,
    errors: [400, 404, 409, 422],
    handle: (call) => createWalletFor(call, call.params.external_id as string),
  },
  {
    method: 'GET',
    path: '/customers/{external_id}/wallets',
    operationId: 'findAllCustomerWallets',
    summary: "List a customer's wallets",
    tag: 'Wallets',
    query: wire.walletListQuery.omit({ external_customer_id: true }),
    response: wire.walletsResponse,
    errors: [404],
    handle: (call) => listWalletsOf(call, call.params.external_id as string),
  },
  {
    method: 'GET',
    path: '/customers/{external_id}/wallets/{code}',
    operationId: 'findCustomerWallet',
    summary: "Get a customer's wallet by code",
    tag: 'Wallets',
    response: wire.walletResponse,
    errors: [404],
    async handle(call) {
      return walletAnswer(call.org, await readWallet(call.org.em, call.org.organizationId, await codeWalletId(call)));
    },
  },
  {
    method: 'PUT',
    path: '/customers/{external_id}/wallets/{code}',
    operationId: 'updateCustomerWallet',
    summary: "Update a customer's wallet by code",
    tag: 'Wallets',
    body: wire.walletUpdateInput,
    response: wire.walletResponse,
    errors: [400, 404, 409, 422],
    handle: async (call) => updateWalletById(call, await codeWalletId(call)),
  },
  {
    method: 'DELETE',
    path: '/customers/{external_id}/wallets/{code}',
    operationId: 'destroyCustomerWallet',
    summary: "Terminate a customer's wallet by code",
    tag: 'Wallets',
    response: wire.walletResponse,
    errors: [404, 409],
    async handle(call) {
      const id = await codeWalletId(call);
      return walletAnswer(call.org, await terminateWallet(call.door(), id));
    },
  },
  {
    method: 'POST',
    path: '/wallet_transactions',
    operationId: 'createWalletTransaction',
    summary: 'Top up (paid, granted) or void credits',
    tag: 'Wallet transactions',
    body: wire.walletTransactionInput,
    response: wire.transactionsResponse,
    errors: [400, 409, 422],
    asField: { WALLET_NOT_FOUND: 'wallet_id' },
    async handle(call) {
      const { wallet_transaction } = bodyOf(call.body, 'wallet_transaction', wire.walletTransactionInput);
      const input = wire.createTransactionsInputOf(wallet_transaction);
      const { transactions } = await createWalletTransactions(call.door(), input);
      return { wallet_transactions: transactions.map(wire.lagoTransaction) };
    },
  },
  {
    method: 'GET',
    path: '/wallet_transactions/{lago_id}',
    operationId: 'findWalletTransaction',
    summary: 'Get a wallet transaction',
    tag: 'Wallet transactions',
    response: wire.transactionResponse,
    errors: [404],
    async handle(call) {
      return {
        wallet_transaction: wire.lagoTransaction(await readTransaction(call.org.em, call.org.organizationId, call.params.lago_id as string)),
      };
    },
  },
  {
    method: 'POST',
    path: '/wallet_transactions/{lago_id}/payment',
    operationId: 'recordWalletTransactionPayment',
    summary: "Ours: report a purchase's payment (succeeded settles it, failed fails it)",
    tag: 'Wallet transactions',
    body: wire.paymentInput,
    response: wire.transactionResponse,
    errors: [400, 404, 409, 422],
    extension: true,
    async handle(call) {
      const payment = bodyOf(call.body, null, wire.paymentInput);
      const id = call.params.lago_id as string;
      const tx = await recordPayment(call.door(), { id, status: payment.status, invoiceId: payment.invoice_id });
      return { wallet_transaction: wire.lagoTransaction(tx) };
    },
  },
];
