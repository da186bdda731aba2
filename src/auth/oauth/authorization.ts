import { randomUUID } from 'node:crypto';
import { epochSeconds, type Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { hasSecondFactor } from '../../db/queries/mfa.js';
import { selectConsent, upsertConsent, type OAuthClientRow } from '../../db/queries/oauth.js';
import { recordAuditEvent } from '../../core/audit.js';
import { CODE_TTL_SECONDS, redirectUriHash, sealCode } from './codes.js';
import type { ClientInfo } from '../../core/client-address.js';
import type { OAuthClientCache } from './client-cache.js';
import { parseScope, type OAuthScope } from './scopes.js';

/**
 * The authorization endpoint's rules (OAuth 2.1, OpenID Connect Core §3.1.2): a request is checked in two stages. Until
 * its client and redirect URI are known good, an error is shown on a page of Latchkey's (never sent to an address
 * nobody registered); after, it goes back to the client's redirect URI with `state` and `iss` (RFC 9207). The code
 * is single use, bound to its client, redirect URI, PKCE challenge (S256 only) and nonce, and lives a minute
 * (src/auth/oauth/codes.ts).
 */

const STATE_MAX = 512;
const NONCE_MAX = 512;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export type Prompt = 'none' | 'login' | 'consent';

/** A request whose client and redirect URI are good, and whose other parameters are too. */
export interface AuthorizationRequest {
  client: OAuthClientRow;
  redirectUri: string;
  state: string;
  scopes: OAuthScope[];
  nonce: string | null;
  codeChallenge: string;
  prompt: Set<Prompt>;
  /** Seconds since the user's sign-in beyond which they must sign in again; null: no bound. */
  maxAge: number | null;
  /** `aal2`: the client asks for a second factor. */
  acr: 'aal2' | null;
  loginHint: string | null;
}

/** An error for the client's redirect URI (its `state` with it), or one for a page of Latchkey's. */
export type RequestProblem =
  | { to: 'page'; description: string }
  | { to: 'client'; redirectUri: string; state: string | undefined; error: string; description: string };

export type AuthorizationQuery = Record<string, string | undefined>;

/** Checks an authorization request's parameters against its registered client. */
export async function checkAuthorizationRequest(
  deps: { db: Db; oauthClients: OAuthClientCache },
  q: AuthorizationQuery,
): Promise<AuthorizationRequest | RequestProblem> {
  const client = await deps.oauthClients.get(deps.db, q.client_id);
  if (!client) return { to: 'page', description: 'The application that sent you here is not registered with this server (unknown client_id).' };
  // Compared exactly, character for character: no prefix, no normalisation.
  if (!q.redirect_uri || !client.redirectUris.includes(q.redirect_uri)) {
    return { to: 'page', description: 'The application asked to send you back to an address it has not registered (redirect_uri).' };
  }
  const redirectUri = q.redirect_uri;
  const state = q.state;
  const fail = (error: string, description: string): RequestProblem => ({ to: 'client', redirectUri, state, error, description });
  if (q.request !== undefined) return fail('request_not_supported', 'Request objects are not supported.');
  if (q.request_uri !== undefined) return fail('request_uri_not_supported', 'request_uri is not supported.');
  if (q.response_type !== 'code') return fail('unsupported_response_type', 'Only response_type=code is supported.');
  if (q.response_mode !== undefined && q.response_mode !== 'query') return fail('invalid_request', 'Only response_mode=query is supported.');
  if (!state || state.length > STATE_MAX) return fail('invalid_request', `state is required (at most ${STATE_MAX} characters).`);
  if (!q.code_challenge) return fail('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256.');
  if (q.code_challenge_method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256 (plain is refused).');
  if (!CHALLENGE.test(q.code_challenge)) return fail('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters).');
  const scopes = parseScope(q.scope);
  if (!scopes) return fail('invalid_scope', 'The scope is malformed.');
  if (q.nonce !== undefined && (q.nonce.length === 0 || q.nonce.length > NONCE_MAX)) return fail('invalid_request', `nonce must be 1 to ${NONCE_MAX} characters.`);
  const prompt = new Set((q.prompt ?? '').split(' ').filter(Boolean));
  if ([...prompt].some((p) => p !== 'none' && p !== 'login' && p !== 'consent')) return fail('invalid_request', 'prompt may be none, login or consent.');
  if (prompt.has('none') && prompt.size > 1) return fail('invalid_request', 'prompt=none cannot be combined with another value.');
  let maxAge: number | null = null;
  if (q.max_age !== undefined) {
    if (!/^\d{1,9}$/.test(q.max_age)) return fail('invalid_request', 'max_age must be a whole number of seconds.');
    maxAge = Number(q.max_age);
  }
  const acrs = (q.acr_values ?? '').split(' ').filter(Boolean);
  return {
    client,
    redirectUri,
    state,
    scopes,
    nonce: q.nonce ?? null,
    codeChallenge: q.code_challenge,
    prompt: prompt as Set<Prompt>,
    maxAge,
    acr: acrs.includes('aal2') ? 'aal2' : null,
    loginHint: q.login_hint && q.login_hint.length <= 320 ? q.login_hint : null,
  };
}

/** Whether the user must be asked before the client gets what it asks: a third-party client, and scopes not allowed yet. */
export async function needsConsent(db: Db, userId: string, request: AuthorizationRequest): Promise<boolean> {
  if (request.client.firstParty) return false;
  if (request.prompt.has('consent')) return true;
  const allowed = await selectConsent(db, userId, request.client.clientId);
  return !allowed || request.scopes.some((s) => !allowed.includes(s));
}

/** Records that the user allowed the client these scopes (with those allowed before). */
export async function grantConsent(deps: { db: Db; clock: Clock }, userId: string, request: AuthorizationRequest, client: ClientInfo): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const before = (await selectConsent(tx, userId, request.client.clientId)) ?? [];
    const scopes = [...new Set([...before, ...request.scopes])];
    await upsertConsent(tx, userId, request.client.clientId, scopes, deps.clock.now());
    await recordAuditEvent(tx, deps.clock, {
      type: 'oauth_consent_granted',
      userId,
      client,
      details: { clientId: request.client.clientId, name: request.client.name, scopes },
    });
  });
}

