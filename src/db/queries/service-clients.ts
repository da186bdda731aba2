import { asc, eq, inArray, or } from 'drizzle-orm';
import type { Db } from '../client.js';
import { serviceClients } from '../schema.js';

export type ServiceClientRow = typeof serviceClients.$inferSelect;

/** The client whose name or client id is `ref`. */
export async function selectServiceClientByRef(db: Db, ref: string): Promise<ServiceClientRow | undefined> {
  const [row] = await db
    .select()
    .from(serviceClients)
    .where(or(eq(serviceClients.name, ref), eq(serviceClients.clientId, ref)))
    .limit(1);
  return row;
}

export async function selectServiceClientById(db: Db, clientId: string): Promise<ServiceClientRow | undefined> {
  const [row] = await db.select().from(serviceClients).where(eq(serviceClients.clientId, clientId)).limit(1);
  return row;
}

/** Inserts a client; undefined when its name is taken. */
export async function insertServiceClient(
  db: Db,
  values: Pick<ServiceClientRow, 'clientId' | 'name' | 'secretHash' | 'scopes' | 'createdAt'>,
): Promise<ServiceClientRow | undefined> {
  const [row] = await db.insert(serviceClients).values(values).onConflictDoNothing({ target: serviceClients.name }).returning();
  return row;
}

/** Every client, by name. */
export function selectServiceClients(db: Db): Promise<ServiceClientRow[]> {
  return db.select().from(serviceClients).orderBy(asc(serviceClients.name));
}

/** Replaces a client's secret hash; the updated row, or undefined when the client is gone. */
export async function updateServiceClientSecret(tx: Db, clientId: string, secretHash: string, now: Date): Promise<ServiceClientRow | undefined> {
  const [row] = await tx
    .update(serviceClients)
    .set({ secretHash, secretRotatedAt: now })
    .where(eq(serviceClients.clientId, clientId))
    .returning();
  return row;
}

/** Deletes a client; its row, or undefined when it was already gone. */
export async function deleteServiceClient(tx: Db, clientId: string): Promise<ServiceClientRow | undefined> {
  const [row] = await tx.delete(serviceClients).where(eq(serviceClients.clientId, clientId)).returning();
  return row;
}

/** The clients among `clientIds` still there, with their secret hashes and scopes. */
export function selectServiceClientSecrets(db: Db, clientIds: string[]): Promise<Pick<ServiceClientRow, 'clientId' | 'secretHash' | 'scopes'>[]> {
  return db
    .select({ clientId: serviceClients.clientId, secretHash: serviceClients.secretHash, scopes: serviceClients.scopes })
    .from(serviceClients)
    .where(inArray(serviceClients.clientId, clientIds));
}
