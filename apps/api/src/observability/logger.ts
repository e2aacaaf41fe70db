/**
 * The service's log: JSON lines (pino) on stdout, one per request, job run and webhook attempt, and
 * one per error with its stack under its request id. Human-readable when stdout is a terminal.
 * Never a query string, an API key or a body.
 */
import type { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function createLogger(options: { level?: string; destination?: Writable; pretty?: boolean } = {}): Logger {
  const level = options.level ?? 'info';
  const base = { level, base: { service: 'wallets' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.destination) return pino(base, options.destination);
  if (options.pretty ?? process.stdout.isTTY) return pino(base, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'service' }));
  return pino(base, pino.destination({ sync: false }));
}

/** A logger that keeps its lines as objects (tests). */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = {
    write(chunk: string) {
      lines.push(JSON.parse(chunk) as Record<string, unknown>);
      return true;
    },
  } as unknown as Writable;
  return { logger: createLogger({ level: 'debug', destination }), lines };
}
