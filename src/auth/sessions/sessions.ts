import { randomUUID } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { addSeconds, earliest, epochSeconds, latest } from '../../core/clock.js';
import type { Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Metrics } from '../../core/metrics.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { RevocationList } from './revocations.js';
import { rowsOf, type Db } from '../../db/client.js';
import { sessions, users } from '../../db/schema.js';
import { AppError, type ErrorCode } from '../../errors.js';
import { outcomeOf, type RefreshOutcome } from '../../core/metrics.js';
import { signAccessToken } from './access-tokens.js';
import { recordAuditEvent } from '../../core/audit.js';
import { recordEvents, sessionRevokedEvent } from '../../core/events.js';
import { announceNotBefore, announceRevocations } from './revocation-feed.js';
import { deriveKey, open, seal, SealOpenError } from '../../core/secret-box.js';
import { generateOpaqueToken, hashToken } from '../../core/secrets.js';
import type { ClientInfo } from '../../core/client-address.js';

/** What sessions use: the database, the clock, the token lifetimes, the signing keys, this instance's revocations. */
export interface SessionDeps {
  db: Db;
  clock: Clock;
  config: Config;
  keys: KeyRing;
  revocations: RevocationList;
  metrics: Metrics;
}

export interface TokenPair {
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
}


interface LiveSession {
  userId: string;
  sessionId: string;
  sessionCreatedAt: Date;
  sessionExpiresAt: Date;
}


/**
 * Opens a new session for a user who has just proven who they are, and returns its first tokens.
 * `user.notBefore` is the value read with the password hash that was verified: if the user's
 * credentials changed since (a reset committed while the password was being checked), no session opens.
 */
export async function createSession(
  deps: SessionDeps,
  user: { id: string; notBefore: Date | null },
  client: ClientInfo = {},
): Promise<TokenPair | undefined> {
  const now = deps.clock.now();
  // Never before the not-before, even on an instance whose clock runs a little behind the one that set it.
  const createdAt = user.notBefore ? latest(now, user.notBefore) : now;
  const sessionId = randomUUID();
  const expiresAt = addSeconds(now, deps.config.ttl.sessionMaxAge);
  const refreshToken = generateOpaqueToken();
  // One statement: the user row is share-locked and its not-before compared, so a reset (or the account
  // being disabled) either commits first (no session opens) or waits for this session and then revokes it.
  const result = await deps.db.execute(sql`
    WITH owner AS (
      SELECT id FROM users WHERE id = ${user.id} AND not_before IS NOT DISTINCT FROM ${user.notBefore} AND disabled_at IS NULL FOR SHARE
    ), session AS (
      INSERT INTO sessions (id, user_id, created_at, expires_at, ip_address, user_agent)
      SELECT ${sessionId}, owner.id, ${createdAt}, ${expiresAt}, ${client.ipAddress ?? null}, ${client.userAgent?.slice(0, 512) ?? null}
      FROM owner
      RETURNING id
    )
    INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
    SELECT ${hashToken(refreshToken)}, session.id, ${now}, ${earliest(addSeconds(now, deps.config.ttl.refreshToken), expiresAt)} FROM session
    RETURNING session_id`);
  if (rowsOf(result).length === 0) return undefined;
  return issuePair(deps, { userId: user.id, sessionId, sessionCreatedAt: createdAt, sessionExpiresAt: expiresAt }, refreshToken, now);
}

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
export async function rotateRefreshToken(deps: SessionDeps, presented: string, client: ClientInfo = {}): Promise<TokenPair> {
  try {
    const [pair, outcome] = await exchangeRefreshToken(deps, presented, client);
    deps.metrics.refresh(outcome);
    return pair;
  } catch (err) {
    deps.metrics.refresh(outcomeOf(err, REFRESH_FAILURES));
    throw err;
  }
}

const REFRESH_FAILURES: Partial<Record<ErrorCode, RefreshOutcome>> = {
  invalid_refresh_token: 'invalid',
  refresh_token_reused: 'reuse_detected',
};

type Exchanged = [TokenPair, 'rotated' | 'retried'];

async function exchangeRefreshToken(deps: SessionDeps, presented: string, client: ClientInfo): Promise<Exchanged> {
  const now = deps.clock.now();
  const tokenHash = hashToken(presented);
  const successor = generateOpaqueToken();
  const successorHash = hashToken(successor);
  const refreshEnd = addSeconds(now, deps.config.ttl.refreshToken);

  // One statement, so one round trip and atomic without a transaction: claim the token (only one caller
  // can: the row lock makes a racing UPDATE see it already rotated), check its session is alive and was
  // opened with the user's current credentials, and store the successor.
  const result = await deps.db.execute(sql`
    WITH claimed AS (
      UPDATE refresh_tokens
      SET rotated_at = ${now}, successor_hash = ${successorHash}, successor_sealed = ${seal(successorKey(presented), successor, tokenHash)}
      WHERE token_hash = ${tokenHash} AND rotated_at IS NULL AND expires_at > ${now}
      RETURNING session_id
    ), live AS (
      UPDATE sessions SET last_refreshed_at = ${now}
      FROM claimed, users
      WHERE sessions.id = claimed.session_id AND users.id = sessions.user_id
        AND sessions.revoked_at IS NULL AND sessions.expires_at > ${now} AND users.disabled_at IS NULL
        AND (users.not_before IS NULL OR sessions.created_at >= users.not_before)
      RETURNING sessions.id, sessions.user_id, sessions.created_at, sessions.expires_at
    ), successor AS (
      INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
      SELECT ${successorHash}, live.id, ${now}, LEAST(${refreshEnd}::timestamptz, live.expires_at) FROM live
    )
    SELECT live.id, live.user_id, live.created_at, live.expires_at FROM claimed LEFT JOIN live ON live.id = claimed.session_id`);
  const [rotated] = rowsOf<SessionRow & { id: string | null }>(result);
  if (rotated) {
    if (!rotated.id) throw new AppError('invalid_refresh_token');
    return [await issuePair(deps, liveSession({ ...rotated, id: rotated.id }), successor, now), 'rotated'];
  }
  return answerSpentToken(deps, presented, tokenHash, now, client);
}

