import { readMfaSummary } from '../mfa/factors.js';
import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { BreachCheck } from '../passwords/breached-passwords.js';
import type { PasswordHasher } from '../passwords/passwords.js';
import type { RevocationList } from '../sessions/revocations.js';
import type { Db } from '../../db/client.js';
import { revokeUserTokens } from '../../core/one-time-tokens.js';
import { countLiveSessions, selectLiveSessions } from '../../db/queries/sessions.js';
import { deleteUserRow, markUserDisabled, markUserEnabled, searchUsersPage, selectUsersPage } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { recordAuditEvent, type AuditEventType } from '../../core/audit.js';
import { recordEvents, userEvent, userEventData } from '../../core/events.js';
import { checkNewPassword } from '../passwords/passwords.js';
import { endUserSessions, publishEndedSessions, revokeSession, type EndedSessions } from '../sessions/sessions.js';
import { findUserByEmail, findUserById, insertUser, normalizeEmail, type User } from './users.js';
import type { AdminUser, AdminUserWithSessions, SessionRevoked, SessionsEnded, UserDisabled, UserEnabled, UserSessions } from '../../contracts/users.js';

/**
 * What an operator does to accounts (the command line, and the admin API for service clients). Each
 * function takes only what it uses and records who acted (`actor`) in the audit log. Every credential
 * change goes through `endUserSessions`, so it reaches every instance (not-before, revocation notices).
 */

export type { AdminUser, SessionsEnded };

export function toAdminUser(user: User): AdminUser {
  // What events say of a user, and when its password last changed.
  return { ...userEventData(user), password_changed_at: user.passwordChangedAt?.toISOString() ?? null };
}

interface AuditDeps {
  db: Db;
  clock: Clock;
}
interface EndingDeps extends AuditDeps {
  revocations: RevocationList;
}
interface CreatingDeps extends AuditDeps {
  config: Config;
  passwords: PasswordHasher;
  breachCheck: BreachCheck | undefined;
}

/** The user named by `ref`: an id (UUID) or an email address; `user_not_found` otherwise. */
export async function findUser(db: Db, ref: string): Promise<User> {
  const user = ref.includes('@') ? await findUserByEmail(db, ref) : await findUserById(db, ref.trim());
  if (!user) throw new AppError('user_not_found');
  return user;
}

/**
 * Creates an account for someone, with the same password policy as sign-up (length, common passwords,
 * the breach check when configured) but none of sign-up's throttling: an operator is not a stranger.
 */
export async function createUserByOperator(
  deps: CreatingDeps,
  input: { email: string; name: string; password: string; admin?: boolean | undefined; verified?: boolean | undefined },
  actor: string,
): Promise<AdminUser> {
  await checkNewPassword(deps, input.password);
  const passwordHash = await deps.passwords.hash(input.password);
  const role = input.admin ? 'admin' : 'user';
  const user = await insertUser(deps.db, deps.clock.now(), { name: input.name, email: input.email, passwordHash, role, verified: input.verified ?? false }, (tx, user) =>
    recordAuditEvent(tx, deps.clock, { type: 'user_created', userId: user.id, email: user.email, details: { actor, role, verified: user.emailVerifiedAt !== null } }),
  );
  return toAdminUser(user);
}

export interface UserPage {
  users: AdminUser[];
  /** Pass as `after` for the next page; null on the last one. */
  next_after: string | null;
}

/**
 * Users in the order they were created, a page at a time: by `offset`, or after the user whose id
 * was the last of the previous page (`after`), which stays right while users are added or deleted.
 */
export async function listUsers(deps: { db: Db }, page: { limit: number; offset?: number | undefined; after?: string | undefined }): Promise<UserPage> {
  let last: User | undefined;
  if (page.after !== undefined) {
    last = await findUserById(deps.db, page.after);
    if (!last) throw new AppError('user_not_found', `No user has the id given as "after" (${page.after}).`);
  }
  // One more than asked: whether it exists says whether there is a next page.
  const rows = await selectUsersPage(deps.db, { limit: page.limit + 1, offset: page.offset ?? 0, after: last });
  const shown = rows.slice(0, page.limit);
  return { users: shown.map(toAdminUser), next_after: rows.length > page.limit ? (shown.at(-1)?.id ?? null) : null };
}

export interface UserSearchPage {
  users: AdminUser[];
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

const CURSOR_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$/;
const CURSOR_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(`${createdAt}|${id}`).toString('base64url');
}

