import { checkImportRow, describeRow, type RawUserRow, type Rejection } from '../auth/import/import-rows.js';
import { duplicateOf, IMPORT_BATCH_MAX, type BatchResult, type ImportOutcome } from '../auth/import/user-import.js';

export interface ImportUsersOptions {
  /** Rows as a source reads them (src/import/sources.ts). */
  source: AsyncIterable<RawUserRow>;
  /**
   * Imports one batch and tells what became of each row, in order: `importUserBatch` called directly, or
   * the same through a running server. It checks every row again: the checks here only spare it rows it
   * would refuse, and find duplicates across batches. Throwing stops the import (rerunning resumes it).
   */
  apply: (batch: RawUserRow[]) => Promise<BatchResult>;
  /** Rows per batch, 1,000 by default, at most IMPORT_BATCH_MAX. */
  batchSize?: number;
  /** Called after each batch with the running totals and the rows refused or left since the last call. */
  onProgress?: (progress: ImportProgress) => void;
  /** Used to refuse created_at in the future; the system clock by default. */
  now?: () => Date;
}

export interface ImportTotals {
  /** Rows read from the source. */
  read: number;
  inserted: number;
  /** Already there: imported by an earlier run (`already_imported`), or another account with that email (`email_taken`). */
  skipped: number;
  rejected: number;
  /** True once a batch came back from a dry run: `inserted` counts what would have been. */
  dryRun: boolean;
}

export interface ImportProgress extends ImportTotals {
  rejections: Rejection[];
  conflicts: ImportOutcome[];
}

export interface ImportSummary extends ImportTotals {
  /** Every rejected row, up to the first 10,000 (`rejected` counts them all). */
  rejections: Rejection[];
  /** Rows skipped because another account already has the email (`email_taken`), up to 10,000. */
  conflicts: ImportOutcome[];
}

/** The import stopped (the source or `apply` failed); `summary` holds what was done. Rerun to resume. */
export class ImportInterruptedError extends Error {
  constructor(
    readonly summary: ImportSummary,
    cause: unknown,
  ) {
    super(`The import stopped after ${summary.read} rows: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ImportInterruptedError';
  }
}

const KEEP = 10_000;

/**
 * Reads users from a source and imports them batch by batch through `apply`. A refused row never stops
 * the import: it is counted and reported with its reason, source row number and id. An email or id seen
 * again later in the source is refused (the first one wins). Reading the next batch overlaps with
 * importing the previous one.
 */
export async function importUsers(options: ImportUsersOptions): Promise<ImportSummary> {
  const batchSize = Math.min(Math.max(1, Math.floor(options.batchSize ?? 1_000)), IMPORT_BATCH_MAX);
  const now = options.now ?? (() => new Date());
  const summary: ImportSummary = { read: 0, inserted: 0, skipped: 0, rejected: 0, dryRun: false, rejections: [], conflicts: [] };
  let pending: { rejections: Rejection[]; conflicts: ImportOutcome[] } = { rejections: [], conflicts: [] };
  const firstByEmail = new Map<string, number>();
  const firstById = new Map<string, number>();

  const reject = (rejection: Rejection) => {
    summary.rejected += 1;
    if (summary.rejections.length < KEEP) summary.rejections.push(rejection);
    if (pending.rejections.length < KEEP) pending.rejections.push(rejection);
  };

  const send = async (batch: RawUserRow[]) => {
    const result = await options.apply(batch);
    if (result.outcomes.length !== batch.length) throw new Error(`apply answered ${result.outcomes.length} outcomes for ${batch.length} rows`);
    summary.dryRun ||= result.dryRun;
    for (const outcome of result.outcomes) {
      if (outcome.status === 'inserted') summary.inserted += 1;
      else if (outcome.status === 'skipped') {
        summary.skipped += 1;
        if (outcome.reason === 'email_taken') {
          if (summary.conflicts.length < KEEP) summary.conflicts.push(outcome);
          if (pending.conflicts.length < KEEP) pending.conflicts.push(outcome);
        }
      } else {
        const { status: _, ...rejection } = outcome;
        reject(rejection);
      }
    }
    const { rejections: _r, conflicts: _c, ...totals } = summary;
    options.onProgress?.({ ...totals, ...pending });
    pending = { rejections: [], conflicts: [] };
  };

  let inFlight: Promise<void> | undefined;
  let batch: RawUserRow[] = [];
  try {
    for await (const raw of options.source) {
      summary.read += 1;
      const check = checkImportRow(raw, now());
      if (!check.ok) {
        reject(check.rejection);
        continue;
      }
      const duplicate = duplicateOf(check.user, firstByEmail, firstById);
      if (duplicate) {
        reject({ ...describeRow(raw), ...duplicate });
        continue;
      }
      firstByEmail.set(check.user.email, raw.row);
      firstById.set(check.user.legacyId, raw.row);
      batch.push(raw);
      if (batch.length >= batchSize) {
        await inFlight;
        inFlight = send(batch);
        // Awaited before the next batch is sent; until then a failure must not count as unhandled.
        inFlight.catch(() => {});
        batch = [];
      }
    }
    await inFlight;
    if (batch.length > 0) await send(batch);
  } catch (err) {
    await inFlight?.catch(() => {});
    throw new ImportInterruptedError(summary, err);
  }
  return summary;
}
