import type { Db } from '../db/client.js';
import { notify } from '../db/queries/notify.js';
import { BoundedCache } from './cache.js';

/** The NOTIFY channel on which a change of a user (profile, address, sessions opened) reaches every instance. */
export const USER_CHANGES_CHANNEL = 'latchkey_user_changes';

// A value read from the database is served from memory this long at most, unless its user changes first.
export const USER_CACHE_MS = 30_000;

/**
 * What each instance keeps in memory of recent users (their public profile per session, their live sessions),
 * each entry under its user. A change of the user calls `forget` here, and on every other instance through
 * USER_CHANGES_CHANNEL (`announceUserChange`): an entry read before its user's last change is never served
 * again. Entries expire after USER_CACHE_MS whatever happens.
 */
export class UserCache<V> {
  private readonly entries: BoundedCache<{ value: V; readAt: number }>;
  // When each user last changed, kept as long as an entry read before it could live.
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

  /** The user's entry under `key` (a session id, or '' for one entry per user), unless read before their last change. */
  get(userId: string, key = ''): V | undefined {
    const entry = this.entries.get(`${userId} ${key}`);
    if (!entry) return undefined;
    const changedAt = Math.max(this.changes.get(userId) ?? -Infinity, this.forgotAllAt);
    return entry.readAt <= changedAt ? undefined : entry.value;
  }

  /** Keeps a value read at `readAt` (taken before the read, so a change committed meanwhile makes it stale). */
  set(userId: string, key: string, value: V, readAt: number): void {
    this.entries.set(`${userId} ${key}`, { value, readAt }, readAt + USER_CACHE_MS);
  }

  /** The user changed: no entry read until now is served again. */
  forget(userId: string): void {
    const now = this.now();
    this.changes.set(userId, now, now + USER_CACHE_MS);
  }

  /** Every user may have changed (this instance heard no notice for a while): no entry read until now is served again. */
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

/** Tells every instance that a user changed (inside the changing transaction: only if it commits). */
export async function announceUserChange(tx: Db, userId: string): Promise<void> {
  const message = userChangeMessage(userId);
  await notify(tx, message.channel, message.payload);
}

/** The NOTIFY of announceUserChange, for a statement that sends it with the change (notifyFor). */
export const userChangeMessage = (userId: string) => ({ channel: USER_CHANGES_CHANNEL, payload: userId });
