import { asc, inArray, isNull, sql } from 'drizzle-orm';
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

export async function deleteKeyRows(db: Db, kids: string[]): Promise<void> {
  await db.delete(signingKeys).where(inArray(signingKeys.kid, kids));
}
