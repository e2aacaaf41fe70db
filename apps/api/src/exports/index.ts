/**
 * CSV exports over plain HTTP GET (Authorization: Bearer <apiKey>), framework-free: a handler over
 * Node's request and response, mounted by the HTTP server (`EXPORT_PATHS` + `serveExport`).
 *
 * - `GET /exports/wallet-transactions.csv?walletId=&from=&to=`: one wallet's transactions created
 *   after `from` up to `to` (both optional, ISO 8601 with a zone), oldest first, streamed from
 *   PostgreSQL's COPY with backpressure (records formatted by the database, finance-export.ts), so
 *   memory stays flat for a million rows.
 * - `GET /exports/credits-report.csv?currency=&from=&to=&externalCustomerId=`: `reports.credits` as
 *   one row per line (opening, the movements, closing, pending purchases).
 *
 * RFC 4180, UTF-8, one header row; amounts both as exact decimals in currency units and in cents.
 * Refusals are JSON `{ error: { code, walletErrorCode, message, issues } }` with the tRPC code's
 * HTTP status, the same codes as the procedures.
 */
import type http from 'node:http';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { WalletError } from '@wallets/core';
import { creditsReport, exportWalletTransactions, REPORT_LINES, WALLET_TRANSACTION_EXPORT_COLUMNS } from '@wallets/db';
import { z } from 'zod';
import { WALLET_ERROR_HTTP } from '../errors.js';
import { currencyInput, externalIdInput, idInput, text } from '../schemas.js';
import { type AppServices, bearerToken, loggerOf, organizationOfKey, type RequestRecord } from '../trpc.js';
import { csvRecord, unitsFromCents } from './csv.js';

export const WALLET_TRANSACTIONS_CSV = '/exports/wallet-transactions.csv';
export const CREDITS_REPORT_CSV = '/exports/credits-report.csv';

export const EXPORT_PATHS = [WALLET_TRANSACTIONS_CSV, CREDITS_REPORT_CSV] as const;

/** A time with its zone, as ISO 8601 text ("2026-10-01T00:00:00Z", "2026-10-01T00:00:00+02:00"). */
const timeParam = text()
  .pipe(z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, such as 2026-10-01T00:00:00Z' }))
  .transform((value) => new Date(value));

const transactionsQuery = z.object({ walletId: idInput, from: timeParam.optional(), to: timeParam.optional() }).strict();
const reportQuery = z.object({ currency: currencyInput, from: timeParam, to: timeParam, externalCustomerId: externalIdInput.optional() }).strict();

export const CREDITS_REPORT_COLUMNS = [
  'currency',
  'from',
  'to',
  'externalCustomerId',
  'line',
  'purchasedAmount',
  'purchasedCents',
  'grantedAmount',
  'grantedCents',
  'totalAmount',
  'totalCents',
] as const;

/** Writes a chunk, waiting for the socket to drain when its buffer is full; false once the client left. */
async function write(res: http.ServerResponse, chunk: string | Buffer): Promise<boolean> {
  if (res.destroyed) return false;
  if (!res.write(chunk)) {
    await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }
  return !res.destroyed;
}

function refusal(res: http.ServerResponse, error: unknown, record: RequestRecord, services: AppServices): void {
  let trpcError: TRPCError;
  let walletErrorCode: string | null = null;
  let issues: { path: (string | number)[]; message: string }[] | null = null;
  if (error instanceof WalletError) {
    walletErrorCode = error.code;
    trpcError = new TRPCError({ code: WALLET_ERROR_HTTP[error.code], message: error.message });
  } else if (error instanceof z.ZodError) {
    walletErrorCode = 'VALIDATION_FAILED';
    issues = error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === 'number' ? p : String(p))), message: i.message }));
    trpcError = new TRPCError({ code: 'BAD_REQUEST', message: issues.map((i) => `${i.path.join('.') || '(query)'}: ${i.message}`).join('; ') });
  } else if (error instanceof TRPCError && error.code !== 'INTERNAL_SERVER_ERROR') {
    trpcError = error;
  } else {
    loggerOf(services).error({ requestId: record.id, err: error }, 'internal error');
    trpcError = new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: `internal error (request ${record.id})` });
  }
  if (walletErrorCode) record.walletErrorCodes.push(walletErrorCode);
  res
    .writeHead(getHTTPStatusCodeFromError(trpcError), { 'content-type': 'application/json' })
    .end(JSON.stringify({ error: { code: trpcError.code, walletErrorCode, message: trpcError.message, issues } }));
}

function csvHeaders(filename: string): http.OutgoingHttpHeaders {
  return {
    'content-type': 'text/csv; charset=utf-8; header=present',
    'content-disposition': `attachment; filename="${filename}"`,
    'cache-control': 'no-store',
  };
}

/**
 * Serves one export. The caller has set the security headers and `x-request-id` (the handler keeps
 * them) and routes here only the paths of `EXPORT_PATHS`.
 */
export async function serveExport(services: AppServices, req: http.IncomingMessage, res: http.ServerResponse, record: RequestRecord): Promise<void> {
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: 'exports answer GET only' });
    }
    const org = await organizationOfKey(services, bearerToken(req.headers.authorization), record);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const params = Object.fromEntries(url.searchParams);
    if (url.pathname === WALLET_TRANSACTIONS_CSV) {
      const query = transactionsQuery.parse(params);
      const exported = await exportWalletTransactions(org.em, org.organizationId, query);
      res.writeHead(200, csvHeaders(`wallet-${exported.walletId}-transactions.csv`));
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      if (!(await write(res, csvRecord(WALLET_TRANSACTION_EXPORT_COLUMNS.map(([name]) => name))))) return;
      for await (const chunk of exported.chunks) {
        if (!(await write(res, chunk))) break; // the client left: leaving the loop ends the COPY
      }
      res.end();
      return;
    }
    const query = reportQuery.parse(params);
    const report = await creditsReport(org.em, org.organizationId, query);
    res.writeHead(200, csvHeaders(`credits-report-${query.currency}.csv`));
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const lines: [string, bigint, bigint][] = [
      ['opening', BigInt(report.opening.purchasedCents), BigInt(report.opening.grantedCents)],
      ...REPORT_LINES.map((line): [string, bigint, bigint] => [line, BigInt(report[line].purchasedCents), BigInt(report[line].grantedCents)]),
      ['closing', BigInt(report.closing.purchasedCents), BigInt(report.closing.grantedCents)],
      ['pendingPurchases', BigInt(report.pendingPurchasesCents), 0n],
    ];
    let body = csvRecord(CREDITS_REPORT_COLUMNS);
    for (const [line, purchased, granted] of lines) {
      const units = (cents: bigint) => unitsFromCents(cents, report.currency);
      body += csvRecord([
        report.currency,
        report.from,
        report.to,
        report.externalCustomerId,
        line,
        units(purchased),
        purchased,
        units(granted),
        granted,
        units(purchased + granted),
        purchased + granted,
      ]);
    }
    res.end(body);
  } catch (error) {
    if (res.headersSent) {
      // Mid-stream: the status is gone; cut the response so the client sees an incomplete file.
      loggerOf(services).error({ requestId: record.id, err: error }, 'export failed mid-stream');
      res.destroy(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    refusal(res, error, record, services);
  }
}
