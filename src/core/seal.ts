/**
 * Sealing of the secrets the store holds (OAuth2 tokens we obtained, the key that
 * signs our own access tokens): authenticated encryption with a key derived from
 * Node-RED's credential secret, so that a copy of the store (a SQLite file, a backup,
 * a PostgreSQL dump) gives no usable token or key without that secret.
 *
 * - The key is derived with scrypt rather than a plain hash or HKDF: a credential
 *   secret is often a passphrase a person chose, and a dump of the store is exactly
 *   what someone would try to guess it against; scrypt makes each guess cost tens of
 *   milliseconds and 16 MB. The salt names this purpose and version, so the key is
 *   unrelated to the one Node-RED derives from the same secret (sha256) for its own
 *   credentials file.
 * - AES-256-GCM with a random 96-bit IV per value. The value's name (its key in the
 *   store) is authenticated with it: a sealed value copied to another name (say, our
 *   signing key moved into a remote's token slot) does not open.
 * - Text format, self-describing and versioned: `rps-sealed:1:<iv>.<ciphertext>.<tag>`
 *   (base64url). A value without the prefix is not sealed (written by an earlier
 *   version, or with sealing switched off).
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';

const PREFIX = 'rps-sealed:1:';
const SALT = 'rps-store-secrets/aes-256-gcm/1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** scrypt cost: N = 2^14, r = 8 (16 MB), the usual interactive setting; derived once per process and secret. */
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** A sealing key. Its bytes cannot be printed, serialised or inspected by accident. */
export class SealKey {
  readonly #bytes: Buffer;

  constructor(bytes: Buffer) {
    if (bytes.length !== 32) throw new Error('a seal key has 32 bytes');
    this.#bytes = Buffer.from(bytes);
  }

  /** For the cipher only. */
  bytes(): Buffer {
    return this.#bytes;
  }

  toJSON(): string {
    return '[SealKey]';
  }

  toString(): string {
    return '[SealKey]';
  }
}

/** The key for a credential secret (the same secret gives the same key, on every process). */
export function deriveSealKey(secret: string): Promise<SealKey> {
  return new Promise((resolve, reject) => {
    scrypt(Buffer.from(secret, 'utf8'), SALT, 32, SCRYPT, (err, bytes) => (err ? reject(err) : resolve(new SealKey(bytes))));
  });
}

/** Binds a sealed value to its name and to this format version. */
function aad(name: string): Buffer {
  return Buffer.from(`${PREFIX}${name}`, 'utf8');
}

export function isSealed(text: string): boolean {
  return text.startsWith(PREFIX);
}

/** Seals `value` to be stored under `name`. */
export function seal(key: SealKey, name: string, value: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.bytes(), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(name));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return `${PREFIX}${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * The value sealed under `name`, or undefined when it does not open with this key:
 * another key (the credential secret changed), another name, altered or malformed.
 */
export function unseal(key: SealKey, name: string, text: string): string | undefined {
  if (!isSealed(text)) return undefined;
  const parts = text.slice(PREFIX.length).split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) return undefined;
  const [iv, ciphertext, tag] = parts.map((p) => Buffer.from(p, 'base64url'));
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.bytes(), iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(name));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