/** The browser session a code is issued from: its user (and their credentials' times), when and how they signed in. */
export interface SigningInSession {
  user: { id: string; notBefore: Date | null; passwordChangedAt: Date | null };
  sessionId: string;
  /** Seconds since the epoch. */
  authTime: number;
  amr: readonly string[];
}

/** The code that answers an accepted request: sealed, not stored (src/auth/oauth/codes.ts). */
export function issueAuthorizationCode(deps: { clock: Clock; oauthCodeKey: Buffer }, request: AuthorizationRequest, session: SigningInSession): string {
  return sealCode(deps.oauthCodeKey, {
    clientId: request.client.clientId,
    redirectUriHash: redirectUriHash(request.redirectUri),
    codeChallenge: request.codeChallenge,
    scope: request.scopes.join(' '),
    nonce: request.nonce,
    userId: session.user.id,
    notBefore: session.user.notBefore?.getTime() ?? null,
    passwordChangedAt: session.user.passwordChangedAt?.getTime() ?? null,
    parentSessionId: session.sessionId,
    authTime: session.authTime,
    amr: [...session.amr],
    sessionId: randomUUID(),
    expiresAt: epochSeconds(deps.clock.now()) + CODE_TTL_SECONDS,
  });
}

/** The address a browser is sent back to: the redirect URI with the answer's parameters, `iss` always. */
export function redirectWith(redirectUri: string, issuer: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries({ ...params, iss: issuer })) if (value !== undefined) url.searchParams.set(name, value);
  return url.href;
}

/** Whether the user has a second factor to step up with. */
export const userHasSecondFactor = (db: Db, userId: string) => hasSecondFactor(db, userId);
