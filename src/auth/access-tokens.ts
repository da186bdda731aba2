import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import type { BoundedCache } from '../cache.js';
import { CLOCK_SKEW_SECONDS } from './clock-skew.js';
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

/** What a token must say to be accepted: who issued it for whom, and how long a token may live. */
export interface AccessTokenPolicy extends AccessTokenIssuer {
  /** ACCESS_TOKEN_TTL, in seconds: a token claiming a longer life was not issued by this server's rules. */
  maxLifetime: number;
}

export interface AccessClaims {
  userId: string;
  sessionId: string;
  tokenId: string;
  /** When the session was opened, in seconds since the epoch (`auth_time`). */
  authTime: number;
  expiresAt: Date;
}

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
}

export async function signAccessToken(
  keys: KeySet,
  who: AccessTokenIssuer,
  subject: { userId: string; sessionId: string; sessionCreatedAt: Date },
  now: Date,
  expiresAt: Date,
): Promise<IssuedAccessToken> {
  const key = keys.signingKeyAt(now);
  const iat = Math.floor(now.getTime() / 1000);
  const exp = Math.floor(expiresAt.getTime() / 1000);
  // auth_time (OpenID Connect's name) lets any verifier compare a token with its user's not-before.
  const authTime = Math.floor(subject.sessionCreatedAt.getTime() / 1000);
  const token = await new SignJWT({ sid: subject.sessionId, auth_time: authTime })
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
  policy: AccessTokenPolicy,
): Promise<AccessClaims> {
  if (token.length > MAX_TOKEN_LENGTH) throw new AppError('invalid_token');
  // A token that passed every check once is remembered until it expires: only revocation is asked again.
  const known = deps.verifiedTokens.get(token);
  if (known) {
    if (deps.revocations.isRevoked(known)) throw new AppError('session_revoked');
    return known;
  }
  const claims = await verifySignatureAndClaims(token, deps, policy);
  if (deps.revocations.isRevoked(claims)) throw new AppError('session_revoked');
  deps.verifiedTokens.set(token, claims, claims.expiresAt.getTime());
  return claims;
}

async function verifySignatureAndClaims(
  token: string,
  deps: { keys: KeySet; clock: Clock },
  policy: AccessTokenPolicy,
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
        issuer: policy.issuer,
        audience: policy.audience,
        typ: ACCESS_TOKEN_TYPE,
        requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'auth_time'],
        currentDate: deps.clock.now(),
      },
    ));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new AppError('token_expired');
    throw new AppError('invalid_token');
  }
  const { sub, sid, jti, exp, iat, auth_time: authTime } = payload;
  if (
    typeof sub !== 'string' ||
    typeof sid !== 'string' ||
    typeof jti !== 'string' ||
    typeof exp !== 'number' ||
    typeof iat !== 'number' ||
    typeof authTime !== 'number'
  )
    throw new AppError('invalid_token');
  // A token from the future, or longer-lived than this server issues, was not made by its rules: whoever
  // holds a signing key must not mint a token that outlives a password reset.
  const now = deps.clock.now().getTime() / 1000;
  if (iat > now + CLOCK_SKEW_SECONDS || exp - iat > policy.maxLifetime + CLOCK_SKEW_SECONDS || authTime > iat + CLOCK_SKEW_SECONDS)
    throw new AppError('invalid_token');
  return { userId: sub, sessionId: sid, tokenId: jti, authTime, expiresAt: new Date(exp * 1000) };
}
