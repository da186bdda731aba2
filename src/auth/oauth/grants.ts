import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { epochSeconds } from '../../core/clock.js';
import { recordAuditEvent } from '../../core/audit.js';
import { hashToken } from '../../core/secrets.js';
import type { ClientInfo } from '../../core/client-address.js';
import { userChangeMessage } from '../../core/user-cache.js';
import { AppError } from '../../errors.js';
import { signerFor } from '../sessions/access-tokens.js';
import { prepareSession, revokeSession, rotateRefreshToken, sessionOpened, type SessionDeps } from '../sessions/sessions.js';
import type { AuthenticatedServiceClient } from '../service-clients/service-clients.js';
import { authorizationCodeUsed, openSessionForCode, spendAuthorizationCode, type OAuthClientRow } from '../../db/queries/oauth.js';
import { MAX_CODE_LENGTH, openCode, redirectUriHash, type CodeGrant } from './codes.js';
import { oauthError } from './errors.js';
import { signIdToken } from './id-tokens.js';

/**
 * The token endpoint's grants (RFC 6749 §4.1.3, §6, §4.4): a code exchanged once for a session of the client's own
 * (its tokens name the client; its refresh token refreshes for that client alone, rotated and checked for reuse as
 * Latchkey's own are), a refresh, and a service client's own access token.
 */

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  id_token?: string;
  scope: string;
}

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

const sameString = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const invalidGrant = (description: string) => oauthError('invalid_grant', description);

/**
 * Exchanges an authorization code (src/auth/oauth/codes.ts). A code that opens is spent whatever else is wrong with the
 * request, so a code tried by the wrong client or with the wrong verifier is gone for everyone. A code presented a
 * second time revokes the session its first exchange opened (RFC 6749 §4.1.2): whoever holds its tokens, the client or
 * a thief, loses them. A good code's exchange is one statement (`openSessionForCode`): the session it opens, whose id the
 * code carries, is what makes it work once.
 */
export async function exchangeCode(
  deps: SessionDeps & { oauthCodeKey: Buffer },
  client: OAuthClientRow,
  params: { code?: string | undefined; redirect_uri?: string | undefined; code_verifier?: string | undefined },
  info: ClientInfo,
): Promise<TokenResponse> {
  const code = params.code ?? '';
  const now = deps.clock.now();
  const grant = code.length <= MAX_CODE_LENGTH ? openCode(deps.oauthCodeKey, code, now.getTime()) : undefined;
  if (!grant) throw invalidGrant('The authorization code is invalid, used or expired.');
  const spending = { hash: hashToken(code), userId: grant.userId, clientId: grant.clientId, sessionId: grant.sessionId, expiresAt: new Date(grant.expiresAt * 1000), now };
  const verifier = params.code_verifier ?? '';
  const problem =
    grant.clientId !== client.clientId ? 'The authorization code was not issued to this client.'
    : params.redirect_uri === undefined || !sameString(redirectUriHash(params.redirect_uri), grant.redirectUriHash) ? 'redirect_uri differs from the authorization request\'s.'
    : !VERIFIER.test(verifier) ? 'code_verifier is missing or malformed (43 to 128 characters).'
    : !sameString(createHash('sha256').update(verifier).digest('base64url'), grant.codeChallenge) ? 'code_verifier does not match the code_challenge.'
    : undefined;
  if (problem) {
    if ((await spendAuthorizationCode(deps.db, spending)).usedBefore) await codeReused(deps, grant, info);
    throw invalidGrant(problem);
  }

  const opening = prepareSession(
    deps,
    { id: grant.userId, notBefore: dateOrNull(grant.notBefore), passwordChangedAt: dateOrNull(grant.passwordChangedAt), emailVerifiedAt: null },
    info,
    grant.amr,
    { sessionId: grant.sessionId, clientId: client.clientId, scope: grant.scope, parentSessionId: grant.parentSessionId, authTime: new Date(grant.authTime * 1000) },
  );
  const user = await openSessionForCode(deps.db, spending.hash, {
    row: opening.row,
    parentSessionId: grant.parentSessionId,
    clientSecretHash: client.secretHash,
    notice: userChangeMessage(grant.userId),
  });
  if (!user) {
    if (await authorizationCodeUsed(deps.db, spending.hash, grant.sessionId)) {
      await codeReused(deps, grant, info);
      throw invalidGrant('The authorization code is invalid, used or expired.');
    }
    // Opened only while the browser session that authorised it lives, the user can sign in and the client is allowed.
    throw invalidGrant('The sign-in this code came from has ended, the user can no longer sign in, or the client is no longer allowed.');
  }
  opening.live.emailVerified = user.emailVerifiedAt !== null;
  const tokens = await sessionOpened(deps, opening);
  const scopes = grant.scope.split(' ').filter(Boolean);
  const answer: TokenResponse = {
    access_token: tokens.accessToken,
    token_type: 'Bearer',
    expires_in: tokens.expiresIn,
    refresh_token: tokens.refreshToken,
    scope: grant.scope,
  };
  if (scopes.includes('openid')) {
    answer.id_token = signIdToken(
      deps.keys,
      deps.config.jwt.issuer,
      { user, clientId: client.clientId, scopes, nonce: grant.nonce, authTime: grant.authTime, amr: grant.amr, sid: grant.parentSessionId, accessToken: tokens.accessToken },
      now,
    );
  }
  return answer;
}

