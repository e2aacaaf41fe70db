/**
 * Serves a built single-page app (the console's dist folder) from the API's own port: files as
 * they are, hashed assets cached for good, and index.html for client routes (paths without an
 * extension), so a reload on /customers/cus_42 works. Nothing outside the folder is reachable.
 */
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const isFile = (file: string) => fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;

/**
 * The console's client routes (apps/console/src/router.tsx `matchRoute`): `/`, `/customers`,
 * `/customers/<id>`, `/wallets/<id>`, `/reports`, `/operations`.
 */
export const isConsoleRoute = (pathname: string): boolean => /^\/(customers(\/[^/]+)?|wallets\/[^/]+|reports|operations)?\/?$/.test(pathname);

/**
 * A handler that answers GET/HEAD for files under `root`, and index.html for paths `isClientRoute`
 * accepts (default: any path without an extension); returns false for anything else.
 */
export function staticFiles(
  root: string,
  isClientRoute: (pathname: string) => boolean = (pathname) => !path.extname(pathname),
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  const base = path.resolve(root);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return false;
    }
    let file = path.resolve(base, `.${pathname}`);
    if (file !== base && !file.startsWith(base + path.sep)) return false;
    if (!isFile(file)) {
      // A missing asset, or a path that is no client route, is a 404.
      if (!isClientRoute(pathname)) return false;
      file = path.join(base, 'index.html');
      if (!isFile(file)) return false;
    }
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'cache-control': pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
    return true;
  };
}
