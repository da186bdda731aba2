import { and, asc, eq, gte, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { signingKeys } from '../schema.js';

export type KeyRow = typeof signingKeys.$inferSelect;
export type NewKeyRow = typeof signingKeys.$inferInsert;

// Any constant works, as long as every instance uses the same one (migrations use 7_306_012).
const KEYS_LOCK_ID = 7_306_013;

/** Takes the keys' advisory lock until the transaction ends: one instance at a time changes keys. */
export async function lockSigningKeys(tx: Db): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${KEYS_LOCK_ID})`);
}

/** Every stored key, by activation time then kid. */
export function selectKeyRows(db: Db): Promise<KeyRow[]> {
  return db.select().from(signingKeys).orderBy(asc(signingKeys.activatesAt), asc(signingKeys.kid));
}

export async function insertKeyRow(tx: Db, values: NewKeyRow): Promise<KeyRow> {
  const [row] = await tx.insert(signingKeys).values(values).returning();
  return row!;
}

/** Retires every key not retired yet; their kids. */
export async function retireKeys(tx: Db, now: Date): Promise<string[]> {
  const retired = await tx.update(signingKeys).set({ retiredAt: now }).where(isNull(signingKeys.retiredAt)).returning({ kid: signingKeys.kid });
  return retired.map((r) => r.kid);
}

/**
 * Revokes a key: it is retired too (if it was not), so that nothing counts it as a key that may sign. Returns the
 * row as it is now, or undefined when no key has that kid.
 */
export async function revokeKeyRow(tx: Db, kid: string, now: Date): Promise<KeyRow | undefined> {
  const [row] = await tx
    .update(signingKeys)
    .set({ revokedAt: now, retiredAt: sql`coalesce(${signingKeys.retiredAt}, ${now.toISOString()}::timestamptz)` })
    .where(and(eq(signingKeys.kid, kid), isNull(signingKeys.revokedAt)))
    .returning();
  return row;
}

/** The keys revoked at or after `since` and still stored, for the revocation list: their kids and when. */
export function selectKeysRevokedSince(db: Db, since: Date): Promise<{ kid: string; at: Date | null }[]> {
  return db.select({ kid: signingKeys.kid, at: signingKeys.revokedAt }).from(signingKeys).where(gte(signingKeys.revokedAt, since));
}

export async function deleteKeyRows(db: Db, kids: string[]): Promise<void> {
  await db.delete(signingKeys).where(inArray(signingKeys.kid, kids));
}
