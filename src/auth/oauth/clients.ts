import { randomBytes } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import {
  deleteOAuthClient,
  insertOAuthClient,
  markClientSessionsRevoked,
  selectOAuthClientByRef,
  selectOAuthClients,
  updateOAuthClientSecret,
  type OAuthClientRow,
} from '../../db/queries/oauth.js';
import { AppError, type ErrorDetail } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, sessionRevokedEvent } from '../../core/events.js';
import { hashToken } from '../../core/secrets.js';
import { announceRevocations } from '../sessions/revocation-feed.js';
import type { RevocationList } from '../sessions/revocations.js';
import { syncBackchannelLogoutEndpoint } from './backchannel.js';
import { announceOAuthClientChange, type OAuthClientCache } from './client-cache.js';

/**
 * OAuth clients: the applications that sign their users in through Latchkey (OpenID Connect's relying parties), each
 * registered by an operator with its exact redirect URIs. A confidential client has a secret (256 random bits shown
 * once; its SHA-256 stored) or public keys it signs assertions with (`private_key_jwt`); a public client (an SPA, a
 * mobile app) has neither and proves each code with PKCE alone. A first-party client skips the consent page.
 */

export type OAuthClientRecord = OAuthClientRow;

/** A client as an operator sees it; never its secret. */
export interface OAuthClientInfo {
  client_id: string;
  name: string;
  /** `confidential` (a secret or keys) or `public` (PKCE alone). */
  type: 'confidential' | 'public';
  first_party: boolean;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  backchannel_logout_uri: string | null;
  token_endpoint_auth_methods: string[];
  created_at: string;
  secret_rotated_at: string | null;
}

/** A client with its secret: shown once, never stored. */
export interface OAuthClientCredentials extends OAuthClientInfo {
  client_secret: string | null;
}

export interface NewOAuthClient {
  name: string;
  redirectUris: readonly string[];
  postLogoutRedirectUris?: readonly string[];
  backchannelLogoutUri?: string | null;
  public?: boolean;
  firstParty?: boolean;
  /** Public keys for private_key_jwt, as a JWK Set. */
  jwks?: JSONWebKeySet | null;
}

export interface OAuthClientDeps {
  db: Db;
  clock: Clock;
  revocations: Pick<RevocationList, 'add'>;
  /** What this instance keeps of clients: a change drops it here at once, and on the others by NOTIFY. */
  oauthClients: Pick<OAuthClientCache, 'forget'>;
}

export const OAUTH_CLIENT_NAME_PATTERN = /^(?!lko_)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const URI_MAX = 2000;
const MAX_URIS = 20;

const newClientId = () => `lko_${randomBytes(16).toString('base64url')}`;
const newSecret = () => `lkos_${randomBytes(32).toString('base64url')}`;

export { isOAuthClientId } from './client-cache.js';

/** The token endpoint authentication methods a client may use. */
export function authMethodsOf(row: Pick<OAuthClientRow, 'secretHash' | 'jwks'>): string[] {
  const methods: string[] = [];
  if (row.secretHash) methods.push('client_secret_basic', 'client_secret_post');
  if (row.jwks) methods.push('private_key_jwt');
  return methods.length > 0 ? methods : ['none'];
}

export const isPublicClient = (row: Pick<OAuthClientRow, 'secretHash' | 'jwks'>) => !row.secretHash && !row.jwks;

export function toOAuthClientInfo(row: OAuthClientRow): OAuthClientInfo {
  return {
    client_id: row.clientId,
    name: row.name,
    type: isPublicClient(row) ? 'public' : 'confidential',
    first_party: row.firstParty,
    redirect_uris: row.redirectUris,
    post_logout_redirect_uris: row.postLogoutRedirectUris,
    backchannel_logout_uri: row.backchannelLogoutUri,
    token_endpoint_auth_methods: authMethodsOf(row),
    created_at: row.createdAt.toISOString(),
    secret_rotated_at: row.secretRotatedAt?.toISOString() ?? null,
  };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Why a redirect URI cannot be registered, or undefined when it can: an absolute URI without a fragment; https, or
 * http on a loopback address (a developer's machine, a native app's loopback redirect), or a native app's private-use
 * scheme (reverse domain name, `com.example.app:/callback`). Compared exactly at every authorization request.
 */
export function redirectUriProblem(value: string): string | undefined {
  if (value.length > URI_MAX) return `is longer than ${URI_MAX} characters`;
  if (/[\p{Cc}\s]/u.test(value)) return 'contains spaces or control characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not an absolute URI';
  }
  if (url.hash || value.includes('#')) return 'must not have a fragment';
  if (url.username || url.password) return 'must not carry credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return LOOPBACK.has(url.hostname) ? undefined : 'must be https (http only on localhost, 127.0.0.1 or [::1])';
  if (/^[a-z][a-z0-9+-]*\.[a-z0-9.+-]+:$/.test(url.protocol)) return undefined;
  return 'must be https, http on a loopback address, or a private-use scheme such as com.example.app:';
}

