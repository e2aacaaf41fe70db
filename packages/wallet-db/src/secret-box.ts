/**
 * Secrets at rest (webhook signing secrets): sealed with AES-256-GCM under a key-encryption key
 * (`WALLET_SECRET_KEY`, 32 bytes as base64 or hex), so whoever reads the database cannot forge our
 * webhooks. A sealed value names its key by a fingerprint:
 *
 *   sealed1.<key id: 8 hex>.<iv: base64url>.<ciphertext: base64url>.<tag: base64url>
 *
 * Rotation: start with the new key as `WALLET_SECRET_KEY` and the old one in
 * `WALLET_SECRET_KEY_PREVIOUS` (comma-separated); `resealAll` rewrites every value under the new key
 * at start, after which the old key can go. Without any key, values are stored as given (plain) and
 * `resealAll` seals them as soon as a key is configured.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'sealed1';

export class SecretKeyError extends Error {}

/** A 32-byte key from 64 hex digits or base64 (standard or url-safe) of 32 bytes. */
export function parseSecretKey(text: string, name = 'WALLET_SECRET_KEY'): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32 || (!/^[0-9a-fA-F]{64}$/.test(trimmed) && !/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed))) {
    throw new SecretKeyError(`${name} must be 32 bytes, as 64 hex digits or base64 (openssl rand -base64 32)`);
  }
  return key;
}

/** A new key, in the base64 form `parseSecretKey` reads. */
export function newSecretKey(): string {
  return randomBytes(32).toString('base64');
}

const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

export class SecretBox {
  private readonly keys = new Map<string, Buffer>();
  private readonly currentId: string | null;

  /** `current`: the key new values are sealed with (null: stored plain); `previous`: keys still readable. */
  constructor(current: Buffer | null, previous: Buffer[] = []) {
    this.currentId = current ? keyId(current) : null;
    for (const key of [...previous, ...(current ? [current] : [])]) this.keys.set(keyId(key), key);
  }

  get encrypts(): boolean {
    return this.currentId !== null;
  }

  static isSealed(stored: string): boolean {
    return stored.startsWith(`${PREFIX}.`);
  }

  seal(plain: string): string {
    if (!this.currentId) return plain;
    const key = this.keys.get(this.currentId) as Buffer;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [PREFIX, this.currentId, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(stored: string): string {
    if (!SecretBox.isSealed(stored)) return stored;
    const [, id, iv, ciphertext, tag] = stored.split('.');
    const key = id ? this.keys.get(id) : undefined;
    if (!key || !iv || !ciphertext || !tag) {
      throw new SecretKeyError(`a secret is sealed with key ${id ?? '?'}, which is neither WALLET_SECRET_KEY nor in WALLET_SECRET_KEY_PREVIOUS`);
    }
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** Whether a stored value should be rewritten: plain while a key is set, or sealed under an older key. */
  needsReseal(stored: string): boolean {
    if (!this.currentId) return false;
    return !stored.startsWith(`${PREFIX}.${this.currentId}.`);
  }
}
