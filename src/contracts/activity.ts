import { Type, type Static } from 'typebox';
import { AdminUser } from './users.js';

/**
 * What a user sees of their own account's security events and data (`/api/me/activity`, `/api/me/export`):
 * declared once here. Never a token, a token's hash, a password hash, or an email's body, link or code.
 */

const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);
const NullableText = Type.Union([Type.String(), Type.Null()]);

const Outcome = Type.Union([Type.Literal('success'), Type.Literal('failure')], {
  description: '`failure` for a failed sign-in and a reused refresh token; `success` otherwise',
});

/** One security event of the caller's account (`GET /api/me/activity`): never the event's details. */
export const ActivityEvent = Type.Object({
  type: Type.String({ description: 'the audit event type: `signin_succeeded`, `signin_failed`, `logout`, `session_revoked`, `password_changed`…' }),
  created_at: Time,
  ip_address: NullableText,
  user_agent: NullableText,
  outcome: Outcome,
});
export type ActivityEvent = Static<typeof ActivityEvent>;

/** A page of the caller's security events, newest first. */
export const ActivityPage = Type.Object({
  events: Type.Array(ActivityEvent),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as `cursor` for the next (older) page; null on the last one' }),
});
export type ActivityPage = Static<typeof ActivityPage>;

/** A session of the caller's in the export: live or ended. */
export const ExportedSession = Type.Object({
  id: Type.String({ format: 'uuid' }),
  created_at: Time,
  expires_at: Time,
  last_refreshed_at: NullableTime,
  revoked_at: NullableTime,
  revoked_reason: NullableText,
  ip_address: NullableText,
  user_agent: NullableText,
});
export type ExportedSession = Static<typeof ExportedSession>;

/** An audit event of the caller's in the export, with its details (never a secret: the audit log holds none). */
export const ExportedEvent = Type.Object({
  ...ActivityEvent.properties,
  email: Type.Union([Type.String(), Type.Null()], { description: 'the address the event named' }),
  session_id: Type.Union([Type.String(), Type.Null()]),
  details: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
});
export type ExportedEvent = Static<typeof ExportedEvent>;

/** An email queued for the caller, as the outbox still holds it: never its body, link or code. */
export const ExportedEmail = Type.Object({
  kind: Type.String({ description: 'what it was: `notice` (rendered when queued: a password change, a new sign-in), or the kind of an email rendered when sent (`password_reset`, `signin_code`…)' }),
  subject: Type.Union([Type.String(), Type.Null()], { description: "a notice's subject; null for an email rendered when sent" }),
  created_at: Time,
  sent_at: Type.Union([Time, Type.Null()], { description: 'null while it waits to be sent' }),
});
export type ExportedEmail = Static<typeof ExportedEmail>;

/** Everything Latchkey holds about the caller (`GET /api/me/export`), newest first in each list, each list bounded. */
export const AccountExport = Type.Object({
  exported_at: Time,
  user: AdminUser,
  sessions: Type.Array(ExportedSession, { description: 'every session still stored, live or ended (an ended one is purged a day after it ended)' }),
  events: Type.Array(ExportedEvent, { description: 'every audit event of the account still stored (AUDIT_RETENTION)' }),
  emails: Type.Array(ExportedEmail, { description: 'the emails the outbox still holds for the account (a sent one is purged a day after it was sent)' }),
});
export type AccountExport = Static<typeof AccountExport>;
