import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.js';

/**
 * NOTIFY on `channel`: delivered to every listening connection when the transaction commits (at once outside
 * one), never when it rolls back.
 */
export async function notify(db: Db, channel: string, payload: string): Promise<void> {
  await db.execute(sql`select pg_notify(${channel}, ${payload})`);
}

/** A NOTIFY as the body of a CTE: one for each row of `source`, another CTE of the statement (which must read this one). */
export function notifyFor(message: { channel: string; payload: string }, source: SQL): SQL {
  return sql`SELECT pg_notify(${message.channel}, ${message.payload}) FROM ${source}`;
}
