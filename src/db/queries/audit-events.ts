import { and, desc, eq, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.js';
import { auditEvents } from '../schema.js';

export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEventRow = Omit<typeof auditEvents.$inferInsert, 'id'>;

export async function insertAuditEvent(db: Db, row: NewAuditEventRow): Promise<void> {
  await db.insert(auditEvents).values(row);
}

/** An event as the body of a CTE: inserted once for each row of `source`, another CTE of the same statement. */
export function auditEventFor(row: NewAuditEventRow, source: SQL): SQL {
  const details = row.details === undefined || row.details === null ? null : JSON.stringify(row.details);
  return sql`INSERT INTO audit_events (occurred_at, type, user_id, email, session_id, ip_address, user_agent, details)
      SELECT ${row.occurredAt}, ${row.type}, ${row.userId ?? null}, ${row.email ?? null}, ${row.sessionId ?? null}, ${row.ipAddress ?? null},
        ${row.userAgent ?? null}, ${details}::jsonb FROM ${source}`;
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
