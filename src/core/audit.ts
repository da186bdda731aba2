import type { Clock } from './clock.js';
import { FOREIGN_KEY_VIOLATION, sqlState, type Db } from '../db/client.js';
import { deleteAuditEventsBefore, insertAuditEvent, type NewAuditEventRow } from '../db/queries/audit-events.js';
import type { ClientInfo } from './client-address.js';

/** Every type of audit event, the closed list the admin's search offers. */
export const AUDIT_EVENT_TYPES = [
  'signup',
  'signin_succeeded',
  'signin_failed',
  'signin_code_requested',
  'account_locked',
  'refresh_token_reused',
  'logout',
  'password_reset_requested',
  'password_reset_completed',
  'password_changed',
  'verification_email_requested',
  'email_verified',
  'email_change_requested',
  'email_changed',
  'email_change_cancelled',
  'profile_updated',
  'mfa_required',
  'mfa_enabled',
  'mfa_disabled',
  'recovery_codes_regenerated',
  'passkey_renamed',
  'passkey_clone_suspected',
  'mfa_step_up',
  'user_created',
  'user_disabled',
  'user_enabled',
  'user_role_changed',
  'user_deleted',
  'sessions_revoked',
  'session_revoked',
  'signing_key_rotated',
  'signing_key_revoked',
  'service_client_created',
  'service_client_secret_rotated',
  'service_client_removed',
  'oauth_client_created',
  'oauth_client_secret_rotated',
  'oauth_client_removed',
  'oauth_consent_granted',
  'oauth_consent_revoked',
  'oauth_code_reused',
  'webhook_added',
  'webhook_removed',
  'webhook_replayed',
  'upstream_provider_added',
  'upstream_provider_removed',
  'upstream_linked',
  'upstream_unlinked',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  type: AuditEventType;
  userId?: string | undefined;
  email?: string | undefined;
  sessionId?: string | undefined;
  client?: ClientInfo | undefined;
  details?: Record<string, unknown> | undefined;
}

/**
 * Records a security event; never give it a secret (password, token): `details` is stored as is.
 * An event that records a change is written on that change's transaction (`db` is then the transaction), so
 * that it exists if and only if the change commits; the transaction holds the user's row lock first (every
 * change of a user takes it), so the user cannot be deleted before it commits. An event that records no
 * change (a failed sign-in, a lock, a reset request) is written on its own.
 */
export async function recordAuditEvent(db: Db, clock: Clock, event: AuditEvent): Promise<void> {
  const row = auditRow(clock, event);
  try {
    await insertAuditEvent(db, row);
  } catch (err) {
    // The user was deleted between what happened and its record (a delete racing a failed sign-in, a reset
    // request): the event is kept as a deletion leaves the user's earlier ones, with the email and no user id.
    // Only for an event written on its own: inside a transaction, the failed insert has aborted it.
    if (!event.userId || sqlState(err) !== FOREIGN_KEY_VIOLATION) throw err;
    await insertAuditEvent(db, { ...row, userId: undefined });
  }
}

/** An event as its row is stored, occurring now: for a statement that records it with other changes (auditEventFor). */
export function auditRow(clock: Clock, event: AuditEvent): NewAuditEventRow {
  return {
    occurredAt: clock.now(),
    type: event.type,
    userId: event.userId,
    email: event.email,
    sessionId: event.sessionId,
    ipAddress: event.client?.ipAddress,
    userAgent: event.client?.userAgent?.slice(0, 512),
    details: event.details,
  };
}

/** Deletes events older than the retention period (AUDIT_RETENTION); returns how many. */
export async function purgeAuditEvents(db: Db, clock: Clock, retentionSeconds: number): Promise<number> {
  const before = new Date(clock.now().getTime() - retentionSeconds * 1000);
  return deleteAuditEventsBefore(db, before);
}
