import { sql, type SQL } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';
import { spentTokensCondition } from './one-time-tokens.js';

/** Rows looked at per statement: each stays short, so requests waiting for the database (PGlite has one connection) wait little. */
export const PURGE_BATCH = 1_000;

/** What one sweep deletes: a table's rows that meet `condition`, walked by `key`. */
export interface Sweep {
  table: string;
  key: string;
  /** The key's SQL type, for the cursor (kept as text between statements). */
  keyType: string;
  /** Joined to the table (aliased `t`) for the condition. */
  join?: SQL;
  /** Which rows of the page go. */
  condition: SQL;
}

/**
 * Deletes the doomed rows among the next PURGE_BATCH keys after `after` (from the first when undefined),
 * skipping rows another transaction holds (a request, or another instance purging the same rows), which
 * the next pass takes. Returns the last key looked at (null past the end) and how many rows went.
 */
export async function deleteSweepPage(db: Db, s: Sweep, after: string | undefined): Promise<{ last: string | null; deleted: number }> {
  const table = sql.raw(s.table);
  const key = sql.raw(s.key);
  const keyType = sql.raw(s.keyType);
  const result = await db.execute(sql`
    WITH page AS (
      SELECT ${key} AS k FROM ${table} WHERE ${after === undefined ? sql`TRUE` : sql`${key} > ${after}::${keyType}`}
      ORDER BY ${key} LIMIT ${PURGE_BATCH}
    ), doomed AS (
      SELECT t.${key} AS k FROM ${table} t ${s.join ?? sql.raw('')}
      WHERE t.${key} IN (SELECT k FROM page) AND (${s.condition})
      FOR UPDATE OF t SKIP LOCKED
    ), gone AS (
      DELETE FROM ${table} WHERE ${key} IN (SELECT k FROM doomed) RETURNING 1
    )
    SELECT (SELECT k::text FROM page ORDER BY k DESC LIMIT 1) AS last, (SELECT count(*) FROM gone)::int AS deleted`);
  const [row] = rowsOf<{ last: string | null; deleted: number | string }>(result);
  return { last: row?.last ?? null, deleted: Number(row?.deleted ?? 0) };
}

/** When the session under this alias ended: revoked, or expired, whichever came first. */
const endOf = (alias: string) => sql.raw(`LEAST(COALESCE(${alias}.revoked_at, ${alias}.expires_at), ${alias}.expires_at)`);

/**
 * Refresh tokens that expired before `expiredBefore` and were not rotated after `rotatedBefore` (a replay
 * within the retry window must still revoke its session), or whose session ended before `sessionEndedBefore`.
 */
export const refreshTokensSweep = (cut: { expiredBefore: Date; rotatedBefore: Date; sessionEndedBefore: Date }): Sweep => ({
  table: 'refresh_tokens',
  key: 'token_hash',
  keyType: 'text',
  join: sql`JOIN sessions s ON s.id = t.session_id`,
  condition: sql`(t.expires_at < ${cut.expiredBefore}
      AND (t.rotated_at IS NULL OR t.rotated_at < ${cut.rotatedBefore}))
    OR ${endOf('s')} < ${cut.sessionEndedBefore}`,
});

/** Sessions that ended (revoked or expired) before `endedBefore`; their refresh tokens go by cascade, after them (the lock order of sessions.ts). */
export const sessionsSweep = (endedBefore: Date): Sweep => ({
  table: 'sessions',
  key: 'id',
  keyType: 'uuid',
  condition: sql`${endOf('t')} < ${endedBefore}`,
});

/** One-time tokens (every type) spent or expired before `cutoff`. */
export const oneTimeTokensSweep = (cutoff: Date): Sweep => ({
  table: 'one_time_tokens',
  key: 'token_hash',
  keyType: 'text',
  condition: spentTokensCondition('t', cutoff),
});

/**
 * WebAuthn challenges that expired before `cutoff`: in `webauthn_challenges`, unanswered (an answered one is deleted
 * as it is taken); in `spent_signin_challenges`, answered (a sign-in challenge that expired cannot be answered again).
 */
export const challengesSweep = (table: 'webauthn_challenges' | 'spent_signin_challenges', cutoff: Date): Sweep => ({
  table,
  key: 'challenge_hash',
  keyType: 'text',
  condition: sql`t.expires_at < ${cutoff}`,
});

/** Outbox rows sent or given up before `finishedBefore`. */
export const mailSweep = (finishedBefore: Date): Sweep => ({
  table: 'mail_outbox',
  key: 'id',
  keyType: 'bigint',
  condition: sql`t.sent_at < ${finishedBefore} OR t.abandoned_at < ${finishedBefore}`,
});
