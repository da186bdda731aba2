import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

// AES-256-GCM: a 96-bit random IV and a 128-bit tag, stored with the ciphertext as one text value.
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

/** Thrown when a sealed value cannot be opened: another key, another context, or altered bytes. */
export class SealOpenError extends Error {
  constructor() {
    super('sealed value cannot be opened with this key');
    this.name = 'SealOpenError';
  }
}

/**
 * A 32-byte key for one purpose, derived from a secret by HKDF-SHA256. Each purpose names its own `info`,
 * so the same secret never encrypts two kinds of data under one key.
 */
export function deriveKey(secret: string | Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32));
}

/**
 * Encrypts and authenticates `plaintext` under a 32-byte key. `context` is authenticated, not stored:
 * the value opens only with the same context (such as the id of the row that holds it).
 */
export function seal(key: Uint8Array, plaintext: string | Uint8Array, context: string): string {
  if (key.length !== 32) throw new Error('seal needs a 32-byte key');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
}

/** The plaintext of a value made by `seal` with the same key and context; SealOpenError otherwise. */
export function open(key: Uint8Array, sealed: string, context: string): Buffer {
  const [version, data, extra] = sealed.split('.');
  const bytes = data === undefined ? Buffer.alloc(0) : Buffer.from(data, 'base64url');
  if (key.length !== 32 || version !== VERSION || extra !== undefined || bytes.length < IV_BYTES + TAG_BYTES)
    throw new SealOpenError();
  try {
    const decipher = createDecipheriv(ALGORITHM, key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SealOpenError();
  }
}
