import type { Db } from '../../db/client.js';
import { insertImportedUsers, selectLegacyIds } from '../../db/queries/user-import.js';
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
  /** The operator vouches for every address of the batch (`--verified`): each is verified as of `now`. */
  verified?: boolean;
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

  const inserted = dryRun || valid.length === 0 ? new Set<string>() : await insertUsers(db, valid.map((v) => v.user), now, options.verified ?? false);
  const notInserted = valid.filter((v) => !inserted.has(v.user.email)).map((v) => v.user.email);
  const existing = notInserted.length === 0 ? new Map<string, string | null>() : await selectLegacyIds(db, notInserted);

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

async function insertUsers(db: Db, batch: ImportUser[], now: Date, verified: boolean): Promise<Set<string>> {
  const rows = batch.map((u) => ({ ...u, disabledAt: u.disabled ? now : null, emailVerifiedAt: verified ? now : null, createdAt: u.createdAt ?? now }));
  const inserted = await insertImportedUsers(db, rows, now);
  if (inserted.length > 0) await announceEvents(db);
  return new Set(inserted);
}

function summarise(dryRun: boolean, outcomes: ImportOutcome[]): BatchResult {
  const count = (status: ImportOutcome['status']) => outcomes.filter((o) => o.status === status).length;
  return { dryRun, inserted: count('inserted'), skipped: count('skipped'), rejected: count('rejected'), outcomes };
}
