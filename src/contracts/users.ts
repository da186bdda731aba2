import { MfaSummary } from './mfa.js';
import { Type, type Static } from 'typebox';

/**
 * A user as the API, the command line and the control socket show it: declared once here, with its
 * TypeScript type. Answers are serialized from these schemas, so a field not listed (a password hash)
 * never leaves. JSON-ready: dates are ISO strings.
 */

const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);

/** What a user sees of their own account (sign-up, sign-in, the dashboard). */
export const PublicUser = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  email: Type.String(),
  email_verified: Type.Boolean({ description: 'whether the owner proved the address (a verification link or code, or a password reset)' }),
  created_at: Time,
});
export type PublicUser = Static<typeof PublicUser>;

/** A user as an operator sees it (the command line, the admin API): never the password hash. */
export const AdminUser = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  name: Type.String(),
  role: Type.String({ description: '`user` or `admin`' }),
  created_at: Time,
  disabled_at: NullableTime,
  email_verified: Type.Boolean(),
  email_verified_at: NullableTime,
  password_changed_at: NullableTime,
  legacy_id: Type.Union([Type.String(), Type.Null()], { description: 'the id the user had in the system it was imported from' }),
});
export type AdminUser = Static<typeof AdminUser>;

/** A user as webhook events describe it: the operator's view without when the password changed. */
export const EventUser = Type.Omit(AdminUser, ['password_changed_at']);
export type EventUser = Static<typeof EventUser>;

/** An operator's user with how many of their sessions are live now and their second factors, never a secret (`users show`). */
export const AdminUserWithSessions = Type.Object({ ...AdminUser.properties, active_sessions: Type.Integer({ minimum: 0 }), mfa: MfaSummary });
export type AdminUserWithSessions = Static<typeof AdminUserWithSessions>;

/** What ending a user's sessions did (delete, disable, sign out everywhere). */
export const SessionsEnded = Type.Object({ user: AdminUser, sessions_ended: Type.Integer({ minimum: 0 }) });
export type SessionsEnded = Static<typeof SessionsEnded>;

/** One live session of a user, as an operator sees it (`sessions list`): never a token or its hash. */
export const AdminSession = Type.Object({
  id: Type.String({ format: 'uuid' }),
  created_at: Time,
  expires_at: Type.String({ format: 'date-time', description: 'its absolute end (SESSION_MAX_AGE), whatever the refreshes' }),
  last_refreshed_at: Type.Union([Time, Type.Null()], { description: 'when its refresh token was last exchanged; null if never' }),
  ip_address: Type.Union([Type.String(), Type.Null()], { description: 'the client address it was opened from' }),
  user_agent: Type.Union([Type.String(), Type.Null()], { description: 'the User-Agent it was opened with' }),
});
export type AdminSession = Static<typeof AdminSession>;

/** A user's live sessions, oldest first (`sessions list`). */
export const UserSessions = Type.Object({ user: AdminUser, sessions: Type.Array(AdminSession) });
export type UserSessions = Static<typeof UserSessions>;

/** What ending one session did (`sessions revoke <session id>`). */
export const SessionRevoked = Type.Object({ session_id: Type.String({ format: 'uuid' }), user: AdminUser });
export type SessionRevoked = Static<typeof SessionRevoked>;

const changed = Type.Boolean({ description: 'false when the account already was in that state (nothing was done)' });

/** Disabling a user: the sessions it ended, and whether it changed anything. */
export const UserDisabled = Type.Object({ ...SessionsEnded.properties, changed });
export type UserDisabled = Static<typeof UserDisabled>;

/** Enabling a user, and whether it changed anything. */
export const UserEnabled = Type.Object({ user: AdminUser, changed });
export type UserEnabled = Static<typeof UserEnabled>;

/** Granting or taking back the role `admin`, and whether it changed anything. */
export const RoleChanged = Type.Object({ user: AdminUser, changed });
export type RoleChanged = Static<typeof RoleChanged>;

/** Marking an address verified, and whether it changed anything. */
export const EmailVerifiedByOperator = Type.Object({ user: AdminUser, changed });
export type EmailVerifiedByOperator = Static<typeof EmailVerifiedByOperator>;

/** Sending a verification email: `sent: false` when the address is verified already or the account disabled. */
export const VerificationSent = Type.Object({ user: AdminUser, sent: Type.Boolean() });
export type VerificationSent = Static<typeof VerificationSent>;

/** Sending a password reset email: `sent: false` when the account is disabled (it cannot reset its password). */
export const ResetSent = Type.Object({ user: AdminUser, sent: Type.Boolean() });
export type ResetSent = Static<typeof ResetSent>;

/** A user an operator created: `invited` when an invitation (a link to choose the password) was queued for them. */
export const UserCreated = Type.Object({ user: AdminUser, invited: Type.Boolean() });
export type UserCreated = Static<typeof UserCreated>;

/** An operator's reset of a user's second factors: `removed: false` when the user had none set up. */
export const MfaReset = Type.Object({ user: AdminUser, removed: Type.Boolean() });
export type MfaReset = Static<typeof MfaReset>;

/** The first page of users an operator gets unless they ask for another size. */
export const USERS_PAGE_DEFAULT = 50;