interface SessionRow {
  id: string;
  user_id: string;
  created_at: Date | string;
  expires_at: Date | string;
}

const liveSession = (row: SessionRow): LiveSession => ({
  userId: row.user_id,
  sessionId: row.id,
  sessionCreatedAt: new Date(row.created_at),
  sessionExpiresAt: new Date(row.expires_at),
});

/** A token that could not be claimed: unknown or expired, a retry within the window, or a replay. */
async function answerSpentToken(deps: SessionDeps, presented: string, tokenHash: string, now: Date, client: ClientInfo): Promise<Exchanged> {
  const result = await deps.db.execute(sql`
    SELECT sess.id, sess.user_id, sess.created_at, sess.expires_at, p.rotated_at, p.successor_sealed,
      (sess.revoked_at IS NULL AND sess.expires_at > ${now} AND u.disabled_at IS NULL
        AND (u.not_before IS NULL OR sess.created_at >= u.not_before)) AS session_live,
      (s.token_hash IS NOT NULL AND s.rotated_at IS NULL AND s.expires_at > ${now}) AS successor_live
    FROM refresh_tokens p
    JOIN sessions sess ON sess.id = p.session_id
    JOIN users u ON u.id = sess.user_id
    LEFT JOIN refresh_tokens s ON s.token_hash = p.successor_hash
    WHERE p.token_hash = ${tokenHash}`);
  const [known] = rowsOf<SessionRow & { rotated_at: Date | string | null; successor_sealed: string | null; session_live: boolean; successor_live: boolean }>(result);
  // Unknown, expired unused, or of a session that has already ended: nothing more to protect.
  if (!known?.rotated_at || !known.session_live) throw new AppError('invalid_refresh_token');

  const sinceRotation = now.getTime() - new Date(known.rotated_at).getTime();
  if (sinceRotation <= deps.config.ttl.refreshReuseInterval * 1000 && known.successor_live && known.successor_sealed) {
    const successor = openSuccessor(presented, known.successor_sealed, tokenHash);
    if (successor) return [await issuePair(deps, liveSession(known), successor, now), 'retried'];
  }
  await revokeSession(deps, known.id, 'refresh_token_reuse');
  await recordAuditEvent(deps.db, deps.clock, { type: 'refresh_token_reused', userId: known.user_id, sessionId: known.id, client });
  throw new AppError('refresh_token_reused');
}

/** Ends one session: its refresh token stops working and its access tokens are refused from now on. */
export async function revokeSession(deps: Pick<SessionDeps, 'db' | 'clock' | 'revocations'>, sessionId: string, reason: string) {
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    // The user row first, as every change that records a user's events does: their events then take ids
    // in the order they commit, which the webhook worker's order per user relies on; one lock order, no deadlock.
    await tx.execute(sql`SELECT 1 FROM users WHERE id = (SELECT user_id FROM sessions WHERE id = ${sessionId}) FOR NO KEY UPDATE`);
    const revoked = await tx
      .update(sessions)
      .set({ revokedAt: now, revokedReason: reason })
      .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)))
      .returning({ userId: sessions.userId });
    await announceRevocations(tx, [sessionId], now);
    await recordEvents(tx, revoked.map((r) => sessionRevokedEvent(r.userId, sessionId, reason)), now);
  });
  deps.revocations.add(sessionId, now);
}

/** Logout: ends the caller's own session. */
export async function endSession(deps: SessionDeps, session: { userId: string; sessionId: string }, client: ClientInfo = {}) {
  await revokeSession(deps, session.sessionId, 'logout');
  await recordAuditEvent(deps.db, deps.clock, { type: 'logout', userId: session.userId, sessionId: session.sessionId, client });
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
 * the credentials being replaced: the user's not-before moves past now, so a session opened with the old
 * password can neither start nor refresh, and its access tokens are refused. Every credential change
 * (password reset or change, account disabled or deleted) goes through here. Once the transaction has
 * committed, pass the result to `publishEndedSessions`.
 */
export async function endUserSessions(tx: Db, userId: string, reason: string, now: Date): Promise<EndedSessions> {
  // Whole seconds, as `auth_time` counts; always forward, even for two changes within one second.
  const [user] = await tx
    .update(users)
    .set({ notBefore: sql`GREATEST(${new Date((epochSeconds(now) + 1) * 1000)}::timestamptz, ${users.notBefore} + interval '1 second')` })
    .where(eq(users.id, userId))
    .returning({ notBefore: users.notBefore });
  const rows = await tx
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  const sessionIds = rows.map((r) => r.id);
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

async function issuePair(deps: SessionDeps, session: LiveSession, refreshToken: string, now: Date): Promise<TokenPair> {
  // No access token outlives its session.
  const expiresAt = earliest(addSeconds(now, deps.config.ttl.accessToken), session.sessionExpiresAt);
  const access = await signAccessToken(deps.keys, deps.config.jwt, session, now, expiresAt);
  return { sessionId: session.sessionId, accessToken: access.token, refreshToken, expiresIn: access.expiresIn };
}
