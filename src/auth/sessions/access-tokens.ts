import { createHash, randomUUID } from 'node:crypto';
import { createDecoder, createSigner, createVerifier } from 'fast-jwt';
import type { BoundedCache } from '../../core/cache.js';
import { CLOCK_SKEW_SECONDS } from '../keys/clock-skew.js';
import { epochSeconds, type Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { isSessionLive } from '../../db/queries/sessions.js';
import { AppError } from '../../errors.js';
import type { KeySet, SigningKey } from '../keys/keys.js';
import type { RevocationList } from './revocations.js';
import { isUuid } from '../../contracts/ids.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
// Anything longer is not a token this server issued; refuse it before parsing.
const MAX_TOKEN_LENGTH = 4096;

/**
 * How a user proved who they were, as RFC 8176 names it (`amr`): `pwd` a password, `otp` an authenticator app's
 * code, `hwk` a passkey bound to its device and `swk` one that syncs (proof of a key), `user` the user verified by
 * the authenticator (a PIN, a fingerprint), `mfa` more than one factor (a password and a second factor, or a
 * passkey with user verification), `fed` an upstream identity provider (federation, src/auth/upstream/).
 */
export type AuthMethod = 'pwd' | 'otp' | 'hwk' | 'swk' | 'user' | 'mfa' | 'fed';
/** A password alone. */
export const PASSWORD_AMR: readonly AuthMethod[] = ['pwd'];

/** The assurance level (`aal`) methods make: `aal2` with a second factor, `aal1` with a password alone. */
export const assuranceLevel = (amr: readonly string[]): 'aal1' | 'aal2' => (amr.includes('mfa') ? 'aal2' : 'aal1');

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
  /** When the session was opened, in seconds since the epoch (`auth_time`). */
  authTime: number;
  /** `exp`, in milliseconds since the epoch. */
  expiresAt: number;
  /** The kid of the key that signed it (the key's own string, shared by every token it signed). */
  keyId: string;
}

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
}

// Signers and verifiers are built once per key: each parses its PEM once.
const signers = new WeakMap<SigningKey, Map<string, (payload: Record<string, unknown>) => string>>();
const verifiers = new WeakMap<AccessTokenPolicy, WeakMap<SigningKey, (token: string) => Record<string, unknown>>>();
const decodeHeader = createDecoder({ complete: true });

/**
 * The signer of tokens of a type (`typ`: access tokens' `at+jwt` unless given; ID tokens' `JWT`, logout tokens') for a
 * key, made once per key and type, and gone with the key.
 */
export function signerFor(key: SigningKey, typ: string = ACCESS_TOKEN_TYPE) {
  let ofKey = signers.get(key);
  if (!ofKey) signers.set(key, (ofKey = new Map()));
  let sign = ofKey.get(typ);
  if (!sign) {
    sign = createSigner({ key: key.signingMaterial, algorithm: key.alg, kid: key.kid, header: { alg: key.alg, typ } });
    ofKey.set(typ, sign);
  }
  return sign;
}

/**
 * Signs with node:crypto on the calling thread (well under a millisecond for ES256 and EdDSA): WebCrypto
 * would queue the signature on libuv's thread pool, behind every password hash waiting there.
 */
export function signAccessToken(
  keys: KeySet,
  who: AccessTokenIssuer,
  subject: {
    userId: string;
    sessionId: string;
    sessionCreatedAt: Date;
    emailVerified: boolean;
    amr: readonly string[];
    clientId?: string | null | undefined;
    scope?: string | null | undefined;
  },
  now: Date,
  expiresAt: Date,
): IssuedAccessToken {
  const key = keys.signingKeyAt(now);
  const iat = epochSeconds(now);
  const exp = epochSeconds(expiresAt);
  const token = signerFor(key)({
    iss: who.issuer,
    aud: who.audience,
    sub: subject.userId,
    sid: subject.sessionId,
    // auth_time (OpenID Connect's name) lets any verifier compare a token with its user's not-before.
    auth_time: epochSeconds(subject.sessionCreatedAt),
    // As OpenID Connect names it: whether the user had proved the address when this token was issued.
    email_verified: subject.emailVerified,
    // How the session was opened, and the assurance level it makes, the same in every token of the session.
    amr: subject.amr,
    aal: assuranceLevel(subject.amr),
    // An OAuth client's session (RFC 9068): the client the token was issued to, and the scopes granted.
    ...(subject.clientId ? { client_id: subject.clientId, scope: subject.scope ?? '' } : {}),
    jti: randomUUID(),
    iat,
    exp,
  });
  return { token, expiresIn: exp - iat };
}

/**
 * Verifies an access token and that its session is still alive. Every failure is an AppError with a
 * 401 code: nothing about a hostile token can make this throw anything else.
 */
