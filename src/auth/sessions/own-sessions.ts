import { epochSeconds, type Clock } from '../../core/clock.js';
import type { UserCache } from '../../core/user-cache.js';
import type { Db } from '../../db/client.js';
import type { RevocationList } from './revocations.js';
import { isSessionLive, markOtherSessionsRevoked, selectLiveSessions, type LiveSessionRow } from '../../db/queries/sessions.js';
import { lockUserRow, selectUserById, type UserRow } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, sessionRevokedEvent } from '../../core/events.js';
import type { ClientInfo } from '../../core/client-address.js';
import { isUuid } from '../../contracts/ids.js';
import type { OwnSession } from '../../contracts/sessions.js';
import { announceRevocations } from './revocation-feed.js';
import { endSession, endUserSessions, publishEndedSessions, revokeSessionIn, type SessionDeps } from './sessions.js';

/**
 * A user's own sessions: the list, and the ends they choose (one session, every other one, all of them). Each end
 * reaches every instance at once, as logout does (the revocation list, its notice, a `session.revoked` event),
 * and is audited with `actor: "user"` in its own transaction.
 */

interface OwnSessionDeps {
  db: Db;
  clock: Clock;
  revocations: RevocationList;
}

/** Who asks: the user and the session of their access token. */
export interface Caller {
  userId: string;
  sessionId: string;
}

// Every end a user chooses is a logout of those sessions, as services hear of it (the event's `reason`).
const REASON = 'logout';

/** A live session as the list shows it, made once when read (newest first), with what decides whether it still lives. */
export interface ListedSession {
  view: Omit<OwnSession, 'current'>;
  expiresAt: number;
  /** When it opened, in seconds: what the revocation list compares with its user's not-before. */
  authTime: number;
}

interface ListDeps {
  db: Db;
  clock: Clock;
  revocations: RevocationList;
  sessionLists: UserCache<ListedSession[]>;
}

/**
 * The caller's live sessions (those an operator's `sessions list` shows), newest first, theirs marked `current`.
 * Read from the database at most once per USER_CACHE_MS, unless the user changes: a session opened on any
 * instance drops the list everywhere (its notice), one ended is left out at once (the revocation list, which
 * every instance keeps current), a refresh here shows at once. Only the last use of a session refreshed on
 * another instance may lag, by USER_CACHE_MS at most.
 */
export async function listOwnSessions(deps: ListDeps, caller: Caller): Promise<OwnSession[]> {
  const now = deps.clock.now();
  const live = (listed: ListedSession[]) =>
    listed.filter((s) => s.expiresAt > now.getTime() && !deps.revocations.isRevoked({ sessionId: s.view.id, userId: caller.userId, authTime: s.authTime }));
  const cached = deps.revocations.isStale() ? undefined : deps.sessionLists.get(caller.userId);
  let sessions = cached && live(cached);
  // The caller's own session missing: opened after the list was read, its notice not heard yet. Read again.
  if (!sessions?.some((s) => s.view.id === caller.sessionId)) sessions = live(await readLiveSessions(deps, caller, now));
  return sessions.map((s) => ({ ...s.view, current: s.view.id === caller.sessionId }));
}

const listed = (r: LiveSessionRow): ListedSession => ({
  view: {
    id: r.id,
    created_at: r.createdAt.toISOString(),
    last_used_at: (r.lastRefreshedAt ?? r.createdAt).toISOString(),
    expires_at: r.expiresAt.toISOString(),
    ip_address: r.ipAddress,
    user_agent: r.userAgent,
  },
  expiresAt: r.expiresAt.getTime(),
  authTime: epochSeconds(r.createdAt),
});

/** The user's live sessions from the database, newest first, kept in memory as read at `now`. */
async function readLiveSessions(deps: ListDeps, caller: Caller, now: Date): Promise<ListedSession[]> {
  const user = isUuid(caller.userId) ? await selectUserById(deps.db, caller.userId) : undefined;
  // Deleted meanwhile: its sessions went with it.
  if (!user) throw new AppError('session_revoked');
  const sessions = (await selectLiveSessions(deps.db, user, now)).reverse().map(listed);
  deps.sessionLists.set(user.id, '', sessions, now.getTime());
  return sessions;
}

