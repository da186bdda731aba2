import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';

/** A checked row of an import, ready to store (the email normalised, the hash in a known format). */
export interface ImportedUserRow {
  name: string;
  email: string;
  passwordHash: string;
  legacyId: string;
  disabledAt: Date | null;
  /** When the address counts as verified from (the operator said so: `--verified`), or null. */
  emailVerifiedAt: Date | null;
  createdAt: Date;
}

/**
 * Inserts users, each with its user.created event and deliveries; the emails inserted. One multi-row
 * statement; an email already there is left untouched (ON CONFLICT DO NOTHING), also when a sign-up takes it
 * between the check and the insert. The rows travel as one JSON parameter: a statement of thousands of
 * parameters costs more to build and to parse than the insert itself.
 */
export async function insertImportedUsers(db: Db, batch: ImportedUserRow[], now: Date): Promise<string[]> {
  const rows = batch.map((u) => ({
    name: u.name,
    email: u.email,
    password_hash: u.passwordHash,
    legacy_id: u.legacyId,
    disabled_at: u.disabledAt?.toISOString() ?? null,
    email_verified_at: u.emailVerifiedAt?.toISOString() ?? null,
    created_at: u.createdAt.toISOString(),
  }));
  // Each user inserted gets its user.created event (and deliveries) in the same statement, so in the same transaction.
  const result = await db.execute(sql`
    WITH inserted AS (
      INSERT INTO users (name, email, password_hash, legacy_id, disabled_at, email_verified_at, created_at, updated_at)
      SELECT r.name, r.email, r.password_hash, r.legacy_id, r.disabled_at, r.email_verified_at, r.created_at, ${now.toISOString()}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        AS r(name text, email text, password_hash text, legacy_id text, disabled_at timestamptz, email_verified_at timestamptz, created_at timestamptz)
      ON CONFLICT (email) DO NOTHING
      RETURNING id, email, name, role, created_at, disabled_at, email_verified_at, legacy_id
    ), event AS (
      INSERT INTO events (type, user_id, data, created_at)
      SELECT 'user.created', u.id, jsonb_build_object(
          'id', u.id, 'email', u.email, 'name', u.name, 'role', u.role,
          'created_at', to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'disabled_at', to_char(u.disabled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'email_verified', u.email_verified_at IS NOT NULL,
          'email_verified_at', to_char(u.email_verified_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'legacy_id', u.legacy_id), ${now.toISOString()}::timestamptz
      FROM inserted u
      RETURNING id, user_id, type
    ), delivery AS (
      INSERT INTO webhook_deliveries (endpoint_id, event_id, user_id, created_at, next_attempt_at)
      SELECT w.id, e.id, e.user_id, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz
      FROM event e JOIN webhook_endpoints w ON w.disabled_at IS NULL AND e.type = ANY(w.event_types)
    )
    SELECT email FROM inserted`);
  return rowsOf<{ email: string }>(result).map((r) => r.email);
}

/** The legacy id (null for a user who signed up here) of each of these emails that has an account. */
export async function selectLegacyIds(db: Db, emails: string[]): Promise<Map<string, string | null>> {
  const result = await db.execute(sql`
    SELECT email, legacy_id FROM users WHERE email IN (SELECT jsonb_array_elements_text(${JSON.stringify(emails)}::jsonb))`);
  return new Map(rowsOf<{ email: string; legacy_id: string | null }>(result).map((r) => [r.email, r.legacy_id]));
}
