import { and, asc, eq, gt, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.js';
import { sessions, users } from '../schema.js';

/** A user's row as stored (the password hash included: never send it anywhere). */
export type UserRow = typeof users.$inferSelect;

export interface NewUserRow {
  name: string;
  email: string;
  passwordHash: string;
  role: 'user' | 'admin';
  now: Date;
  emailVerifiedAt?: Date | null;
  locale?: string | null;
}

/** Inserts a user; undefined when the email already has an account (the unique index decides between racing inserts). */
export async function insertUserRow(db: Db, input: NewUserRow): Promise<UserRow | undefined> {
  const [user] = await db
    .insert(users)
    .values({
      name: input.name,
      email: input.email,
      passwordHash: input.passwordHash,
      role: input.role,
      emailVerifiedAt: input.emailVerifiedAt ?? null,
      locale: input.locale ?? null,
      passwordChangedAt: input.now,
      createdAt: input.now,
      updatedAt: input.now,
    })
    .onConflictDoNothing({ target: users.email })
    .returning();
  return user;
}

/** The user of this (already normalised) email. */
export async function selectUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const [user] = await db.select().from(users).where(eq(users.email, email)).limit(1);
  return user;
}

/** The user of this id (a valid UUID: PostgreSQL refuses anything else). */
/** The user a session belongs to, if that session was ever created for them (revoked or not): one read. */
export async function selectUserOfSession(db: Db, userId: string, sessionId: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select({ user: users })
    .from(users)
    .innerJoin(sessions, eq(sessions.userId, users.id))
    .where(and(eq(users.id, userId), eq(sessions.id, sessionId)))
    .limit(1);
  return row?.user;
}

export async function selectUserById(db: Db, id: string): Promise<UserRow | undefined> {
  const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return user;
}

/** Replaces a password hash only if it is still `current` (a reset that landed meanwhile is not undone); whether it did. */
export async function replacePasswordHash(db: Db, userId: string, current: string, next: string): Promise<boolean> {
  const rows = await db
    .update(users)
    .set({ passwordHash: next })
    .where(and(eq(users.id, userId), eq(users.passwordHash, current)))
    .returning({ id: users.id });
  return rows.length > 0;
}

/**
 * Users in creation order, `limit` of them: from `offset`, or after the user `after` (its creation time and
 * id), which stays right while users are added or deleted.
 */
export function selectUsersPage(
  db: Db,
  page: { limit: number; offset: number; after?: Pick<UserRow, 'createdAt' | 'id'> | undefined },
): Promise<UserRow[]> {
  const last = page.after;
  const where: SQL | undefined = last && or(gt(users.createdAt, last.createdAt), and(eq(users.createdAt, last.createdAt), gt(users.id, last.id)));
  return db
    .select()
    .from(users)
    .where(where)
    .orderBy(asc(users.createdAt), asc(users.id))
    .limit(page.limit)
    .offset(last ? 0 : page.offset);
}

