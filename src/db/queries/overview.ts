import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';

// The figures of the console's overview (src/auth/overview/), one statement each, each served by an index: the
// users' created_at, the audit events' (type, occurred_at), the sessions' revoked_at (the deliveries' counts are in
// ./webhooks.ts). Days are UTC days, as 'YYYY-MM-DD'; a day with nothing is not a row.

/** A day and how many. */
export interface DayCount {
  day: string;
  n: number;
}

/** A half-open window of time: from `from`, before `until`. */
export interface Window {
  from: Date;
  until: Date;
}

export async function countUsers(db: Db): Promise<number> {
  return countOf(await db.execute(sql`SELECT count(*)::int AS n FROM users`));
}

/** Users created in the window, per UTC day. */
export async function usersCreatedPerDay(db: Db, w: Window): Promise<DayCount[]> {
  const result = await db.execute(sql`
    SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int AS n FROM users
    WHERE created_at >= ${w.from}::timestamptz AND created_at < ${w.until}::timestamptz
    GROUP BY 1`);
  return rowsOf<DayCount>(result);
}

/** Audit events of one type in the window, per UTC day. */
export async function auditEventsPerDay(db: Db, type: string, w: Window): Promise<DayCount[]> {
  const result = await db.execute(sql`
    SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int AS n FROM audit_events
    WHERE type = ${type} AND occurred_at >= ${w.from}::timestamptz AND occurred_at < ${w.until}::timestamptz
    GROUP BY 1`);
  return rowsOf<DayCount>(result);
}

/**
 * Sessions open now: not ended, not past their absolute end. Every credential change (a password, a disabled
 * account) ends its user's sessions in its own transaction, so these are the live ones.
 */
export async function countOpenSessions(db: Db, now: Date): Promise<number> {
  return countOf(await db.execute(sql`SELECT count(*)::int AS n FROM sessions WHERE revoked_at IS NULL AND expires_at > ${now}::timestamptz`));
}

const countOf = (result: unknown) => rowsOf<{ n: number }>(result)[0]?.n ?? 0;
