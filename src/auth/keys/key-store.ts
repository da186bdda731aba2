import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { JwtAlgorithm } from '../../config.js';
import type { Db } from '../../db/client.js';
import { notify } from '../../db/queries/notify.js';
import { lockSigningKeys, selectKeyRows, type KeyRow, type NewKeyRow } from '../../db/queries/signing-keys.js';
import type { AsymmetricAlgorithm, KeyEntry, SigningKey } from './keys.js';
import { deriveKey, open, seal, SealOpenError } from '../../core/secret-box.js';

/** The NOTIFY channel on which a change of the stored keys is announced to every instance. */
export const KEYS_CHANNEL = 'latchkey_keys';
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

export type { KeyRow };

/** The AES key that seals private signing keys, derived from SECRET_KEY for this purpose alone. */
export function signingKeySealer(secret: string): Buffer {
  return deriveKey(secret, 'latchkey signing-keys v1');
}

/** Runs `fn` in a transaction that holds the keys' advisory lock: one instance at a time changes keys. */
export function withKeyLock<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await lockSigningKeys(tx);
    return fn(tx);
  });
}

/** Delivered to every listening instance when the transaction commits; they reload their key set. */
export async function announceKeyChange(tx: Db, kid: string): Promise<void> {
  await notify(tx, KEYS_CHANNEL, kid);
}

/**
 * Announces a revoked key (sent inside the revoking transaction): every instance reloads its keys, as for any
 * change, and learns at once that the key's tokens are dead (see parseKeyRevocation).
 */
export async function announceKeyRevocation(tx: Db, kid: string, revokedAt: Date): Promise<void> {
  await notify(tx, KEYS_CHANNEL, JSON.stringify({ revoked: kid, t: revokedAt.getTime() }));
}

/** The key a notice on KEYS_CHANNEL says was revoked, and when; undefined for any other notice (a bare kid). */
export function parseKeyRevocation(payload: string): { kid: string; at: Date } | undefined {
  if (!payload.startsWith('{')) return undefined;
  try {
    const { revoked, t } = JSON.parse(payload) as { revoked?: unknown; t?: unknown };
    return typeof revoked === 'string' && typeof t === 'number' && Number.isFinite(t) ? { kid: revoked, at: new Date(t) } : undefined;
  } catch {
    return undefined;
  }
}

export function readKeyRows(db: Db): Promise<KeyRow[]> {
  return selectKeyRows(db);
}

/** A new key pair, its private half sealed: the row to insert. */
export async function generateKeyRow(
  alg: AsymmetricAlgorithm,
  sealingKey: Uint8Array,
  times: { createdAt: Date; activatesAt: Date },
): Promise<NewKeyRow> {
  const pair = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const privateJwk = await exportJWK(pair.privateKey);
  const publicJwk = publicMembers(privateJwk);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, alg, publicJwk, privateKeySealed: sealPrivateJwk(privateJwk, kid, sealingKey), ...times };
}

// The kid is authenticated with the ciphertext, so a sealed key cannot be moved to another row.
export function sealPrivateJwk(privateJwk: JWK, kid: string, sealingKey: Uint8Array): string {
  return seal(sealingKey, JSON.stringify(privateJwk), kid);
}

/** Whether this secret opens the row's private key. */
export function canOpen(row: KeyRow, sealingKey: Uint8Array): boolean {
  try {
    open(sealingKey, row.privateKeySealed, row.kid);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decrypts and imports a stored key. The public key is taken from the private one and must hash to the
 * row's kid: a row whose public_jwk was altered in the database cannot make this server accept a key
 * that nobody holding SECRET_KEY made. Throws SealOpenError when the secret or the row does not fit.
 */
export async function openKeyRow(row: KeyRow, sealingKey: Uint8Array): Promise<KeyEntry> {
  const privateJwk = JSON.parse(open(sealingKey, row.privateKeySealed, row.kid).toString('utf8')) as JWK;
  const alg = row.alg as JwtAlgorithm;
  const publicJwk = publicMembers(privateJwk);
  if ((await calculateJwkThumbprint(publicJwk)) !== row.kid) throw new SealOpenError();
  const key: SigningKey = {
    kid: row.kid,
    alg,
    privateKey: await importJWK(privateJwk, alg),
    publicKey: await importJWK(publicJwk, alg),
    // PEM for node:crypto, which signs and verifies on the calling thread (see access-tokens.ts).
    signingMaterial: createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }) as string,
    verifyingMaterial: createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string,
    publicJwk: { ...publicJwk, kid: row.kid, alg, use: 'sig' },
  };
  return { kid: row.kid, createdAt: row.createdAt, activatesAt: row.activatesAt, retiredAt: row.retiredAt, key };
}

function publicMembers(jwk: JWK): JWK {
  const out: JWK = {};
  for (const name of PUBLIC_MEMBERS) if (jwk[name] !== undefined) out[name] = jwk[name];
  return out;
}