const dateOrNull = (ms: number | null) => (ms === null ? null : new Date(ms));

/** A code presented again: the session its first exchange opened ends, and the audit log says why. */
async function codeReused(deps: SessionDeps, grant: CodeGrant, info: ClientInfo): Promise<void> {
  await revokeSession(deps, grant.sessionId, 'authorization_code_reused', (tx, userId) =>
    recordAuditEvent(tx, deps.clock, { type: 'oauth_code_reused', userId, sessionId: grant.sessionId, client: info, details: { clientId: grant.clientId } }),
  );
}

/** A refresh for the client that holds the session; another client's token (or one of Latchkey's own sessions) is invalid_grant. */
export async function refreshForClient(deps: SessionDeps, client: OAuthClientRow, refreshToken: string | undefined, info: ClientInfo): Promise<TokenResponse> {
  if (!refreshToken || refreshToken.length > 512) throw invalidGrant('The refresh token is missing or malformed.');
  try {
    const tokens = await rotateRefreshToken(deps, refreshToken, info, client.clientId);
    return { access_token: tokens.accessToken, token_type: 'Bearer', expires_in: tokens.expiresIn, refresh_token: tokens.refreshToken, scope: tokens.scope ?? '' };
  } catch (err) {
    if (err instanceof AppError && (err.code === 'invalid_refresh_token' || err.code === 'refresh_token_reused')) throw invalidGrant(err.message);
    throw err;
  }
}

/**
 * A service client's own access token (`client_credentials`): its `sub` and `client_id` are the client's id, its
 * `scope` the service scopes asked for (all it holds by default). It names no session (`sid`) and no user, so no
 * route that serves a user accepts it; a service that receives one checks it by introspection or by its claims.
 */
export function clientCredentialsToken(
  deps: Pick<SessionDeps, 'keys' | 'clock' | 'config'>,
  client: AuthenticatedServiceClient,
  scope: string | undefined,
): TokenResponse {
  const asked = (scope ?? '').split(' ').filter(Boolean);
  if (asked.some((s) => !(client.scopes as string[]).includes(s))) throw oauthError('invalid_scope', 'This service client does not hold every scope asked for.');
  const granted = asked.length > 0 ? asked : [...client.scopes];
  const now = deps.clock.now();
  const sign = signerFor(deps.keys.signingKeyAt(now));
  const iat = epochSeconds(now);
  const expiresIn = deps.config.ttl.accessToken;
  const token = sign({
    iss: deps.config.jwt.issuer,
    aud: deps.config.jwt.audience,
    sub: client.clientId,
    client_id: client.clientId,
    scope: granted.join(' '),
    jti: randomUUID(),
    iat,
    exp: iat + expiresIn,
  });
  return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, scope: granted.join(' ') };
}
