/**
 * The yardstick as a process of its own: `DATABASE_URL=... node --import tsx bench/yardstick/main.ts`
 * (YARDSTICK_POOL_MAX, default 10; YARDSTICK_SCHEMA, default `yardstick`, whose tables seed.ts
 * creates; PORT, default random; HOST, default 127.0.0.1). Forked by the bench, it talks over the
 * IPC channel: it sends `{ type: 'ready', url }`, answers `{ type: 'stats', id }` with its counters
 * and CPU time, and stops on `{ type: 'stop', id }` or when the bench goes away.
 */
import { startYardstick } from './server.js';

export type YardstickRequest = { type: 'stats'; id: number } | { type: 'stop'; id: number };
export type YardstickReply =
  | { type: 'ready'; url: string }
  | { type: 'ok'; id: number }
  | { type: 'stats'; id: number; stats: ReturnType<Awaited<ReturnType<typeof startYardstick>>['stats']> };

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is required');
  const yardstick = await startYardstick({
    databaseUrl,
    poolMax: Math.max(1, Number(process.env.YARDSTICK_POOL_MAX ?? 10) || 10),
    schema: process.env.YARDSTICK_SCHEMA || undefined,
    host: process.env.HOST || '127.0.0.1',
    port: Number(process.env.PORT ?? 0) || 0,
  });
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= yardstick.stop());
  if (!process.send) {
    console.log(`yardstick listening on ${yardstick.url}`);
    process.on('SIGTERM', () => void stop().finally(() => process.exit(0)));
    process.on('SIGINT', () => void stop().finally(() => process.exit(0)));
    return;
  }
  const reply = (message: YardstickReply) => process.send?.(message);
  process.on('message', async (message: YardstickRequest) => {
    if (message.type === 'stats') reply({ type: 'stats', id: message.id, stats: yardstick.stats() });
    if (message.type === 'stop') {
      await stop();
      reply({ type: 'ok', id: message.id });
      process.disconnect?.();
    }
  });
  process.on('disconnect', () => void stop().finally(() => process.exit(0)));
  reply({ type: 'ready', url: yardstick.url });
}

main().catch((error) => {
  console.error('yardstick failed to start', error);
  process.exit(1);
});
