import { and, asc, eq, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';
import { sessionOwner, sessionRows, type NewSession } from './sessions.js';
import { oauthClientAssertions, oauthClients, oauthConsents, sessions } from '../schema.js';

// OAuth clients (the applications that sign their users in through Latchkey) and the consents users gave them.

export type OAuthClientRow = typeof oauthClients.$inferSelect;

/** The client whose name or client id is `ref`. */
export async function selectOAuthClientByRef(db: Db, ref: string): Promise<OAuthClientRow | undefined> {
  const [row] = await db
    .select()
    .from(oauthClients)
    .where(or(eq(oauthClients.name, ref), eq(oauthClients.clientId, ref)))
    .limit(1);
  return row;
}

export async function selectOAuthClientById(db: Db, clientId: string): Promise<OAuthClientRow | undefined> {
  const [row] = await db.select().from(oauthClients).where(eq(oauthClients.clientId, clientId)).limit(1);
  return row;
}

/** Inserts a client; undefined when its name is taken. */
export async function insertOAuthClient(db: Db, values: typeof oauthClients.$inferInsert): Promise<OAuthClientRow | undefined> {
  const [row] = await db.insert(oauthClients).values(values).onConflictDoNothing({ target: oauthClients.name }).returning();
  return row;
}

/** Every client, by name. */
export function selectOAuthClients(db: Db): Promise<OAuthClientRow[]> {
  return db.select().from(oauthClients).orderBy(asc(oauthClients.name));
}

/** Replaces a confidential client's secret hash; the row, or undefined when the client is gone or public. */
export async function updateOAuthClientSecret(tx: Db, clientId: string, secretHash: string, now: Date): Promise<OAuthClientRow | undefined> {
  const [row] = await tx
    .update(oauthClients)
    .set({ secretHash, secretRotatedAt: now })
    .where(and(eq(oauthClients.clientId, clientId), isNotNull(oauthClients.secretHash)))
    .returning();
  return row;
}

/** Deletes a client (its consents go with it); its row, or undefined when it was already gone. */
export async function deleteOAuthClient(tx: Db, clientId: string): Promise<OAuthClientRow | undefined> {
  const [row] = await tx.delete(oauthClients).where(eq(oauthClients.clientId, clientId)).returning();
  return row;
}

/** Revokes every live session of a client; their ids and users. */
export async function markClientSessionsRevoked(tx: Db, clientId: string, now: Date, reason: string): Promise<{ id: string; userId: string }[]> {
  return tx
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.clientId, clientId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id, userId: sessions.userId });
}

/** The scopes a user allowed a client, or undefined. */
export async function selectConsent(db: Db, userId: string, clientId: string): Promise<string[] | undefined> {
  const [row] = await db
    .select({ scopes: oauthConsents.scopes })
    .from(oauthConsents)
    .where(and(eq(oauthConsents.userId, userId), eq(oauthConsents.clientId, clientId)));
  return row?.scopes;
}

/** Records (or widens) what a user allowed a client. */
export async function upsertConsent(db: Db, userId: string, clientId: string, scopes: string[], now: Date): Promise<void> {
  await db
    .insert(oauthConsents)
    .values({ userId, clientId, scopes, grantedAt: now })
    .onConflictDoUpdate({ target: [oauthConsents.userId, oauthConsents.clientId], set: { scopes, grantedAt: now } });
}

/** Withdraws a user's consent to a client; whether there was one. */
export async function deleteConsent(tx: Db, userId: string, clientId: string): Promise<boolean> {
  const rows = await tx
    .delete(oauthConsents)
    .where(and(eq(oauthConsents.userId, userId), eq(oauthConsents.clientId, clientId)))
    .returning({ clientId: oauthConsents.clientId });
  return rows.length > 0;
}

/** The clients a user allowed, with their names, newest first. */
export function selectConsentsOf(db: Db, userId: string): Promise<{ clientId: string; name: string; scopes: string[]; grantedAt: Date }[]> {
  return db
    .select({ clientId: oauthConsents.clientId, name: oauthClients.name, scopes: oauthConsents.scopes, grantedAt: oauthConsents.grantedAt })
    .from(oauthConsents)
    .innerJoin(oauthClients, eq(oauthClients.clientId, oauthConsents.clientId))
    .where(eq(oauthConsents.userId, userId))
    .orderBy(asc(oauthClients.name));
}

/** Revokes a user's live sessions held by a client (their consent withdrawn); their ids. */
export async function markUserClientSessionsRevoked(tx: Db, userId: string, clientId: string, now: Date, reason: string): Promise<string[]> {
  const rows = await tx
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), eq(sessions.clientId, clientId), isNull(sessions.revokedAt)))
    .returning({ id: sessions.id });
  return rows.map((r) => r.id);
}

/** Records a client assertion's jti until it expires; false when it was seen already (a replay). */
export async function insertClientAssertion(db: Db, clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
  const rows = await db.insert(oauthClientAssertions).values({ clientId, jti, expiresAt }).onConflictDoNothing().returning({ jti: oauthClientAssertions.jti });
  return rows.length > 0;
}

/** Forgets the assertion ids that expired before `cutoff`; how many. */
export async function deleteExpiredClientAssertions(db: Db, cutoff: Date): Promise<number> {
  const rows = await db.delete(oauthClientAssertions).where(lt(oauthClientAssertions.expiresAt, cutoff)).returning({ jti: oauthClientAssertions.jti });
  return rows.length;
}

