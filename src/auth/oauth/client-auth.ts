import { timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { insertClientAssertion, type OAuthClientRow } from '../../db/queries/oauth.js';
import { hashToken } from '../../core/secrets.js';
import { basicCredentials } from '../../core/basic-auth.js';
import { CLOCK_SKEW_SECONDS } from '../keys/clock-skew.js';
import { isOAuthClientId, type OAuthClientCache } from './client-cache.js';
import { isPublicClient } from './clients.js';
import { oauthError } from './errors.js';

/**
 * Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3, OpenID Connect Core §9):
 * `client_secret_basic`, `client_secret_post`, `private_key_jwt` (an assertion signed with a key the client registered,
 * each `jti` accepted once), or `none` for a public client, which then only names itself. One method per request.
 */

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const SECRET_PATTERN = /^lkos_[A-Za-z0-9_-]{43}$/;
const MAX_AUTHORIZATION_LENGTH = 512;
const MAX_ASSERTION_LIFETIME_S = 300;

/** What a request offers to prove which client it is. */
export interface ClientProof {
  authorization?: string | undefined;
  client_id?: string | undefined;
  client_secret?: string | undefined;
  client_assertion_type?: string | undefined;
  client_assertion?: string | undefined;
}

export interface AuthenticatedClient {
  row: OAuthClientRow;
  /** How it proved it: `none` for a public client. */
  method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
}

const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
const NO_CLIENT_HASH = hashToken('no such client');

/** The client id and secret of a Basic header, each form-encoded (RFC 6749 §2.3.1); undefined when there is none. */
function clientBasic(header: string | undefined): { clientId: string; secret: string } | 'malformed' | undefined {
  const basic = basicCredentials(header, MAX_AUTHORIZATION_LENGTH);
  if (typeof basic !== 'object') return basic;
  try {
    return { clientId: decodeURIComponent(basic.id.replaceAll('+', ' ')), secret: decodeURIComponent(basic.secret.replaceAll('+', ' ')) };
  } catch {
    return 'malformed';
  }
}

const failed = () => oauthError('invalid_client', 'Client authentication failed.');

/**
 * The client a request proves it is. `audiences`: what a client assertion's `aud` may name (the token endpoint's
 * address, or the issuer). Throws `invalid_client` (401) for a missing, unknown or wrong credential, and
 * `invalid_request` for two methods at once.
 */
type ClientAuthDeps = { db: Db; clock: Clock; oauthClients: OAuthClientCache };

export async function authenticateClient(
  deps: ClientAuthDeps,
  proof: ClientProof,
  audiences: readonly string[],
): Promise<AuthenticatedClient> {
  const basic = clientBasic(proof.authorization);
  const offered = [basic, proof.client_secret, proof.client_assertion].filter((p) => p !== undefined).length;
  if (offered > 1) throw oauthError('invalid_request', 'Use one client authentication method, not several.');
  if (basic === 'malformed') throw failed();
  if (basic) return bySecret(deps, basic.clientId, basic.secret, 'client_secret_basic', proof.client_id);
  if (proof.client_secret !== undefined) return bySecret(deps, proof.client_id ?? '', proof.client_secret, 'client_secret_post');
  if (proof.client_assertion !== undefined) return byAssertion(deps, proof, audiences);
  // No credential: a public client names itself, and proves each code with PKCE.
  const row = await deps.oauthClients.get(deps.db, proof.client_id);
  if (!row || !isPublicClient(row)) throw failed();
  return { row, method: 'none' };
}

async function bySecret(deps: ClientAuthDeps, clientId: string, secret: string, method: 'client_secret_basic' | 'client_secret_post', named?: string): Promise<AuthenticatedClient> {
  // A client id in the body as well must be the same client.
  if (named !== undefined && named !== clientId) throw failed();
  const known = isOAuthClientId(clientId) && SECRET_PATTERN.test(secret);
  const row = known ? await deps.oauthClients.get(deps.db, clientId) : undefined;
  // Compared whether or not the client exists, so that both failures cost the same.
  if (!sameHash(hashToken(secret), row?.secretHash ?? NO_CLIENT_HASH) || !row) throw failed();
  return { row, method };
}

async function byAssertion(deps: ClientAuthDeps, proof: ClientProof, audiences: readonly string[]): Promise<AuthenticatedClient> {
  if (proof.client_assertion_type !== CLIENT_ASSERTION_TYPE) throw oauthError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}.`);
  const assertion = proof.client_assertion ?? '';
  if (assertion.length > 8192) throw failed();
  let issuer: unknown;
  try {
    issuer = decodeJwt(assertion).iss;
  } catch {
    throw failed();
  }
  if (typeof issuer !== 'string' || !isOAuthClientId(issuer) || (proof.client_id !== undefined && proof.client_id !== issuer)) throw failed();
  const row = await deps.oauthClients.get(deps.db, issuer);
  if (!row?.jwks) throw failed();
  const now = deps.clock.now();
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(row.jwks as JSONWebKeySet), {
      issuer: row.clientId,
      subject: row.clientId,
      audience: [...audiences],
      algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      currentDate: now,
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp', 'jti'],
    }));
  } catch {
    throw failed();
  }
  const expiresAt = new Date(payload.exp! * 1000);
  if (expiresAt.getTime() - now.getTime() > MAX_ASSERTION_LIFETIME_S * 1000 || typeof payload.jti !== 'string' || payload.jti.length > 200) throw failed();
  // Each assertion once: a copy replayed within its lifetime is refused.
  if (!(await insertClientAssertion(deps.db, row.clientId, payload.jti, expiresAt))) throw failed();
  return { row, method: 'private_key_jwt' };
}
