/**
 * `pnpm start`: runs the API and its job worker until SIGTERM or SIGINT, then drains: no new
 * connections, every request already received answered (within WALLET_SHUTDOWN_GRACE_MS), running
 * jobs finished, then exit. A second signal exits at once.
 */
import { startApp } from './app.js';
import { readEnv } from './env.js';

const env = readEnv();
const app = await startApp(env);
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) {
      console.log(`${signal} received again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal} received, stopping (draining for up to ${env.WALLET_SHUTDOWN_GRACE_MS} ms)`);
    app.drain(env.WALLET_SHUTDOWN_GRACE_MS).then(
      ({ cut }) => {
        console.log(cut > 0 ? `stopped; ${cut} request(s) unanswered after the grace period were cut` : 'stopped');
        process.exit(0);
      },
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
