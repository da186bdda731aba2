import { BoundedCache } from '../../core/cache.js';
import type { Db } from '../../db/client.js';
import { notify } from '../../db/queries/notify.js';
import type { PublicUser } from '../../contracts/users.js';

/** The NOTIFY channel on which a change of a user's profile (name, email, verified) reaches every instance. */
export const PROFILES_CHANNEL = 'latchkey_profiles';

// A read profile is served from memory this long at most, unless its user changes it first.
export const PROFILE_CACHE_MS = 30_000;

/**
 * The public profiles of recent sessions' users, kept per session (a session id is checked once, when its
 * entry is made). A change of a user's profile calls `forget` here, and on every other instance through
 * PROFILES_CHANNEL: an entry read before its user's last change is never served again.
 */
export class ProfileCache {
  private readonly entries: BoundedCache<{ profile: PublicUser; readAt: number }>;
  // When each user's profile last changed, kept as long as an entry read before it could live.
  private readonly changes: BoundedCache<number>;
  // Entries read before this are all stale (changes may have been missed while the notices were away).
  private forgotAllAt = -Infinity;

  constructor(
    maxEntries: number,
    private readonly now: () => number,
  ) {
    this.entries = new BoundedCache(maxEntries, now);
    this.changes = new BoundedCache(maxEntries, now);
  }

  get(userId: string, sessionId: string): PublicUser | undefined {
    const entry = this.entries.get(`${userId} ${sessionId}`);
    if (!entry) return undefined;
    const changedAt = Math.max(this.changes.get(userId) ?? -Infinity, this.forgotAllAt);
    return entry.readAt <= changedAt ? undefined : entry.profile;
  }

  /** Keeps a profile read at `readAt` (taken before the read, so a change committed meanwhile makes it stale). */
  set(userId: string, sessionId: string, profile: PublicUser, readAt: number): void {
    this.entries.set(`${userId} ${sessionId}`, { profile, readAt }, readAt + PROFILE_CACHE_MS);
  }

  /** The user's profile changed: no entry read until now is served again. */
  forget(userId: string): void {
    const now = this.now();
    this.changes.set(userId, now, now + PROFILE_CACHE_MS);
  }

  /** Every profile may have changed (this instance heard no notice for a while): none read until now is served again. */
  forgetAll(): void {
    this.forgotAllAt = this.now();
  }

  /** Look-ups answered from memory, and not: read by the metrics. */
  get hits(): number {
    return this.entries.hits;
  }
  get misses(): number {
    return this.entries.misses;
  }
  get size(): number {
    return this.entries.size;
  }
}

/** Tells every instance that a user's profile changed (inside the changing transaction: only if it commits). */
export async function announceProfileChange(tx: Db, userId: string): Promise<void> {
  await notify(tx, PROFILES_CHANNEL, userId);
}
