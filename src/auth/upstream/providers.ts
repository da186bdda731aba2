import { recordAuditEvent } from '../../core/audit.js';
import type { Clock } from '../../core/clock.js';
import { deriveKey, open, seal } from '../../core/secret-box.js';
import type { UpstreamProviderInfo, RemovedUpstreamProvider, UpstreamType } from '../../contracts/upstream.js';
import type { Db } from '../../db/client.js';
import {
  deleteUpstreamProvider,
  insertUpstreamProvider,
  selectUpstreamProvider,
  selectUpstreamProviders,
  type UpstreamProviderRow,
} from '../../db/queries/upstream.js';
import { AppError } from '../../errors.js';

/**
 * The upstream providers users may sign in with (`latchkey providers add|list|remove`): an OpenID Connect issuer, or
 * GitHub. Each row holds the client Latchkey is at that provider, its secret sealed under a key derived from
 * SECRET_KEY. A server reads the rows at each sign-in, and keeps the names the sign-in page shows for a few seconds
 * only, so that a provider added or removed by the command line shows on every instance without a restart.
 */

/** The keys of upstream sign-in, derived from SECRET_KEY, each for one purpose alone. */
export interface UpstreamKeys {
  /** Seals the providers' client secrets at rest. */
  clientSecrets: Buffer;
  /** Seals the cookie that holds a sign-in flow in progress (its state, nonce and PKCE verifier). */
  flows: Buffer;
}

export function upstreamKeys(secret: string | Uint8Array): UpstreamKeys {
  return {
    clientSecrets: deriveKey(secret, 'latchkey upstream client secrets v1'),
    flows: deriveKey(secret, 'latchkey upstream sign-in flows v1'),
  };
}

export interface ProviderDeps {
  db: Db;
  clock: Clock;
  config: { publicUrl: string };
  upstreamKeys: UpstreamKeys;
}

/** A name is part of the provider's URLs (`/api/signin/<name>`): lower-case letters, digits, `-` and `_`. */
export const PROVIDER_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;
/** Names of the sign-in routes of Latchkey's own, which a provider's would shadow. */
export const RESERVED_PROVIDER_NAMES: readonly string[] = ['mfa', 'passkey'];
export const GITHUB_WEB = 'https://github.com';
export const DEFAULT_SCOPES: Record<UpstreamType, readonly string[]> = { oidc: ['openid', 'email', 'profile'], github: ['read:user', 'user:email'] };

const isLoopbackHost = (host: string) => host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);

/**
 * Why an issuer (or GitHub's web address) is refused, or undefined. Only https: a provider's answers decide who signs
 * in, so they must come over TLS. Plain http is allowed on a loopback address alone (a provider on the same machine,
 * as in development and the tests), where nothing crosses a network.
 */
export function issuerProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.username || url.password || url.search || url.hash) return 'must have no credentials, query or fragment';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return undefined;
  return 'must be https:// (plain http:// only on a loopback address)';
}

/** The redirect URI to register at a provider: the callback of its flow here. */
export const redirectUriOf = (publicUrl: string, name: string) => `${publicUrl.replace(/\/$/, '')}/api/signin/${name}/callback`;

