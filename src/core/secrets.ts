import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits, base64url: the form of every opaque token Latchkey hands out. */
export function generateOpaqueToken(): string {
  return randomBytes(32).toString('base64url');
}

// Tokens are stored only as their SHA-256, so a database leak yields nothing usable.
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
