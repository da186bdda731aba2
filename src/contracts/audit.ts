import { Type, type Static } from 'typebox';

/** The audit log as an operator searches it (the admin API, the console): declared once here. */

const NullableText = Type.Union([Type.String(), Type.Null()]);

/** One audit event, with its details (the audit log never holds a secret). */
export const AuditEventView = Type.Object({
  id: Type.Integer({ description: 'increasing: a later event has a greater id' }),
  occurred_at: Type.String({ format: 'date-time' }),
  type: Type.String({ description: 'the event type: `signin_failed`, `user_disabled`, `service_client_created`…' }),
  user_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  user: Type.Union([Type.Object({ email: Type.String(), name: Type.String() }), Type.Null()], {
    description: 'the user as they are now; null for an event of no user, or once the user is deleted',
  }),
  email: Type.Union([Type.String(), Type.Null()], { description: 'the address the event named (kept when the user is deleted, or when no account had it)' }),
  actor: Type.Union([Type.String(), Type.Null()], { description: 'who acted: `user`, `cli`, `admin:<user id>`, `service:<name>`…' }),
  session_id: NullableText,
  ip_address: NullableText,
  user_agent: NullableText,
  details: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
});
export type AuditEventView = Static<typeof AuditEventView>;

/** A page of the search, newest first. */
export const AuditEventPage = Type.Object({
  events: Type.Array(AuditEventView),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as `cursor`, with the same filters, for the next (older) page; null on the last one' }),
});
export type AuditEventPage = Static<typeof AuditEventPage>;

export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 200;
