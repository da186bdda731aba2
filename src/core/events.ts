import type { Db } from '../db/client.js';
import { deleteEventsBefore, insertEventsWithDeliveries } from '../db/queries/events.js';
import { notify } from '../db/queries/notify.js';
import type { UserRow as User } from '../db/queries/users.js';
import type { EventUser } from '../contracts/users.js';

/** Every event type webhooks can subscribe to. */
export const EVENT_TYPES = [
  'user.created',
  'user.updated',
  'user.password_changed',
  'user.disabled',
  'user.deleted',
  'user.mfa_enabled',
  'user.mfa_disabled',
  'session.revoked',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface NewEvent {
  type: EventType;
  userId: string;
  data: Record<string, unknown>;
}

/** The NOTIFY channel on which new events are announced to every instance's delivery worker. */
export const EVENTS_CHANNEL = 'latchkey_events';

/** A user as events describe it: the public fields, never the password hash. */
export function userEventData(user: Pick<User, 'id' | 'email' | 'name' | 'role' | 'createdAt' | 'disabledAt' | 'emailVerifiedAt' | 'legacyId'>): EventUser {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    created_at: user.createdAt.toISOString(),
    disabled_at: iso(user.disabledAt),
    email_verified: user.emailVerifiedAt !== null,
    email_verified_at: iso(user.emailVerifiedAt),
    legacy_id: user.legacyId,
  };
}

/**
 * A user.* event: the user as it is after the change. A `user.updated` names the fields that changed
 * (`changes`: `name`, `email`, `email_verified`, `disabled`), so a receiver need not compare.
 */
export const userEvent = (type: EventType, user: Parameters<typeof userEventData>[0], changes?: UserField[]): NewEvent => ({
  type,
  userId: user.id,
  data: changes ? { ...userEventData(user), changes } : userEventData(user),
});

/** The fields of a user a `user.updated` event can name as changed. */
export type UserField = 'name' | 'email' | 'email_verified' | 'disabled';

export const sessionRevokedEvent = (userId: string, sessionId: string, reason: string): NewEvent => ({
  type: 'session.revoked',
  userId,
  data: { sid: sessionId, sub: userId, reason },
});

// In-process listeners (this instance's delivery worker): on the embedded engine there is no NOTIFY.
const listeners = new Set<() => void>();

/** Calls `fn` (soon after) each time this process records events; returns the unsubscribe function. */
export function onEventsRecorded(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Records events inside the caller's transaction, in order, with a delivery for each endpoint subscribed
 * to its type: they exist if and only if the change commits. When deliveries were made, every instance's
 * worker is told (NOTIFY is delivered at commit; this process's worker is woken too, and finds the rows once
 * they are committed).
 * The caller's transaction must hold each user's row lock (an UPDATE of it, or SELECT … FOR NO KEY UPDATE)
 * before this: a user's events then take ids in commit order, and the worker, which sends a user's events
 * in id order, never sends one before an earlier one has committed.
 */
export async function recordEvents(tx: Db, events: NewEvent[], now: Date): Promise<void> {
  if (events.length === 0) return;
  const deliveries = await insertEventsWithDeliveries(tx, events, now);
  // Workers are woken only when there is something to send: an event no endpoint subscribes to (every logout
  // on a server without webhooks) costs no NOTIFY and no worker pass.
  if (deliveries > 0) await announceEvents(tx);
}

/** Wakes every instance's delivery worker: NOTIFY (delivered at commit) and this process's own listeners. */
export async function announceEvents(db: Db): Promise<void> {
  await notify(db, EVENTS_CHANNEL, '');
  setImmediate(() => {
    for (const fn of listeners) fn();
  });
}

/** Deletes events older than the retention that no endpoint is still waiting for (their deliveries go with them). */
export async function purgeEvents(db: Db, now: Date, retentionSeconds: number): Promise<void> {
  await deleteEventsBefore(db, new Date(now.getTime() - retentionSeconds * 1000));
}
