/**
 * A real webhook receiver for tests: a node:http server that verifies every POST with the
 * `standardwebhooks` package (the one receivers use) against the secret registered for its path,
 * records what arrived and answers as the test decides: 204, an error status, or never (a hung
 * receiver, until the sender gives up or dies). It can stop listening and come back on the same
 * port (a receiver that is down). It also notes when one event arrives at one endpoint while a
 * previous send of it is still in flight (two senders at once).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  path: string;
  webhookId: string;
  timestampSeconds: number;
  signature: string;
  body: string;
  event: { id: string; type: string; createdAt: string; data: Record<string, unknown> };
  /** What the receiver answered: a status, or 'hung'. */
  answer: number | 'hung';
  /** Wall-clock time of arrival (ms since the epoch). */
  receivedAtMs: number;
}

export type Answer = number | 'hang';

export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  /** Requests whose signature did not verify (should stay empty). */
  readonly rejected: { path: string; reason: string }[] = [];
  /** Sends of one event to one path that overlapped in time. */
  readonly overlaps: string[] = [];
  answer: (path: string, webhookId: string) => Answer = () => 204;
  private readonly secrets = new Map<string, string>();
  private readonly inFlight = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private server: http.Server | null = null;
  private port = 0;

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Registers the secret an endpoint got, for the path its URL points at. */
  expect(path: string, secret: string): void {
    this.secrets.set(path, secret);
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening (connections refused) and drops open connections; `start` comes back on the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  arrivals(path: string): ReceivedWebhook[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Resolves when `check` holds after some arrival (or at once). */
  waitUntil(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const listener = () => {
        if (!check()) return;
        this.listeners.delete(listener);
        resolve();
      };
      this.listeners.add(listener);
      listener();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      const body = Buffer.concat(chunks).toString();
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const secret = this.secrets.get(path);
      let event: ReceivedWebhook['event'];
      try {
        if (!secret) throw new Error(`no secret registered for ${path}`);
        event = new Webhook(secret).verify(body, headers) as ReceivedWebhook['event'];
      } catch (error) {
        this.rejected.push({ path, reason: String(error) });
        res.writeHead(400).end();
        return;
      }
      const webhookId = headers['webhook-id'] ?? '';
      const key = `${path} ${webhookId}`;
      if (this.inFlight.has(key)) this.overlaps.push(key);
      this.inFlight.add(key);
      const answer = this.answer(path, webhookId);
      this.received.push({
        path,
        webhookId,
        timestampSeconds: Number(headers['webhook-timestamp']),
        signature: headers['webhook-signature'] ?? '',
        body,
        event,
        answer: answer === 'hang' ? 'hung' : answer,
        receivedAtMs: Date.now(),
      });
      if (answer === 'hang') {
        res.on('close', () => this.inFlight.delete(key));
      } else {
        this.inFlight.delete(key);
        res.writeHead(answer).end();
      }
      for (const listener of [...this.listeners]) listener();
    });
  }
}
