import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { selectNotBeforesSince, selectSessionsRevokedSince } from '../../db/queries/revocations.js';
import { selectKeysRevokedSince } from '../../db/queries/signing-keys.js';

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
  /**
   * Every token the signing key `kid` signed is dead (an emergency revocation, src/auth/keys/key-admin.ts). The key
   * ring drops the key too; this entry refuses its tokens from the moment the notice arrives, before the ring has
   * read the keys again, and carries `key.revoked` to the revocation feed.
   */
  addKey(kid: string, revokedAt: Date): void;
  isKeyRevoked(kid: string): boolean;
  /** Drops the entries whose tokens have all expired; also done on every add. */
  prune(): void;
  size(): number;
  /** Every entry held now, each with its time and when it was learned (the revocation feed replays them). */
  entries(): RevocationEntry[];
  /** Calls `listener` with each entry added from now on (a session newly revoked, a not-before moved forward); returns the unsubscribe. */
  subscribe(listener: (entry: RevocationEntry) => void): () => void;
  /**
   * True while the list may be missing revocations made on other instances: the connection that hears of
   * them is down or has gone quiet (src/auth/sessions/revocation-feed.ts). Checks then ask the database,
   * and the revocation feed stops its heartbeats so that its consumers stop trusting it.
   */
  isStale(): boolean;
  setStale(stale: boolean): void;
}

/**
 * One entry of the list: a session revoked at `at`, or a user whose access tokens with an `auth_time` before
 * `at` are dead (both in milliseconds since the epoch). `seen` is when this list learned it, by this
 * instance's clock and never less than the entry learned before it: the revocation feed's event id, which
 * nothing a client sends can move ahead.
 */
export type RevocationEntry = ({ kind: 'session'; sessionId: string } | { kind: 'user'; userId: string } | { kind: 'key'; kid: string }) & {
  at: number;
  seen: number;
};

export function createRevocationList(clock: Clock, accessTokenTtlSeconds: number): RevocationList {
  // Insertion order is revocation order, so expired entries are always at the front.
  // sessionId -> [keep until ms, seen ms].
  const revokedSessions = new Map<string, [number, number]>();
  // userId -> [notBefore ms, keep until ms, seen ms]; re-inserted on change, so the order holds here too.
  const notBefore = new Map<string, [number, number, number]>();
  // kid -> its entry: a handful at most, ever.
  const revokedKeys = new Map<string, RevocationEntry>();
  const lifetimeMs = (accessTokenTtlSeconds + 60) * 1000;
  // Told only of changes, never on the hot path (isRevoked): a set to iterate on add.
  const listeners = new Set<(entry: RevocationEntry) => void>();
  let stale = false;
  const tell = (entry: RevocationEntry) => {
    for (const listener of listeners) {
      try {
        listener(entry);
      } catch {
        // A subscriber's fault never undoes or delays a revocation.
      }
    }
  };
  // When an entry is learned: this clock, never back (a clock set back does not reorder what was seen).
  let lastSeen = 0;
  const stamp = () => (lastSeen = Math.max(lastSeen, clock.now().getTime()));

  function prune() {
    const now = clock.now().getTime();
    for (const [sid, [until]] of revokedSessions) {
      if (until > now) break;
      revokedSessions.delete(sid);
    }
    for (const [uid, [, until]] of notBefore) {
      if (until > now) break;
      notBefore.delete(uid);
    }
    for (const [kid, entry] of revokedKeys) if (entry.at + lifetimeMs <= now) revokedKeys.delete(kid);
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
      if (until <= clock.now().getTime() || revokedSessions.has(sessionId)) return;
      const seen = stamp();
      revokedSessions.set(sessionId, [until, seen]);
      if (listeners.size > 0) tell({ kind: 'session', sessionId, at: revokedAt.getTime(), seen });
    },
    addNotBefore(userId, at) {
      prune();
      const until = at.getTime() + lifetimeMs;
      const known = notBefore.get(userId);
      if (until <= clock.now().getTime() || (known && known[0] >= at.getTime())) return;
      const seen = stamp();
      notBefore.delete(userId);
      notBefore.set(userId, [at.getTime(), until, seen]);
      if (listeners.size > 0) tell({ kind: 'user', userId, at: at.getTime(), seen });
    },
    addKey(kid, at) {
      if (at.getTime() + lifetimeMs <= clock.now().getTime() || revokedKeys.has(kid)) return;
      const entry: RevocationEntry = { kind: 'key', kid, at: at.getTime(), seen: stamp() };
      revokedKeys.set(kid, entry);
      tell(entry);
    },
    isKeyRevoked: (kid) => revokedKeys.size > 0 && revokedKeys.has(kid),
    prune,
    size: () => revokedSessions.size + notBefore.size + revokedKeys.size,
    entries() {
      prune();
      const all: RevocationEntry[] = [];
      // A session's revocation time is its keep-until less the lifetime it was given.
      for (const [sessionId, [until, seen]] of revokedSessions) all.push({ kind: 'session', sessionId, at: until - lifetimeMs, seen });
      for (const [userId, [at, , seen]] of notBefore) all.push({ kind: 'user', userId, at, seen });
      all.push(...revokedKeys.values());
      return all;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    isStale: () => stale,
    setStale: (value) => void (stale = value),
  };
}

/** Fills the list from the database at start (and after a lost feed), so a restart forgets no revocation. */
export async function loadRecentRevocations(db: Db, clock: Clock, accessTokenTtlSeconds: number, list: RevocationList) {
  const since = new Date(clock.now().getTime() - (accessTokenTtlSeconds + 60) * 1000);
  for (const row of await selectSessionsRevokedSince(db, since)) list.add(row.id, row.at);
  for (const row of await selectNotBeforesSince(db, since)) list.addNotBefore(row.id, row.at);
  for (const row of await selectKeysRevokedSince(db, since)) if (row.at) list.addKey(row.kid, row.at);
}
