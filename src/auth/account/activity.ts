import type { Db } from '../../db/client.js';
import { selectUserAuditPage } from '../../db/queries/audit-events.js';
import { AppError } from '../../errors.js';
import type { ActivityEvent, ActivityPage } from '../../contracts/activity.js';

/**
 * The events of their own account a user is shown (`GET /api/me/activity`): what they did or what happened to
 * their account's security. Not the operator's own book-keeping (keys, service clients, webhooks), and never an
 * event's details, which can name other things (an operator, a service client).
 */
export const ACTIVITY_TYPES: readonly string[] = [
  'signup',
  'user_created',
  'signin_succeeded',
  'signin_failed',
  'signin_code_requested',
  'refresh_token_reused',
  'logout',
  'session_revoked',
  'sessions_revoked',
  'password_reset_requested',
  'password_reset_completed',
  'password_changed',
  'user_disabled',
  'user_enabled',
  'email_verified',
  'verification_email_requested',
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
  'oauth_consent_granted',
  'oauth_consent_revoked',
  'oauth_code_reused',
  'account_deleted',
];

const FAILURES = new Set(['signin_failed', 'refresh_token_reused', 'passkey_clone_suspected']);

export const outcomeOf = (type: string): ActivityEvent['outcome'] => (FAILURES.has(type) ? 'failure' : 'success');

export const ACTIVITY_PAGE_DEFAULT = 20;
export const ACTIVITY_PAGE_MAX = 100;

// A cursor is the id of the last event shown, opaque to clients; at most 15 digits, exact as a JavaScript number.
const encodeCursor = (id: number) => Buffer.from(String(id)).toString('base64url');

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9][0-9]{0,14}$/.test(text)) {
    throw new AppError('invalid_request', 'Invalid request: cursor is not one this server gave.', [{ field: 'cursor', message: 'is not one this server gave' }]);
  }
  return Number(text);
}

/** A page of a user's security events, newest first; the cursor names the last event of the page before. */
export async function listActivity(deps: { db: Db }, userId: string, page: { cursor?: string | undefined; limit: number }): Promise<ActivityPage> {
  const beforeId = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  // One more than asked: whether it exists says whether there is a next page.
  const rows = await selectUserAuditPage(deps.db, { userId, types: ACTIVITY_TYPES, beforeId, limit: page.limit + 1 });
  const shown = rows.slice(0, page.limit);
  const last = shown.at(-1);
  return {
    events: shown.map((r) => ({
      type: r.type,
      created_at: r.occurredAt.toISOString(),
      ip_address: r.ipAddress,
      user_agent: r.userAgent,
      outcome: outcomeOf(r.type),
    })),
    next_cursor: rows.length > page.limit && last ? encodeCursor(last.id) : null,
  };
}
