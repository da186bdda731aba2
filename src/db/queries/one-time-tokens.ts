import { and, eq, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../client.js';
import { oneTimeTokens } from '../schema.js';

/** A live token as its type's code sees it (never its hash). */
export interface TokenRow {
  userId: string;
  payload: unknown;
  createdAt: Date;
  expiresAt: Date;
}

const tokenRow = {
  userId: oneTimeTokens.userId,
  payload: oneTimeTokens.payload,
  createdAt: oneTimeTokens.createdAt,
  expiresAt: oneTimeTokens.expiresAt,
};

// The type is part of every look-up: a token never answers as another type's.
const live = (type: string, tokenHash: string, now: Date) =>
  and(eq(oneTimeTokens.tokenHash, tokenHash), eq(oneTimeTokens.type, type), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now));

export async function insertToken(db: Db, row: typeof oneTimeTokens.$inferInsert): Promise<void> {
  await db.insert(oneTimeTokens).values(row);
}

/** Deletes the user's unused tokens of a type, expired ones included: superseded, they were never used. */
export async function deleteUnusedTokens(db: Db, userId: string, type: string): Promise<void> {
  await db.delete(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.type, type), isNull(oneTimeTokens.usedAt)));
}

/** Locks a user's row until the transaction ends (FOR NO KEY UPDATE: inserting rows that reference it still may). */
export async function lockUser(db: Db, userId: string): Promise<void> {
  await db.execute(sql`SELECT 1 FROM users WHERE id = ${userId} FOR NO KEY UPDATE`);
}

/** Locks the row of the user a token belongs to, if the token exists. */
export async function lockTokenOwner(db: Db, type: string, tokenHash: string): Promise<void> {
  await db.execute(sql`
    SELECT 1 FROM users
    WHERE id = (SELECT user_id FROM one_time_tokens WHERE token_hash = ${tokenHash} AND type = ${type})
    FOR NO KEY UPDATE`);
}

export async function selectLiveToken(db: Db, type: string, tokenHash: string, now: Date): Promise<TokenRow | undefined> {
  const [row] = await db.select(tokenRow).from(oneTimeTokens).where(live(type, tokenHash, now));
  return row;
}

/** A token of the type that was already spent (used, revoked or superseded), whatever its expiry: a replay. */
export async function selectSpentToken(db: Db, type: string, tokenHash: string): Promise<TokenRow | undefined> {
  const [row] = await db
    .select(tokenRow)
    .from(oneTimeTokens)
    .where(and(eq(oneTimeTokens.tokenHash, tokenHash), eq(oneTimeTokens.type, type), sql`${oneTimeTokens.usedAt} IS NOT NULL`));
  return row;
}

/** Spends a live token and returns it, in one statement: of concurrent callers, exactly one gets the row. */
export async function markTokenUsed(db: Db, type: string, tokenHash: string, now: Date): Promise<TokenRow | undefined> {
  const [row] = await db.update(oneTimeTokens).set({ usedAt: now }).where(live(type, tokenHash, now)).returning(tokenRow);
  return row;
}

/** Counts a wrong try against the user's live tokens of the type; one that reaches `maxFailures` is spent. */
export async function countFailedAttempt(db: Db, userId: string, type: string, now: Date, maxFailures: number): Promise<void> {
  await db
    .update(oneTimeTokens)
    .set({
      failedAttempts: sql`${oneTimeTokens.failedAttempts} + 1`,
      usedAt: sql`CASE WHEN ${oneTimeTokens.failedAttempts} + 1 >= ${maxFailures} THEN ${now.toISOString()}::timestamptz END`,
    })
    .where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.type, type), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now)));
}

/** Spends every unused token of the user (of the types given, or of all); returns how many. */
export async function markUserTokensUsed(db: Db, userId: string, now: Date, types?: readonly string[]): Promise<number> {
  const rows = await db
    .update(oneTimeTokens)
    .set({ usedAt: now })
    .where(and(eq(oneTimeTokens.userId, userId), types === undefined ? undefined : inArray(oneTimeTokens.type, [...types]), isNull(oneTimeTokens.usedAt)))
    .returning({ userId: oneTimeTokens.userId });
  return rows.length;
}

/**
 * Which rows of the table (under `alias`) a purge deletes: spent (used, revoked) or expired before `cutoff`,
 * whatever their type. The purge walks the table in batches (src/auth/maintenance/purge.ts).
 */
export function spentTokensCondition(alias: string, cutoff: Date): SQL {
  const t = sql.raw(alias);
  return sql`${t}.used_at < ${cutoff} OR ${t}.expires_at < ${cutoff}`;
}
