import { consoleLogger, LatchkeyVerifyError, type Logger } from './errors.js';
import { RevocationFeed, type FeedOptions } from './feed.js';
import { JwksCache, type VerificationKey } from './jwks.js';
import { numberOption } from './options.js';

/** The claims of a Latchkey access token (times in seconds since the epoch). */
export interface LatchkeyClaims {
  readonly iss: string;
  readonly aud: string | readonly string[];
  /** The user's id. */
  readonly sub: string;
  /** The session's id: logout and revocation end every token of a session. */
  readonly sid: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  /** When the session was opened (sign-in). */
  readonly auth_time: number;
  /** Whether the user had proved their email address when the token was issued (tokens of older Latchkey versions lack it). */
  readonly email_verified?: boolean;
  /** How the session was opened (RFC 8176): `["pwd"]`, `["pwd","otp","mfa"]`, `["pwd","mfa"]` (tokens of older Latchkey versions lack it). */
  readonly amr?: readonly string[];
  /** The assurance level that makes: `aal2` with a second factor, `aal1` with a password alone. */
  readonly aal?: 'aal1' | 'aal2';
  readonly [claim: string]: unknown;
}

export interface VerifierOptions {
  /** Latchkey's issuer: its `JWT_ISSUER`, which defaults to its `PUBLIC_URL` (e.g. `https://auth.example.com`). */
  issuer: string;
  /** Latchkey's `JWT_AUDIENCE` (its default is `latchkey`). */
  audience: string;
  /** Default `${issuer}/.well-known/jwks.json`. */
  jwksUrl?: string;
  /** The revocation feed: without it, a revoked session's tokens verify until they expire. */
  feed?: FeedOptions;
  /** Seconds without any feed event (heartbeats come every 5 s) before the feed is stale; default 30. */
  maxStaleness?: number;
  /** When the feed is stale, accept tokens anyway (logged) instead of refusing them with `revocation_feed_stale`. Default false. */
  failOpen?: boolean;
  /** Seconds of clock difference allowed for `iat`, `nbf` and `auth_time` in the future and for the lifetime; default 30 (Latchkey's own). */
  clockTolerance?: number;
  /** Seconds: a token with `exp - iat` above this plus `clockTolerance` is refused. Latchkey's `ACCESS_TOKEN_TTL`; default 900. */
  maxTokenLifetime?: number;
  /** Longer tokens are refused before parsing; default 4096 (Latchkey's own bound). */
  maxTokenLength?: number;
  /** Verified tokens remembered until they expire; default 10,000. */
  cacheSize?: number;
  /** Seconds a fetched JWKS is used before a background refresh; default 300 (Latchkey's `Cache-Control: max-age`). */
  jwksCacheMaxAge?: number;
  /** Seconds between two JWKS fetches caused by an unknown `kid`; default 30. */
  jwksCooldown?: number;
  /** Milliseconds a JWKS fetch may take; default 5000. */
  jwksTimeout?: number;
  /** Where warnings and errors go; default console.warn and console.error. */
  logger?: Logger;
  /** The current time in milliseconds; default Date.now. For tests. */
  now?: () => number;
}

export interface Verifier {
  /** Resolves to the token's claims, or rejects with a LatchkeyVerifyError. */
  verify(token: string): Promise<LatchkeyClaims>;
  /** Resolves once the JWKS is loaded and, with a feed, its first replay has arrived. */
  ready(): Promise<void>;
  /** Stops the feed and its timers. */
  close(): void;
}

const ACCESS_TOKEN_TYPE = 'at+jwt';
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** A verified token's claims, and the kid of the key that signed it (a revoked key's tokens are dead). */
interface Verified {
  readonly claims: LatchkeyClaims;
  readonly kid: string;
}

/** A bounded map of verified tokens (the token itself is the key) to their claims, each until its `exp`. */
class TokenCache {
  private readonly entries = new Map<string, Verified>();

  constructor(private readonly maxEntries: number) {}

