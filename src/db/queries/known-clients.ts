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
