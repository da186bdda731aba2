import { and, desc, eq, inArray, lt } from 'drizzle-orm';
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

export type UserAuditRow = Pick<AuditEventRow, 'id' | 'type' | 'occurredAt' | 'ipAddress' | 'userAgent'>;

/**
 * A user's events of the given types, newest first (by id), those older than the event `beforeId` when given;
 * at most `limit`. Never their details.
 */
export function selectUserAuditPage(db: Db, page: { userId: string; types: readonly string[]; beforeId?: number | undefined; limit: number }): Promise<UserAuditRow[]> {
  return db
    .select({ id: auditEvents.id, type: auditEvents.type, occurredAt: auditEvents.occurredAt, ipAddress: auditEvents.ipAddress, userAgent: auditEvents.userAgent })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.userId, page.userId),
        inArray(auditEvents.type, [...page.types]),
        page.beforeId === undefined ? undefined : lt(auditEvents.id, page.beforeId),
      ),
    )
    .orderBy(desc(auditEvents.id))
    .limit(page.limit);
}

/** Every event of a user, details included, newest first; at most `limit`. */
export function selectUserAuditEvents(db: Db, userId: string, limit: number): Promise<AuditEventRow[]> {
  return db.select().from(auditEvents).where(eq(auditEvents.userId, userId)).orderBy(desc(auditEvents.id)).limit(limit);
}
