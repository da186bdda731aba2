import { and, asc, count, desc, eq, gt, isNull, ne, sql, type SQL } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';
import { sessions, users } from '../schema.js';
import type { UserRow } from './users.js';

// Sessions and their refresh tokens (only a token's SHA-256 is stored).

// Lock order. Every transaction or statement that locks more than one row of a user's takes them in this
// order: the user (`users`), then their sessions (`sessions`), then those sessions' refresh tokens
// (`refresh_tokens`); one-time tokens (`one_time_tokens`) come after the user too. Two paths that take the
// same rows in the same order wait for each other, and never deadlock:
// - a change of the user (reset, disable, sign out everywhere, delete) locks the user's row first; a delete
//   then cascades from the user to the sessions and from them to the refresh tokens, and to one-time tokens;
// - a logout or a detected reuse locks the session's user (`lockSessionOwner`), then the session;
// - a sign-in share-locks the user, then adds the session and its first refresh token (`insertSession`);
// - a refresh locks the session, then claims its token (`claimRefreshToken`), never the token first;
// - consuming or issuing a one-time token locks its user first (src/core/one-time-tokens.ts);
// - the purge locks ended sessions and cascades to their tokens, or locks spent tokens alone.

export interface NewSession {
  sessionId: string;
  userId: string;
  /** The not-before read with the password hash that was verified. */
  notBefore: Date | null;
  /** When that password was set, read with it. */
  passwordChangedAt: Date | null;
  createdAt: Date;
  expiresAt: Date;
  ipAddress: string | null;
  userAgent: string | null;
  refreshTokenHash: string;
  now: Date;
  refreshTokenExpiresAt: Date;
  /** How the user proved who they were (RFC 8176 values, none with a comma or a brace). */
  amr: readonly string[];
  /** An OAuth client's session: the client, the scopes granted, and the browser session that authorised it. */
  clientId?: string | null;
  scope?: string | null;
  parentSessionId?: string | null;
}

/**
 * `owner`, a CTE of the statements that open a session: the user's row, share-locked, if it still has the
 * not-before and the password it was read with and is not disabled, and `gate` holds.
 */
export function sessionOwner(s: NewSession, gate: SQL = sql`true`, columns: SQL = sql`id`): SQL {
  // The user row is share-locked and its not-before and password time compared, so a reset (or the account being
  // disabled) either commits first (no session opens) or waits for this session and then revokes it. The
  // password's time as well: a not-before stays where it was when a change comes within the same millisecond as
  // the last, or from an instance whose clock is behind, while each new password has a time of its own
  // (`setPasswordOfEnabledUser`). Compared to the millisecond, as read: a time PostgreSQL wrote itself (now() in
  // SQL: an operator's update, a restore, a seed) has microseconds a JavaScript Date drops.
  return sql`owner AS (
      SELECT ${columns} FROM users WHERE id = ${s.userId} AND date_trunc('milliseconds', not_before) IS NOT DISTINCT FROM ${s.notBefore}
        AND date_trunc('milliseconds', password_changed_at) IS NOT DISTINCT FROM ${s.passwordChangedAt} AND disabled_at IS NULL AND ${gate} FOR SHARE
    )`;
}

/**
 * `session` and `opened`, CTEs after `owner`: the session and its first refresh token, when `gate` holds. `once`: a
 * session of that id opens once, and the statement that finds it open already opens nothing (no error).
 */
export function sessionRows(s: NewSession, gate: SQL = sql`true`, once = false): SQL {
  return sql`session AS (
      INSERT INTO sessions (id, user_id, created_at, expires_at, ip_address, user_agent, amr, client_id, scope, parent_session_id)
      SELECT ${s.sessionId}, owner.id, ${s.createdAt}, ${s.expiresAt}, ${s.ipAddress}, ${s.userAgent}, ${`{${s.amr.join(',')}}`}::text[],
        ${s.clientId ?? null}, ${s.scope ?? null}, ${s.parentSessionId ?? null}::uuid
      FROM owner WHERE ${gate}
      ${once ? sql`ON CONFLICT (id) DO NOTHING` : sql``}
      RETURNING id
    ), opened AS (
      INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
      SELECT ${s.refreshTokenHash}, session.id, ${s.now}, ${s.refreshTokenExpiresAt} FROM session
      RETURNING session_id
    )`;
}

