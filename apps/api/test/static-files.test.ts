/** The console's files served from the API port: files, client-route fallback, nothing outside the folder. */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticFiles } from '../src/static-files.js';

let root: string;
let server: http.Server;
let base: string;

beforeAll(async () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'static-files-'));
  root = path.join(parent, 'dist');
  fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>console</title>');
  fs.writeFileSync(path.join(root, 'assets', 'app-1234.js'), 'console.log(1)');
  fs.writeFileSync(path.join(parent, 'secret.txt'), 'outside');
  const serve = staticFiles(root);
  server = http.createServer((req, res) => {
    if (!serve(req, res)) res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(path.dirname(root), { recursive: true, force: true });
});

/** A raw GET that keeps the path as written (fetch would normalise `..`). */
function get(pathname: string, method = 'GET'): Promise<{ status: number; type: string | undefined; cache: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/`, { method, path: pathname }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], cache: res.headers['cache-control'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('staticFiles', () => {
  it('serves index.html at / and for client routes', async () => {
    for (const route of ['/', '/customers/cus_42', '/customers/cus%2042?tab=wallets']) {
      const res = await get(route);
      expect(res.status, route).toBe(200);
      expect(res.type).toBe('text/html; charset=utf-8');
      expect(res.cache).toBe('no-cache');
      expect(res.body).toContain('<title>console</title>');
    }
  });

  it('serves hashed assets with their type, cached for good', async () => {
    const res = await get('/assets/app-1234.js');
    expect(res).toMatchObject({
      status: 200,
      type: 'text/javascript; charset=utf-8',
      cache: 'public, max-age=31536000, immutable',
      body: 'console.log(1)',
    });
    expect((await get('/assets/app-1234.js', 'HEAD')).body).toBe('');
  });

  it('answers 404 for a missing asset, other methods and anything outside the folder', async () => {
    expect((await get('/assets/missing.js')).status).toBe(404);
    expect((await get('/', 'POST')).status).toBe(404);
    for (const outside of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt']) {
      const res = await get(outside);
      expect(res.status, outside).toBe(404);
      expect(res.body).not.toContain('outside');
    }
  });
});
