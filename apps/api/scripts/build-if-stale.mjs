/**
 * Builds the service into apps/api/dist (the server `dist/main.js` and the command line
 * `dist/cli-main.js`) when the build is missing or older than any of its sources: this package's
 * and the workspace packages' TypeScript, their package.json files, the lockfile and this script.
 * `pnpm start` and `pnpm wallets` run it first, then plain node on the result, so production runs
 * compiled JavaScript and no TypeScript compiler.
 *
 * esbuild bundles our own code (the workspace packages publish TypeScript source) and leaves every
 * dependency in node_modules, imported by a path relative to dist, resolved from the file that
 * imports it: pnpm gives each package only its own dependencies, so a bare name would not resolve
 * from apps/api/dist. Plain JavaScript, so that the check costs no TypeScript loader at each start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const apiRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repositoryRoot = path.resolve(apiRoot, '../..');
export const distDir = path.join(apiRoot, 'dist');
const ENTRY_POINTS = { main: path.join(apiRoot, 'src/main.ts'), 'cli-main': path.join(apiRoot, 'src/cli-main.ts') };
/** Written last: a build interrupted midway is stale. */
const STAMP = path.join(distDir, '.built');

const SOURCES = [
  path.join(apiRoot, 'src'),
  path.join(apiRoot, 'package.json'),
  path.join(apiRoot, 'tsconfig.json'),
  path.join(repositoryRoot, 'packages/wallet-core/src'),
  path.join(repositoryRoot, 'packages/wallet-core/package.json'),
  path.join(repositoryRoot, 'packages/wallet-db/src'),
  path.join(repositoryRoot, 'packages/wallet-db/package.json'),
  path.join(repositoryRoot, 'pnpm-lock.yaml'),
  fileURLToPath(import.meta.url),
];

/** The newest modification time under a file or folder (0 when it does not exist). */
function newestMtime(target) {
  let stat;
  try {
    stat = fs.statSync(target);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(target).reduce((newest, entry) => Math.max(newest, newestMtime(path.join(target, entry))), stat.mtimeMs);
}

export function apiBuildIsStale() {
  if (!fs.existsSync(STAMP)) return true;
  const builtAt = fs.statSync(STAMP).mtimeMs;
  return SOURCES.some((source) => newestMtime(source) > builtAt);
}

/** Dependencies stay in node_modules, imported by a path relative to dist (see the module comment). */
const dependenciesInPlace = {
  name: 'dependencies-in-place',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData?.inPlace || args.path.startsWith('@wallets/')) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { inPlace: true },
      });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      if (resolved.external) return { path: args.path, external: true }; // node's own modules
      const relative = path.relative(distDir, resolved.path).split(path.sep).join('/');
      return { path: relative.startsWith('.') ? relative : `./${relative}`, external: true };
    });
  },
};

const LOCK = path.join(apiRoot, '.dist.lock');

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** One build at a time per checkout (a start and a test run may ask at once); waits for another's. */
async function withBuildLock(work) {
  for (let waitedMs = 0; ; waitedMs += 100) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const holder = Number(fs.readFileSync(LOCK, 'utf8'));
      if (!processAlive(holder) || waitedMs > 120_000) fs.rmSync(LOCK, { force: true });
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    return await work();
  } finally {
    fs.rmSync(LOCK, { force: true });
  }
}

/** Logs to stderr: `pnpm wallets --json` keeps stdout for its document. */
export async function buildApiIfStale(log = console.error) {
  if (!apiBuildIsStale()) return false;
  return withBuildLock(async () => {
    if (!apiBuildIsStale()) return false; // built by the process we waited for
    log('Building the API (apps/api/dist)…');
    const { build } = await import('esbuild');
    // Built beside dist (same depth, so the same relative paths), then swapped in.
    const staging = path.join(apiRoot, `.dist-${process.pid}`);
    fs.rmSync(staging, { recursive: true, force: true });
    try {
      await build({
        entryPoints: ENTRY_POINTS,
        outdir: staging,
        bundle: true,
        splitting: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        sourcemap: 'linked',
        logLevel: 'warning',
        plugins: [dependenciesInPlace],
      });
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    fs.writeFileSync(path.join(staging, path.basename(STAMP)), `${new Date().toISOString()}\n`);
    fs.rmSync(distDir, { recursive: true, force: true });
    fs.renameSync(staging, distDir);
    return true;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildApiIfStale();
}
