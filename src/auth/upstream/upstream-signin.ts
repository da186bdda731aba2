import { createHash, timingSafeEqual } from 'node:crypto';
import { recordAuditEvent } from '../../core/audit.js';
import type { ClientInfo } from '../../core/client-address.js';
import { consumeOneTimeToken, issueOneTimeToken } from '../../core/one-time-tokens.js';
import { secondFactorsOf } from '../../db/queries/mfa.js';
import { AppError } from '../../errors.js';
import type { TokenPair } from '../sessions/sessions.js';
import { enrolmentRequired, refuseUnverified, startSession, type SignInDeps } from '../sessions/sign-in.js';
import { credentialStamp, findUserById, type User } from '../users/users.js';
import { newFlow, sealFlow, takeFlow, type FlowKind, type UpstreamFlow } from './flow.js';
import { githubAuthorizationUrl, githubIdentity } from './github-client.js';
import { accountOfIdentity, linkIdentity } from './identities.js';
import { oidcAuthorizationUrl, oidcIdentity, type UpstreamIdentity } from './oidc-client.js';
import { findUpstreamProvider, type ProviderDeps, type UpstreamProvider } from './providers.js';
import './token-types.js';

/**
 * Sign-in through an upstream provider, from the start (where to send the browser, and the sealed flow its cookie
 * keeps) to the callback (the flow taken once, the identity checked, the account found) and on: a session for the
 * hosted pages, a code an app exchanges for its tokens, or a link for a signed-in user. Whatever the way in, an account
 * with a second factor still needs it (the same second step as a password's: `mfa_required`), a disabled one is
 * refused, and a role that must have a factor and has none gets the same enrolment a password's sign-in gets.
 */

export type UpstreamDeps = SignInDeps & ProviderDeps;

/** How an upstream sign-in proved who the user is (`amr`): federated, as OpenID Connect providers name it. */
export const UPSTREAM_AMR = ['fed'] as const;
// How long an app has to exchange its code: it does so at once.
const EXCHANGE_CODE_TTL_SECONDS = 120;
const MFA_TOKEN_TTL_SECONDS = 300;

export interface StartedFlow {
  /** The provider's authorization endpoint, with this flow's parameters. */
  url: string;
  /** The flow, sealed: the value of the browser's flow cookie. */
  cookie: string;
}

/** Starts a flow with the provider (`upstream_provider_not_found`, `upstream_unavailable`). */
export async function startUpstreamFlow(
  deps: UpstreamDeps,
  name: string,
  input: { kind: FlowKind; to: string; challenge?: string | undefined; userId?: string | undefined; sessionId?: string | undefined },
): Promise<StartedFlow> {
  const provider = await findUpstreamProvider(deps, name);
  const flow = newFlow(deps.clock.now(), { provider: provider.name, ...input });
  const url = provider.type === 'github' ? githubAuthorizationUrl(provider, flow) : await oidcAuthorizationUrl(provider, flow, deps.clock);
  return { url: url.href, cookie: sealFlow(deps.upstreamKeys.flows, flow) };
}

/** What a callback came to. */
export type CallbackOutcome = { kind: 'browser'; user: User; tokens: TokenPair } | { kind: 'api'; code: string } | { kind: 'link' };

/**
 * The flow a callback finishes, taken once: `cookie` the browser's flow cookie, `state` the one the provider sent
 * back (./flow.ts); `upstream_flow_invalid` otherwise.
 */
export function takeUpstreamFlow(deps: UpstreamDeps, name: string, cookie: string | undefined, state: string | undefined): Promise<UpstreamFlow> {
  return takeFlow({ db: deps.db, key: deps.upstreamKeys.flows, now: deps.clock.now() }, cookie, name, state);
}

/**
 * Finishes a taken flow with what the provider sent back (`query`). `linkingUser` gives, for a link, the user the
 * browser is signed in as now, who must be the one who started it. Throws `upstream_signin_failed`, the refusals of
 * ./identities.ts, and those of a sign-in (mfa_required, account_disabled…).
 */
