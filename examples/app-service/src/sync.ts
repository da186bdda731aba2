import type { LatchkeyEventUser, WebhookEvent } from '@latchkey/verify';
import type { Database, Queryable } from './db.js';

/** A user as Latchkey's `user.*` events describe it. */
type UserData = LatchkeyEventUser;

const USER_CHANGES = new Set(['user.created', 'user.updated', 'user.password_changed', 'user.disabled']);

function userIdOf(event: WebhookEvent): string | null {
  const data = event.data as { id?: unknown; sub?: unknown };
  const id = event.type.startsWith('user.') ? data.id : data.sub;
  return typeof id === 'string' ? id : null;
}

/**
 * Applies one of Latchkey's events to the app's copy of its users, once per webhook-id: the id is recorded
 * in the same transaction as the change, so a redelivery (Latchkey sends at least once) changes nothing,
 * and a change that fails is not recorded and is applied when Latchkey sends it again.
 */
export function applyWebhook(db: Database, webhookId: string, event: WebhookEvent): Promise<'applied' | 'duplicate'> {
  return db.transaction(async (tx) => {
    const userId = userIdOf(event);
    const recorded = await tx.query(
      'INSERT INTO applied_webhooks (webhook_id, type, user_id) VALUES ($1, $2, $3) ON CONFLICT (webhook_id) DO NOTHING RETURNING seq',
      [webhookId, event.type, userId],
    );
    if (recorded.rows.length === 0) return 'duplicate';
    if (USER_CHANGES.has(event.type)) await upsertUser(tx, event.data as UserData, eventNumber(webhookId));
    else if (event.type === 'user.deleted' && userId) await tx.query('DELETE FROM users WHERE id = $1', [userId]);
    // session.revoked and types added later: recorded, nothing to change (the revocation feed ends sessions).
    return 'applied';
  });
}

/** Latchkey numbers its events in the order they commit (webhook-id `evt_<n>`). */
function eventNumber(webhookId: string): string {
  return /^evt_([0-9]{1,18})$/.exec(webhookId)?.[1] ?? '0';
}

/**
 * Latchkey sends a user's pending events in order, but an operator may replay an old dead delivery after
 * newer ones: an event older than the row is ignored, and a deleted user (ids are never reused) stays deleted.
 */
function upsertUser(tx: Queryable, user: UserData, event: string) {
  return tx.query(
    `INSERT INTO users (id, email, name, role, created_at, disabled_at, synced_at, last_event)
     SELECT $1, $2, $3, $4, $5, $6, now(), $7
     WHERE NOT EXISTS (SELECT 1 FROM applied_webhooks WHERE user_id = $1 AND type = 'user.deleted')
     ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, role = EXCLUDED.role,
       disabled_at = EXCLUDED.disabled_at, synced_at = EXCLUDED.synced_at, last_event = EXCLUDED.last_event
     WHERE users.last_event < EXCLUDED.last_event`,
    [user.id, user.email, user.name, user.role, user.created_at, user.disabled_at, event],
  );
}
