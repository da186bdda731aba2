import { and, asc, count, eq, gt, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { passkeys, webauthnChallenges } from '../schema.js';

/** A passkey as stored: its public key and counter, and what the user sees of it. */
export interface PasskeyRow {
  id: string;
  userId: string;
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[] | null;
  multiDevice: boolean;
  backedUp: boolean;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** Stores a new passkey; false when its credential id is registered already (to this user or another). */
export async function insertPasskey(db: Db, row: Omit<PasskeyRow, 'lastUsedAt'>): Promise<boolean> {
  const rows = await db.insert(passkeys).values(row).onConflictDoNothing({ target: passkeys.credentialId }).returning({ id: passkeys.id });
  return rows.length > 0;
}

/** The user's passkeys, oldest first. */
export async function selectUserPasskeys(db: Db, userId: string): Promise<PasskeyRow[]> {
  return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id));
}

export async function selectPasskeyByCredentialId(db: Db, credentialId: string): Promise<PasskeyRow | undefined> {
  const [row] = await db.select().from(passkeys).where(eq(passkeys.credentialId, credentialId));
  return row;
}

export async function countUserPasskeys(db: Db, userId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, userId));
  return Number(row?.n ?? 0);
}

/** Renames one of the user's passkeys; false when the user has none by that id. */
export async function renamePasskey(db: Db, userId: string, id: string, name: string): Promise<PasskeyRow | undefined> {
  const [row] = await db
    .update(passkeys)
    .set({ name })
    .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
    .returning();
  return row;
}

/** Removes one of the user's passkeys; whether it was there. */
export async function deletePasskey(db: Db, userId: string, id: string): Promise<boolean> {
  const rows = await db
    .delete(passkeys)
    .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
    .returning({ id: passkeys.id });
  return rows.length > 0;
}

/** Removes every passkey of the user; how many there were. */
export async function deleteUserPasskeys(db: Db, userId: string): Promise<number> {
  return (await db.delete(passkeys).where(eq(passkeys.userId, userId)).returning({ id: passkeys.id })).length;
}

/**
 * Records a use of a passkey with the counter its signature carried, in one statement: only when the counter grew,
 * or when both the stored one and the new one are 0 (synced passkeys send 0 always). Of two assertions racing with
 * one counter, on any instance, one is taken. False: the counter went backwards or stood still, a clone's mark.
 */
export async function takePasskeyCounter(db: Db, id: string, counter: number, now: Date, backedUp: boolean): Promise<boolean> {
  const rows = await db
    .update(passkeys)
    .set({ counter, lastUsedAt: now, backedUp })
    .where(and(eq(passkeys.id, id), sql`(${passkeys.counter} < ${counter} OR (${counter} = 0 AND ${passkeys.counter} = 0))`))
    .returning({ id: passkeys.id });
  return rows.length > 0;
}

/** Stores a challenge (its hash) for a ceremony, for a user or (a passkey sign-in) for nobody yet. */
export async function insertChallenge(
  db: Db,
  row: { challengeHash: string; ceremony: string; userId: string | null; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await db.insert(webauthnChallenges).values(row);
}

/** Deletes the user's unanswered challenges of a ceremony. */
export async function deleteUserChallenges(db: Db, userId: string, ceremony: string): Promise<void> {
  await db.delete(webauthnChallenges).where(and(eq(webauthnChallenges.userId, userId), eq(webauthnChallenges.ceremony, ceremony)));
}

/**
 * Takes a challenge of this ceremony, unexpired, in one statement that deletes it: of every request that presents
 * it, on any instance, one gets it. The user it was made for (null: none), or undefined when there is no such
 * challenge to take.
 */
export async function takeChallenge(db: Db, challengeHash: string, ceremony: string, now: Date): Promise<{ userId: string | null } | undefined> {
  const [row] = await db
    .delete(webauthnChallenges)
    .where(and(eq(webauthnChallenges.challengeHash, challengeHash), eq(webauthnChallenges.ceremony, ceremony), gt(webauthnChallenges.expiresAt, now)))
    .returning({ userId: webauthnChallenges.userId });
  return row;
}
