import { randomUUID } from 'node:crypto';
import { and, eq, gt, isNull } from 'drizzle-orm';
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
  await deps.db.transaction(async (tx) => {
    await tx.insert(sessions).values({
      id: sessionId,
      userId,
      createdAt: now,
      expiresAt,
      ipAddress: client.ipAddress,
      userAgent: client.userAgent?.slice(0, 512),
    });
    await insertRefreshToken(tx, deps, sessionId, refreshToken, now, expiresAt);
  });
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

  const rotated = await deps.db.transaction(async (tx) => {
    const [claimed] = await tx
      .update(refreshTokens)
      .set({ rotatedAt: now })
      .where(and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.rotatedAt), gt(refreshTokens.expiresAt, now)))
      .returning({ sessionId: refreshTokens.sessionId });
    if (!claimed) return undefined;
    const [session] = await tx
      .select({ id: sessions.id, userId: sessions.userId, expiresAt: sessions.expiresAt })
      .from(sessions)
      .where(and(eq(sessions.id, claimed.sessionId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)));
    if (!session) throw new AppError('invalid_refresh_token');
    await insertRefreshToken(tx, deps, session.id, successor, now, session.expiresAt);
    await tx.update(sessions).set({ lastRefreshedAt: now }).where(eq(sessions.id, session.id));
    return session;
  });
  if (rotated) {
    return issuePair(deps, { userId: rotated.userId, sessionId: rotated.id, sessionExpiresAt: rotated.expiresAt }, successor, now);
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

async function insertRefreshToken(tx: Db, deps: SessionDeps, sessionId: string, token: string, now: Date, sessionEnd: Date) {
  await tx.insert(refreshTokens).values({
    tokenHash: hashToken(token),
    sessionId,
    createdAt: now,
    expiresAt: earliest(addSeconds(now, deps.config.ttl.refreshToken), sessionEnd),
  });
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
