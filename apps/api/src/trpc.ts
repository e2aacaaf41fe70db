/**
 * Context and base procedures. `createContextInner` takes what a request carries (the bearer
 * token) so tests and the in-process client build the same context as HTTP does.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { initTRPC, TRPCError } from '@trpc/server';
import { formatDecimal, InvariantViolation, WalletError, type WalletErrorCode } from '@wallets/core';
import {
  centsToNumber,
  type Door,
  type EntityManager,
  type EventHub,
  findOrganizationByApiKey,
  groupDbOf,
  type Orm,
  type SecretBox,
} from '@wallets/db';
import { ApiKeyCache } from './api-key-cache.js';
import { WALLET_ERROR_HTTP } from './errors.js';
import type { JobRunner } from './jobs/runner.js';
import { createLogger, type Logger } from './observability/logger.js';
import { transformer } from './transformer.js';
import type { AllowedNetworks } from './webhook-targets.js';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface AppServices {
  orm: Orm;
  clock: Clock;
  adminToken?: string | undefined;
  jobs?: JobRunner | undefined;
  /** Request lines and errors (default: JSON on stdout at `info`). */
  logger?: Logger;
  /** Seals webhook secrets at rest (`WALLET_SECRET_KEY`); without it they are stored plain. */
  secrets?: SecretBox;
  /** Without an event hub: how often an idle `events.onEvent` subscription looks for new events (default 500 ms). */
  eventPollMs?: number;
  /**
   * The process's fan-out of event notifications (startApp: fed by its LISTEN connection), which
   * also caps open streams. Without one (an in-process client) subscriptions poll every `eventPollMs`.
   */
  events?: EventHub | undefined;
  /** Private networks webhook endpoints may point at (`WALLET_WEBHOOK_ALLOWED_NETWORKS`; default none). */
  webhookAllowedNetworks?: AllowedNetworks;
  /**
   * The process's API key cache, fed by its revocation listener (`startApp`). Without one (an
   * in-process client), keys are cached for a few seconds per ORM.
   */
  apiKeys?: ApiKeyCache | undefined;
  /** How often a subscription checks that its key is still active (default 2 s). */
  keyRecheckMs?: number;
}

/** What the request's log line says beside its HTTP facts; filled in as the request goes. */
export interface RequestRecord {
  /** Names the request in its log line, its `x-request-id` and an internal error's answer. */
  id: string;
  organizationId: string | null;
  walletErrorCodes: string[];
}

export interface Context {
  services: AppServices;
  token: string | null;
  request: RequestRecord;
}

export function createContextInner(services: AppServices, token: string | null, request?: RequestRecord): Context {
  return { services, token, request: request ?? { id: randomUUID(), organizationId: null, walletErrorCodes: [] } };
}

let defaultLogger: Logger | null = null;

export function loggerOf(services: AppServices | undefined): Logger {
  if (services?.logger) return services.logger;
  defaultLogger ??= createLogger();
  return defaultLogger;
}

const INTERNAL_MESSAGE = /^internal error \(request [^)]+\)$/;

/**
 * An internal error answers `internal error (request <id>)` and nothing more (no SQL, no values,
 * no database name); its detail goes to the log under that id, once.
 */
function maskInternal(error: TRPCError, ctx: Context | undefined): string {
  if (INTERNAL_MESSAGE.test(error.message)) return error.message;
  const requestId = ctx?.request.id ?? randomUUID();
  const cause = error.cause ?? error;
  loggerOf(ctx?.services).error({ requestId, err: cause }, cause instanceof InvariantViolation ? 'INVARIANT VIOLATION' : 'internal error');
  return `internal error (request ${requestId})`;
}

export function bearerToken(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value ? /^Bearer\s+(.+)$/i.exec(value.trim()) : null;
  return match?.[1]?.trim() || null;
}

interface Issue {
  path: (string | number)[];
  message: string;
}

function issuesOf(cause: unknown): Issue[] | null {
  if (cause instanceof WalletError) {
    const issues = cause.details.issues;
    return Array.isArray(issues) ? (issues as Issue[]) : null;
  }
  const issues = (cause as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues)) return null;
  return issues.map((issue: { path?: PropertyKey[]; message?: string }) => ({
    path: (issue.path ?? []).map((p) => (typeof p === 'number' ? p : String(p))),
    message: issue.message ?? 'invalid',
  }));
}