// The creation time exactly as stored (microseconds, UTC): a JavaScript Date would round it to milliseconds.
const exactCreatedAt = sql<string>`to_char(${users.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * Users in creation order whose email contains `needle` (all of them when empty) and, with `text`, whose email or
 * lower-cased name contains it, `limit` of them after the position `after` (a creation time as `exactCreatedAt`
 * gives it, and an id). Each comes with its exact creation time, to name the next position.
 */
export function searchUsersPage(
  db: Db,
  query: { needle: string; text?: string | undefined; limit: number; after?: { createdAt: string; id: string } | undefined },
): Promise<{ user: UserRow; createdAt: string }[]> {
  const conditions: SQL[] = [];
  // strpos, not LIKE: `%` and `_` in what a client searches for are plain characters.
  if (query.needle !== '') conditions.push(sql`strpos(${users.email}, ${query.needle}) > 0`);
  if (query.text) conditions.push(sql`(strpos(${users.email}, ${query.text}) > 0 OR strpos(lower(${users.name}), ${query.text}) > 0)`);
  if (query.after !== undefined) {
    conditions.push(sql`(${users.createdAt}, ${users.id}) > (${query.after.createdAt}::timestamptz, ${query.after.id}::uuid)`);
  }
  return db
    .select({ user: users, createdAt: exactCreatedAt })
    .from(users)
    .where(and(...conditions))
    .orderBy(asc(users.createdAt), asc(users.id))
    .limit(query.limit);
}

/**
 * Sets a new password on a user who is not disabled (a reset); the updated row, or undefined. Its time is
 * `now`, or a millisecond after the previous password's when that is not earlier (two changes within one
 * millisecond, or on an instance whose clock is behind): each new password has a time of its own, by which
 * a sign-in in flight with the previous one is told apart (`insertSession`).
 */
export async function setPasswordOfEnabledUser(
  tx: Db,
  userId: string,
  passwordHash: string,
  now: Date,
  opts: { provesEmail?: boolean } = {},
): Promise<UserRow | undefined> {
  const [user] = await tx
    .update(users)
    .set({
      passwordHash,
      passwordChangedAt: sql`GREATEST(${now}::timestamptz, ${users.passwordChangedAt} + interval '1 millisecond')`,
      // A reset link followed from the mailbox proves the address, as a verification link would.
      ...(opts.provesEmail ? { emailVerifiedAt: sql`COALESCE(${users.emailVerifiedAt}, ${now}::timestamptz)` } : {}),
      updatedAt: now,
    })
    .where(and(eq(users.id, userId), isNull(users.disabledAt)))
    .returning();
  return user;
}

/** Locks a user's row (FOR NO KEY UPDATE) and reads it; undefined when gone. */
export async function lockUserRow(tx: Db, userId: string): Promise<UserRow | undefined> {
  const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('no key update');
  return user;
}

/**
 * Marks the user's address verified (proved by its owner, or on an operator's word); the updated row, or undefined
 * when it already was. A caller that checked which address was proved holds the user's row lock.
 */
export async function markEmailVerified(tx: Db, userId: string, now: Date): Promise<UserRow | undefined> {
  const [user] = await tx
    .update(users)
    .set({ emailVerifiedAt: now, updatedAt: now })
    .where(and(eq(users.id, userId), isNull(users.emailVerifiedAt)))
    .returning();
  return user;
}

/**
 * Gives the user a new address, verified now (its owner just proved it). Two accounts never share an address:
 * the unique index refuses the second (a unique violation, which aborts the transaction). The updated row.
 */
export async function setEmail(tx: Db, userId: string, email: string, verifiedAt: Date | null, now: Date): Promise<UserRow | undefined> {
  const [user] = await tx.update(users).set({ email, emailVerifiedAt: verifiedAt, updatedAt: now }).where(eq(users.id, userId)).returning();
  return user;
}

/** Sets the user's display name; the updated row, or undefined when gone. */
export async function setName(tx: Db, userId: string, name: string, now: Date): Promise<UserRow | undefined> {
  const [user] = await tx.update(users).set({ name, updatedAt: now }).where(eq(users.id, userId)).returning();
  return user;
}

/** Locks a user who is not disabled (FOR NO KEY UPDATE) and reads who mail goes to; undefined when disabled or gone. */
export async function lockEnabledUserForMail(
  tx: Db,
  userId: string,
): Promise<{ id: string; name: string; email: string; emailVerifiedAt: Date | null; locale: string | null } | undefined> {
  const [user] = await tx
    .select({ id: users.id, name: users.name, email: users.email, emailVerifiedAt: users.emailVerifiedAt, locale: users.locale })
    .from(users)
    .where(and(eq(users.id, userId), isNull(users.disabledAt)))
    .for('no key update');
  return user;
}

/** Sets disabled_at on a user not disabled yet; the updated row, or undefined when there was nothing to do. */
export async function markUserDisabled(tx: Db, userId: string, now: Date): Promise<UserRow | undefined> {
  const [user] = await tx
    .update(users)
    .set({ disabledAt: now, updatedAt: now })
    .where(and(eq(users.id, userId), isNull(users.disabledAt)))
    .returning();
  return user;
}

/** Clears disabled_at of a disabled user; the updated row, or undefined when there was nothing to do. */
export async function markUserEnabled(tx: Db, userId: string, now: Date): Promise<UserRow | undefined> {
  const [user] = await tx
    .update(users)
    .set({ disabledAt: null, updatedAt: now })
    .where(and(eq(users.id, userId), sql`${users.disabledAt} IS NOT NULL`))
    .returning();
  return user;
}

/** Gives a user `role`, if it has another one now; the changed user, or undefined (no such user, or the role already). */
export async function markUserRole(tx: Db, userId: string, role: string, now: Date): Promise<UserRow | undefined> {
  const [user] = await tx
    .update(users)
    .set({ role, updatedAt: now })
    .where(and(eq(users.id, userId), sql`${users.role} <> ${role}`))
    .returning();
  return user;
}

/** Deletes a user (its sessions, tokens and reset links go with it); whether it was there. */
export async function deleteUserRow(tx: Db, userId: string): Promise<boolean> {
  const gone = await tx.delete(users).where(eq(users.id, userId)).returning({ id: users.id });
  return gone.length > 0;
}

/**
 * Moves a user's not-before to `now`, the time of a credential change, and never back: on an instance whose
 * clock runs behind the one that set it, it stays. Never later than the latest change either, however many
 * come within a second, so no change can push it ahead of the clock. The new not-before, or undefined when
 * the user is gone.
 */
export async function advanceNotBefore(tx: Db, userId: string, now: Date): Promise<{ notBefore: Date | null } | undefined> {
  const [user] = await tx
    .update(users)
    .set({ notBefore: sql`GREATEST(${now}::timestamptz, ${users.notBefore})` })
    .where(eq(users.id, userId))
    .returning({ notBefore: users.notBefore });
  return user;
}
