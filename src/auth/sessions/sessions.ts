import { randomUUID } from 'node:crypto';
import { addSeconds, earliest, latest } from '../../core/clock.js';
import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Metrics } from '../../core/metrics.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { RevocationList } from './revocations.js';
import type { Db } from '../../db/client.js';
import {
  addSessionMethods,
  claimRefreshToken,
  insertSession,
  lockSessionOwner,
  type NewSession,
  markChildSessionsRevoked,
  markSessionRevoked,
  markUserSessionsRevoked,
  selectSpentToken,
  type SessionRow,
} from '../../db/queries/sessions.js';
import { advanceNotBefore, selectUserById } from '../../db/queries/users.js';
import { AppError, type ErrorCode } from '../../errors.js';
import { countOutcome, type RefreshOutcome } from '../../core/metrics.js';
import { PASSWORD_AMR, signAccessToken } from './access-tokens.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, sessionRevokedEvent } from '../../core/events.js';
import { announceNotBefore, announceRevocations } from './revocation-feed.js';
import { deriveKey, open, seal, SealOpenError } from '../../core/secret-box.js';
import { generateOpaqueToken, hashToken } from '../../core/secrets.js';
import type { ClientInfo } from '../../core/client-address.js';
import { isUuid } from '../../contracts/ids.js';
import { announceUserChange, type UserCache } from '../../core/user-cache.js';

/**
 * What sessions use: the database, the clock, the token lifetimes, the signing keys, this instance's revocations,
 * and the users' session lists it keeps in memory (`GET /api/me/sessions`), told when a session opens or refreshes.
 */
export interface SessionDeps {
  db: Db;
  clock: Clock;
  config: Config;
  keys: KeyRing;
  revocations: RevocationList;
  metrics: Metrics;
  sessionLists: Pick<UserCache<unknown>, 'forget'>;
}

export interface TokenPair {
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  /** The scopes an OAuth client's session was granted (undefined for Latchkey's own sessions). */
  scope?: string | undefined;
}


interface LiveSession {
  userId: string;
  sessionId: string;
  sessionCreatedAt: Date;
  sessionExpiresAt: Date;
  emailVerified: boolean;
  amr: readonly string[];
  /** An OAuth client's session: the client its tokens name and the scopes they carry. */
  clientId?: string | null;
  scope?: string | null;
}


/**
 * Opens a new session for a user who has just proven who they are, and returns its first tokens.
 * `user.notBefore` and `user.passwordChangedAt` are the values read with the password hash that was
 * verified: if the user's credentials changed since (a reset committed while the password was being
 * checked), no session opens. `inTransaction` runs in the transaction that opens it, once it is open (to
 * audit the sign-in). `amr`: how the user proved who they were, which every token of the session carries.
 */
export async function createSession(
  deps: SessionDeps,
  user: { id: string; notBefore: Date | null; passwordChangedAt: Date | null; emailVerifiedAt: Date | null },
  client: ClientInfo = {},
  inTransaction?: (tx: Db, sessionId: string) => Promise<void>,
  amr: readonly string[] = PASSWORD_AMR,
): Promise<TokenPair | undefined> {
  const opening = prepareSession(deps, user, client, amr);
  const opened = await deps.db.transaction(async (tx) => {
    if (!(await insertSession(tx, opening.row))) return false;
    // The user's row stays share-locked until commit: it cannot be deleted before what is audited here.
    await inTransaction?.(tx, opening.row.sessionId);
    // Every instance's list of the user's sessions is stale from the commit on.
    await announceUserChange(tx, user.id);
    return true;
  });
  return opened ? sessionOpened(deps, opening) : undefined;
}

/** What makes a session an OAuth client's: its id (chosen when the code was issued), client, scopes, and the browser session behind it. */
export interface OAuthGrant {
  sessionId: string;
  clientId: string;
  scope: string;
  parentSessionId: string;
  /** When the user signed in to the browser session (the ID token's auth_time). */
  authTime: Date;
}

/** A session about to open: its row (with its first refresh token's hash), that token, and what its tokens will say. */
export interface OpeningSession {
  row: NewSession;
  refreshToken: string;
  live: LiveSession;
}

