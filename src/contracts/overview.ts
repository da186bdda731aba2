import { Type, type Static } from 'typebox';

/** The figures of the console's overview (`/admin`) and of `GET /api/admin/overview`, declared once here. */

const Time = Type.String({ format: 'date-time' });
const Count = Type.Integer({ minimum: 0 });

/** The days an overview counts: the last 30 UTC days, today (so far) the last. */
export const OVERVIEW_DAYS = 30;

export const OverviewDay = Type.Object({
  date: Type.String({ description: 'a UTC day, YYYY-MM-DD' }),
  new_users: Count,
  sign_ins: Count,
  failed_sign_ins: Count,
});
export type OverviewDay = Static<typeof OverviewDay>;

export const Overview = Type.Object({
  as_of: Time,
  users: Type.Object({ total: Count }),
  sessions: Type.Object({ active: Type.Integer({ minimum: 0, description: 'sessions open now: not ended, not past SESSION_MAX_AGE' }) }),
  days: Type.Array(OverviewDay, {
    description: `the last ${OVERVIEW_DAYS} UTC days, oldest first, today last; every day is there, with zeros when nothing happened. Sign-ins and failed sign-ins are the audit log's signin_succeeded and signin_failed events`,
  }),
  totals: Type.Object({ new_users: Count, sign_ins: Count, failed_sign_ins: Count }, { description: `over those ${OVERVIEW_DAYS} days` }),
  webhooks: Type.Object({ pending: Type.Integer({ minimum: 0, description: 'deliveries waiting (the backlog)' }), dead: Type.Integer({ minimum: 0, description: 'deliveries given up, to replay' }) }),
  signing_key: Type.Union(
    [Type.Object({ kid: Type.String(), alg: Type.String(), activated_at: Time, age_seconds: Type.Integer({ minimum: 0, description: 'since it started signing' }) }), Type.Null()],
    { description: 'the stored key that signs now; null when JWT_ALGORITHM is HS256 (the shared secret signs)' },
  ),
});
export type Overview = Static<typeof Overview>;
