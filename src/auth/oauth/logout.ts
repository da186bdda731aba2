import { createDecoder, createVerifier } from 'fast-jwt';
import type { Db } from '../../db/client.js';
import type { OAuthClientRow } from '../../db/queries/oauth.js';
import type { KeySet } from '../keys/keys.js';
import type { OAuthClientCache } from './client-cache.js';

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a client sends the browser to `/oauth/logout`, with the
 * ID token it holds as a hint. The browser's session ends without a question when the hint is one of ours, names this
 * browser's session and its user; otherwise the user is asked (a forged link never signs anyone out). The browser
 * goes back only to a `post_logout_redirect_uri` the client registered, compared exactly.
 */

const decodeComplete = createDecoder({ complete: true });

export interface IdTokenHint {
  sub: string;
  sid: string | undefined;
  clientId: string;
}

/** An ID token this server signed (expired or not: a hint), or undefined. */
export function readIdTokenHint(keys: KeySet, issuer: string, token: string | undefined): IdTokenHint | undefined {
  if (!token || token.length > 4096) return undefined;
  try {
    const { header } = decodeComplete(token) as { header: { kid?: unknown; alg?: unknown } };
    const key = typeof header.kid === 'string' ? keys.byKid(header.kid) : undefined;
    if (!key || header.alg !== key.alg) return undefined;
    const verify = createVerifier({ key: key.verifyingMaterial, algorithms: [key.alg], allowedIss: issuer, checkTyp: 'JWT', ignoreExpiration: true });
    const payload = verify(token) as { sub?: unknown; sid?: unknown; aud?: unknown };
    if (typeof payload.sub !== 'string' || typeof payload.aud !== 'string') return undefined;
    return { sub: payload.sub, sid: typeof payload.sid === 'string' ? payload.sid : undefined, clientId: payload.aud };
  } catch {
    return undefined;
  }
}

export type LogoutTarget = { client: OAuthClientRow | undefined; redirectUri: string | undefined } | { problem: string };

/** Where the browser goes after signing out: a registered post-logout address of the client, or nowhere (a page of ours). */
export async function logoutTarget(deps: { db: Db; oauthClients: OAuthClientCache }, clientId: string | undefined, hint: IdTokenHint | undefined, redirectUri: string | undefined): Promise<LogoutTarget> {
  if (clientId !== undefined && hint !== undefined && clientId !== hint.clientId) return { problem: 'client_id differs from the ID token\'s audience.' };
  const id = clientId ?? hint?.clientId;
  const client = await deps.oauthClients.get(deps.db, id);
  if (redirectUri === undefined) return { client, redirectUri: undefined };
  if (!client) return { problem: 'A post_logout_redirect_uri needs the client: send client_id or id_token_hint.' };
  if (!client.postLogoutRedirectUris.includes(redirectUri)) return { problem: 'The application asked to send you to an address it has not registered (post_logout_redirect_uri).' };
  return { client, redirectUri };
}
