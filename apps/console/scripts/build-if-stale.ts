/**
 * Builds the console into apps/console/dist when the build is missing or older than any of its
 * sources (the console's own files, and the typed client and core modules it bundles). `pnpm start`
 * runs this before the API starts; the e2e tests run it too. A fresh build prints one line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const consoleRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const distDir = path.join(consoleRoot, 'dist');
const repositoryRoot = path.resolve(consoleRoot, '../..');

const SOURCES = [
  path.join(consoleRoot, 'src'),
  path.join(consoleRoot, 'index.html'),
  path.join(consoleRoot, 'vite.config.ts'),
  path.join(consoleRoot, 'package.json'),
  path.join(repositoryRoot, 'apps/api/src/client'),
  path.join(repositoryRoot, 'apps/api/src/transformer.ts'),
  path.join(repositoryRoot, 'packages/wallet-core/src'),
];

/** The newest modification time under a file or folder (0 when it does not exist). */
function newestMtime(target: string): number {
  if (!fs.existsSync(target)) return 0;
  const stat = fs.statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(target).reduce((newest, entry) => Math.max(newest, newestMtime(path.join(target, entry))), stat.mtimeMs);
}

export function consoleBuildIsStale(): boolean {
  const built = path.join(distDir, 'index.html');
  if (!fs.existsSync(built)) return true;
  const builtAt = fs.statSync(built).mtimeMs;
  return SOURCES.some((source) => newestMtime(source) > builtAt);
}

export async function buildConsoleIfStale(log: (line: string) => void = console.log): Promise<boolean> {
  if (!consoleBuildIsStale()) return false;
  log('Building the console (apps/console/dist)…');
  const { build } = await import('vite');
  // Under vitest NODE_ENV is "test", which would bundle React's development build.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ root: consoleRoot, configFile: path.join(consoleRoot, 'vite.config.ts'), mode: 'production', logLevel: 'warn' });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return true;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildConsoleIfStale();
}
