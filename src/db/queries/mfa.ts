import { and, count, eq, isNull, sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';
import { recoveryCodes, totpAuthenticators } from '../schema.js';

/** A user's authenticator app as stored: its sealed secret, whether a code confirmed it, the last step used. */
export interface TotpRow {
  secretSealed: string;
  confirmedAt: Date | null;
  lastStep: number | null;
}

/**
 * Stores a new pending authenticator for the user, replacing a pending one; true when stored. A confirmed one is
 * left as it is (false): enrolling again never replaces a working authenticator.
 */
export async function storePendingTotp(db: Db, userId: string, secretSealed: string, now: Date): Promise<boolean> {
  const rows = await db
    .insert(totpAuthenticators)
    .values({ userId, secretSealed, createdAt: now })
    .onConflictDoUpdate({
      target: totpAuthenticators.userId,
      set: { secretSealed, createdAt: now, lastStep: null },
      setWhere: isNull(totpAuthenticators.confirmedAt),
    })
    .returning({ userId: totpAuthenticators.userId });
  return rows.length > 0;
}

export async function selectTotp(db: Db, userId: string): Promise<TotpRow | undefined> {
  const [row] = await db
    .select({ secretSealed: totpAuthenticators.secretSealed, confirmedAt: totpAuthenticators.confirmedAt, lastStep: totpAuthenticators.lastStep })
    .from(totpAuthenticators)
    .where(eq(totpAuthenticators.userId, userId));
  return row;
}

/**
 * Takes a time step for the user's authenticator, in one statement: it succeeds only when the step is later than
 * the last one taken, so a code works once, on every instance at once, and never after a later one. `confirming`:
 * only a pending authenticator, which it confirms; otherwise only a confirmed one. Whether the step was taken.
 */
export async function takeTotpStep(db: Db, userId: string, step: number, now: Date, confirming: boolean): Promise<boolean> {
  const rows = await db
    .update(totpAuthenticators)
    .set({ lastStep: step, ...(confirming ? { confirmedAt: now } : {}) })
    .where(
      and(
        eq(totpAuthenticators.userId, userId),
        sql`(${totpAuthenticators.lastStep} IS NULL OR ${totpAuthenticators.lastStep} < ${step})`,
        confirming ? isNull(totpAuthenticators.confirmedAt) : sql`${totpAuthenticators.confirmedAt} IS NOT NULL`,
      ),
    )
    .returning({ userId: totpAuthenticators.userId });
  return rows.length > 0;
}

/** Removes the user's authenticator, pending or confirmed; whether there was a confirmed one. */
export async function deleteTotp(db: Db, userId: string): Promise<boolean> {
  const rows = await db.delete(totpAuthenticators).where(eq(totpAuthenticators.userId, userId)).returning({ confirmedAt: totpAuthenticators.confirmedAt });
  return rows.some((r) => r.confirmedAt !== null);
}

/** The user's second factors: whether a confirmed authenticator app, and how many passkeys. */
export async function secondFactorsOf(db: Db, userId: string): Promise<{ totp: boolean; passkeys: number }> {
  const [row] = rowsOf<{ totp: boolean; passkeys: number | string }>(
    await db.execute(sql`SELECT
      EXISTS (SELECT 1 FROM totp_authenticators WHERE user_id = ${userId} AND confirmed_at IS NOT NULL) AS totp,
      (SELECT count(*) FROM passkeys WHERE user_id = ${userId}) AS passkeys`),
  );
  return { totp: row?.totp === true, passkeys: Number(row?.passkeys ?? 0) };
}

/** Removes the user's authenticator app if it is still pending (never confirmed). */
export async function deletePendingTotp(db: Db, userId: string): Promise<void> {
  await db.delete(totpAuthenticators).where(and(eq(totpAuthenticators.userId, userId), isNull(totpAuthenticators.confirmedAt)));
}

/** Whether the user has a second factor: a confirmed authenticator app or a passkey. */
export async function hasSecondFactor(db: Db, userId: string): Promise<boolean> {
  const factors = await secondFactorsOf(db, userId);
  return factors.totp || factors.passkeys > 0;
}

/** Replaces every recovery code of the user with these (their HMACs). */
export async function replaceRecoveryCodes(db: Db, userId: string, codeHashes: string[], now: Date): Promise<void> {
  await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  if (codeHashes.length > 0) await db.insert(recoveryCodes).values(codeHashes.map((codeHash) => ({ codeHash, userId, createdAt: now })));
}

/** Spends one of the user's unused recovery codes, in one statement: of concurrent callers, one gets it. */
export async function spendRecoveryCode(db: Db, userId: string, codeHash: string, now: Date): Promise<boolean> {
  const rows = await db
    .update(recoveryCodes)
    .set({ usedAt: now })
    .where(and(eq(recoveryCodes.codeHash, codeHash), eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)))
    .returning({ userId: recoveryCodes.userId });
  return rows.length > 0;
}

export async function deleteRecoveryCodes(db: Db, userId: string): Promise<void> {
  await db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
}

/** How many of the user's recovery codes are unused. */
export async function countRecoveryCodesLeft(db: Db, userId: string): Promise<number> {
  const [row] = await db
    .select({ left: count() })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  return Number(row?.left ?? 0);
}
