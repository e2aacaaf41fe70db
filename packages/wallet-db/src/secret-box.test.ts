import { describe, expect, it } from 'vitest';
import { newSecretKey, parseSecretKey, SecretBox, SecretKeyError } from './secret-box.js';

const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('SecretBox', () => {
  it('seals with AES-256-GCM: the sealed text holds no trace of the secret and opens back to it', () => {
    const box = new SecretBox(parseSecretKey(newSecretKey()));
    const sealed = box.seal(secret);
    expect(sealed).toMatch(/^sealed1\.[0-9a-f]{8}\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain(secret.slice(6, 16));
    expect(box.seal(secret)).not.toBe(sealed); // a fresh IV each time
    expect(box.open(sealed)).toBe(secret);
    expect(sealed.length).toBeLessThanOrEqual(128); // fits the column
  });

  it('refuses a tampered value and an unknown key', () => {
    const box = new SecretBox(parseSecretKey(newSecretKey()));
    const sealed = box.seal(secret);
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[3] as string, 'base64url');
    flipped[0] = (flipped[0] as number) ^ 1;
    parts[3] = flipped.toString('base64url');
    expect(() => box.open(parts.join('.'))).toThrow();
    expect(() => new SecretBox(parseSecretKey(newSecretKey())).open(sealed)).toThrow(SecretKeyError);
  });

  it('rotates: values under a previous key open and are marked for resealing; plain values too once a key is set', () => {
    const oldKey = parseSecretKey(newSecretKey());
    const newKey = parseSecretKey(newSecretKey());
    const sealedOld = new SecretBox(oldKey).seal(secret);
    const rotating = new SecretBox(newKey, [oldKey]);
    expect(rotating.open(sealedOld)).toBe(secret);
    expect(rotating.needsReseal(sealedOld)).toBe(true);
    expect(rotating.needsReseal(rotating.seal(secret))).toBe(false);
    expect(rotating.needsReseal(secret)).toBe(true);
    const plain = new SecretBox(null);
    expect(plain.encrypts).toBe(false);
    expect(plain.seal(secret)).toBe(secret);
    expect(plain.needsReseal(secret)).toBe(false);
  });

  it('reads keys as 64 hex digits or base64 of 32 bytes, and refuses anything else', () => {
    expect(parseSecretKey('ab'.repeat(32))).toHaveLength(32);
    expect(parseSecretKey(Buffer.alloc(32, 7).toString('base64'))).toHaveLength(32);
    expect(parseSecretKey(Buffer.alloc(32, 7).toString('base64url'))).toHaveLength(32);
    for (const bad of ['', 'short', 'ab'.repeat(31), Buffer.alloc(16).toString('base64'), Buffer.alloc(33).toString('base64')]) {
      expect(() => parseSecretKey(bad), bad).toThrow(SecretKeyError);
    }
  });
});
