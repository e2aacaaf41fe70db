/**
 * A webhook worker process for the crash test: the real JobRunner (its periodic
 * `webhook-deliveries` job every 100 ms, one job at a time), one lane unless WEBHOOK_LANES says
 * otherwise, and a long timeout (so a hung receiver holds the send until the process is killed).
 * Prints READY.
 *
 * Run: DATABASE_URL=... [WEBHOOK_LANES=n] node --import tsx test/webhook-worker.ts
 */
import { openOrm } from '@wallets/db';
import { JobRunner } from '../src/jobs/runner.js';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('webhook-worker needs DATABASE_URL');

const orm = await openOrm({ databaseUrl, poolMax: 6 });
const runner = new JobRunner({
  orm,
  databaseUrl,
  concurrency: 1,
  webhookIntervalMs: 100,
  webhookLanes: Number(process.env.WEBHOOK_LANES ?? '1'),
  webhookTimeoutMs: 60_000,
});
await runner.start(3600);
console.log('READY');
