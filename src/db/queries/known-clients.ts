import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';

/**
 * The addresses, at most `limit` of them, from which a user signed in (a `signin_succeeded` audit event)
 * after `since`. Read from the audit log, which outlives the sessions themselves (AUDIT_RETENTION).
 */
export async function selectSigninAddresses(db: Db, userId: string, since: Date, limit: number): Promise<string[]> {
  const result = await db.execute(sql`
    SELECT DISTINCT ip_address FROM audit_events
    WHERE user_id = ${userId} AND type = 'signin_succeeded' AND occurred_at > ${since} AND ip_address IS NOT NULL
    LIMIT ${limit}`);
  return rowsOf<{ ip_address: string }>(result).map((row) => row.ip_address);
}

export interface SigninOrigin {
  ip_address: string | null;
  user_agent: string | null;
  /** The latest sign-in from this address with this user agent. */
  last: Date | string;
}

/**
 * Where a user signed in from (a `signin_succeeded` audit event), but in the session `except`: each address and
 * user agent once, with the latest time it signed in, most recent first, at most `limit`. None: the user never
 * signed in before (or AUDIT_RETENTION has purged every earlier sign-in).
 */
export async function selectSigninOrigins(db: Db, userId: string, except: string, limit: number): Promise<SigninOrigin[]> {
  const result = await db.execute(sql`
    SELECT ip_address, user_agent, max(occurred_at) AS last FROM audit_events
    WHERE user_id = ${userId} AND type = 'signin_succeeded' AND session_id IS DISTINCT FROM ${except}
    GROUP BY ip_address, user_agent
    ORDER BY last DESC
    LIMIT ${limit}`);
  return rowsOf<SigninOrigin>(result);
}