/**
 * Opens a session with its first refresh token, in one statement, if the user still has the not-before and the
 * password it was read with and is not disabled (`sessionOwner`); whether it opened.
 */
export async function insertSession(db: Db, s: NewSession): Promise<boolean> {
  const result = await db.execute(sql`WITH ${sessionOwner(s)}, ${sessionRows(s)} SELECT session_id FROM opened`);
  return rowsOf(result).length > 0;
}

export interface SessionRow {
  id: string;
  user_id: string;
  created_at: Date | string;
  expires_at: Date | string;
  /** Whether its user's address is verified now (the access token's `email_verified`). */
  email_verified: boolean | null;
  /** How it was opened (null: before second factors, a password). */
  amr: string[] | null;
  /** The OAuth client it was issued to and the scopes granted (null: one of Latchkey's own sessions). */
  client_id: string | null;
  scope: string | null;
}

export interface RefreshClaim {
  tokenHash: string;
  successorHash: string;
  /** The successor, sealed under a key derived from the presented token. */
  successorSealed: string;
  now: Date;
  /** When the successor expires at the latest (its session's end comes first if sooner). */
  refreshEnd: Date;
  /** The OAuth client presenting the token (null: Latchkey's own refresh): a token refreshes only for its own client. */
  clientId: string | null;
}

/**
 * Claims an unused, unexpired refresh token and stores its successor. Undefined when the token could not be
 * claimed (unknown, expired, or already rotated); a row whose `id` is null when it was claimed but its session
 * is not alive (revoked, expired, its user disabled, or opened before the user's not-before).
 */
export async function claimRefreshToken(db: Db, c: RefreshClaim): Promise<(Omit<SessionRow, 'id'> & { id: string | null }) | undefined> {
  // One statement, so one round trip and atomic without a transaction: lock the token's session, then claim
  // the token (only one caller can: the row lock makes a racing UPDATE see it already rotated), check its
  // session is alive and was opened with the user's current credentials, and store the successor.
  // The session's row is locked before the token's (the claim joins `locked_session`, so it runs once that row is
  // held), the lock order above: a delete of the user, which cascades from the session to its tokens,
  // then either waits for the refresh or makes it wait, never both.
  const result = await db.execute(sql`
    WITH locked_session AS (
      SELECT s.id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
      WHERE t.token_hash = ${c.tokenHash} AND t.rotated_at IS NULL AND t.expires_at > ${c.now}
        AND s.client_id IS NOT DISTINCT FROM ${c.clientId}::text
      FOR NO KEY UPDATE OF s
    ), claimed AS (
      UPDATE refresh_tokens
      SET rotated_at = ${c.now}, successor_hash = ${c.successorHash}, successor_sealed = ${c.successorSealed}
      WHERE token_hash = ${c.tokenHash} AND rotated_at IS NULL AND expires_at > ${c.now}
        AND session_id IN (SELECT id FROM locked_session)
      RETURNING session_id
    ), live AS (
      UPDATE sessions SET last_refreshed_at = ${c.now}
      FROM claimed, users
      WHERE sessions.id = claimed.session_id AND users.id = sessions.user_id
        AND sessions.revoked_at IS NULL AND sessions.expires_at > ${c.now} AND users.disabled_at IS NULL
        AND (users.not_before IS NULL OR sessions.created_at >= users.not_before)
      RETURNING sessions.id, sessions.user_id, sessions.created_at, sessions.expires_at, sessions.amr, sessions.client_id, sessions.scope,
        users.email_verified_at IS NOT NULL AS email_verified
    ), successor AS (
      INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
      SELECT ${c.successorHash}, live.id, ${c.now}, LEAST(${c.refreshEnd}::timestamptz, live.expires_at) FROM live
    )
    SELECT live.id, live.user_id, live.created_at, live.expires_at, live.amr, live.client_id, live.scope, live.email_verified
    FROM claimed LEFT JOIN live ON live.id = claimed.session_id`);
  return rowsOf<Omit<SessionRow, 'id'> & { id: string | null }>(result)[0];
}