/**
 * Domain error details carry exact bigints, named with their unit last: `*Cents` are minor units,
 * any other bigint is credits or a rate in 1e-5 units. On the wire they travel like every DTO:
 * cents as numbers, credits and rates as decimal strings ("76", never "7600000").
 */
export function wireDetails(details: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(details).map(([key, value]) => [
      key,
      typeof value !== 'bigint' ? value : key.endsWith('Cents') ? centsToNumber(value) : formatDecimal(value),
    ]),
  );
}

/**
 * Event streams (SSE) last at most `maxDurationMs` (WALLET_STREAM_MAX_SECONDS, default 1 h): then the
 * connection closes and the client reconnects, resuming after its last event id. Set by startApp.
 */
export const streamSettings: { maxDurationMs: number } = { maxDurationMs: 3_600_000 };

const t = initTRPC.context<Context>().create({
  transformer,
  sse: {
    get maxDurationMs() {
      return streamSettings.maxDurationMs;
    },
  },
  errorFormatter({ shape, error, ctx }) {
    if (error.code === 'INTERNAL_SERVER_ERROR') {
      return {
        ...shape,
        message: maskInternal(error, ctx),
        data: { ...shape.data, stack: undefined, walletErrorCode: null, details: null, issues: null },
      };
    }
    const cause = error.cause;
    let walletErrorCode: WalletErrorCode | null = null;
    let details: Record<string, unknown> | null = null;
    if (cause instanceof WalletError) {
      walletErrorCode = cause.code;
      details = wireDetails(cause.details);
    } else if (error.code === 'BAD_REQUEST' && issuesOf(cause)) {
      walletErrorCode = 'VALIDATION_FAILED';
    }
    if (walletErrorCode) ctx?.request.walletErrorCodes.push(walletErrorCode);
    const issues = walletErrorCode === 'VALIDATION_FAILED' ? issuesOf(cause) : null;
    return {
      ...shape,
      message:
        walletErrorCode === 'VALIDATION_FAILED' && issues
          ? issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')
          : shape.message,
      data: { ...shape.data, stack: undefined, walletErrorCode, details, issues },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Domain errors become TRPCErrors with their mapped code; anything else is an internal error (see maskInternal). */
function withDomainErrors<R extends { ok: boolean; error?: { cause?: unknown } }>(result: R): R {
  const cause = result.ok ? undefined : result.error?.cause;
  if (cause instanceof WalletError) throw new TRPCError({ code: WALLET_ERROR_HTTP[cause.code], message: cause.message, cause });
  return result;
}

export const publicProcedure = t.procedure.use(async ({ next }) => withDomainErrors(await next()));

/** Compares a presented token with a secret in constant time. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface OrgContext {
  organizationId: string;
  /** The id of the API key the request came with. */
  apiKeyId: string;
  em: EntityManager;
  now: Date;
  /** For subscriptions: a signal that also aborts once the key is revoked (stop the watch when done). */
  watchKey(requestSignal: AbortSignal | undefined): KeyWatch;
  /** The one door of every balance-moving command (it opens its own transaction, idempotent when the input carries a key). */
  door(input: { idempotencyKey?: string | undefined; [field: string]: unknown }): { door: Door };
}

/** Caches for services that bring none (in-process clients): no listener, so the short lifetime. */
const fallbackCaches = new WeakMap<Orm, ApiKeyCache>();

function apiKeyCacheOf(services: AppServices): ApiKeyCache {
  if (services.apiKeys) return services.apiKeys;
  let cache = fallbackCaches.get(services.orm);
  if (!cache) {
    cache = new ApiKeyCache();
    fallbackCaches.set(services.orm, cache);
  }
  return cache;
}

/** Drops a key this process just revoked at once (other processes hear of it by NOTIFY). */
export function forgetApiKey(services: AppServices, keyId: string): void {
  apiKeyCacheOf(services).revoked(keyId);
}

/** A subscription's watch on its key: `signal` aborts when the request ends or the key is revoked. */
export interface KeyWatch {
  signal: AbortSignal;
  revoked(): boolean;
  stop(): void;
}

/**
 * Checks every `keyRecheckMs` that the key is still active, through the cache: a revocation heard
 * by this process empties the key's entry, so the next check reads the database and sees it.
 */
function watchKey(services: AppServices, secret: string, requestSignal: AbortSignal | undefined): KeyWatch {
  const cache = apiKeyCacheOf(services);
  const controller = new AbortController();
  let revoked = false;
  let checking = false;
  // Forked only when the cache misses (a revocation emptied the key's entry): most checks read nothing.
  const emOf = () => services.orm.em.fork() as EntityManager;
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    cache
      .resolve(emOf, secret)
      .then(async (key) => {
        if (key) return cache.recordUse(emOf, key, services.clock.now());
        revoked = true;
        controller.abort();
      })
      // A failed check (database briefly away) is tried again at the next tick.
      .catch(() => undefined)
      .finally(() => {
        checking = false;
      });
  }, services.keyRecheckMs ?? 2_000);
  const stop = () => clearInterval(timer);
  controller.signal.addEventListener('abort', stop, { once: true });
  if (requestSignal?.aborted) controller.abort();
  else requestSignal?.addEventListener('abort', () => controller.abort(), { once: true });
  return { signal: controller.signal, revoked: () => revoked, stop };
}

/**
 * Resolves an organization key into the context its calls run in: a TRPCError UNAUTHORIZED (no key,
 * unknown or revoked) or FORBIDDEN (the admin token) otherwise. `procedure` scopes idempotency keys.
 * tRPC procedures and the REST routes (rest/plugin.ts) both authenticate through this.
 */
export async function openOrgContext(services: AppServices, token: string | null, request: RequestRecord, procedure: string): Promise<OrgContext> {
  if (!token) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'missing API key (Authorization: Bearer <apiKey>)' });
  if (services.adminToken && sameSecret(token, services.adminToken)) {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'the admin token only opens admin procedures' });
  }
  // Forked only when something uses it: a cached key and a one-statement read need none.
  let forked: EntityManager | null = null;
  const emOf = () => {
    forked ??= services.orm.em.fork() as EntityManager;
    return forked;
  };
  const cache = apiKeyCacheOf(services);
  const key = await cache.resolve(emOf, token);
  if (!key) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'unknown or revoked API key' });
  const organization = key.organization;
  request.organizationId = organization.id;
  const now = services.clock.now();
  await cache.recordUse(emOf, key, now);
  return {
    organizationId: organization.id,
    apiKeyId: key.keyId,
    get em() {
      return emOf();
    },
    now,
    watchKey: (signal) => watchKey(services, token, signal),
    door: (input) => {
      const { idempotencyKey, ...request } = input;
      return { door: { db: groupDbOf(services.orm), scope: { organizationId: organization.id, procedure, idempotencyKey, request, now } } };
    },
  };
}

