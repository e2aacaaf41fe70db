/** `pnpm wallets <command>` (see cli.ts). */
import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; should a library keep a handle open, the exit code still comes out.
setTimeout(() => process.exit(code), 2000).unref();
