import { asc, gt } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Db } from '../client.js';
import { sessions, users } from '../schema.js';

/** A session revoked at `at`, or a user whose sessions opened before `at` are dead. */
export interface ChangedSince {
  id: string;
  at: Date;
}

// Both reads have one shape: the ids whose time column is past `since`, oldest first.
const changedSince = (table: PgTable, id: PgColumn, at: PgColumn) => async (db: Db, since: Date): Promise<ChangedSince[]> =>
  (await db.select({ id, at }).from(table).where(gt(at, since)).orderBy(asc(at))) as ChangedSince[];

/** Sessions revoked after `since`, in the order they were revoked. */
export const selectSessionsRevokedSince = changedSince(sessions, sessions.id, sessions.revokedAt);

/** Users whose not-before is after `since`, in that order. */
export const selectNotBeforesSince = changedSince(users, users.id, users.notBefore);
