import { randomUUID } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Deps } from '../deps.js';
import type { Db } from '../db/client.js';
import { refreshTokens, sessions } from '../db/schema.js';
import { AppError } from '../errors.js';
import { signAccessToken } from './access-tokens.js';
import { recordAuditEvent } from './audit.js';
import { announceRevocations } from './revocation-feed.js';
import { generateOpaqueToken, hashToken } from './secrets.js';

export type SessionDeps = Pick<Deps, 'db' | 'clock' | 'config' | 'keys' | 'revocations'>;

export interface TokenPair {
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
}

export interface ClientInfo {
  ipAddress?: string | undefined;
  userAgent?: string | undefined;
}

const earliest = (a: Date, b: Date) => (a < b ? a : b);
const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);

/** Opens a new session for a user who has just proven who they are, and returns its first tokens. */
export async function createSession(deps: SessionDeps, userId: string, client: ClientInfo = {}): Promise<TokenPair> {
  const now = deps.clock.now();
  const sessionId = randomUUID();
  const expiresAt = addSeconds(now, deps.config.ttl.sessionMaxAge);
  const refreshToken = generateOpaqueToken();
  // The session and its first refresh token in one statement: one round trip, both or neither.
  await deps.db.execute(sql`
    WITH session AS (
      INSERT INTO sessions (id, user_id, created_at, expires_at, ip_address, user_agent)
      VALUES (${sessionId}, ${userId}, ${now}, ${expiresAt}, ${client.ipAddress ?? null}, ${client.userAgent?.slice(0, 512) ?? null})
      RETURNING id
    )
    INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
    SELECT ${hashToken(refreshToken)}, session.id, ${now}, ${earliest(addSeconds(now, deps.config.ttl.refreshToken), expiresAt)} FROM session`);
  return issuePair(deps, { userId, sessionId, sessionExpiresAt: expiresAt }, refreshToken, now);
}

/**
 * Exchanges a refresh token for a new pair. Each token is good for one exchange: the first caller wins
 * (the conditional UPDATE serialises racing requests), a racing loser within REFRESH_REUSE_INTERVAL is
 * refused without harm, and any later reuse is taken as theft and revokes the whole session.
 */
export async function rotateRefreshToken(deps: SessionDeps, presented: string, client: ClientInfo = {}): Promise<TokenPair> {
  const now = deps.clock.now();
  const tokenHash = hashToken(presented);
  const successor = generateOpaqueToken();
  const refreshEnd = addSeconds(now, deps.config.ttl.refreshToken);

  // One statement, so one round trip and atomic without a transaction: claim the token (only one caller
  // can: the row lock makes a racing UPDATE see it already rotated), check its session is alive, and
  // store the successor. A claimed token of a dead session yields a row with no session.
  const result = await deps.db.execute(sql`
    WITH claimed AS (
      UPDATE refresh_tokens SET rotated_at = ${now}
      WHERE token_hash = ${tokenHash} AND rotated_at IS NULL AND expires_at > ${now}
      RETURNING session_id
    ), live AS (
      UPDATE sessions SET last_refreshed_at = ${now}
      FROM claimed
      WHERE sessions.id = claimed.session_id AND sessions.revoked_at IS NULL AND sessions.expires_at > ${now}
      RETURNING sessions.id, sessions.user_id, sessions.expires_at
    ), successor AS (
      INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at)
      SELECT ${hashToken(successor)}, live.id, ${now}, LEAST(${refreshEnd}::timestamptz, live.expires_at) FROM live
    )
    SELECT live.id, live.user_id, live.expires_at FROM claimed LEFT JOIN live ON live.id = claimed.session_id`);
  const [rotated] = (result as unknown as { rows: { id: string | null; user_id: string; expires_at: Date | string }[] }).rows;
  if (rotated) {
    if (!rotated.id) throw new AppError('invalid_refresh_token');
    const sessionExpiresAt = new Date(rotated.expires_at);
    return issuePair(deps, { userId: rotated.user_id, sessionId: rotated.id, sessionExpiresAt }, successor, now);
  }

  const [known] = await deps.db
    .select({ sessionId: refreshTokens.sessionId, rotatedAt: refreshTokens.rotatedAt })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash));
  if (!known?.rotatedAt) throw new AppError('invalid_refresh_token');
  if (now.getTime() - known.rotatedAt.getTime() <= deps.config.ttl.refreshReuseInterval * 1000) {
    throw new AppError('refresh_token_already_used');
  }
  await revokeSession(deps, known.sessionId, 'refresh_token_reuse');
  await recordAuditEvent(deps.db, deps.clock, { type: 'refresh_token_reused', sessionId: known.sessionId, client });
  throw new AppError('refresh_token_reused');
}

/** Ends one session: its refresh token stops working and its access tokens are refused from now on. */
export async function revokeSession(deps: Pick<Deps, 'db' | 'clock' | 'revocations'>, sessionId: string, reason: string) {
  const now = deps.clock.now();
  await deps.db.transaction(async (tx) => {
    await tx
      .update(sessions)
      .set({ revokedAt: now, revokedReason: reason })
      .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)));
    await announceRevocations(tx, [sessionId], now);
  });
  deps.revocations.add(sessionId, now);
}

/** Logout: ends the caller's own session. */
export async function endSession(deps: SessionDeps, session: { userId: string; sessionId: string }, client: ClientInfo = {}) {
  await revokeSession(deps, session.sessionId, 'logout');
  await recordAuditEvent(deps.db, deps.clock, { type: 'logout', userId: session.userId, sessionId: session.sessionId, client });
}

/**
 * Revokes every live session of a user inside the caller's transaction; returns their ids so the caller
 * can publish them to the revocation list once the transaction has committed.
 */
export async function revokeUserSessions(tx: Db, userId: string, reason: string, now: Date): Promise<string[]> {
  const rows = await tx
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  const ids = rows.map((r) => r.id);
  await announceRevocations(tx, ids, now);
  return ids;
}

async function issuePair(
  deps: SessionDeps,
  session: { userId: string; sessionId: string; sessionExpiresAt: Date },
  refreshToken: string,
  now: Date,
): Promise<TokenPair> {
  // No access token outlives its session.
  const expiresAt = earliest(addSeconds(now, deps.config.ttl.accessToken), session.sessionExpiresAt);
  const access = await signAccessToken(deps.keys, deps.config.jwt, session, now, expiresAt);
  return { sessionId: session.sessionId, accessToken: access.token, refreshToken, expiresIn: access.expiresIn };
}
