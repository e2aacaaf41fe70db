/**
 * Context and base procedures. `createContextInner` takes what a request carries (the bearer
 * token) so tests and the in-process client build the same context as HTTP does.
 */
import { timingSafeEqual } from 'node:crypto';
import { initTRPC, TRPCError } from '@trpc/server';
import { InvariantViolation, WalletError } from '@wallets/core';
import { centsToNumber, type EntityManager, findOrganizationByApiKey, type Orm, runMutation, type Work } from '@wallets/db';
import { WALLET_ERROR_HTTP } from './errors.js';
import type { JobRunner } from './jobs/runner.js';
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
  logError?: (error: unknown) => void;
  /** How often an idle `events.onEvent` subscription looks for new events (default 500 ms). */
  eventPollMs?: number;
  /** Private networks webhook endpoints may point at (`WALLET_WEBHOOK_ALLOWED_NETWORKS`; default none). */
  webhookAllowedNetworks?: AllowedNetworks;
}

export interface Context {
  services: AppServices;
  token: string | null;
}

export function createContextInner(services: AppServices, token: string | null): Context {
  return { services, token };
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

/** Domain error details carry exact bigints; on the wire cents are numbers, converted like every DTO. */
function wireDetails(details: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(details).map(([key, value]) => [key, typeof value === 'bigint' ? centsToNumber(value) : value]));
}

const t = initTRPC.context<Context>().create({
  transformer,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    let walletErrorCode: string | null = null;
    let details: Record<string, unknown> | null = null;
    if (cause instanceof WalletError) {
      walletErrorCode = cause.code;
      details = wireDetails(cause.details);
    } else if (error.code === 'BAD_REQUEST' && issuesOf(cause)) {
      walletErrorCode = 'VALIDATION_FAILED';
    }
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

/** Domain errors become TRPCErrors with their mapped code; invariant breaks are logged loudly. */
const domainErrors = t.middleware(async ({ ctx, next }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof WalletError) {
      throw new TRPCError({ code: WALLET_ERROR_HTTP[cause.code], message: cause.message, cause });
    }
    if (result.error.code === 'INTERNAL_SERVER_ERROR') {
      const log =
        ctx.services.logError ?? ((e: unknown) => console.error(cause instanceof InvariantViolation ? 'INVARIANT VIOLATION' : 'internal error', e));
      log(cause ?? result.error);
    }
  }
  return result;
});

export const publicProcedure = t.procedure.use(domainErrors);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface OrgContext {
  organizationId: string;
  em: EntityManager;
  now: Date;
  /** Runs one mutation in its own transaction, idempotent when the input carries a key. */
  mutate<T>(input: { idempotencyKey?: string | undefined }, fn: (work: Work) => Promise<T>): Promise<T>;
}

/**
 * API keys resolved in the last minute, per process (keys are never rotated in place: a new
 * organization key is a new key). Saves a query per request on the hot paths.
 */
const KEY_CACHE_MS = 60_000;
const keyCache = new Map<string, { organization: { id: string; name: string }; until: number }>();

async function organizationOfKey(em: EntityManager, token: string): Promise<{ id: string; name: string } | null> {
  const cached = keyCache.get(token);
  if (cached && cached.until > Date.now()) return cached.organization;
  const organization = await findOrganizationByApiKey(em, token);
  if (organization) {
    if (keyCache.size > 10_000) keyCache.clear();
    keyCache.set(token, { organization, until: Date.now() + KEY_CACHE_MS });
  }
  return organization;
}

export const orgProcedure = publicProcedure.use(async ({ ctx, path, next }) => {
  const { token, services } = ctx;
  if (!token) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'missing API key (Authorization: Bearer <apiKey>)' });
  if (services.adminToken && sameSecret(token, services.adminToken)) {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'the admin token only opens admin procedures' });
  }
  const em = services.orm.em.fork() as EntityManager;
  const organization = await organizationOfKey(em, token);
  if (!organization) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'unknown API key' });
  const now = services.clock.now();
  const org: OrgContext = {
    organizationId: organization.id,
    em,
    now,
    mutate: (input, fn) => {
      const { idempotencyKey, ...request } = input;
      return runMutation(services.orm.em as EntityManager, { organizationId: organization.id, procedure: path, idempotencyKey, request, now }, fn);
    },
  };
  return next({ ctx: { ...ctx, org } });
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
