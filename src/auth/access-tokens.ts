import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import type { BoundedCache } from '../cache.js';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { KeySet } from './keys.js';
import type { RevocationList } from './revocations.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
// Anything longer is not a token this server issued; refuse it before parsing.
const MAX_TOKEN_LENGTH = 4096;

export interface AccessTokenIssuer {
  issuer: string;
  audience: string;
}

export interface AccessClaims {
  userId: string;
  sessionId: string;
  tokenId: string;
  expiresAt: Date;
}

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
}

export async function signAccessToken(
  keys: KeySet,
  who: AccessTokenIssuer,
  subject: { userId: string; sessionId: string },
  now: Date,
  expiresAt: Date,
): Promise<IssuedAccessToken> {
  const key = keys.signingKeyAt(now);
  const iat = Math.floor(now.getTime() / 1000);
  const exp = Math.floor(expiresAt.getTime() / 1000);
  const token = await new SignJWT({ sid: subject.sessionId })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(who.issuer)
    .setAudience(who.audience)
    .setSubject(subject.userId)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key.privateKey);
  return { token, expiresIn: exp - iat };
}

/**
 * Verifies an access token and that its session is still alive. Every failure is an AppError with a
 * 401 code: nothing about a hostile token can make this throw anything else.
 */
export async function verifyAccessToken(
  token: string,
  deps: { keys: KeySet; revocations: RevocationList; clock: Clock; verifiedTokens: BoundedCache<AccessClaims> },
  who: AccessTokenIssuer,
): Promise<AccessClaims> {
  if (token.length > MAX_TOKEN_LENGTH) throw new AppError('invalid_token');
  // A token that passed every check once is remembered until it expires: only revocation is asked again.
  const known = deps.verifiedTokens.get(token);
  if (known) {
    if (deps.revocations.isRevoked(known.sessionId)) throw new AppError('session_revoked');
    return known;
  }
  const claims = await verifySignatureAndClaims(token, deps, who);
  if (deps.revocations.isRevoked(claims.sessionId)) throw new AppError('session_revoked');
  deps.verifiedTokens.set(token, claims, claims.expiresAt.getTime());
  return claims;
}

async function verifySignatureAndClaims(
  token: string,
  deps: { keys: KeySet; clock: Clock },
  who: AccessTokenIssuer,
): Promise<AccessClaims> {
  let payload;
  try {
    ({ payload } = await jwtVerify(
      token,
      // The algorithm is pinned to the key found by `kid` in our own set; jku, jwk, x5u and x5c are never read.
      (header: JWTHeaderParameters) => {
        const key = header.kid === undefined ? undefined : deps.keys.byKid(header.kid);
        if (!key || header.alg !== key.alg) throw new AppError('invalid_token');
        return key.publicKey;
      },
      {
        issuer: who.issuer,
        audience: who.audience,
        typ: ACCESS_TOKEN_TYPE,
        requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp'],
        currentDate: deps.clock.now(),
      },
    ));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new AppError('token_expired');
    throw new AppError('invalid_token');
  }
  const { sub, sid, jti, exp } = payload;
  if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string' || typeof exp !== 'number')
    throw new AppError('invalid_token');
  return { userId: sub, sessionId: sid, tokenId: jti, expiresAt: new Date(exp * 1000) };
}
