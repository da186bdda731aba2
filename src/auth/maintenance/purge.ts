import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type SQL } from 'drizzle-orm';
import type { Logger } from 'pino';
import { addSeconds, type Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import { rowsOf, type Db } from '../../db/client.js';
import { spentTokensCondition } from '../../db/queries/one-time-tokens.js';

/** Rows looked at per statement: each stays short, so requests waiting for the database (PGlite has one connection) wait little. */
export const PURGE_BATCH = 1_000;
// Between two statements, requests get the database.
const PAUSE_MS = 10;
// Instances' clocks may disagree by this much: every row is kept this much longer than its rule needs.
const CLOCK_MARGIN_S = 60;
// An ended session stays at least a day, for support and the audit trail ("when, and why, did it end").
const ENDED_SESSION_KEEP_S = 86_400;
// A sent or abandoned email's row stays a day, for whoever looks into a delivery.
const FINISHED_MAIL_KEEP_S = 86_400;

export interface PurgeCounts {
  refreshTokens: number;
  sessions: number;
  oneTimeTokens: number;
  mail: number;
}

const before = (now: Date, seconds: number) => addSeconds(now, -seconds);
/** When the session under this alias ended: revoked, or expired, whichever came first. */
const endOf = (alias: string) => sql.raw(`LEAST(COALESCE(${alias}.revoked_at, ${alias}.expires_at), ${alias}.expires_at)`);

interface Sweep {
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
 * Deletes a table's doomed rows, walking its primary key a page at a time: each statement reads at most
 * PURGE_BATCH rows, whatever the table's size, and skips rows another transaction holds (a request, or
 * another instance purging the same rows), which the next pass takes. Deletes are idempotent, so
 * instances purging at once only share the work.
 */
async function sweep(db: Db, s: Sweep, stopped: () => boolean): Promise<number> {
  const table = sql.raw(s.table);
  const key = sql.raw(s.key);
  const keyType = sql.raw(s.keyType);
  let after: string | undefined;
  let deleted = 0;
  for (;;) {
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
    deleted += Number(row?.deleted ?? 0);
    if (!row?.last || stopped()) return deleted;
    after = row.last;
    await sleep(PAUSE_MS);
  }
}

/**
 * One pass over what no longer serves anything. The rules keep what reuse detection, the retry window,
 * and the revocation list's reload read (the known-client check reads the audit log, not sessions):
 * - a refresh token goes once it has expired and its retry window (REFRESH_REUSE_INTERVAL) is over: until
 *   then a replay of it must still revoke its session; every token of a session goes once the session
 *   ended ACCESS_TOKEN_TTL + 60 s ago (a replay of it is refused either way, and revocations are reloaded
 *   from `sessions`);
 * - a session goes once it ended a day ago (at least ACCESS_TOKEN_TTL + 60 s);
 * - a one-time token (a reset link) goes once used or expired; an email's row a day after it was sent or given up.
 */
export async function purgeExpiredRows(db: Db, clock: Clock, config: Config, stopped: () => boolean = () => false): Promise<PurgeCounts> {
  const now = clock.now();
  const revocationWindow = config.ttl.accessToken + 60;
  const refreshTokens = await sweep(
    db,
    {
      table: 'refresh_tokens',
      key: 'token_hash',
      keyType: 'text',
      join: sql`JOIN sessions s ON s.id = t.session_id`,
      condition: sql`(t.expires_at < ${before(now, CLOCK_MARGIN_S)}
          AND (t.rotated_at IS NULL OR t.rotated_at < ${before(now, config.ttl.refreshReuseInterval + CLOCK_MARGIN_S)}))
        OR ${endOf('s')} < ${before(now, revocationWindow + CLOCK_MARGIN_S)}`,
    },
    stopped,
  );
  const sessions = await sweep(
    db,
    {
      table: 'sessions',
      key: 'id',
      keyType: 'uuid',
      condition: sql`${endOf('t')} < ${before(now, Math.max(ENDED_SESSION_KEEP_S, revocationWindow) + CLOCK_MARGIN_S)}`,
    },
    stopped,
  );
  const oneTimeTokens = await sweep(
    db,
    {
      table: 'one_time_tokens',
      key: 'token_hash',
      keyType: 'text',
      condition: spentTokensCondition('t', before(now, CLOCK_MARGIN_S)),
    },
    stopped,
  );
  const finished = before(now, FINISHED_MAIL_KEEP_S);
  const mail = await sweep(
    db,
    { table: 'mail_outbox', key: 'id', keyType: 'bigint', condition: sql`t.sent_at < ${finished} OR t.abandoned_at < ${finished}` },
    stopped,
  );
  return { refreshTokens, sessions, oneTimeTokens, mail };
}

export interface PurgeSchedule {
  /** Runs a pass now, or joins the one running. */
  runOnce(): Promise<PurgeCounts>;
  /** Stops the timer, ends a running pass at its next statement and waits for it. */
  close(): Promise<void>;
}

/** Purges every `intervalSeconds` (PURGE_INTERVAL) in the background; a failed pass is retried at the next. */
export function startPurgeSchedule(opts: { db: Db; clock: Clock; config: Config; logger: Logger; intervalSeconds: number }): PurgeSchedule {
  let closed = false;
  let running: Promise<PurgeCounts> | undefined;
  const runOnce = () => {
    running ??= purgeExpiredRows(opts.db, opts.clock, opts.config, () => closed)
      .then((counts) => {
        if (Object.values(counts).some((n) => n > 0)) opts.logger.info({ purged: counts }, 'purged spent tokens, ended sessions and sent emails');
        return counts;
      })
      .catch((err: Error) => {
        opts.logger.warn({ err: err.message }, 'purge failed; will retry');
        return { refreshTokens: 0, sessions: 0, oneTimeTokens: 0, mail: 0 };
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void runOnce(), opts.intervalSeconds * 1000).unref();
  return {
    runOnce,
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
    },
  };
}
