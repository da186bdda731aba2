import { and, asc, count, eq, gt, sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';
import { passkeys, users, webauthnChallenges } from '../schema.js';
import { auditEventFor, type NewAuditEventRow } from './audit-events.js';
import { notifyFor } from './notify.js';
import { sessionOwner, sessionRows, type NewSession } from './sessions.js';
import type { UserRow } from './users.js';

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

/** A passkey by its id, as the database has it now. */
export async function selectPasskeyById(db: Db, id: string): Promise<PasskeyRow | undefined> {
  const [row] = await db.select().from(passkeys).where(eq(passkeys.id, id));
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

/** Whether a passkey's counter may become `counter`: it grew, or both are 0 (synced passkeys send 0 always). */
const counterMayBecome = (counter: number) => sql`(${passkeys.counter} < ${counter} OR (${counter} = 0 AND ${passkeys.counter} = 0))`;

/**
 * Records a use of a passkey with the counter its signature carried, in one statement: only when the counter may
 * become it (counterMayBecome). Of two assertions racing with one counter, on any instance, one is taken. False:
 * the counter went backwards or stood still, a clone's mark.
 */
export async function takePasskeyCounter(db: Db, id: string, counter: number, now: Date, backedUp: boolean): Promise<boolean> {
  const rows = await db
    .update(passkeys)
    .set({ counter, lastUsedAt: now, backedUp })
    .where(and(eq(passkeys.id, id), counterMayBecome(counter)))
    .returning({ id: passkeys.id });
  return rows.length > 0;
}

/** A passkey by its credential id, with its user: what a passkey sign-in reads before checking the signature. */
export async function selectPasskeyWithUser(db: Db, credentialId: string): Promise<{ passkey: PasskeyRow; user: UserRow } | undefined> {
  const [row] = await db.select({ passkey: passkeys, user: users }).from(passkeys).innerJoin(users, eq(users.id, passkeys.userId)).where(eq(passkeys.credentialId, credentialId)).limit(1);
  return row;
}

/** What the statement of a passkey sign-in writes once the assertion's signature checked out. */
export interface PasskeySignin {
  /** The SHA-256 of the sign-in challenge it answered, and when that expires. */
  challengeHash: string;
  challengeExpiresAt: Date;
  passkeyId: string;
  counter: number;
  backedUp: boolean;
  session: NewSession;
  /** The audit event of the sign-in, recorded with the session. */
  audit: NewAuditEventRow;
  /** The NOTIFY that tells every instance the user's sessions changed. */
  announce: { channel: string; payload: string };
}

/**
 * A passkey sign-in in one statement, so one round trip, atomic without a transaction. In order: the challenge is
 * spent (a row in spent_signin_challenges; of every answer to it, on any instance, one spends it, and it stays
 * spent whatever follows); the user's row is share-locked as insertSession does (`sessionOwner`: credentials
 * unchanged since read, not disabled), before the passkey's, which is the lock order of every change of a user's
 * factors; the passkey's counter is taken as takePasskeyCounter does; then the session opens with its first refresh
 * token, and is audited and announced. What happened: whether the challenge was spent here, the user still
 * stood, the counter was taken, and the session opened.
 */
export async function openPasskeySession(db: Db, p: PasskeySignin): Promise<{ spent: boolean; owner: boolean; counted: boolean; opened: boolean }> {
  const now = p.session.now;
  const counted = sql`EXISTS (SELECT 1 FROM counted)`;
  const result = await db.execute(sql`
    WITH spent AS (
      INSERT INTO spent_signin_challenges (challenge_hash, expires_at) VALUES (${p.challengeHash}, ${p.challengeExpiresAt})
      ON CONFLICT DO NOTHING RETURNING challenge_hash
    ), ${sessionOwner(p.session, sql`EXISTS (SELECT 1 FROM spent)`)}, counted AS (
      UPDATE passkeys SET counter = ${p.counter}, last_used_at = ${now}, backed_up = ${p.backedUp}
      WHERE id = ${p.passkeyId} AND user_id = (SELECT id FROM owner) AND ${counterMayBecome(p.counter)}
      RETURNING id
    ), ${sessionRows(p.session, counted)}, audited AS (
      ${auditEventFor(p.audit, sql`opened`)}
    ), announced AS (
      ${notifyFor(p.announce, sql`opened`)}
    )
    SELECT EXISTS (SELECT 1 FROM spent) AS spent, EXISTS (SELECT 1 FROM owner) AS owner, ${counted} AS counted,
      EXISTS (SELECT 1 FROM opened) AS opened, (SELECT count(*) FROM announced) AS announced`);
  const [row] = rowsOf<{ spent: boolean; owner: boolean; counted: boolean; opened: boolean }>(result);
  return { spent: row?.spent === true, owner: row?.owner === true, counted: row?.counted === true, opened: row?.opened === true };
}

/** Stores a challenge (its hash) for a ceremony and a user. */
export async function insertChallenge(
  db: Db,
  row: { challengeHash: string; ceremony: string; userId: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await db.insert(webauthnChallenges).values(row);
}

/** Deletes the user's unanswered challenges of a ceremony. */
export async function deleteUserChallenges(db: Db, userId: string, ceremony: string): Promise<void> {
  await db.delete(webauthnChallenges).where(and(eq(webauthnChallenges.userId, userId), eq(webauthnChallenges.ceremony, ceremony)));
}

/**
 * Takes a challenge of this ceremony, unexpired, in one statement that deletes it: of every request that presents
 * it, on any instance, one gets it. The user it was made for (null: none, a sign-in's stored before they were signed),
 * or undefined when there is no such
 * challenge to take.
 */
export async function takeChallenge(db: Db, challengeHash: string, ceremony: string, now: Date): Promise<{ userId: string | null } | undefined> {
  const [row] = await db
    .delete(webauthnChallenges)
    .where(and(eq(webauthnChallenges.challengeHash, challengeHash), eq(webauthnChallenges.ceremony, ceremony), gt(webauthnChallenges.expiresAt, now)))
    .returning({ userId: webauthnChallenges.userId });
  return row;
}