  get(token: string): Verified | undefined {
    return this.entries.get(token);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  set(token: string, verified: Verified, nowMs: number): void {
    if (this.maxEntries <= 0) return;
    // Oldest insertions first: they are also the first to expire (all tokens live about as long).
    for (const [oldest, entry] of this.entries) {
      if (entry.claims.exp * 1000 > nowMs) break;
      this.entries.delete(oldest);
    }
    if (!this.entries.delete(token) && this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, verified);
  }
}

const invalid = () => new LatchkeyVerifyError('invalid_token');

/** A base64url JSON object of a compact JWS (its header or payload), or undefined. */
function decodePart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function hasAudience(aud: unknown, audience: string): boolean {
  if (typeof aud === 'string') return aud === audience;
  return Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string') && aud.includes(audience);
}

class LatchkeyVerifier implements Verifier {
  private readonly issuer: string;
  private readonly audience: string;
  private readonly tolerance: number;
  private readonly maxLifetime: number;
  private readonly maxLength: number;
  private readonly maxStaleness: number;
  private readonly failOpen: boolean;
  private readonly now: () => number;
  private readonly logger: Logger;
  private readonly jwks: JwksCache;
  private readonly cache: TokenCache;
  private readonly feed: RevocationFeed | undefined;
  private readonly firstJwks: Promise<void>;
  private staleLogged = false;

  constructor(options: VerifierOptions) {
    if (!options.issuer || !options.audience) throw new TypeError('createVerifier needs issuer and audience');
    this.issuer = options.issuer;
    this.audience = options.audience;
    this.tolerance = numberOption('clockTolerance', options.clockTolerance, 30);
    this.maxLifetime = numberOption('maxTokenLifetime', options.maxTokenLifetime, 900, { min: 1 });
    this.maxLength = numberOption('maxTokenLength', options.maxTokenLength, 4096, { min: 1, integer: true });
    this.maxStaleness = numberOption('maxStaleness', options.maxStaleness, 30);
    this.failOpen = options.failOpen ?? false;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? consoleLogger;
    this.cache = new TokenCache(numberOption('cacheSize', options.cacheSize, 10_000, { integer: true }));
    this.jwks = new JwksCache({
      url: options.jwksUrl ?? `${options.issuer.replace(/\/+$/, '')}/.well-known/jwks.json`,
      cacheMaxAge: numberOption('jwksCacheMaxAge', options.jwksCacheMaxAge, 300),
      cooldown: numberOption('jwksCooldown', options.jwksCooldown, 30),
      timeout: numberOption('jwksTimeout', options.jwksTimeout, 5000, { min: 1 }),
      now: this.now,
      logger: this.logger,
    });
    this.firstJwks = this.jwks.refresh();
    this.firstJwks.catch(() => undefined);
    if (options.feed) {
      const { url, clientId, clientSecret } = options.feed;
      if (!url || !clientId || !clientSecret) throw new TypeError('feed needs url, clientId and clientSecret');
      this.feed = new RevocationFeed({
        url,
        clientId,
        clientSecret,
        maxBackoff: options.feed.maxBackoff ?? 30,
        maxStaleness: this.maxStaleness,
        keepFor: this.maxLifetime + this.tolerance,
        now: this.now,
        logger: this.logger,
        onKeyRevoked: (kid) => this.jwks.forget(kid),
      });
    }
  }

  async ready(): Promise<void> {
    await this.jwks.ensureLoaded();
    await this.feed?.ready();
  }

  close(): void {
    this.feed?.close();
  }

