import { sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../../db/client.js';
import { AppError } from '../../errors.js';
import { announceEvents } from '../../core/events.js';
import { checkImportRow, describeRow, type ImportUser, type RawUserRow, type Rejection } from './import-rows.js';

export type { RawUserRow, RejectReason, Rejection } from './import-rows.js';

/** Larger batches are refused: one statement carries 7 parameters a row, and PostgreSQL takes at most 65,535. */
export const IMPORT_BATCH_MAX = 5_000;

/**
 * Why a valid row was not inserted: `already_imported` (a user with this email and this legacy id is
 * there: a rerun), or `email_taken` (an account with this email exists, signed up here or imported from
 * elsewhere; it is left as it is).
 */
export type SkipReason = 'already_imported' | 'email_taken';

export type ImportOutcome =
  | { row: number; id: string; email: string; status: 'inserted' }
  | { row: number; id: string; email: string; status: 'skipped'; reason: SkipReason }
  | ({ status: 'rejected' } & Rejection);

export interface BatchResult {
  /** True when nothing was written: `inserted` then counts the rows that would be. */
  dryRun: boolean;
  inserted: number;
  skipped: number;
  rejected: number;
  /** One per row given, in the same order. */
  outcomes: ImportOutcome[];
}

export interface BatchOptions {
  /** Check everything and tell what would happen, writing nothing. */
  dryRun?: boolean;
  /** Written as updated_at, as disabled_at of inactive accounts, and as created_at when a row has none. */
  now: Date;
}

/**
 * Imports one batch of users: each row is checked (email normalised as sign-up does, name, a known
 * password hash within HASH_LIMITS), duplicates inside the batch are rejected after the first, and the
 * rest is inserted in one statement that leaves any existing email alone, so a rerun inserts nothing
 * twice. Hashes are stored as they are: each becomes argon2id at that user's next sign-in.
 */
export async function importUserBatch(db: Db, rows: readonly RawUserRow[], options: BatchOptions): Promise<BatchResult> {
  if (rows.length > IMPORT_BATCH_MAX) throw new AppError('invalid_request', `At most ${IMPORT_BATCH_MAX} users a batch.`);
  const { now, dryRun = false } = options;
  const outcomes: (ImportOutcome | undefined)[] = [];
  const valid: { index: number; user: ImportUser }[] = [];
  const firstByEmail = new Map<string, number>();
  const firstById = new Map<string, number>();

  rows.forEach((given, index) => {
    // A batch may come over the network: anything but an object is a row that cannot be read.
    const raw: RawUserRow =
      typeof given === 'object' && given !== null && !Array.isArray(given)
        ? { ...given, row: Number.isSafeInteger(given.row) ? given.row : index + 1 }
        : { row: index + 1, unreadable: 'not an object' };
    const check = checkImportRow(raw, now);
    if (!check.ok) {
      outcomes[index] = { status: 'rejected', ...check.rejection };
      return;
    }
    const { user } = check;
    const duplicate = duplicateOf(user, firstByEmail, firstById);
    if (duplicate) {
      outcomes[index] = { status: 'rejected', ...describeRow(raw), ...duplicate };
      return;
    }
    firstByEmail.set(user.email, user.row);
    firstById.set(user.legacyId, user.row);
    valid.push({ index, user });
  });

  const inserted = dryRun || valid.length === 0 ? new Set<string>() : await insertUsers(db, valid.map((v) => v.user), now);
  const notInserted = valid.filter((v) => !inserted.has(v.user.email)).map((v) => v.user.email);
  const existing = notInserted.length === 0 ? new Map<string, string | null>() : await legacyIdsOf(db, notInserted);

  for (const { index, user } of valid) {
    const ref = { row: user.row, id: user.legacyId, email: user.email };
    if (inserted.has(user.email) || (dryRun && !existing.has(user.email))) outcomes[index] = { ...ref, status: 'inserted' };
    else outcomes[index] = { ...ref, status: 'skipped', reason: existing.get(user.email) === user.legacyId ? 'already_imported' : 'email_taken' };
  }
  return summarise(dryRun, outcomes as ImportOutcome[]);
}

/** The first row wins; a later one with the same email or the same legacy id is rejected, naming the first. */
export function duplicateOf(user: ImportUser, firstByEmail: ReadonlyMap<string, number>, firstById: ReadonlyMap<string, number>): Pick<Rejection, 'reason' | 'detail'> | undefined {
  const sameEmail = firstByEmail.get(user.email);
  if (sameEmail !== undefined) return { reason: 'duplicate_email', detail: `the same email as row ${sameEmail}: only the first is imported` };
  const sameId = firstById.get(user.legacyId);
  if (sameId !== undefined) return { reason: 'duplicate_id', detail: `the same id as row ${sameId}: only the first is imported` };
  return undefined;
}

// One multi-row statement; an email already there is left untouched (ON CONFLICT DO NOTHING), also when a
// sign-up takes it between the check and the insert. The rows travel as one JSON parameter: a statement of
// thousands of parameters costs more to build and to parse than the insert itself.
async function insertUsers(db: Db, batch: ImportUser[], now: Date): Promise<Set<string>> {
  const rows = batch.map((u) => ({
    name: u.name,
    email: u.email,
    password_hash: u.passwordHash,
    legacy_id: u.legacyId,
    disabled_at: u.disabled ? now.toISOString() : null,
    created_at: (u.createdAt ?? now).toISOString(),
  }));
  // Each user inserted gets its user.created event (and deliveries) in the same statement, so in the same transaction.
  const result = await db.execute(sql`
    WITH inserted AS (
      INSERT INTO users (name, email, password_hash, legacy_id, disabled_at, created_at, updated_at)
      SELECT r.name, r.email, r.password_hash, r.legacy_id, r.disabled_at, r.created_at, ${now.toISOString()}::timestamptz
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        AS r(name text, email text, password_hash text, legacy_id text, disabled_at timestamptz, created_at timestamptz)
      ON CONFLICT (email) DO NOTHING
      RETURNING id, email, name, role, created_at, disabled_at, email_verified_at, legacy_id
    ), event AS (
      INSERT INTO events (type, user_id, data, created_at)
      SELECT 'user.created', u.id, jsonb_build_object(
          'id', u.id, 'email', u.email, 'name', u.name, 'role', u.role,
          'created_at', to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'disabled_at', to_char(u.disabled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
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
  if (rowsOf(result).length > 0) await announceEvents(db);
  return new Set(rowsOf<{ email: string }>(result).map((r) => r.email));
}

async function legacyIdsOf(db: Db, emails: string[]): Promise<Map<string, string | null>> {
  const result = await db.execute(sql`
    SELECT email, legacy_id FROM users WHERE email IN (SELECT jsonb_array_elements_text(${JSON.stringify(emails)}::jsonb))`);
  return new Map(rowsOf<{ email: string; legacy_id: string | null }>(result).map((r) => [r.email, r.legacy_id]));
}

function summarise(dryRun: boolean, outcomes: ImportOutcome[]): BatchResult {
  const count = (status: ImportOutcome['status']) => outcomes.filter((o) => o.status === status).length;
  return { dryRun, inserted: count('inserted'), skipped: count('skipped'), rejected: count('rejected'), outcomes };
}