export interface SpentToken extends SessionRow {
  rotated_at: Date | string | null;
  successor_sealed: string | null;
  /** Its session is alive now: not revoked nor expired, its user enabled and its credentials unchanged since. */
  session_live: boolean;
  /** Its successor is still unused and unexpired. */
  successor_live: boolean;
}

/** A refresh token that could not be claimed, with its session and successor; undefined when unknown. */
export async function selectSpentToken(db: Db, tokenHash: string, now: Date): Promise<SpentToken | undefined> {
  const result = await db.execute(sql`
    SELECT sess.id, sess.user_id, sess.created_at, sess.expires_at, sess.amr, sess.client_id, sess.scope, u.email_verified_at IS NOT NULL AS email_verified, p.rotated_at, p.successor_sealed,
      (sess.revoked_at IS NULL AND sess.expires_at > ${now} AND u.disabled_at IS NULL
        AND (u.not_before IS NULL OR sess.created_at >= u.not_before)) AS session_live,
      (s.token_hash IS NOT NULL AND s.rotated_at IS NULL AND s.expires_at > ${now}) AS successor_live
    FROM refresh_tokens p
    JOIN sessions sess ON sess.id = p.session_id
    JOIN users u ON u.id = sess.user_id
    LEFT JOIN refresh_tokens s ON s.token_hash = p.successor_hash
    WHERE p.token_hash = ${tokenHash}`);
  return rowsOf<SpentToken>(result)[0];
}

/**
 * Locks the row of the session's user (FOR NO KEY UPDATE), as every change that records a user's events
 * does first: their events then take ids in the order they commit, which the webhook worker's order per user
 * relies on; the user before the session (the lock order above), no deadlock. The user's id, or undefined when the session or its user is gone.
 */
export async function lockSessionOwner(tx: Db, sessionId: string): Promise<string | undefined> {
  const result = await tx.execute(sql`SELECT id FROM users WHERE id = (SELECT user_id FROM sessions WHERE id = ${sessionId}) FOR NO KEY UPDATE`);
  return rowsOf<{ id: string }>(result)[0]?.id;
}

/** Revokes one session if it is not revoked yet; its user's id, or undefined when there was nothing to revoke. */
export async function markSessionRevoked(tx: Db, sessionId: string, now: Date, reason: string): Promise<string | undefined> {
  const [revoked] = await tx
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
    .returning({ userId: sessions.userId });
  return revoked?.userId;
}

/** Revokes the live sessions a browser session authorised (OAuth clients' sessions); their ids. */
export async function markChildSessionsRevoked(tx: Db, parentSessionId: string, now: Date, reason: string): Promise<string[]> {
  const rows = await tx
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.parentSessionId, parentSessionId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  return rows.map((r) => r.id);
}

/** Revokes every session of a user not revoked yet; their ids. */
export async function markUserSessionsRevoked(tx: Db, userId: string, now: Date, reason: string): Promise<string[]> {
  const rows = await tx
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  return rows.map((r) => r.id);
}

const liveSessionsOf = (user: { id: string; notBefore: Date | null }, now: Date) =>
  and(
    eq(sessions.userId, user.id),
    isNull(sessions.revokedAt),
    gt(sessions.expiresAt, now),
    sql`${sessions.createdAt} >= coalesce(${user.notBefore}::timestamptz, '-infinity')`,
  );

/** How many sessions of a user are live now: not revoked, not expired, opened at or after its not-before. */
export async function countLiveSessions(db: Db, user: { id: string; notBefore: Date | null }, now: Date): Promise<number> {
  const [live] = await db
    .select({ n: count() })
    .from(sessions)
    .where(liveSessionsOf(user, now));
  return Number(live?.n ?? 0);
}

/**
 * Whether a session is live now, as a refresh would find it: there, not revoked nor expired, its user enabled
 * and its credentials unchanged since it opened. Asked instead of the revocation list while that list may
 * have missed notices (see RevocationList.isStale).
 */
