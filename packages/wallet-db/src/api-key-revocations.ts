/**
 * A process's ear for key revocations: one dedicated connection that LISTENs on
 * `API_KEY_REVOKED_CHANNEL` and hands every revoked key id to `onRevoked`. LISTEN is session
 * state, so this connection must go straight to PostgreSQL, never through a transaction-mode
 * pooler (DESIGN "Connection poolers": `WALLET_DIRECT_DATABASE_URL`).
 *
 * Notifications sent while the connection is down are lost, so the owner is told when listening
 * starts and stops (`onLiveChange`) and must not trust what it cached across a gap. A lost
 * connection (an error, the server ending it, or a heartbeat that goes unanswered) is reopened
 * with a growing delay until `stop()`.
 */
import pg from 'pg';
import { API_KEY_REVOKED_CHANNEL } from './commands/api-keys.js';
import { EVENTS_CHANNEL } from './events.js';

export interface ApiKeyRevocationListenerOptions {
  databaseUrl: string;
  /** Shown in pg_stat_activity.application_name, to find this connection. */
  applicationName?: string;
  onRevoked(keyId: string): void;
  /** When given, the connection also LISTENs on `wallet_events` and hands each organization id here. */
  onEvents?: (organizationId: string) => void;
  /** true once LISTEN is in place, false when the connection is lost (notifications may be missed). */
  onLiveChange(live: boolean): void;
  log?: (line: string) => void;
  /** Delay before the first reconnection attempt, doubled on each failure up to `maxReconnectMs`. */
  minReconnectMs?: number;
  maxReconnectMs?: number;
  /** How often the connection is checked with `select 1`, and how long the answer may take. */
  heartbeatMs?: number;
  heartbeatTimeoutMs?: number;
}

export interface ApiKeyRevocationListener {
  readonly applicationName: string;
  isLive(): boolean;
  /** Settles after the first connection attempt, whether it succeeded or not. */
  readonly firstAttempt: Promise<void>;
  stop(): Promise<void>;
}

export function listenForApiKeyRevocations(options: ApiKeyRevocationListenerOptions): ApiKeyRevocationListener {
  const applicationName = options.applicationName ?? 'wallets-api-key-revocations';
  const log = options.log ?? ((line: string) => console.warn(line));
  const minReconnectMs = options.minReconnectMs ?? 100;
  const maxReconnectMs = options.maxReconnectMs ?? 5_000;
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 5_000;
  let stopped = false;
  let live = false;
  let client: pg.Client | null = null;
  let reconnectDelayMs = minReconnectMs;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let heartbeatTimer: NodeJS.Timeout | null = null;

  const setLive = (value: boolean) => {
    if (live === value) return;
    live = value;
    options.onLiveChange(value);
  };

  const scheduleReconnect = () => {
    if (stopped || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      void connect();
    }, reconnectDelayMs);
    reconnectDelayMs = Math.min(reconnectDelayMs * 2, maxReconnectMs);
  };

  async function connect(): Promise<void> {
    if (stopped) return;
    const connection = new pg.Client({
      connectionString: options.databaseUrl,
      application_name: applicationName,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    client = connection;
    let lost = false;
    const onLost = (error?: unknown) => {
      if (lost) return;
      lost = true;
      if (heartbeatTimer && client === connection) {
        clearInterval(heartbeatTimer);
        heartbeatTimer = null;
      }
      if (client === connection) client = null;
      connection.removeAllListeners('notification');
      connection.end().catch(() => undefined);
      setLive(false);
      if (!stopped) {
        log(`API key revocation listener lost its connection (${error instanceof Error ? error.message : 'ended'}); reconnecting`);
        scheduleReconnect();
      }
    };
    connection.on('error', onLost);
    connection.on('end', () => onLost());
    connection.on('notification', (message) => {
      if (message.channel === API_KEY_REVOKED_CHANNEL && message.payload) options.onRevoked(message.payload);
      else if (message.channel === EVENTS_CHANNEL && message.payload) options.onEvents?.(message.payload);
    });
    try {
      await connection.connect();
      await connection.query(`listen ${API_KEY_REVOKED_CHANNEL}`);
      if (options.onEvents) await connection.query(`listen ${EVENTS_CHANNEL}`);
    } catch (error) {
      onLost(error);
      return;
    }
    if (lost || stopped) return;
    reconnectDelayMs = minReconnectMs;
    heartbeatTimer = setInterval(() => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no heartbeat answer within ${heartbeatTimeoutMs} ms`)), heartbeatTimeoutMs);
      });
      Promise.race([connection.query('select 1'), timeout])
        .catch(onLost)
        .finally(() => clearTimeout(timer));
    }, heartbeatMs);
    heartbeatTimer.unref();
    setLive(true);
  }

  const firstAttempt = connect();
  return {
    applicationName,
    isLive: () => live,
    firstAttempt,
    async stop() {
      stopped = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      await firstAttempt;
      const connection = client;
      client = null;
      setLive(false);
      await connection?.end().catch(() => undefined);
    },
  };
}
