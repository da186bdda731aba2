import { asc, gt } from 'drizzle-orm';
import type { Clock } from '../clock.js';
import type { Db } from '../db/client.js';
import { sessions } from '../db/schema.js';

/**
 * Sessions revoked recently enough that one of their access tokens may still be unexpired.
 * Checked on every authenticated request, so it lives in memory; PostgreSQL stays the source of truth.
 */
export interface RevocationList {
  isRevoked(sessionId: string): boolean;
  /** `revokedAt` bounds the entry's life: it is dropped once every token it could block has expired. */
  add(sessionId: string, revokedAt: Date): void;
  /** Drops the entries whose tokens have all expired; also done on every add. */
  prune(): void;
  size(): number;
}

export function createRevocationList(clock: Clock, accessTokenTtlSeconds: number): RevocationList {
  // Insertion order is revocation order, so expired entries are always at the front.
  const entries = new Map<string, number>();
  const lifetimeMs = (accessTokenTtlSeconds + 60) * 1000;

  function prune() {
    const now = clock.now().getTime();
    for (const [sid, until] of entries) {
      if (until > now) break;
      entries.delete(sid);
    }
  }

  return {
    isRevoked: (sessionId) => entries.has(sessionId),
    add(sessionId, revokedAt) {
      prune();
      const until = revokedAt.getTime() + lifetimeMs;
      if (until > clock.now().getTime() && !entries.has(sessionId)) entries.set(sessionId, until);
    },
    prune,
    size: () => entries.size,
  };
}

/** Fills the list from the database at start, so a restart forgets no revocation. */
export async function loadRecentRevocations(db: Db, clock: Clock, accessTokenTtlSeconds: number, list: RevocationList) {
  const since = new Date(clock.now().getTime() - (accessTokenTtlSeconds + 60) * 1000);
  const rows = await db
    .select({ id: sessions.id, revokedAt: sessions.revokedAt })
    .from(sessions)
    .where(gt(sessions.revokedAt, since))
    .orderBy(asc(sessions.revokedAt));
  for (const row of rows) if (row.revokedAt) list.add(row.id, row.revokedAt);
}
