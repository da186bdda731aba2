import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';

/** 256 random bits, base64url: the form of every opaque token Latchkey hands out. */
export function generateOpaqueToken(): string {
  return randomBytes(32).toString('base64url');
}

// Tokens are stored only as their SHA-256, so a database leak yields nothing usable.
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The characters of a code a person types: no 0 and O, no 1, I and L, and no U. */
export const CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A code of `length` characters of CODE_ALPHABET, each drawn uniformly. */
export function generateCode(length: number): string {
  return Array.from({ length }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
}

/** A code of `length` decimal digits, drawn uniformly (leading zeros kept): what a phone's number pad types. */
export function generateDigits(length: number): string {
  return Array.from({ length }, () => String(randomInt(10))).join('');
}

// A short code is too few bits for a plain hash (a copy of its hash would give it away by trying every code):
// it is stored as an HMAC under a key the database never holds.
export function hmacToken(key: Uint8Array, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}
