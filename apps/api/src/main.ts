/** `pnpm start`: runs the API and its job worker until SIGTERM or SIGINT. */
import { startApp } from './app.js';
import { readEnv } from './env.js';

const app = await startApp(readEnv());
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received, stopping`);
    app.stop().then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
