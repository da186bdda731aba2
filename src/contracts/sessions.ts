import { Type, type Static } from 'typebox';

/** What a user sees of their own sessions (`/api/me/sessions`): declared once here. Never a token or its hash. */

const Time = Type.String({ format: 'date-time' });

/** One live session of the caller's (`GET /api/me/sessions`). */
export const OwnSession = Type.Object({
  id: Type.String({ format: 'uuid' }),
  created_at: Time,
  last_used_at: Type.String({ format: 'date-time', description: 'when its refresh token was last exchanged, or else when it was opened' }),
  expires_at: Type.String({ format: 'date-time', description: 'its absolute end (SESSION_MAX_AGE), whatever the refreshes' }),
  ip_address: Type.Union([Type.String(), Type.Null()], { description: 'the client address it was opened from' }),
  user_agent: Type.Union([Type.String(), Type.Null()], { description: 'the User-Agent it was opened with' }),
  current: Type.Boolean({ description: 'true for the session of the access token that asked' }),
});
export type OwnSession = Static<typeof OwnSession>;

/** The caller's live sessions, newest first. */
export const OwnSessions = Type.Object({ sessions: Type.Array(OwnSession) });
export type OwnSessions = Static<typeof OwnSessions>;
