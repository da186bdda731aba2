import type { Clock } from '../../core/clock.js';
import type { Db } from '../../db/client.js';
import { selectUserAuditEvents, type AuditEventRow } from '../../db/queries/audit-events.js';
import { selectUserMail, type UserMailRow } from '../../db/queries/mail-outbox.js';
import { selectUserSessions, type StoredSessionRow } from '../../db/queries/sessions.js';
import { selectUserById } from '../../db/queries/users.js';
import { AppError } from '../../errors.js';
import { isUuid } from '../../contracts/ids.js';
import type { AccountExport, ExportedEmail, ExportedEvent, ExportedSession } from '../../contracts/activity.js';
import { toAdminUser } from '../users/user-admin.js';
import { outcomeOf } from './activity.js';

/** The most of each list an export holds, newest kept: a bounded answer, however long the account has lived. */
export const EXPORT_LIMITS = { sessions: 2_000, events: 5_000, emails: 1_000 } as const;

// Never in an export, even if a future event put one in its details by mistake: the audit log holds no secret.
const SECRET_KEY_NAMES = /password|secret|token|hash|code|link|url/i;

/** An event's details without anything a key names as a secret; booleans stay (`signinCode: true`). */
function withoutSecrets(details: unknown): Record<string, unknown> | null {
  if (!details || typeof details !== 'object' || Array.isArray(details)) return null;
  return Object.fromEntries(Object.entries(details).filter(([key, value]) => typeof value === 'boolean' || !SECRET_KEY_NAMES.test(key)));
}

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

const toSession = (r: StoredSessionRow): ExportedSession => ({
  id: r.id,
  created_at: r.createdAt.toISOString(),
  expires_at: r.expiresAt.toISOString(),
  last_refreshed_at: iso(r.lastRefreshedAt),
  revoked_at: iso(r.revokedAt),
  revoked_reason: r.revokedReason,
  ip_address: r.ipAddress,
  user_agent: r.userAgent,
});

const toEvent = (r: AuditEventRow): ExportedEvent => ({
  type: r.type,
  created_at: r.occurredAt.toISOString(),
  ip_address: r.ipAddress,
  user_agent: r.userAgent,
  outcome: outcomeOf(r.type),
  email: r.email,
  session_id: r.sessionId,
  details: withoutSecrets(r.details),
});

const toEmail = (r: UserMailRow): ExportedEmail => ({
  kind: r.kind ?? 'notice',
  subject: r.kind === null ? r.subject : null,
  created_at: new Date(r.created_at).toISOString(),
  sent_at: iso(r.sent_at),
});

/**
 * Everything Latchkey holds about a user, as they may take it away (`GET /api/me/export`): their account (never
 * the password hash), their sessions live or ended (never a token or its hash), their audit events with details,
 * and the emails the outbox holds for them (never a body, link or code). Each list newest first, at most
 * EXPORT_LIMITS of it.
 */
export async function exportAccount(deps: { db: Db; clock: Clock }, userId: string): Promise<AccountExport> {
  const user = isUuid(userId) ? await selectUserById(deps.db, userId) : undefined;
  // Deleted meanwhile: its sessions went with it.
  if (!user) throw new AppError('session_revoked');
  const [sessions, events, emails] = await Promise.all([
    selectUserSessions(deps.db, user.id, EXPORT_LIMITS.sessions),
    selectUserAuditEvents(deps.db, user.id, EXPORT_LIMITS.events),
    selectUserMail(deps.db, user, EXPORT_LIMITS.emails),
  ]);
  return {
    exported_at: deps.clock.now().toISOString(),
    user: toAdminUser(user),
    sessions: sessions.map(toSession),
    events: events.map(toEvent),
    emails: emails.map(toEmail),
  };
}
