import { createHash } from 'node:crypto';
import { AppError } from '../../errors.js';
import type { UpstreamFlow } from './flow.js';
import type { UpstreamIdentity } from './oidc-client.js';
import type { UpstreamProvider } from './providers.js';

/**
 * Latchkey as a GitHub OAuth app: GitHub speaks OAuth 2 without OpenID Connect, so there is no ID token and no nonce;
 * the flow has its state and PKCE (S256), and who the user is comes from the API with the access token: `/user` (the
 * numeric id, never the login, which can change hands) and `/user/emails` (the primary address, and whether GitHub
 * verified it). The provider's `issuer` is GitHub's web address: https://github.com, whose API is
 * https://api.github.com, or a GitHub Enterprise Server's, whose API is under /api/v3.
 */

const TIMEOUT_MS = 10_000;

const apiBaseOf = (web: string) => (new URL(web).hostname === 'github.com' ? 'https://api.github.com' : `${web}/api/v3`);
const challengeOf = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

export function githubAuthorizationUrl(provider: UpstreamProvider, flow: UpstreamFlow): URL {
  const url = new URL(`${provider.issuer}/login/oauth/authorize`);
  url.search = new URLSearchParams({
    client_id: provider.clientId,
    redirect_uri: provider.redirectUri,
    scope: provider.scopes.join(' '),
    state: flow.state,
    code_challenge: challengeOf(flow.verifier),
    code_challenge_method: 'S256',
    allow_signup: 'false',
  }).toString();
  return url;
}

async function getJson(url: string, init: RequestInit): Promise<unknown> {
  const res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${new URL(url).pathname} answered ${res.status}`);
  return res.json();
}

interface GithubUser {
  id?: unknown;
  name?: unknown;
}
interface GithubEmail {
  email?: unknown;
  primary?: unknown;
  verified?: unknown;
}

/** The identity a GitHub callback brings, once the code is exchanged and the API answered; `upstream_signin_failed` otherwise. */
export async function githubIdentity(provider: UpstreamProvider, flow: UpstreamFlow, callback: URLSearchParams): Promise<UpstreamIdentity> {
  try {
    const code = callback.get('code');
    if (callback.get('error') || !code) throw new Error(`GitHub answered ${callback.get('error') ?? 'without a code'}`);
    const body = new URLSearchParams({ client_id: provider.clientId, client_secret: provider.clientSecret ?? '', code, redirect_uri: provider.redirectUri, code_verifier: flow.verifier });
    const token = (await getJson(`${provider.issuer}/login/oauth/access_token`, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })) as { access_token?: unknown; error?: unknown };
    if (typeof token.access_token !== 'string') throw new Error(`the token endpoint answered ${String(token.error ?? 'no access token')}`);
    const headers = { accept: 'application/vnd.github+json', authorization: `Bearer ${token.access_token}`, 'user-agent': 'Latchkey' };
    const api = apiBaseOf(provider.issuer);
    const user = (await getJson(`${api}/user`, { headers })) as GithubUser;
    const emails = (await getJson(`${api}/user/emails`, { headers })) as GithubEmail[];
    if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new Error('/user has no id');
    const primary = Array.isArray(emails) ? emails.find((e) => e.primary === true && typeof e.email === 'string') : undefined;
    const email = primary?.email as string | undefined;
    return { subject: String(user.id), email, emailVerified: email !== undefined && primary?.verified === true, name: typeof user.name === 'string' ? user.name : undefined };
  } catch (err) {
    throw new AppError('upstream_signin_failed', { cause: err });
  }
}
