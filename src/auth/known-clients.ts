import { sql } from 'drizzle-orm';
import type { Clock } from '../clock.js';
import type { Db } from '../db/client.js';

// Unknown addresses run the same query against an id no user has, so both cost the same.
const NO_USER = '00000000-0000-0000-0000-000000000000';

/**
 * Whether this client's network opened a session of this user within the last `withinSeconds`: a client
 * the owner has used. Throttling keeps such clients apart from strangers, so that strangers' failures
 * cannot lock the owner out (OWASP's "lock out unknown clients only").
 */
export async function isKnownClient(
  deps: { db: Db; clock: Clock },
  userId: string | undefined,
  network: string | undefined,
  withinSeconds: number,
): Promise<boolean> {
  if (!network || !network.includes('/')) return false;
  const since = new Date(deps.clock.now().getTime() - withinSeconds * 1000);
  const result = await deps.db.execute(sql`
    SELECT 1 FROM sessions
    WHERE user_id = ${userId ?? NO_USER} AND created_at > ${since} AND ip_address::inet <<= ${network}::cidr
    LIMIT 1`);
  return (result as unknown as { rows: unknown[] }).rows.length > 0 && userId !== undefined;
}
