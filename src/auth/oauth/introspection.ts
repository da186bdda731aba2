import { createDecoder } from 'fast-jwt';
import type { Db } from '../../db/client.js';
import { selectRefreshTokenSession } from '../../db/queries/oauth.js';
import { isSessionLive } from '../../db/queries/sessions.js';
import { hashToken } from '../../core/secrets.js';
import { AppError } from '../../errors.js';
import type { BoundedCache } from '../../core/cache.js';
import type { Clock } from '../../core/clock.js';
import type { KeySet } from '../keys/keys.js';
import { verifyAccessToken, type AccessClaims, type AccessTokenPolicy } from '../sessions/access-tokens.js';
import type { RevocationList } from '../sessions/revocations.js';
import { revokeSession, type SessionDeps } from '../sessions/sessions.js';

/**
 * Introspection (RFC 7662) and revocation (RFC 7009) of the tokens Latchkey issues to OAuth clients: an access
 * token is active while its signature, its time and its session hold, the session read from the database (so a
 * session revoked on any instance answers `active: false` at once); a refresh token while it is unrotated, unexpired
 * and its session live.
 */

export interface TokenOwner {
  /** The OAuth client asking, or undefined for a service client, which may introspect any token. */
  clientId: string | undefined;
}

export interface IntrospectionDeps {
  db: Db;
  clock: Clock;
  keys: KeySet;
  revocations: RevocationList;
  verifiedTokens: BoundedCache<AccessClaims>;
}

const decode = createDecoder();
const INACTIVE: { active: boolean } = { active: false };

const refreshTokenSession = (db: Db, token: string, now: Date) => selectRefreshTokenSession(db, hashToken(token), now);

const seconds = (at: Date | string) => Math.floor(new Date(at).getTime() / 1000);

/** What an access token says once verified, and the claims of its payload; undefined when it is not a live one. */
async function liveAccessToken(deps: IntrospectionDeps, policy: AccessTokenPolicy, token: string) {
  try {
    const claims = await verifyAccessToken(token, deps, policy);
    if (!(await isSessionLive(deps.db, claims.sessionId, deps.clock.now()))) return undefined;
    return { claims, payload: decode(token) as Record<string, unknown> };
  } catch (err) {
    if (err instanceof AppError) return undefined;
    throw err;
  }
}

export async function introspectToken(
  deps: IntrospectionDeps,
  policy: AccessTokenPolicy,
  asker: TokenOwner,
  token: string,
  hint: string | undefined,
): Promise<{ active: boolean } & Record<string, unknown>> {
  if (!token || token.length > 4096) return INACTIVE;
  const tryRefreshFirst = hint === 'refresh_token';
  for (const kind of tryRefreshFirst ? ['refresh', 'access'] : ['access', 'refresh']) {
    if (kind === 'access' && token.includes('.')) {
      const live = await liveAccessToken(deps, policy, token);
      if (!live) continue;
      const clientId = typeof live.payload.client_id === 'string' ? live.payload.client_id : undefined;
      if (asker.clientId !== undefined && asker.clientId !== clientId) return INACTIVE;
      return {
        active: true,
        token_type: 'access_token',
        sub: live.claims.userId,
        sid: live.claims.sessionId,
        client_id: clientId,
        scope: typeof live.payload.scope === 'string' ? live.payload.scope : undefined,
        iss: live.payload.iss,
        aud: live.payload.aud,
        exp: live.payload.exp,
        iat: live.payload.iat,
        auth_time: live.claims.authTime,
        jti: live.payload.jti,
      };
    }
    if (kind === 'refresh' && !token.includes('.')) {
      const row = await refreshTokenSession(deps.db, token, deps.clock.now());
      if (!row?.live) continue;
      if (asker.clientId !== undefined && asker.clientId !== row.client_id) return INACTIVE;
      return {
        active: true,
        token_type: 'refresh_token',
        sub: row.user_id,
        sid: row.session_id,
        client_id: row.client_id ?? undefined,
        scope: row.scope ?? undefined,
        exp: seconds(row.expires_at),
        iat: seconds(row.created_at),
      };
    }
  }
  return INACTIVE;
}

/**
 * Revokes the session behind a token the client holds (RFC 7009): its refresh token or one of its access tokens ends
 * the whole grant. A token that is unknown, already dead or another client's is answered the same way, and nothing
 * happens.
 */
export async function revokeClientToken(deps: IntrospectionDeps & SessionDeps, policy: AccessTokenPolicy, clientId: string, token: string): Promise<void> {
  if (!token || token.length > 4096) return;
  let sessionId: string | undefined;
  if (token.includes('.')) {
    const live = await liveAccessToken(deps, policy, token);
    if (live && live.payload.client_id === clientId) sessionId = live.claims.sessionId;
  } else {
    const row = await refreshTokenSession(deps.db, token, deps.clock.now());
    if (row && row.client_id === clientId) sessionId = row.session_id;
  }
  if (sessionId) await revokeSession(deps, sessionId, 'oauth_revocation');
}