export interface CodeUser {
  id: string;
  name: string;
  email: string;
  emailVerifiedAt: Date | null;
  updatedAt: Date;
}

/** A code whose exchange is refused: recorded as spent, so that it never works after. Whether it had been used before. */
export async function spendAuthorizationCode(db: Db, code: { hash: string; userId: string; clientId: string; sessionId: string; expiresAt: Date; now: Date }): Promise<{ usedBefore: boolean }> {
  const result = await db.execute(sql`
    WITH spent AS (
      INSERT INTO one_time_tokens (token_hash, type, user_id, payload, created_at, expires_at, used_at)
      SELECT ${code.hash}, 'oauth_code', u.id, ${JSON.stringify({ client_id: code.clientId, session_id: code.sessionId })}::jsonb, ${code.now}, ${code.expiresAt}, ${code.now}
      FROM users u WHERE u.id = ${code.userId}
      ON CONFLICT (token_hash) DO NOTHING
      RETURNING token_hash
    )
    SELECT NOT EXISTS (SELECT 1 FROM spent) OR EXISTS (SELECT 1 FROM sessions WHERE id = ${code.sessionId}) AS used_before`);
  return { usedBefore: Boolean(rowsOf<{ used_before: boolean }>(result)[0]?.used_before) };
}

/** Whether a code was used before: the session its exchange opens exists, or a refused exchange spent it. */
export async function authorizationCodeUsed(db: Db, hash: string, sessionId: string): Promise<boolean> {
  const result = await db.execute(sql`
    SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ${sessionId}) OR EXISTS (SELECT 1 FROM one_time_tokens WHERE token_hash = ${hash}) AS used`);
  return Boolean(rowsOf<{ used: boolean }>(result)[0]?.used);
}

/**
 * Exchanges an authorization code: opens the client's session (the id the code carries) with its first refresh
 * token, in one statement, and reads the user for the ID token. The session's id is the key of its row, so of
 * concurrent exchanges of one code exactly one opens it: the code works once. It opens only if no refused exchange
 * spent the code (`spendAuthorizationCode`), the user still has the not-before and password the code was issued with
 * and is enabled (`sessionOwner`), the browser session that authorised it lives, and the client is still registered
 * with the secret it authenticated with and still allowed (first-party, or the user's consent stands). The NOTIFY
 * that the user's sessions changed goes with it. The user, when the session opened; undefined otherwise.
 */
export async function openSessionForCode(
  db: Db,
  codeHash: string,
  opening: { row: NewSession; parentSessionId: string; clientSecretHash: string | null; notice: { channel: string; payload: string } },
): Promise<CodeUser | undefined> {
  const s = opening.row;
  const allowed = sql`NOT EXISTS (SELECT 1 FROM one_time_tokens t WHERE t.token_hash = ${codeHash})
    AND EXISTS (SELECT 1 FROM sessions p WHERE p.id = ${opening.parentSessionId} AND p.user_id = ${s.userId}
      AND p.revoked_at IS NULL AND p.expires_at > ${s.now})
    AND EXISTS (SELECT 1 FROM oauth_clients c WHERE c.client_id = ${s.clientId ?? null}::text AND c.secret_hash IS NOT DISTINCT FROM ${opening.clientSecretHash}
      AND (c.first_party OR EXISTS (SELECT 1 FROM oauth_consents k WHERE k.client_id = c.client_id AND k.user_id = ${s.userId})))`;
  const result = await db.execute(sql`WITH ${sessionOwner(s, allowed, sql`id, name, email, email_verified_at, updated_at`)}, ${sessionRows(s, sql`true`, true)}
    SELECT o.id, o.name, o.email, o.email_verified_at, o.updated_at, pg_notify(${opening.notice.channel}, ${opening.notice.payload})
    FROM opened JOIN owner o ON true`);
  const row = rowsOf<Record<string, unknown>>(result)[0];
  if (!row) return undefined;
  const at = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string));
  return { id: row.id as string, name: row.name as string, email: row.email as string, emailVerifiedAt: at(row.email_verified_at), updatedAt: at(row.updated_at)! };
}

export interface RefreshTokenSession {
  session_id: string;
  user_id: string;
  client_id: string | null;
  scope: string | null;
  expires_at: Date | string;
  created_at: Date | string;
  /** Unrotated, unexpired, its session live (not revoked nor expired, its user enabled, its credentials unchanged). */
  live: boolean;
}

/** The session of a refresh token, by the token's hash, and whether the token works now. */
export async function selectRefreshTokenSession(db: Db, tokenHash: string, now: Date): Promise<RefreshTokenSession | undefined> {
  const result = await db.execute(sql`
    SELECT s.id AS session_id, s.user_id, s.client_id, s.scope, t.expires_at, t.created_at,
      (t.rotated_at IS NULL AND t.expires_at > ${now} AND s.revoked_at IS NULL AND s.expires_at > ${now} AND u.disabled_at IS NULL
        AND (u.not_before IS NULL OR s.created_at >= u.not_before)) AS live
    FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id
    WHERE t.token_hash = ${tokenHash}`);
  return rowsOf<RefreshTokenSession>(result)[0];
}