/** A CURSOR_TIME that names a real instant PostgreSQL can store: no 30 February, no year 0, no hour 24. */
function isCalendarTime(value: string): boolean {
  if (!CURSOR_TIME.test(value)) return false;
  const [year, month, day, hour, minute, second] = value.split(/[-T:.Z]/).slice(0, 6).map(Number) as [number, number, number, number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return year >= 1 && date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour < 24 && minute < 60 && second < 60;
}

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt = '', id = '', ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (rest.length > 0 || !isCalendarTime(createdAt) || !CURSOR_ID.test(id)) {
    throw new AppError('invalid_request', 'Invalid request: cursor is not one this server gave.', [
      { field: 'cursor', message: 'is not one this server gave' },
    ]);
  }
  return { createdAt, id };
}

/**
 * Users in the order they were created, a page at a time, optionally only those whose email contains
 * `email`, and those whose email or name contains `text` (each case-insensitive, after trimming). The cursor
 * names the last user shown by its creation time and id, not by looking that user up: it stays right when that
 * user, or any other, is deleted, and users created meanwhile appear at the end.
 */
export async function searchUsers(
  deps: { db: Db },
  query: { email?: string | undefined; text?: string | undefined; limit: number; cursor?: string | undefined },
): Promise<UserSearchPage> {
  const needle = query.email === undefined ? '' : normalizeEmail(query.email);
  const text = query.text === undefined ? undefined : query.text.trim().toLowerCase();
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  // One more than asked: whether it exists says whether there is a next page.
  const rows = await searchUsersPage(deps.db, { needle, text, limit: query.limit + 1, after });
  const shown = rows.slice(0, query.limit);
  const last = shown.at(-1);
  return {
    users: shown.map((r) => toAdminUser(r.user)),
    next_cursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.user.id) : null,
  };
}

/** One user, with how many of their sessions are live now. */
export async function showUser(deps: AuditDeps, ref: string): Promise<AdminUserWithSessions> {
  const user = await findUser(deps.db, ref);
  const [live, mfa] = await Promise.all([countLiveSessions(deps.db, user, deps.clock.now()), readMfaSummary(deps.db, user.id)]);
  return { ...toAdminUser(user), active_sessions: live, mfa };
}

/** A user's live sessions (those `showUser` counts), oldest first: when and where each was opened, never a token. */
export async function listUserSessions(deps: AuditDeps, ref: string): Promise<UserSessions> {
  const user = await findUser(deps.db, ref);
  const rows = await selectLiveSessions(deps.db, user, deps.clock.now());
  const sessions = rows.map((r) => ({
    id: r.id,
    created_at: r.createdAt.toISOString(),
    expires_at: r.expiresAt.toISOString(),
    last_refreshed_at: r.lastRefreshedAt?.toISOString() ?? null,
    ip_address: r.ipAddress,
    user_agent: r.userAgent,
  }));
  return { user: toAdminUser(user), sessions };
}

/**
 * Ends one session, as its own logout would: its refresh tokens stop working and its access tokens are
 * refused on every instance; audited with who acted. `session_not_found` unless it was live (not revoked).
 */
export async function revokeOneSession(deps: EndingDeps, sessionId: string, actor: string): Promise<SessionRevoked> {
  const of: { user?: User | undefined } = {};
  const revoked = await revokeSession(deps, sessionId, 'operator', async (tx, userId) => {
    of.user = await findUserById(tx, userId);
    await recordAuditEvent(tx, deps.clock, { type: 'session_revoked', userId, email: of.user?.email, sessionId: sessionId.toLowerCase(), details: { actor } });
  });
  if (revoked === undefined || !of.user) throw new AppError('session_not_found');
  return { session_id: sessionId.toLowerCase(), user: toAdminUser(of.user) };
}

/**
 * Ends one session of the user named by `ref`, as its own logout would, audited with who acted;
 * `session_not_found` unless it is a live session of that user (another user's session is left alone).
 */
export async function revokeUserSession(deps: EndingDeps, ref: string, sessionId: string, actor: string): Promise<SessionRevoked> {
  const user = await findUser(deps.db, ref);
  const revoked = await revokeSession(deps, sessionId, 'operator', async (tx, userId) => {
    // Rolls the revocation back: the session is someone else's.
    if (userId !== user.id) throw new AppError('session_not_found');
    await recordAuditEvent(tx, deps.clock, { type: 'session_revoked', userId, email: user.email, sessionId: sessionId.toLowerCase(), details: { actor } });
  });
  if (revoked === undefined) throw new AppError('session_not_found');
  return { session_id: sessionId.toLowerCase(), user: toAdminUser(user) };
}

