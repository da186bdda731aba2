import { lt } from 'drizzle-orm';
import type { Db } from '../client.js';
import { auditEvents } from '../schema.js';

export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEventRow = Omit<typeof auditEvents.$inferInsert, 'id'>;

export async function insertAuditEvent(db: Db, row: NewAuditEventRow): Promise<void> {
  await db.insert(auditEvents).values(row);
}

/** Deletes the events that occurred before `before`; how many. */
export async function deleteAuditEventsBefore(db: Db, before: Date): Promise<number> {
  const rows = await db.delete(auditEvents).where(lt(auditEvents.occurredAt, before)).returning({ id: auditEvents.id });
  return rows.length;
}
