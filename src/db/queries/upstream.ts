import { and, asc, count, eq, lt } from 'drizzle-orm';
import type { Db } from '../client.js';
import { upstreamProviders, upstreamSpentStates, userIdentities } from '../schema.js';

/** An upstream provider's row (its client secret sealed). */
export type UpstreamProviderRow = typeof upstreamProviders.$inferSelect;
/** A user's linked identity at an upstream provider. */
export type UserIdentityRow = typeof userIdentities.$inferSelect;

/** Inserts a provider; undefined when the name is taken. */
export async function insertUpstreamProvider(db: Db, row: UpstreamProviderRow): Promise<UpstreamProviderRow | undefined> {
  const [inserted] = await db.insert(upstreamProviders).values(row).onConflictDoNothing({ target: upstreamProviders.name }).returning();
  return inserted;
}

export async function selectUpstreamProviders(db: Db): Promise<UpstreamProviderRow[]> {
  return db.select().from(upstreamProviders).orderBy(asc(upstreamProviders.name));
}

export async function selectUpstreamProvider(db: Db, name: string): Promise<UpstreamProviderRow | undefined> {
  const [row] = await db.select().from(upstreamProviders).where(eq(upstreamProviders.name, name)).limit(1);
  return row;
}

/** Deletes a provider, and with it (the foreign key cascades) every identity linked through it. */
export async function deleteUpstreamProvider(db: Db, name: string): Promise<{ provider: UpstreamProviderRow; identities: number } | undefined> {
  const [{ n } = { n: 0 }] = await db.select({ n: count() }).from(userIdentities).where(eq(userIdentities.provider, name));
  const [provider] = await db.delete(upstreamProviders).where(eq(upstreamProviders.name, name)).returning();
  return provider && { provider, identities: n };
}

export async function selectIdentity(db: Db, provider: string, subject: string): Promise<UserIdentityRow | undefined> {
  const [row] = await db
    .select()
    .from(userIdentities)
    .where(and(eq(userIdentities.provider, provider), eq(userIdentities.subject, subject)))
    .limit(1);
  return row;
}

export async function selectIdentitiesOfUser(db: Db, userId: string): Promise<UserIdentityRow[]> {
  return db.select().from(userIdentities).where(eq(userIdentities.userId, userId)).orderBy(asc(userIdentities.provider), asc(userIdentities.createdAt));
}

/** Links an identity to a user; undefined when the identity is linked already (to anyone: the primary key decides). */
export async function insertIdentity(db: Db, row: Omit<UserIdentityRow, 'lastUsedAt'> & { lastUsedAt?: Date | null }): Promise<UserIdentityRow | undefined> {
  const [inserted] = await db.insert(userIdentities).values(row).onConflictDoNothing().returning();
  return inserted;
}

/** The identity's address as the provider gave it at this sign-in, and when. */
export async function touchIdentity(db: Db, provider: string, subject: string, email: string | null, now: Date): Promise<void> {
  await db
    .update(userIdentities)
    .set({ email, lastUsedAt: now })
    .where(and(eq(userIdentities.provider, provider), eq(userIdentities.subject, subject)));
}

/** Unlinks one of a user's identities; undefined when the user has no such identity. */
export async function deleteIdentity(db: Db, userId: string, provider: string, subject: string): Promise<UserIdentityRow | undefined> {
  const [row] = await db
    .delete(userIdentities)
    .where(and(eq(userIdentities.userId, userId), eq(userIdentities.provider, provider), eq(userIdentities.subject, subject)))
    .returning();
  return row;
}

/**
 * Records a flow's state as spent; false when it was spent already (a replayed callback). The primary key decides
 * between two callbacks racing with one state: exactly one insert lands. Spent states past their flow's expiry are
 * dropped on the way: no callback can bring them any more.
 */
export async function spendState(db: Db, stateHash: string, expiresAt: Date, now: Date): Promise<boolean> {
  await db.delete(upstreamSpentStates).where(lt(upstreamSpentStates.expiresAt, now));
  const inserted = await db.insert(upstreamSpentStates).values({ stateHash, expiresAt }).onConflictDoNothing().returning({ stateHash: upstreamSpentStates.stateHash });
  return inserted.length === 1;
}

