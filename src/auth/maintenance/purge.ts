import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { addSeconds, type Clock } from '../../core/clock.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { deleteSweepPage, mailSweep, oneTimeTokensSweep, refreshTokensSweep, sessionsSweep, challengesSweep, type Sweep } from '../../db/queries/purge.js';

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
  /** WebAuthn challenges expired: never answered, or (passkey sign-ins') answered and kept until they expired. */
  webauthnChallenges: number;
  mail: number;
}

const before = (now: Date, seconds: number) => addSeconds(now, -seconds);

/**
 * Deletes a table's doomed rows, walking its primary key a page at a time: each statement reads at most
 * PURGE_BATCH rows, whatever the table's size, and skips rows another transaction holds (a request, or
 * another instance purging the same rows), which the next pass takes. Deletes are idempotent, so
 * instances purging at once only share the work.
 */
async function sweep(db: Db, s: Sweep, stopped: () => boolean): Promise<number> {
  let after: string | undefined;
  let deleted = 0;
  for (;;) {
    const page = await deleteSweepPage(db, s, after);
    deleted += page.deleted;
    if (!page.last || stopped()) return deleted;
    after = page.last;
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
 * - a reset token goes once used or expired, a WebAuthn challenge once expired; an email's row a day after it was sent or given up.
 */
export async function purgeExpiredRows(db: Db, clock: Clock, config: Config, stopped: () => boolean = () => false): Promise<PurgeCounts> {
  const now = clock.now();
  const revocationWindow = config.ttl.accessToken + 60;
  const refreshTokensCut = {
    expiredBefore: before(now, CLOCK_MARGIN_S),
    rotatedBefore: before(now, config.ttl.refreshReuseInterval + CLOCK_MARGIN_S),
    sessionEndedBefore: before(now, revocationWindow + CLOCK_MARGIN_S),
  };
  const refreshTokens = await sweep(db, refreshTokensSweep(refreshTokensCut), stopped);
  const sessionsCut = before(now, Math.max(ENDED_SESSION_KEEP_S, revocationWindow) + CLOCK_MARGIN_S);
  const sessions = await sweep(db, sessionsSweep(sessionsCut), stopped);
  const oneTimeTokens = await sweep(db, oneTimeTokensSweep(before(now, CLOCK_MARGIN_S)), stopped);
  const challengesCut = before(now, CLOCK_MARGIN_S);
  const webauthnChallenges =
    (await sweep(db, challengesSweep('webauthn_challenges', challengesCut), stopped)) + (await sweep(db, challengesSweep('spent_signin_challenges', challengesCut), stopped));
  const finished = before(now, FINISHED_MAIL_KEEP_S);
  const mail = await sweep(db, mailSweep(finished), stopped);
  return { refreshTokens, sessions, oneTimeTokens, webauthnChallenges, mail };
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
        return { refreshTokens: 0, sessions: 0, oneTimeTokens: 0, webauthnChallenges: 0, mail: 0 };
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