export async function finishUpstreamFlow(
  deps: UpstreamDeps,
  flow: UpstreamFlow,
  query: URLSearchParams,
  client: ClientInfo,
  linkingUser: (flow: UpstreamFlow) => Promise<User | undefined>,
): Promise<CallbackOutcome> {
  const provider = await findUpstreamProvider(deps, flow.provider);
  const identity = await identityOf(deps, provider, flow, query, client);
  if (flow.kind === 'link') {
    const user = await linkingUser(flow);
    if (!user) throw new AppError('upstream_flow_invalid');
    await linkIdentity(deps, user, provider.name, identity, client);
    return { kind: 'link' };
  }
  const user = await accountOfIdentity(deps, provider.name, identity, client);
  if (flow.kind === 'api') {
    const payload = { provider: provider.name, challenge: flow.challenge ?? '', credentials: credentialStamp(user) };
    const { token } = await issueOneTimeToken(deps.db, { type: 'upstream_signin', userId: user.id, now: deps.clock.now(), ttlSeconds: EXCHANGE_CODE_TTL_SECONDS, payload });
    return { kind: 'api', code: token };
  }
  return { kind: 'browser', ...(await openUpstreamSession(deps, user, provider.name, client)) };
}

async function identityOf(deps: UpstreamDeps, provider: UpstreamProvider, flow: UpstreamFlow, query: URLSearchParams, client: ClientInfo): Promise<UpstreamIdentity> {
  try {
    return provider.type === 'github' ? await githubIdentity(provider, flow, query) : await oidcIdentity(provider, flow, query, deps.clock);
  } catch (err) {
    const reason = query.get('error') ? 'upstream_error' : 'upstream_invalid_answer';
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', client, details: { reason, upstream: provider.name } });
    deps.logger.warn({ err: (err as AppError).cause instanceof Error ? ((err as AppError).cause as Error).message : String(err), upstream: provider.name }, 'upstream sign-in refused');
    throw err;
  }
}

/**
 * Opens the session of a user an upstream provider identified, as a password's sign-in would once the password is
 * right: refused when disabled or (REQUIRE_EMAIL_VERIFICATION) unverified; the second step when the account has a
 * factor; the enrolment when its role needs one it has not got.
 */
export async function openUpstreamSession(deps: UpstreamDeps, user: User, provider: string, client: ClientInfo): Promise<{ user: User; tokens: TokenPair }> {
  if (user.disabledAt) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user.id, email: user.email, client, details: { reason: 'account_disabled', upstream: provider } });
    throw new AppError('account_disabled');
  }
  await refuseUnverified(deps, user, client);
  const factors = await secondFactorsOf(deps.db, user.id);
  if (factors.totp || factors.passkeys > 0) {
    const payload = { provider, credentials: credentialStamp(user) };
    const { token } = await issueOneTimeToken(deps.db, { type: 'mfa_signin_upstream', userId: user.id, now: deps.clock.now(), ttlSeconds: MFA_TOKEN_TTL_SECONDS, payload });
    await recordAuditEvent(deps.db, deps.clock, { type: 'mfa_required', userId: user.id, email: user.email, client, details: { upstream: provider } });
    deps.metrics.signin('mfa_required');
    const methods = [...(factors.totp ? ['totp'] : []), 'recovery_code', ...(factors.passkeys > 0 ? ['passkey'] : [])];
    throw new AppError('mfa_required', { fields: { mfa_token: token, methods } });
  }
  if (deps.config.mfa.requiredForRoles.includes(user.role)) throw await enrolmentRequired(deps, user, client);
  const opened = await startSession(deps, user, client, UPSTREAM_AMR, { upstream: provider });
  deps.metrics.signin('success');
  return opened;
}

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * An app's code exchanged for its session (`POST /api/signin/<provider>/exchange`): the code is spent first (a wrong
 * verifier spends it too, so it cannot be guessed at), then its provider and the app's PKCE verifier must match, and
 * the user's credentials must not have changed since. `invalid_exchange_code` otherwise.
 */
export async function exchangeUpstreamCode(deps: UpstreamDeps, name: string, input: { code: string; codeVerifier: string }, client: ClientInfo): Promise<{ user: User; tokens: TokenPair }> {
  const spent = await consumeOneTimeToken(deps.db, 'upstream_signin', input.code, deps.clock.now());
  const fits = spent && spent.payload.provider === name && spent.payload.challenge !== '' && sameText(spent.payload.challenge, s256(input.codeVerifier));
  const user = fits ? await findUserById(deps.db, spent.userId) : undefined;
  if (!spent || !user || credentialStamp(user) !== spent.payload.credentials) {
    await recordAuditEvent(deps.db, deps.clock, { type: 'signin_failed', userId: user?.id, client, details: { reason: 'invalid_exchange_code', upstream: name } });
    throw new AppError('invalid_exchange_code');
  }
  return openUpstreamSession(deps, user, name, client);
}
