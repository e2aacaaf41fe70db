/**
 * A webhook worker process for the crash test: the real JobRunner (its periodic
 * `webhook-deliveries` job every 100 ms), one lane unless WEBHOOK_LANES says otherwise, a 4 s
 * timeout (a hung receiver holds the send until the process is killed, well before) and a 5 s
 * lease (a killed worker's delivery is taken again 5 s after its claim). Loopback receivers are
 * allowed. Prints READY.
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
  webhookTimeoutMs: 4_000,
  webhookLeaseMs: 5_000,
  webhookAllowedNetworks: ['127.0.0.0/8'],
});
await runner.start(3600);
console.log('READY');
