import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { deriveKey } from '../../core/secret-box.js';

/**
 * Challenges of passkey sign-ins, made for nobody: signed rather than stored, so that asking for sign-in options
 * writes nothing (a stranger may ask as often as RATE_LIMIT_PASSKEY lets them) and a sign-in costs one statement.
 * A challenge is 32 random bytes, its expiry in whole seconds, and an HMAC-SHA-256 (first 16 bytes) of both under a
 * key derived from SECRET_KEY for this use alone: every instance can tell one of its own, unexpired, from anything
 * else (another ceremony's challenge, which is random bytes alone, or a forged one), and none can be made without
 * the key. That its answer signs in once is the sign-in statement's to ensure (`spent_signin_challenges`).
 */

const NONCE_BYTES = 32;
const EXPIRY_BYTES = 4;
const MAC_BYTES = 16;
const LENGTH = NONCE_BYTES + EXPIRY_BYTES + MAC_BYTES;

export function signinChallengeKey(secretKey: string | Uint8Array): Buffer {
  return deriveKey(secretKey, 'latchkey passkey sign-in challenges v1');
}

const macOf = (key: Buffer, signed: Buffer) => createHmac('sha256', key).update(signed).digest().subarray(0, MAC_BYTES);

/** A new sign-in challenge (base64url) that expires `ttlSeconds` from `now`. */
export function makeSigninChallenge(key: Buffer, now: Date, ttlSeconds: number): string {
  const signed = Buffer.alloc(NONCE_BYTES + EXPIRY_BYTES);
  randomBytes(NONCE_BYTES).copy(signed);
  signed.writeUInt32BE(Math.floor(now.getTime() / 1000) + ttlSeconds, NONCE_BYTES);
  return Buffer.concat([signed, macOf(key, signed)]).toString('base64url');
}

/** When a sign-in challenge made under `key` expires, if it is one and has not expired at `now`; else undefined. */
export function openSigninChallenge(key: Buffer, challenge: string, now: Date): Date | undefined {
  const bytes = Buffer.from(challenge, 'base64url');
  if (bytes.length !== LENGTH || bytes.toString('base64url') !== challenge) return undefined;
  const signed = bytes.subarray(0, NONCE_BYTES + EXPIRY_BYTES);
  if (!timingSafeEqual(macOf(key, signed), bytes.subarray(NONCE_BYTES + EXPIRY_BYTES))) return undefined;
  const expiresAt = new Date(signed.readUInt32BE(NONCE_BYTES) * 1000);
  return expiresAt > now ? expiresAt : undefined;
}
