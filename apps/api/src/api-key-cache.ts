/**
 * Which organization an API key opens, cached per process so the hot paths skip a query per
 * request. Entries are keyed by the key's hash (no secret is kept in memory longer than a request).
 *
 * How long an entry lives depends on whether this process hears revocations (its LISTEN
 * connection, `listenForApiKeyRevocations`):
 * - live: `liveTtlMs` (60 s); a revocation drops the key's entries as its notification arrives, so
 *   the lifetime is only the fallback for a notification that never comes;
 * - not live (no listener, or its connection is down): `fallbackTtlMs` (3 s), short enough that a
 *   revoked key is refused within 5 s anyway. Every change of state empties the cache, since
 *   notifications may have been missed.
 * A lookup that started before a revocation (or a change of state) may have read the key as still
 * active: its result is returned but not cached (the epoch moved).
 *
 * `lastUsedAt`: each entry remembers when this process last recorded a use, so the row is written
 * at most once a minute per key and process (and `touchApiKey` writes it at most once a minute
 * across processes).
 */
import { type ActiveApiKey, API_KEY_LAST_USED_RESOLUTION_MS, type EntityManager, findActiveApiKey, hashApiKey, touchApiKey } from '@wallets/db';

interface Entry {
  key: ActiveApiKey;
  untilMs: number;
}

const MAX_ENTRIES = 10_000;

export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();
  private epoch = 0;
  private live = false;

  constructor(private readonly options: { liveTtlMs?: number; fallbackTtlMs?: number; nowMs?: () => number } = {}) {}

  /** The active key behind a secret, or null (unknown or revoked). */
  async resolve(emOrLazy: EntityManager | (() => EntityManager), secret: string): Promise<ActiveApiKey | null> {
    const nowMs = this.nowMs();
    const hash = hashApiKey(secret);
    const cached = this.entries.get(hash);
    if (cached && cached.untilMs > nowMs) return cached.key;
    const epoch = this.epoch;
    const key = await findActiveApiKey(typeof emOrLazy === 'function' ? emOrLazy() : emOrLazy, hash);
    if (!key) {
      this.entries.delete(hash);
      return null;
    }
    if (epoch === this.epoch) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      const ttlMs = this.live ? (this.options.liveTtlMs ?? 60_000) : (this.options.fallbackTtlMs ?? 3_000);
      this.entries.set(hash, { key, untilMs: nowMs + ttlMs });
    }
    return key;
  }

  /**
   * Records a use of the key at `now` (the request's clock) when this process has not recorded
   * one in the last minute. The cached key carries the time, so later requests skip the write.
   */
  async recordUse(emOrLazy: EntityManager | (() => EntityManager), key: ActiveApiKey, now: Date): Promise<void> {
    if (key.lastUsedAt && now.getTime() - key.lastUsedAt.getTime() < API_KEY_LAST_USED_RESOLUTION_MS) return;
    // Set first: concurrent requests of this process do not write too, whatever the outcome.
    key.lastUsedAt = now;
    await touchApiKey(typeof emOrLazy === 'function' ? emOrLazy() : emOrLazy, key.keyId, now);
  }

  /** A revocation notification: the key's entries go, and lookups in flight are not cached. */
  revoked(keyId: string): void {
    this.epoch += 1;
    for (const [hash, entry] of this.entries) if (entry.key.keyId === keyId) this.entries.delete(hash);
  }

  /** The listener's state changed: what was cached may have missed notifications. */
  setLive(live: boolean): void {
    this.live = live;
    this.epoch += 1;
    this.entries.clear();
  }

  isLive(): boolean {
    return this.live;
  }

  private nowMs(): number {
    return this.options.nowMs?.() ?? performance.now();
  }
}