export async function isSessionLive(db: Db, sessionId: string, now: Date, ofUser?: string): Promise<boolean> {
  const result = await db.execute(sql`
    SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = ${sessionId} AND s.revoked_at IS NULL AND s.expires_at > ${now} AND u.disabled_at IS NULL
      AND (u.not_before IS NULL OR s.created_at >= u.not_before)
      ${ofUser === undefined ? sql`` : sql`AND s.user_id = ${ofUser}`}`);
  return rowsOf(result).length > 0;
}

/**
 * A live session (as `isSessionLive` finds it) of `userId`, with its user and how they proved who they were, in one
 * read: what every signed-in page asks of its browser's cookie.
 */
export async function selectLiveSessionOf(
  db: Db,
  sessionId: string,
  userId: string,
  now: Date,
): Promise<{ user: UserRow; amr: string[] | null; createdAt: Date; expiresAt: Date } | undefined> {
  const [row] = await db
    .select({ user: users, amr: sessions.amr, createdAt: sessions.createdAt, expiresAt: sessions.expiresAt })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, sessionId),
        eq(sessions.userId, userId),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
        isNull(users.disabledAt),
        sql`${sessions.createdAt} >= coalesce(${users.notBefore}, '-infinity')`,
      ),
    )
    .limit(1);
  return row;
}

/**
 * Revokes every live session of a user (as `countLiveSessions` counts them) but `keep`; their ids. The caller
 * holds the user's row lock (the lock order above), read with its not-before.
 */
export async function markOtherSessionsRevoked(tx: Db, user: { id: string; notBefore: Date | null }, keep: string, now: Date, reason: string): Promise<string[]> {
  const rows = await tx
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(liveSessionsOf(user, now), ne(sessions.id, keep)))
    .returning({ id: sessions.id });
  return rows.map((r) => r.id);
}

export interface LiveSessionRow {
  id: string;
  createdAt: Date;
  expiresAt: Date;
  lastRefreshedAt: Date | null;
  ipAddress: string | null;
  userAgent: string | null;
}

// What a session shows of itself: when and where it was opened, never a token or its hash.
const sessionColumns = {
  id: sessions.id,
  createdAt: sessions.createdAt,
  expiresAt: sessions.expiresAt,
  lastRefreshedAt: sessions.lastRefreshedAt,
  ipAddress: sessions.ipAddress,
  userAgent: sessions.userAgent,
};

/** The live sessions of a user (as `countLiveSessions` counts them), oldest first; never a token or its hash. */
export function selectLiveSessions(db: Db, user: { id: string; notBefore: Date | null }, now: Date): Promise<LiveSessionRow[]> {
  return db
    .select(sessionColumns)
    .from(sessions)
    .where(liveSessionsOf(user, now))
    .orderBy(asc(sessions.createdAt), asc(sessions.id));
}

export type StoredSessionRow = LiveSessionRow & { revokedAt: Date | null; revokedReason: string | null };

/** Every session of a user still stored, live or ended, newest first, at most `limit`; never a token or its hash. */
export function selectUserSessions(db: Db, userId: string, limit: number): Promise<StoredSessionRow[]> {
  return db
    .select({ ...sessionColumns, revokedAt: sessions.revokedAt, revokedReason: sessions.revokedReason })
    .from(sessions)
    .where(eq(sessions.userId, userId))
    .orderBy(desc(sessions.createdAt), desc(sessions.id))
    .limit(limit);
}

/**
 * Adds methods to a live session of the user's (a step-up), keeping those it had: its next tokens carry them all.
 * The session as it now is, or undefined when it has ended.
 */
export async function addSessionMethods(
  db: Db,
  userId: string,
  sessionId: string,
  methods: readonly string[],
  now: Date,
): Promise<{ createdAt: Date; expiresAt: Date; amr: string[] } | undefined> {
  const added = `{${methods.join(',')}}`;
  const [row] = await db
    .update(sessions)
    .set({ amr: sql`ARRAY(SELECT DISTINCT m FROM unnest(COALESCE(${sessions.amr}, '{pwd}'::text[]) || ${added}::text[]) AS m ORDER BY m)` })
    .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)))
    .returning({ createdAt: sessions.createdAt, expiresAt: sessions.expiresAt, amr: sessions.amr });
  return row && { createdAt: row.createdAt, expiresAt: row.expiresAt, amr: row.amr ?? [] };
}