const toInfo = (row: UpstreamProviderRow, publicUrl: string): UpstreamProviderInfo => ({
  name: row.name,
  type: row.type as UpstreamType,
  issuer: row.issuer ?? '',
  client_id: row.clientId,
  scopes: row.scopes,
  redirect_uri: redirectUriOf(publicUrl, row.name),
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

export interface NewProvider {
  name: string;
  type: UpstreamType;
  issuer?: string | undefined;
  clientId: string;
  clientSecret: string;
  scopes?: readonly string[] | undefined;
}

/** Adds a provider (`upstream_provider_exists` if the name is taken); audited. */
export async function addUpstreamProvider(deps: ProviderDeps, input: NewProvider, actor: string): Promise<UpstreamProviderInfo> {
  const now = deps.clock.now();
  const issuer = input.issuer ?? (input.type === 'github' ? GITHUB_WEB : undefined);
  if (!issuer) throw new AppError('invalid_request', 'An OpenID Connect provider needs its issuer.');
  const problem = issuerProblem(issuer);
  if (problem) throw new AppError('invalid_request', `issuer: ${problem}`);
  const row: UpstreamProviderRow = {
    name: input.name,
    type: input.type,
    // GitHub's address is a base the paths are added to; an OpenID issuer is kept exactly as given, as discovery compares it.
    issuer: input.type === 'github' ? issuer.replace(/\/+$/, '') : issuer,
    clientId: input.clientId,
    clientSecretSealed: seal(deps.upstreamKeys.clientSecrets, input.clientSecret, `upstream ${input.name}`),
    scopes: [...(input.scopes?.length ? input.scopes : DEFAULT_SCOPES[input.type])],
    createdAt: now,
    updatedAt: now,
  };
  const inserted = await deps.db.transaction(async (tx) => {
    const stored = await insertUpstreamProvider(tx, row);
    if (!stored) throw new AppError('upstream_provider_exists');
    await recordAuditEvent(tx, deps.clock, { type: 'upstream_provider_added', details: { actor, provider: row.name, type: row.type, issuer: row.issuer } });
    return stored;
  });
  forgetProviderNames(deps.db);
  return toInfo(inserted, deps.config.publicUrl);
}

export async function listUpstreamProviders(deps: Pick<ProviderDeps, 'db' | 'config'>): Promise<UpstreamProviderInfo[]> {
  return (await selectUpstreamProviders(deps.db)).map((row) => toInfo(row, deps.config.publicUrl));
}

/** Removes a provider and every identity linked through it (`upstream_provider_not_found`); audited. */
export async function removeUpstreamProvider(deps: ProviderDeps, name: string, actor: string): Promise<RemovedUpstreamProvider> {
  const removed = await deps.db.transaction(async (tx) => {
    const gone = await deleteUpstreamProvider(tx, name);
    if (!gone) throw new AppError('upstream_provider_not_found');
    await recordAuditEvent(tx, deps.clock, { type: 'upstream_provider_removed', details: { actor, provider: name, identities: gone.identities } });
    return gone;
  });
  forgetProviderNames(deps.db);
  return { ...toInfo(removed.provider, deps.config.publicUrl), identities_unlinked: removed.identities };
}

/** A provider ready to be talked to: its client secret opened. */
export interface UpstreamProvider {
  name: string;
  type: UpstreamType;
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  scopes: readonly string[];
  redirectUri: string;
}

/** The provider of this name, its secret opened; `upstream_provider_not_found` if there is none. */
export async function findUpstreamProvider(deps: ProviderDeps, name: string): Promise<UpstreamProvider> {
  const row = PROVIDER_NAME_PATTERN.test(name) ? await selectUpstreamProvider(deps.db, name) : undefined;
  if (!row?.issuer) throw new AppError('upstream_provider_not_found');
  const secret = row.clientSecretSealed === null ? undefined : open(deps.upstreamKeys.clientSecrets, row.clientSecretSealed, `upstream ${row.name}`).toString('utf8');
  return {
    name: row.name,
    type: row.type as UpstreamType,
    issuer: row.issuer,
    clientId: row.clientId,
    clientSecret: secret,
    scopes: row.scopes,
    redirectUri: redirectUriOf(deps.config.publicUrl, row.name),
  };
}

// How long an instance shows the providers' names it read: a change made elsewhere shows within this.
const NAMES_TTL_MS = 5_000;
const namesCache = new WeakMap<Db, { at: number; names: Promise<string[]> }>();

/** The providers' names, for the sign-in page's buttons: read at most every NAMES_TTL_MS per instance. */
export function upstreamProviderNames(deps: { db: Db; clock: Clock }): Promise<string[]> {
  const now = deps.clock.now().getTime();
  const cached = namesCache.get(deps.db);
  if (cached && now - cached.at < NAMES_TTL_MS && now >= cached.at) return cached.names;
  const names = selectUpstreamProviders(deps.db).then((rows) => rows.map((r) => r.name));
  namesCache.set(deps.db, { at: now, names });
  // A failed read is not kept: the next page asks again.
  names.catch(() => namesCache.delete(deps.db));
  return names;
}

const forgetProviderNames = (db: Db) => void namesCache.delete(db);