function registrationProblems(input: NewOAuthClient): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  if (!OAUTH_CLIENT_NAME_PATTERN.test(input.name)) {
    problems.push({ field: 'name', message: 'must be 1 to 64 letters, digits, ".", "_" or "-", from a letter or digit' });
  }
  const lists = [['redirect_uris', input.redirectUris], ['post_logout_redirect_uris', input.postLogoutRedirectUris ?? []]] as const;
  for (const [field, uris] of lists) {
    if (uris.length > MAX_URIS) problems.push({ field, message: `has more than ${MAX_URIS} addresses` });
    uris.forEach((uri, i) => {
      const problem = redirectUriProblem(uri);
      if (problem) problems.push({ field: `${field}.${i}`, message: problem });
    });
  }
  if (input.redirectUris.length === 0) problems.push({ field: 'redirect_uris', message: 'needs at least one address' });
  if (input.backchannelLogoutUri) {
    const problem = redirectUriProblem(input.backchannelLogoutUri);
    if (problem || !/^https?:/.test(input.backchannelLogoutUri)) problems.push({ field: 'backchannel_logout_uri', message: problem ?? 'must be http(s)' });
  }
  if (input.jwks) {
    const keys = (input.jwks as { keys?: unknown }).keys;
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > 10 || keys.some((k) => typeof k !== 'object' || k === null || 'd' in k)) {
      problems.push({ field: 'jwks', message: 'must be a JWK Set of 1 to 10 public keys' });
    }
    if (input.public) problems.push({ field: 'jwks', message: 'a public client has no keys' });
  }
  return problems;
}

/** The client named by `ref`: its name or client id; `oauth_client_not_found` otherwise. */
export async function findOAuthClient(db: Db, ref: string): Promise<OAuthClientRow> {
  const row = await selectOAuthClientByRef(db, ref);
  if (!row) throw new AppError('oauth_client_not_found');
  return row;
}

/** Registers an application; the answer holds its secret (a confidential client's), which is never shown again. */
export async function createOAuthClient(deps: Pick<OAuthClientDeps, 'db' | 'clock'>, input: NewOAuthClient, actor: string): Promise<OAuthClientCredentials> {
  const problems = registrationProblems(input);
  if (problems.length > 0) throw new AppError('invalid_request', `Invalid client: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}.`, problems);
  // A client with keys of its own needs no secret; a public client has neither.
  const secret = input.public || input.jwks ? null : newSecret();
  const row = await deps.db.transaction(async (tx) => {
    const row = await insertOAuthClient(tx, {
      clientId: newClientId(),
      name: input.name,
      secretHash: secret ? hashToken(secret) : null,
      redirectUris: [...new Set(input.redirectUris)],
      postLogoutRedirectUris: [...new Set(input.postLogoutRedirectUris ?? [])],
      backchannelLogoutUri: input.backchannelLogoutUri ?? null,
      firstParty: input.firstParty ?? false,
      jwks: input.jwks ?? null,
      createdAt: deps.clock.now(),
    });
    if (!row) throw new AppError('oauth_client_exists');
    await syncBackchannelLogoutEndpoint(tx, row, row.createdAt);
    await recordAuditEvent(tx, deps.clock, {
      type: 'oauth_client_created',
      details: { actor, clientId: row.clientId, name: row.name, public: isPublicClient(row), firstParty: row.firstParty },
    });
    return row;
  });
  return { ...toOAuthClientInfo(row), client_secret: secret };
}

/** Every client, by name; never a secret. */
export async function listOAuthClients(deps: Pick<OAuthClientDeps, 'db'>): Promise<OAuthClientInfo[]> {
  return (await selectOAuthClients(deps.db)).map(toOAuthClientInfo);
}

/** A new secret for a confidential client: the old one stops working at once. Its sessions go on. */
export async function rotateOAuthClientSecret(deps: Pick<OAuthClientDeps, 'db' | 'clock' | 'oauthClients'>, ref: string, actor: string): Promise<OAuthClientCredentials> {
  const found = await findOAuthClient(deps.db, ref);
  if (!found.secretHash) throw new AppError('invalid_request', 'This client has no secret to rotate: it is public, or authenticates with its own keys.');
  const secret = newSecret();
  const row = await deps.db.transaction(async (tx) => {
    const row = await updateOAuthClientSecret(tx, found.clientId, hashToken(secret), deps.clock.now());
    if (!row) throw new AppError('oauth_client_not_found');
    await announceOAuthClientChange(tx, row.clientId);
    await recordAuditEvent(tx, deps.clock, { type: 'oauth_client_secret_rotated', details: { actor, clientId: row.clientId, name: row.name } });
    return row;
  });
  deps.oauthClients.forget(row.clientId);
  return { ...toOAuthClientInfo(row), client_secret: secret };
}

/** Removes a client: its secret stops working, and every session it holds ends, on every instance, at once. */
export async function removeOAuthClient(deps: OAuthClientDeps, ref: string, actor: string): Promise<OAuthClientInfo> {
  const found = await findOAuthClient(deps.db, ref);
  const now = deps.clock.now();
  const { row, ended } = await deps.db.transaction(async (tx) => {
    const ended = await markClientSessionsRevoked(tx, found.clientId, now, 'client_removed');
    // Its back-channel logout endpoint goes with it (by cascade), before its sessions' ends are recorded: it is not told.
    const row = await deleteOAuthClient(tx, found.clientId);
    if (!row) throw new AppError('oauth_client_not_found');
    await announceOAuthClientChange(tx, row.clientId);
    await announceRevocations(tx, ended.map((s) => s.id), now);
    await recordEvents(tx, ended.map((s) => sessionRevokedEvent(s.userId, s.id, 'client_removed')), now);
    await recordAuditEvent(tx, deps.clock, { type: 'oauth_client_removed', details: { actor, clientId: row.clientId, name: row.name, sessions: ended.length } });
    return { row, ended };
  });
  deps.oauthClients.forget(row.clientId);
  for (const s of ended) deps.revocations.add(s.id, now);
  return toOAuthClientInfo(row);
}
