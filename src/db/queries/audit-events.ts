import { and, desc, eq, gte, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.js';
import { auditEvents, users } from '../schema.js';

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

/** What the admin's search filters on; every filter given must hold. */
export interface AuditSearch {
  /** Events of this user, or (with `email` too) events of either. */
  userId?: string | undefined;
  /** Events that named this address (as stored: trimmed, lower-cased). */
  email?: string | undefined;
  type?: string | undefined;
  /** The `actor` of the event's details. */
  actor?: string | undefined;
  /** From this instant (included) to that one (excluded). */
  from?: Date | undefined;
  to?: Date | undefined;
  /** Older than the event with this id: the last one of the page before. */
  beforeId?: number | undefined;
  limit: number;
}

export type AuditSearchRow = AuditEventRow & { userName: string | null; userEmail: string | null };

// The same expression as the index audit_events_actor_id_idx, so that the planner can use it.
const actorOf = sql<string | null>`(${auditEvents.details} ->> 'actor')`;

/**
 * A page of events, newest first (by id), with the name and address their user has now (null once deleted). Each
 * filter has an index whose rows are in id order (src/db/schema.ts), walked backwards from `beforeId`.
 */
export function searchAuditEventsQuery(db: Db, search: AuditSearch) {
  const whose = [search.userId === undefined ? undefined : eq(auditEvents.userId, search.userId), search.email === undefined ? undefined : eq(auditEvents.email, search.email)];
  return db
    .select({ event: auditEvents, userName: users.name, userEmail: users.email })
    .from(auditEvents)
    .leftJoin(users, eq(users.id, auditEvents.userId))
    .where(
      and(
        whose.some((w) => w !== undefined) ? or(...whose) : undefined,
        search.type === undefined ? undefined : eq(auditEvents.type, search.type),
        search.actor === undefined ? undefined : sql`${actorOf} = ${search.actor}`,
        search.from === undefined ? undefined : gte(auditEvents.occurredAt, search.from),
        search.to === undefined ? undefined : lt(auditEvents.occurredAt, search.to),
        search.beforeId === undefined ? undefined : lt(auditEvents.id, search.beforeId),
      ),
    )
    .orderBy(desc(auditEvents.id))
    .limit(search.limit);
}

export async function searchAuditEvents(db: Db, search: AuditSearch): Promise<AuditSearchRow[]> {
  const rows = await searchAuditEventsQuery(db, search);
  return rows.map((r) => ({ ...r.event, userName: r.userName, userEmail: r.userEmail }));
}
