import { createHash, randomUUID } from 'node:crypto';
import { epochSeconds } from '../../core/clock.js';
import type { KeySet } from '../keys/keys.js';
import { assuranceLevel, signerFor } from '../sessions/access-tokens.js';
import { claimsFor } from './scopes.js';

/**
 * ID tokens (OpenID Connect Core §2), signed by the key that signs access tokens at the time, typed `JWT`: never
 * accepted where an access token is (`at+jwt`), nor the reverse. `aud` is the client alone; `sid` the browser session
 * the user signed in with, which RP-initiated logout names.
 */

const ID_TOKEN_TTL_SECONDS = 600;
// An ID token's own type, never an access token's (`at+jwt`).
const ID_TOKEN_TYPE = 'JWT';

/** `at_hash`: the left half of the access token's hash, with the hash of the signing algorithm. */
function atHash(accessToken: string, alg: string): string {
  const hash = alg.endsWith('384') ? 'sha384' : alg.endsWith('512') ? 'sha512' : 'sha256';
  const digest = createHash(hash).update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export interface IdTokenSubject {
  user: { id: string; name: string; email: string; emailVerifiedAt: Date | null; updatedAt: Date };
  clientId: string;
  scopes: readonly string[];
  nonce: string | null;
  /** When the user signed in, in seconds. */
  authTime: number;
  amr: readonly string[];
  /** The browser session the user signed in with. */
  sid: string;
  accessToken: string;
}

export function signIdToken(keys: KeySet, issuer: string, subject: IdTokenSubject, now: Date): string {
  const key = keys.signingKeyAt(now);
  const iat = epochSeconds(now);
  return signerFor(key, ID_TOKEN_TYPE)({
    ...claimsFor(subject.scopes, subject.user),
    iss: issuer,
    aud: subject.clientId,
    azp: subject.clientId,
    iat,
    exp: iat + ID_TOKEN_TTL_SECONDS,
    auth_time: subject.authTime,
    ...(subject.nonce ? { nonce: subject.nonce } : {}),
    amr: subject.amr,
    acr: assuranceLevel(subject.amr),
    sid: subject.sid,
    at_hash: atHash(subject.accessToken, key.alg),
    jti: randomUUID(),
  });
}
