import { createHash } from 'node:crypto';
import { deriveKey, open, SealOpenError, seal } from '../../core/secret-box.js';

/**
 * Authorization codes, sealed rather than stored: the code is the grant itself (client, redirect URI, PKCE challenge,
 * scopes, nonce, the browser session and user it came from, the session its exchange opens, its expiry), encrypted and
 * authenticated with AES-256-GCM under a key derived from SECRET_KEY for this use alone. Issuing one writes nothing;
 * its exchange records it as spent in the statement that opens the session, so it works once on every instance. The
 * client learns nothing from it (not the user's id), and a copy of the database holds no code that could be redeemed.
 */

export const CODE_TTL_SECONDS = 60;
// A sealed code carrying the longest nonce a request may send (512 characters, each escaped in JSON at worst) is under 5,000.
export const MAX_CODE_LENGTH = 8192;
const CONTEXT = 'latchkey oauth authorization code v1';

/** The key codes are sealed under, derived from SECRET_KEY. */
export const oauthCodeKey = (secret: string): Buffer => deriveKey(secret, CONTEXT);

/** What a code stands for. Times in milliseconds since the epoch unless named in seconds. */
export interface CodeGrant {
  clientId: string;
  /** The redirect URI's SHA-256 (base64url): the exchange must name the same one. */
  redirectUriHash: string;
  codeChallenge: string;
  scope: string;
  nonce: string | null;
  userId: string;
  /** The user's not-before and password time when the code was issued: changed since, no session opens. */
  notBefore: number | null;
  passwordChangedAt: number | null;
  /** The browser session that signed the user in, and when (seconds) and how. */
  parentSessionId: string;
  authTime: number;
  amr: string[];
  /** The session the exchange opens: a second use of the code revokes it. */
  sessionId: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export const redirectUriHash = (uri: string) => createHash('sha256').update(uri).digest('base64url');

/** The code for a grant. */
export function sealCode(key: Buffer, grant: CodeGrant): string {
  return seal(key, JSON.stringify(grant), CONTEXT);
}

/** The grant a code stands for, when this server sealed it and it has not expired; undefined otherwise. */
export function openCode(key: Buffer, code: string, nowMs: number): CodeGrant | undefined {
  let grant: CodeGrant;
  try {
    grant = JSON.parse(open(key, code, CONTEXT).toString('utf8')) as CodeGrant;
  } catch (err) {
    if (err instanceof SealOpenError) return undefined;
    throw err;
  }
  return grant.expiresAt * 1000 > nowMs ? grant : undefined;
}
