import { sql } from 'drizzle-orm';
import type { Db } from '../client.js';

/**
 * NOTIFY on `channel`: delivered to every listening connection when the transaction commits (at once outside
 * one), never when it rolls back.
 */
export async function notify(db: Db, channel: string, payload: string): Promise<void> {
  await db.execute(sql`select pg_notify(${channel}, ${payload})`);
}