/** The session createSession opens, for a statement of its own that opens it (a passkey sign-in's), then sessionOpened. */
export function prepareSession(
  deps: Pick<SessionDeps, 'clock' | 'config'>,
  user: { id: string; notBefore: Date | null; passwordChangedAt: Date | null; emailVerifiedAt: Date | null },
  client: ClientInfo,
  amr: readonly string[],
  oauth?: OAuthGrant,
): OpeningSession {
  const now = deps.clock.now();
  // An OAuth client's session starts when its user signed in (its tokens' auth_time), which the browser session says.
  const createdAt = oauth ? oauth.authTime : user.notBefore ? latest(now, nextWholeSecond(user.notBefore)) : now;
  const sessionId = oauth?.sessionId ?? randomUUID();
  const expiresAt = addSeconds(now, deps.config.ttl.sessionMaxAge);
  const refreshToken = generateOpaqueToken();
  const row = {
    sessionId,
    userId: user.id,
    notBefore: user.notBefore,
    passwordChangedAt: user.passwordChangedAt,
    createdAt,
    expiresAt,
    ipAddress: client.ipAddress ?? null,
    userAgent: client.userAgent?.slice(0, 512) ?? null,
    refreshTokenHash: hashToken(refreshToken),
    now,
    refreshTokenExpiresAt: earliest(addSeconds(now, deps.config.ttl.refreshToken), expiresAt),
    amr,
    clientId: oauth?.clientId ?? null,
    scope: oauth?.scope ?? null,
    parentSessionId: oauth?.parentSessionId ?? null,
  };
  const live = {
    userId: user.id,
    sessionId,
    sessionCreatedAt: createdAt,
    sessionExpiresAt: expiresAt,
    emailVerified: user.emailVerifiedAt !== null,
    amr,
    clientId: oauth?.clientId ?? null,
    scope: oauth?.scope ?? null,
  };
  return { row, refreshToken, live };
}

/** The first tokens of a session once it opened; this instance's list of the user's sessions shows it at once. */
export function sessionOpened(deps: SessionDeps, opening: OpeningSession): Promise<TokenPair> {
  deps.sessionLists.forget(opening.live.userId);
  return issuePair(deps, opening.live, opening.refreshToken, opening.row.now);
}

/**
 * The first instant a session opened after a not-before may start at. Tokens carry the session's start in
 * whole seconds (`auth_time`), and a token is dead when `auth_time` * 1000 is before the not-before: a
 * session opened in the same second as a credential change, after it, starts at the next whole second, so
 * that its tokens live while those of a session opened before the change in that second are refused. Never
 * more than a second ahead of the clock: the not-before itself never is.
 */
const nextWholeSecond = (notBefore: Date) => new Date(Math.ceil(notBefore.getTime() / 1000) * 1000);

// The successor is kept encrypted under a key derived from its parent token, which only the client holds:
// a retry presenting the parent can read it back, a copy of the database (holding only hashes) cannot.
const successorKey = (parentToken: string) => deriveKey(parentToken, 'latchkey refresh token successor');

function openSuccessor(parentToken: string, sealed: string, parentHash: string): string | undefined {
  try {
    return open(successorKey(parentToken), sealed, parentHash).toString('utf8');
  } catch (err) {
    if (err instanceof SealOpenError) return undefined;
    throw err;
  }
}

/**
 * Exchanges a refresh token for a new pair. The first exchange of a token rotates it. Within
 * REFRESH_REUSE_INTERVAL, the same token presented again while its successor is still unused (a lost
 * answer, a retry, two tabs racing) gets that same successor and a fresh access token, so every caller
 * ends up holding the one live token. Any other reuse (later, or of an older ancestor) is taken as
 * theft and revokes the whole session.
 */
export function rotateRefreshToken(deps: SessionDeps, presented: string, client: ClientInfo = {}, clientId: string | null = null): Promise<TokenPair> {
  return countOutcome((outcome) => deps.metrics.refresh(outcome), REFRESH_FAILURES, () => exchangeRefreshToken(deps, presented, client, clientId));
}

const REFRESH_FAILURES: Partial<Record<ErrorCode, RefreshOutcome>> = {
  invalid_refresh_token: 'invalid',
  refresh_token_reused: 'reuse_detected',
};

type Exchanged = [TokenPair, 'rotated' | 'retried'];

/** `clientId`: the OAuth client presenting the token, null for Latchkey's own refresh; a token works only for its own. */
async function exchangeRefreshToken(deps: SessionDeps, presented: string, client: ClientInfo, clientId: string | null): Promise<Exchanged> {
  const now = deps.clock.now();
  const tokenHash = hashToken(presented);
  const successor = generateOpaqueToken();
  const successorHash = hashToken(successor);
  const refreshEnd = addSeconds(now, deps.config.ttl.refreshToken);

  const rotated = await claimRefreshToken(deps.db, {
    tokenHash,
    successorHash,
    successorSealed: seal(successorKey(presented), successor, tokenHash),
    now,
    refreshEnd,
    clientId,
  });
  if (rotated) {
    if (!rotated.id) throw new AppError('invalid_refresh_token');
    // Its last use moved: this instance's list of the user's sessions shows it at once (others within USER_CACHE_MS).
    deps.sessionLists.forget(rotated.user_id);
    return [await issuePair(deps, liveSession({ ...rotated, id: rotated.id }), successor, now), 'rotated'];
  }
  return answerSpentToken(deps, presented, tokenHash, now, client, clientId);
}

