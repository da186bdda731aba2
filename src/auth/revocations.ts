import { asc, gt } from 'drizzle-orm';
import type { Clock } from '../clock.js';
import type { Db } from '../db/client.js';
import { sessions, users } from '../db/schema.js';

/** What the revocation list needs to know of an access token. */
export interface RevocableClaims {
  sessionId: string;
  userId: string;
  /** When the session was opened (the `auth_time` claim), in seconds since the epoch. */
  authTime: number;
}

/**
 * Sessions revoked, and users whose credentials changed, recently enough that one of their access tokens
 * may still be unexpired. Checked on every authenticated request, so it lives in memory; PostgreSQL stays
 * the source of truth.
 */
export interface RevocationList {
  isRevoked(claims: RevocableClaims): boolean;
  isSessionRevoked(sessionId: string): boolean;
  /** `revokedAt` bounds the entry's life: it is dropped once every token it could block has expired. */
  add(sessionId: string, revokedAt: Date): void;
  /** Every session of the user opened before `notBefore` is dead (a password reset, a disabled account). */
  addNotBefore(userId: string, notBefore: Date): void;
  /** Drops the entries whose tokens have all expired; also done on every add. */
  prune(): void;
  size(): number;
}

export function createRevocationList(clock: Clock, accessTokenTtlSeconds: number): RevocationList {
  // Insertion order is revocation order, so expired entries are always at the front.
  const revokedSessions = new Map<string, number>();
  // userId -> [notBefore ms, keep until ms]; re-inserted on change, so the order holds here too.
  const notBefore = new Map<string, [number, number]>();
  const lifetimeMs = (accessTokenTtlSeconds + 60) * 1000;

  function prune() {
    const now = clock.now().getTime();
    for (const [sid, until] of revokedSessions) {
      if (until > now) break;
      revokedSessions.delete(sid);
    }
    for (const [uid, [, until]] of notBefore) {
      if (until > now) break;
      notBefore.delete(uid);
    }
  }

  return {
    isRevoked(claims) {
      if (revokedSessions.has(claims.sessionId)) return true;
      const entry = notBefore.get(claims.userId);
      return entry !== undefined && claims.authTime * 1000 < entry[0];
    },
    isSessionRevoked: (sessionId) => revokedSessions.has(sessionId),
    add(sessionId, revokedAt) {
      prune();
      const until = revokedAt.getTime() + lifetimeMs;
      if (until > clock.now().getTime() && !revokedSessions.has(sessionId)) revokedSessions.set(sessionId, until);
    },
    addNotBefore(userId, at) {
      prune();
      const until = at.getTime() + lifetimeMs;
      const known = notBefore.get(userId);
      if (until <= clock.now().getTime() || (known && known[0] >= at.getTime())) return;
      notBefore.delete(userId);
      notBefore.set(userId, [at.getTime(), until]);
    },
    prune,
    size: () => revokedSessions.size + notBefore.size,
  };
}

/** Fills the list from the database at start (and after a lost feed), so a restart forgets no revocation. */
export async function loadRecentRevocations(db: Db, clock: Clock, accessTokenTtlSeconds: number, list: RevocationList) {
  const since = new Date(clock.now().getTime() - (accessTokenTtlSeconds + 60) * 1000);
  const rows = await db
    .select({ id: sessions.id, revokedAt: sessions.revokedAt })
    .from(sessions)
    .where(gt(sessions.revokedAt, since))
    .orderBy(asc(sessions.revokedAt));
  for (const row of rows) if (row.revokedAt) list.add(row.id, row.revokedAt);
  const changed = await db
    .select({ id: users.id, notBefore: users.notBefore })
    .from(users)
    .where(gt(users.notBefore, since))
    .orderBy(asc(users.notBefore));
  for (const row of changed) if (row.notBefore) list.addNotBefore(row.id, row.notBefore);
}