  verify(token: string): Promise<LatchkeyClaims> {
    try {
      // Synchronous unless the token names a key not in memory: no needless trip through the event loop.
      const result = this.fromCache(token) ?? this.verifyNew(token);
      return result instanceof Promise ? result : Promise.resolve(result);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A token verified before: only its expiry, the feed and revocation are checked again. */
  private fromCache(token: string): LatchkeyClaims | undefined {
    if (typeof token !== 'string' || token.length > this.maxLength) throw invalid();
    const verified = this.cache.get(token);
    if (!verified) return undefined;
    const { claims } = verified;
    // Signed by a key Latchkey revoked since: the token is dead, whatever it says.
    if (this.feed?.revocations.isKeyRevoked(verified.kid)) {
      this.cache.delete(token);
      throw invalid();
    }
    const now = this.now();
    if (claims.exp * 1000 <= now) {
      this.cache.delete(token);
      throw new LatchkeyVerifyError('token_expired');
    }
    this.checkRevocation(claims, now);
    return claims;
  }

  private verifyNew(token: string): LatchkeyClaims | Promise<LatchkeyClaims> {
    if (!COMPACT_JWS.test(token)) throw invalid();
    const headerEnd = token.indexOf('.');
    const header = decodePart(token.slice(0, headerEnd));
    if (!header) throw invalid();
    const { alg, kid, typ } = header;
    // typ as RFC 9068 has it; compared like the server (case aside, `application/` optional).
    if (typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== ACCESS_TOKEN_TYPE) throw invalid();
    // No extension is understood, so none may be critical; jku, jwk, x5u and x5c are never read.
    if (header.crit !== undefined || typeof kid !== 'string' || typeof alg !== 'string') throw invalid();
    // A revoked key is refused before any look-up: its tokens cannot make the JWKS be fetched again.
    if (this.feed?.revocations.isKeyRevoked(kid)) throw invalid();
    const key = this.jwks.get(kid);
    if (key) return this.checkSigned(token, headerEnd, alg, key);
    return this.jwks.lookup(kid).then((found) => {
      if (!found) throw invalid();
      return this.checkSigned(token, headerEnd, alg, found);
    });
  }

  private checkSigned(token: string, headerEnd: number, alg: string, key: VerificationKey): LatchkeyClaims {
    // The algorithm is the key's own (its JWK's `alg`), never the token's choice.
    if (key.alg !== alg) throw invalid();
    const signed = token.lastIndexOf('.');
    if (!key.verify(Buffer.from(token.slice(0, signed), 'latin1'), Buffer.from(token.slice(signed + 1), 'base64url'))) throw invalid();
    const payload = decodePart(token.slice(headerEnd + 1, signed));
    if (!payload) throw invalid();

    const now = this.now();
    const nowSeconds = now / 1000;
    const { iss, aud, sub, sid, jti, iat, exp, nbf, auth_time: authTime } = payload;
    if (iss !== this.issuer || !hasAudience(aud, this.audience)) throw invalid();
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') throw invalid();
    if (!Number.isFinite(exp) || !Number.isFinite(iat) || !Number.isFinite(authTime)) throw invalid();
    if ((exp as number) <= nowSeconds) throw new LatchkeyVerifyError('token_expired');
    if (nbf !== undefined && (!Number.isFinite(nbf) || (nbf as number) > nowSeconds + this.tolerance)) throw invalid();
    // From the future, or living longer than Latchkey issues: not made by its rules (a stolen key, say).
    if (
      (iat as number) > nowSeconds + this.tolerance ||
      (exp as number) - (iat as number) > this.maxLifetime + this.tolerance ||
      (authTime as number) > (iat as number) + this.tolerance
    )
      throw invalid();

    const claims = Object.freeze(payload) as LatchkeyClaims;
    this.cache.set(token, { claims, kid: key.kid }, now);
    this.checkRevocation(claims, now);
    return claims;
  }

  private checkRevocation(claims: LatchkeyClaims, now: number): void {
    const feed = this.feed;
    if (!feed) return;
    if (feed.isStale(now)) this.onStale(now);
    else if (this.staleLogged) {
      this.staleLogged = false;
      this.logger.warn('the revocation feed is live again');
    }
    if (feed.revocations.isRevoked(claims.sid, claims.sub, claims.auth_time)) throw new LatchkeyVerifyError('session_revoked');
  }

  private onStale(now: number): void {
    const { caughtUp, lastEventAt } = this.feed!;
    const silent =
      !caughtUp || lastEventAt === undefined
        ? 'has not completed its first replay'
        : `has been silent for ${Math.round((now - lastEventAt) / 1000)} s`;
    const message = this.failOpen
      ? `The revocation feed ${silent} (maxStaleness ${this.maxStaleness} s): tokens are accepted without the latest revocations (failOpen).`
      : `The revocation feed ${silent} (maxStaleness ${this.maxStaleness} s): tokens are refused until it is live again (fail closed).`;
    if (!this.staleLogged) {
      this.staleLogged = true;
      this.logger.warn(message);
    }
    if (!this.failOpen) throw new LatchkeyVerifyError('revocation_feed_stale', message);
  }
}

/** A verifier of Latchkey access tokens; see the package's README. */
export function createVerifier(options: VerifierOptions): Verifier {
  return new LatchkeyVerifier(options);
}