/**
 * Ends a user's sessions as part of an operator's change, and audits the change in its transaction with how
 * many ended; `user_not_found` when the user was deleted since it was found (its sessions went with it).
 * A user being deleted is named by email and, in the details, by id: its row goes with the change.
 */
async function endSessionsAudited(
  tx: Db,
  clock: Clock,
  user: Pick<User, 'id' | 'email'>,
  change: { type: AuditEventType; reason: string; actor: string; now: Date },
): Promise<EndedSessions> {
  const ended = await endUserSessions(tx, user.id, change.reason, change.now);
  if (!ended.userFound) throw new AppError('user_not_found');
  const details = { actor: change.actor, sessionsEnded: ended.sessionIds.length };
  const named = change.type === 'user_deleted' ? { details: { ...details, userId: user.id } } : { userId: user.id, details };
  await recordAuditEvent(tx, clock, { type: change.type, email: user.email, ...named });
  return ended;
}

/**
 * Disables an account: it can no longer sign in, refresh or reset its password; every session ends
 * now (access tokens included, through the user's not-before) and unused reset links die. Disabling a
 * disabled account changes nothing (`changed: false`).
 */
export async function disableUser(deps: EndingDeps, ref: string, actor: string): Promise<UserDisabled> {
  const found = await findUser(deps.db, ref);
  const now = deps.clock.now();
  const outcome = await deps.db.transaction(async (tx) => {
    const user = await markUserDisabled(tx, found.id, now);
    if (!user) return undefined;
    await revokeUserTokens(tx, user.id, now);
    await recordEvents(tx, [userEvent('user.disabled', user)], now);
    const ended = await endSessionsAudited(tx, deps.clock, user, { type: 'user_disabled', reason: 'account_disabled', actor, now });
    return { user, ended };
  });
  if (!outcome) {
    const current = await findUser(deps.db, found.id);
    return { user: toAdminUser(current), sessions_ended: 0, changed: false };
  }
  publishEndedSessions(deps, outcome.ended);
  return { user: toAdminUser(outcome.user), sessions_ended: outcome.ended.sessionIds.length, changed: true };
}

/** Lets a disabled account sign in again; the sessions that disabling ended stay ended. */
export async function enableUser(deps: AuditDeps, ref: string, actor: string): Promise<UserEnabled> {
  const found = await findUser(deps.db, ref);
  const now = deps.clock.now();
  const user = await deps.db.transaction(async (tx) => {
    const user = await markUserEnabled(tx, found.id, now);
    if (!user) return undefined;
    await recordEvents(tx, [userEvent('user.updated', user, ['disabled'])], now);
    await recordAuditEvent(tx, deps.clock, { type: 'user_enabled', userId: user.id, email: user.email, details: { actor } });
    return user;
  });
  if (!user) return { user: toAdminUser(found), changed: false };
  return { user: toAdminUser(user), changed: true };
}

/**
 * Deletes an account and everything of it (sessions, tokens; its audit events keep their email). Its
 * sessions are ended first, through the same path as any credential change, so that every instance
 * refuses its access tokens at once. Locks go in the one order (src/db/queries/sessions.ts): the user's
 * row, then its sessions, then, by cascade, their refresh tokens, as a refresh takes them too.
 */
export async function deleteUser(
  deps: EndingDeps,
  ref: string,
  actor: string,
  inTransaction?: (tx: Db, user: User, now: Date) => Promise<void>,
): Promise<SessionsEnded> {
  const found = await findUser(deps.db, ref);
  const now = deps.clock.now();
  const ended = await deps.db.transaction(async (tx) => {
    const ended = await endSessionsAudited(tx, deps.clock, found, { type: 'user_deleted', reason: 'account_deleted', actor, now });
    if (!(await deleteUserRow(tx, found.id))) throw new AppError('user_not_found');
    await recordEvents(tx, [userEvent('user.deleted', found)], now);
    await inTransaction?.(tx, found, now);
    return ended;
  });
  publishEndedSessions(deps, ended);
  return { user: toAdminUser(found), sessions_ended: ended.sessionIds.length };
}

/** Signs a user out everywhere: every session and access token, and sign-ins in flight, end now. */
export async function revokeUserSessions(deps: EndingDeps, ref: string, actor: string): Promise<SessionsEnded> {
  const found = await findUser(deps.db, ref);
  const now = deps.clock.now();
  const ended = await deps.db.transaction((tx) =>
    endSessionsAudited(tx, deps.clock, found, { type: 'sessions_revoked', reason: 'operator', actor, now }),
  );
  publishEndedSessions(deps, ended);
  return { user: toAdminUser(found), sessions_ended: ended.sessionIds.length };
}