/**
 * Ends one of the caller's live sessions, theirs or another. `session_not_found` for any other id (another
 * user's, an unknown or malformed one, a session already ended), with nothing changed: whether it is the caller's
 * is read once their user row is locked, in the transaction that revokes it, so two requests for one session
 * end it once.
 */
export async function endOwnSession(deps: OwnSessionDeps, caller: Caller, id: string, client: ClientInfo = {}): Promise<void> {
  if (!isUuid(id) || !isUuid(caller.userId)) throw new AppError('session_not_found');
  const sessionId = id.toLowerCase();
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    // The user before the sessions (the lock order of src/db/queries/sessions.ts): a second end of the same
    // session waits here, then finds it ended.
    const userId = (await lockUserRow(tx, caller.userId))?.id;
    if (!userId || !(await isSessionLive(tx, sessionId, now, userId))) throw new AppError('session_not_found');
    await revokeSessionIn(tx, sessionId, REASON, now);
    await recordAuditEvent(tx, deps.clock, { type: 'session_revoked', userId, sessionId, client, details: { actor: 'user' } });
  });
  deps.revocations.add(sessionId, now);
}

/** Locks the caller's user row and checks that their own session still lives: `session_revoked` otherwise. */
async function lockLiveCaller(tx: Db, caller: Caller, now: Date): Promise<UserRow> {
  const user = isUuid(caller.userId) && isUuid(caller.sessionId) ? await lockUserRow(tx, caller.userId) : undefined;
  // Ended since its token was checked (a race with another end): it may end nothing more.
  if (!user || !(await isSessionLive(tx, caller.sessionId, now, user.id))) throw new AppError('session_revoked');
  return user;
}

/** Ends every live session of the caller's but their own, each as `endOwnSession` would; how many ended. */
export async function endOtherSessions(deps: OwnSessionDeps, caller: Caller, client: ClientInfo = {}): Promise<number> {
  const now = deps.clock.now();
  const ended = await deps.db.transaction(async (tx) => {
    const user = await lockLiveCaller(tx, caller, now);
    const userId = user.id;
    const sessionIds = await markOtherSessionsRevoked(tx, user, caller.sessionId, now, REASON);
    await announceRevocations(tx, sessionIds, now);
    await recordEvents(tx, sessionIds.map((sid) => sessionRevokedEvent(userId, sid, REASON)), now);
    for (const sessionId of sessionIds) {
      await recordAuditEvent(tx, deps.clock, { type: 'session_revoked', userId, sessionId, client, details: { actor: 'user', scope: 'others' } });
    }
    return sessionIds;
  });
  for (const sessionId of ended) deps.revocations.add(sessionId, now);
  return ended.length;
}

/**
 * Signs the caller out everywhere, this session included, as a credential change does (`endUserSessions`): every
 * session ends, and the not-before moves to now, so that a sign-in still in flight opens nothing; how many ended.
 */
export async function endEverySession(deps: OwnSessionDeps, caller: Caller, client: ClientInfo = {}): Promise<number> {
  const now = deps.clock.now();
  const ended = await deps.db.transaction(async (tx) => {
    const userId = (await lockLiveCaller(tx, caller, now)).id;
    const ended = await endUserSessions(tx, userId, REASON, now);
    const details = { actor: 'user', scope: 'global', sessionsEnded: ended.sessionIds.length };
    await recordAuditEvent(tx, deps.clock, { type: 'sessions_revoked', userId, sessionId: caller.sessionId, client, details });
    return ended;
  });
  publishEndedSessions(deps, ended);
  return ended.sessionIds.length;
}

/** Which sessions a logout ends: this one (`local`, the default), every other one (`others`), or all (`global`). */
export const LOGOUT_SCOPES = ['local', 'others', 'global'] as const;
export type LogoutScope = (typeof LOGOUT_SCOPES)[number];

/** A logout of the given scope; how many sessions it ended (`local`: this one). */
export async function logout(deps: SessionDeps, caller: Caller, scope: LogoutScope, client: ClientInfo = {}): Promise<number> {
  if (scope === 'others') return endOtherSessions(deps, caller, client);
  if (scope === 'global') return endEverySession(deps, caller, client);
  await endSession(deps, caller, client);
  return 1;
}