const liveSession = (row: SessionRow): LiveSession => ({
  userId: row.user_id,
  sessionId: row.id,
  sessionCreatedAt: new Date(row.created_at),
  sessionExpiresAt: new Date(row.expires_at),
  emailVerified: row.email_verified === true,
  amr: row.amr ?? PASSWORD_AMR,
  clientId: row.client_id,
  scope: row.scope,
});

/** A token that could not be claimed: unknown or expired, a retry within the window, or a replay. */
async function answerSpentToken(deps: SessionDeps, presented: string, tokenHash: string, now: Date, client: ClientInfo, clientId: string | null): Promise<Exchanged> {
  const known = await selectSpentToken(deps.db, tokenHash, now);
  // Unknown, expired unused, or of a session that has already ended: nothing more to protect. Another client's token
  // (or an OAuth client's at /api/refresh) is not one this caller may use at all: refused, and nothing revoked.
  if (!known?.rotated_at || !known.session_live || known.client_id !== clientId) throw new AppError('invalid_refresh_token');

  const sinceRotation = now.getTime() - new Date(known.rotated_at).getTime();
  if (sinceRotation <= deps.config.ttl.refreshReuseInterval * 1000 && known.successor_live && known.successor_sealed) {
    const successor = openSuccessor(presented, known.successor_sealed, tokenHash);
    if (successor) return [await issuePair(deps, liveSession(known), successor, now), 'retried'];
  }
  await revokeSession(deps, known.id, 'refresh_token_reuse');
  await recordAuditEvent(deps.db, deps.clock, { type: 'refresh_token_reused', userId: known.user_id, sessionId: known.id, client });
  throw new AppError('refresh_token_reused');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Ends one session: its refresh token stops working and its access tokens are refused from now on, on
 * every instance. `inTransaction` runs in the revoking transaction when this call revoked it (to audit
 * who did). The id of its user when this call revoked it; undefined when it was unknown or already revoked.
 */
export async function revokeSession(
  deps: Pick<SessionDeps, 'db' | 'clock' | 'revocations'>,
  id: string,
  reason: string,
  inTransaction?: (tx: Db, userId: string) => Promise<void>,
): Promise<string | undefined> {
  // Not an id a session could have (an operator's typo): nothing to revoke.
  if (!UUID.test(id)) return undefined;
  // As tokens name it (`sid`), which the revocation list compares.
  const sessionId = id.toLowerCase();
  const now = deps.clock.now();
  const { revokedOf, children } = await deps.db.transaction(async (tx) => {
    const revoked = await revokeSessionIn(tx, sessionId, reason, now);
    if (revoked.revokedOf !== undefined && inTransaction) await inTransaction(tx, revoked.revokedOf);
    return revoked;
  });
  if (revokedOf !== undefined) for (const sid of [sessionId, ...children]) deps.revocations.add(sid, now);
  return revokedOf;
}

/**
 * Revokes a session inside the caller's transaction: the id of its user, now locked (`owner`, undefined when
 * gone), and that of the user whose session this call revoked (`revokedOf`, undefined when it already was).
 */
export async function revokeSessionIn(
  tx: Db,
  sessionId: string,
  reason: string,
  now: Date,
): Promise<{ owner: string | undefined; revokedOf: string | undefined; children: string[] }> {
  // The user row first, as every change that records a user's events does: their events then take ids
  // in the order they commit, which the webhook worker's order per user relies on; one lock order, no deadlock.
  const owner = await lockSessionOwner(tx, sessionId);
  const revokedOf = await markSessionRevoked(tx, sessionId, now, reason);
  // The OAuth clients' sessions this browser session authorised end with it: one sign-out ends both kinds.
  const children = revokedOf === undefined ? [] : await markChildSessionsRevoked(tx, sessionId, now, reason);
  // Announced once, by the change that revoked it: never a session id that is unknown or already ended.
  if (revokedOf !== undefined) {
    const ended = [sessionId, ...children];
    await announceRevocations(tx, ended, now);
    await recordEvents(tx, ended.map((sid) => sessionRevokedEvent(revokedOf, sid, reason)), now);
  }
  return { owner, revokedOf, children };
}

/** Logout: ends the caller's own session, audited in the same transaction; 401 session_revoked for a session never created. */
export async function endSession(deps: SessionDeps, session: { userId: string; sessionId: string }, client: ClientInfo = {}) {
  const now = deps.clock.now();
  const children = await deps.db.transaction(async (tx) => {
    const { owner, children } = await revokeSessionIn(tx, session.sessionId, 'logout', now);
    // No session, yet its user is there: a token signed for a session id that was never created.
    if (owner === undefined && isUuid(session.userId) && (await selectUserById(tx, session.userId))) throw new AppError('session_revoked');
    // A user deleted meanwhile (its session went with it) is no longer there to be named.
    const userId = owner === undefined ? undefined : session.userId;
    await recordAuditEvent(tx, deps.clock, { type: 'logout', userId, sessionId: session.sessionId, client });
    return children;
  });
  for (const sid of [session.sessionId, ...children]) deps.revocations.add(sid, now);
}

export interface EndedSessions {
  userId: string;
  /** False when the user no longer exists (deleted by a transaction that committed first): nothing was ended. */
  userFound: boolean;
  sessionIds: string[];
  notBefore: Date;
  revokedAt: Date;
}

/**
 * Ends every session of a user inside the caller's transaction, and every sign-in still in flight against
 * the credentials being replaced: each session is revoked, and the user's not-before moves to now, so a
 * session opened before can neither start nor refresh, and its access tokens are refused. Every credential
 * change (password reset or change, account disabled or deleted, sign out everywhere) goes through here.
 * Once the transaction has committed, pass the result to `publishEndedSessions`.
 */
export async function endUserSessions(tx: Db, userId: string, reason: string, now: Date): Promise<EndedSessions> {
  // The change's own time, never ahead of the clock: however many changes come within a second, the
  // not-before (and the feed, and the sessions opened after it) stays at the latest of them.
  const user = await advanceNotBefore(tx, userId, now);
  const sessionIds = await markUserSessionsRevoked(tx, userId, now, reason);
  const notBefore = user?.notBefore ?? now;
  await announceRevocations(tx, sessionIds, now);
  await announceNotBefore(tx, userId, notBefore);
  await recordEvents(tx, sessionIds.map((sid) => sessionRevokedEvent(userId, sid, reason)), now);
  return { userId, userFound: user !== undefined, sessionIds, notBefore, revokedAt: now };
}

/** This instance's own revocation list learns at once what `endUserSessions` committed (others hear the notice). */
export function publishEndedSessions(deps: Pick<SessionDeps, 'revocations'>, ended: EndedSessions) {
  for (const sessionId of ended.sessionIds) deps.revocations.add(sessionId, ended.revokedAt);
  deps.revocations.addNotBefore(ended.userId, ended.notBefore);
}

/**
 * Raises a live session with the methods a second factor just proved (a step-up): a fresh access token carrying
 * them, and every later one of the session (its refresh token stays as it is). Undefined when the session has ended.
 */
export async function raiseSession(
  deps: SessionDeps,
  session: { userId: string; sessionId: string; emailVerified: boolean },
  amr: readonly string[],
): Promise<{ accessToken: string; expiresIn: number; amr: readonly string[] } | undefined> {
  const now = deps.clock.now();
  const raised = await addSessionMethods(deps.db, session.userId, session.sessionId, amr, now);
  if (!raised) return undefined;
  const live = { ...session, sessionCreatedAt: raised.createdAt, sessionExpiresAt: raised.expiresAt, amr: raised.amr };
  const access = await signAccessToken(deps.keys, deps.config.jwt, live, now, earliest(addSeconds(now, deps.config.ttl.accessToken), raised.expiresAt));
  return { accessToken: access.token, expiresIn: access.expiresIn, amr: raised.amr };
}

async function issuePair(deps: SessionDeps, session: LiveSession, refreshToken: string, now: Date): Promise<TokenPair> {
  // No access token outlives its session.
  const expiresAt = earliest(addSeconds(now, deps.config.ttl.accessToken), session.sessionExpiresAt);
  const access = await signAccessToken(deps.keys, deps.config.jwt, session, now, expiresAt);
  const pair: TokenPair = { sessionId: session.sessionId, accessToken: access.token, refreshToken, expiresIn: access.expiresIn };
  if (session.clientId) pair.scope = session.scope ?? '';
  return pair;
}
