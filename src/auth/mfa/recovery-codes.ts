import { randomInt } from 'node:crypto';
import { deriveKey } from '../../core/secret-box.js';
import { hmacToken } from '../../core/secrets.js';

/**
 * Recovery codes: ten, shown once, each 12 characters of the base32 alphabet (60 bits), grouped in threes of four
 * for reading (`ABCD-EFGH-JKLM`). Stored as an HMAC under a key derived from SECRET_KEY over the user and the code:
 * a copy of the database holds none of them, and 60 bits are out of reach of trying them all against a leaked key.
 */

export const RECOVERY_CODES = 10;
const LENGTH = 12;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The key recovery codes are HMACed under, derived from SECRET_KEY for this purpose alone. */
export function recoveryCodeKey(secretKey: string | Uint8Array): Buffer {
  return deriveKey(secretKey, 'latchkey recovery codes v1');
}

const generate = () => Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
const format = (code: string) => code.match(/.{4}/g)!.join('-');

/** A code as typed (any letter case, hyphens or spaces anywhere) in the form it was issued in; undefined if it cannot be one. */
function normalize(typed: string): string | undefined {
  const code = typed.replace(/[\s-]/g, '').toUpperCase();
  return code.length === LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : undefined;
}

/** The stored form of a code of the user's: undefined for text that cannot be a recovery code. */
export function recoveryCodeHash(key: Uint8Array, userId: string, typed: string): string | undefined {
  const code = normalize(typed);
  return code === undefined ? undefined : hmacToken(key, `recovery ${userId} ${code}`);
}

/** Ten new codes for the user: as shown to them once, and as stored. */
export function newRecoveryCodes(key: Uint8Array, userId: string): { codes: string[]; hashes: string[] } {
  const codes = Array.from({ length: RECOVERY_CODES }, generate);
  return { codes: codes.map(format), hashes: codes.map((c) => recoveryCodeHash(key, userId, c)!) };
}
