import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../../core/clock.js';
import { AppError } from '../../errors.js';
import type { UpstreamProvider } from './providers.js';
import type { UpstreamFlow } from './flow.js';

/**
 * Latchkey as the client of an OpenID Connect provider, on oauth4webapi: discovery (kept for a while per issuer), the
 * authorization request (code flow, PKCE S256, state and nonce), the code's exchange, the ID token checked by
 * oauth4webapi (issuer, audience, azp, expiry, nonce) and its signature by jose against the issuer's JWKS, then the
 * user's address from the ID token or, when it has none, from the UserInfo endpoint (its `sub` compared).
 */

/** Who the provider says the user is: its stable subject, and the address with whether the provider verified it. */
export interface UpstreamIdentity {
  subject: string;
  email: string | undefined;
  emailVerified: boolean;
  name: string | undefined;
}

const TIMEOUT_MS = 10_000;
const DISCOVERY_TTL_MS = 10 * 60_000;
const discovered = new Map<string, { at: number; as: Promise<oauth.AuthorizationServer> }>();
const keySets = new Map<string, JWTVerifyGetKey>();

/** oauth4webapi refuses plain http unless told: only for the loopback issuers `issuerProblem` lets through. */
const httpOptions = (issuer: string) => ({ signal: () => AbortSignal.timeout(TIMEOUT_MS), [oauth.allowInsecureRequests]: issuer.startsWith('http:') });

async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  const url = new URL(issuer);
  const response = await oauth.discoveryRequest(url, { algorithm: 'oidc', ...httpOptions(issuer) });
  return oauth.processDiscoveryResponse(url, response);
}

/** The issuer's metadata, fetched again after DISCOVERY_TTL_MS; a failed fetch is not kept. */
function metadataOf(issuer: string, clock: Clock): Promise<oauth.AuthorizationServer> {
  const now = clock.now().getTime();
  const cached = discovered.get(issuer);
  if (cached && now - cached.at < DISCOVERY_TTL_MS && now >= cached.at) return cached.as;
  const as = discover(issuer);
  discovered.set(issuer, { at: now, as });
  as.catch(() => discovered.delete(issuer));
  return as;
}

const failed = (cause: unknown) => (cause instanceof AppError ? cause : new AppError('upstream_signin_failed', { cause }));

/** Where to send the browser: the provider's authorization endpoint with this flow's state, nonce and PKCE challenge. */
export async function oidcAuthorizationUrl(provider: UpstreamProvider, flow: UpstreamFlow, clock: Clock): Promise<URL> {
  const as = await metadataOf(provider.issuer, clock).catch((err: unknown) => {
    throw new AppError('upstream_unavailable', { cause: err });
  });
  if (!as.authorization_endpoint) throw new AppError('upstream_unavailable', { cause: new Error('no authorization_endpoint') });
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: provider.clientId,
    redirect_uri: provider.redirectUri,
    response_type: 'code',
    scope: provider.scopes.join(' '),
    state: flow.state,
    nonce: flow.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(flow.verifier),
    code_challenge_method: 'S256',
  }).toString();
  return url;
}

function clientAuthOf(as: oauth.AuthorizationServer, secret: string | undefined): oauth.ClientAuth {
  if (secret === undefined) return oauth.None();
  const methods = as.token_endpoint_auth_methods_supported;
  return !methods || methods.includes('client_secret_basic') || !methods.includes('client_secret_post') ? oauth.ClientSecretBasic(secret) : oauth.ClientSecretPost(secret);
}

function keySetOf(jwksUri: string): JWTVerifyGetKey {
  let keys = keySets.get(jwksUri);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: TIMEOUT_MS });
    keySets.set(jwksUri, keys);
  }
  return keys;
}

/**
 * The identity a callback brings (`callback`: the query the provider sent back), once everything checks out; else
 * `upstream_signin_failed` (the cause kept for the log). The state was compared with the flow's by the caller already,
 * and oauth4webapi compares it again, with the `iss` the provider sends back.
 */
export async function oidcIdentity(provider: UpstreamProvider, flow: UpstreamFlow, callback: URLSearchParams, clock: Clock): Promise<UpstreamIdentity> {
  try {
    const as = await metadataOf(provider.issuer, clock);
    const client: oauth.Client = { client_id: provider.clientId };
    const params = oauth.validateAuthResponse(as, client, callback, flow.state);
    const auth = clientAuthOf(as, provider.clientSecret);
    const options = httpOptions(provider.issuer);
    const response = await oauth.authorizationCodeGrantRequest(as, client, auth, params, provider.redirectUri, flow.verifier, options);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: flow.nonce, requireIdToken: true });
    if (!as.jwks_uri || !tokens.id_token) throw new Error('no jwks_uri or no id_token');
    // oauth4webapi checks the claims but not the signature of an ID token from the token endpoint: jose does, with the
    // issuer's keys, and the issuer and audience once more.
    const { payload } = await jwtVerify(tokens.id_token, keySetOf(as.jwks_uri), { issuer: as.issuer, audience: provider.clientId, currentDate: clock.now() });
    if (payload.nonce !== flow.nonce || typeof payload.sub !== 'string') throw new Error('the ID token does not match the flow');
    const claims: Record<string, unknown> = { ...payload };
    if (typeof claims.email !== 'string' && as.userinfo_endpoint) {
      const info = await oauth.userInfoRequest(as, client, tokens.access_token, options);
      Object.assign(claims, await oauth.processUserInfoResponse(as, client, payload.sub, info), { sub: payload.sub });
    }
    return identityOf(payload.sub, claims);
  } catch (err) {
    throw failed(err);
  }
}

function identityOf(subject: string, claims: Record<string, unknown>): UpstreamIdentity {
  const email = typeof claims.email === 'string' && claims.email.includes('@') ? claims.email : undefined;
  // Only a boolean true: some providers send "true" as text, which is read as unverified rather than guessed at.
  return { subject, email, emailVerified: email !== undefined && claims.email_verified === true, name: typeof claims.name === 'string' ? claims.name : undefined };
}