/**
 * One middleware, not publicProcedure's and another: each level of tRPC's middleware chain copies
 * the call's options, and the org procedures are the hot path. openOrgContext throws TRPCErrors only.
 */
export const orgProcedure = t.procedure.use(async ({ ctx, path, next }) => {
  const org = await openOrgContext(ctx.services, ctx.token, ctx.request, path);
  return withDomainErrors(await next({ ctx: { ...ctx, org } }));
});

export const adminProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const { token, services } = ctx;
  if (!token) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'missing admin token' });
  if (!services.adminToken) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'admin procedures are disabled: WALLET_ADMIN_TOKEN is not set' });
  if (sameSecret(token, services.adminToken)) return next();
  const organization = await findOrganizationByApiKey(services.orm.em.fork() as EntityManager, token);
  throw new TRPCError(
    organization
      ? { code: 'FORBIDDEN', message: 'an organization key cannot call admin procedures' }
      : { code: 'UNAUTHORIZED', message: 'unknown admin token' },
  );
});

/**
 * The organization an API key opens, for routes outside tRPC (the CSV exports): the same checks as
 * `orgProcedure` (no key, the admin token, an unknown or revoked key are refused with its codes).
 */
export async function organizationOfKey(
  services: AppServices,
  token: string | null,
  request: RequestRecord,
): Promise<{ organizationId: string; em: EntityManager; now: Date }> {
  if (!token) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'missing API key (Authorization: Bearer <apiKey>)' });
  if (services.adminToken && sameSecret(token, services.adminToken)) {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'the admin token only opens admin procedures' });
  }
  const em = services.orm.em.fork() as EntityManager;
  const cache = apiKeyCacheOf(services);
  const key = await cache.resolve(em, token);
  if (!key) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'unknown or revoked API key' });
  request.organizationId = key.organization.id;
  const now = services.clock.now();
  await cache.recordUse(em, key, now);
  return { organizationId: key.organization.id, em, now };
}