export async function verifyAccessToken(
  token: string,
  deps: { keys: KeySet; revocations: RevocationList; clock: Clock; verifiedTokens: BoundedCache<AccessClaims>; db?: Db },
  policy: AccessTokenPolicy,
): Promise<AccessClaims> {
  if (token.length > MAX_TOKEN_LENGTH) throw new AppError('invalid_token');
  // A token that passed every check once is remembered until it expires: only revocation is asked again.
  // Keyed by the token's SHA-256 (the whole token, never a part of it): 44 bytes an entry instead of ~650.
  const cacheKey = createHash('sha256').update(token).digest('base64');
  const known = deps.verifiedTokens.get(cacheKey);
  // A token remembered from before its key was revoked: the key has left the set, and the token is dead with it.
  if (known && !deps.keys.byKid(known.keyId)) {
    deps.verifiedTokens.delete(cacheKey);
    throw new AppError('invalid_token');
  }
  let claims = known ?? verifyNew(token, deps, policy);
  if (claims instanceof Promise) claims = await claims;
  if (deps.revocations.isKeyRevoked(claims.keyId)) throw new AppError('invalid_token');
  if (deps.revocations.isRevoked(claims)) throw new AppError('session_revoked');
  // Only while the list may be missing what other instances revoked: the database is asked instead.
  if (deps.db && deps.revocations.isStale() && !(await liveInDatabase(claims, deps.db, deps.clock))) throw new AppError('session_revoked');
  if (!known) deps.verifiedTokens.set(cacheKey, claims, claims.expiresAt);
  return claims;
}

const liveInDatabase = async (claims: AccessClaims, db: Db, clock: Clock) => isUuid(claims.sessionId) && (await isSessionLive(db, claims.sessionId, clock.now()));

function verifierFor(policy: AccessTokenPolicy, key: SigningKey) {
  let byKey = verifiers.get(policy);
  if (!byKey) verifiers.set(policy, (byKey = new WeakMap()));
  let verify = byKey.get(key);
  if (!verify) {
    verify = createVerifier({
      key: key.verifyingMaterial,
      algorithms: [key.alg],
      checkTyp: ACCESS_TOKEN_TYPE,
      allowedIss: policy.issuer,
      allowedAud: policy.audience,
      requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'auth_time'],
      // Time is checked below against the injected clock.
      ignoreExpiration: true,
      ignoreNotBefore: true,
    }) as (token: string) => Record<string, unknown>;
    byKey.set(key, verify);
  }
  return verify;
}

type Header = { kid?: unknown; alg?: unknown };

/**
 * A token not verified before. Its key is found by `kid` in our own set (jku, jwk, x5u and x5c are never read): in
 * memory, synchronously, or, for a kid this instance does not know yet, after reading the stored keys (a key made
 * by another instance a moment ago). A revoked key's kid is refused before any of that.
 */
function verifyNew(token: string, deps: { keys: KeySet; clock: Clock; revocations: RevocationList }, policy: AccessTokenPolicy): AccessClaims | Promise<AccessClaims> {
  let header: Header;
  try {
    header = (decodeHeader(token) as { header: Header }).header;
  } catch {
    throw new AppError('invalid_token');
  }
  const kid = header.kid;
  if (typeof kid !== 'string' || deps.revocations.isKeyRevoked(kid)) throw new AppError('invalid_token');
  const key = deps.keys.byKid(kid);
  if (key || !deps.keys.findKey) return verifySignatureAndClaims(token, header, key, deps, policy);
  return deps.keys.findKey(kid).then((found) => verifySignatureAndClaims(token, header, found, deps, policy));
}

/** Signature and claims, on the calling thread (node:crypto), like signing. */
function verifySignatureAndClaims(token: string, header: Header, key: SigningKey | undefined, deps: { clock: Clock }, policy: AccessTokenPolicy): AccessClaims {
  let payload: Record<string, unknown>;
  try {
    // The algorithm is pinned to the key.
    if (!key || header.alg !== key.alg) throw new AppError('invalid_token');
    payload = verifierFor(policy, key)(token);
  } catch {
    throw new AppError('invalid_token');
  }
  const now = deps.clock.now().getTime() / 1000;
  if (typeof payload.exp === 'number' && payload.exp <= now) throw new AppError('token_expired');
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > now + CLOCK_SKEW_SECONDS)) throw new AppError('invalid_token');
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
  if (iat > now + CLOCK_SKEW_SECONDS || exp - iat > policy.maxLifetime + CLOCK_SKEW_SECONDS || authTime > iat + CLOCK_SKEW_SECONDS)
    throw new AppError('invalid_token');
  // Kept small: up to CACHE_ENTRIES of these stay in memory (deps.ts), and no caller needs jti or a Date.
  return { userId: sub, sessionId: sid, authTime, expiresAt: exp * 1000, keyId: key.kid };
}
