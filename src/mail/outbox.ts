import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Db } from '../db/client.js';
import { kindOf, sentMailReceipt, type OutboxHandlers } from '../core/mail-queue.js';
import { backoffMs, leaseUntil, startPoller, type Jitter } from '../core/poller.js';
import { claimOutboxRows, countOutboxRowsToDeliver, finishOutboxRow, retryOutboxRowAt, type OutboxRow } from '../db/queries/mail-outbox.js';

const BATCH = 10;

/** A row still to deliver this long after it was queued is overdue: mail is failing, or stuck. */
export const OVERDUE_AFTER_MS = 60_000;

/**
 * Rows still to deliver OVERDUE_AFTER_MS after they were queued, every instance's. Rows on their way now are
 * left out: a reset email is queued only for an address with an account, so a count that moved with it
 * would tell which addresses have accounts.
 */
export const countOverdueRows = (db: Db, now: Date): Promise<number> => countOutboxRowsToDeliver(db, new Date(now.getTime() - OVERDUE_AFTER_MS));

export interface OutboxWorker {
  /** Looks for work now rather than at the next poll (after this instance queued a row). */
  wake(): void;
  /** Runs one pass; resolves with how many rows it delivered. */
  runOnce(): Promise<number>;
  close(): Promise<void>;
}

export interface OutboxWorkerOptions {
  db: Db;
  handlers: OutboxHandlers;
  clock: Clock;
  logger: Logger;
  pollMs: number;
  retryMaxDelaySeconds: number;
  /** Spreads retries (Math.random unless a test fixes it). */
  jitter?: Jitter;
}

/**
 * Delivers queued rows through their kind's handler, with retries and exponential backoff until they
 * expire. Each row is claimed with FOR UPDATE SKIP LOCKED and a lease, so several instances never
 * deliver one row twice.
 */
export function startOutboxWorker(opts: OutboxWorkerOptions): OutboxWorker {
  const poller = startPoller<OutboxRow>({
    name: 'outbox',
    clock: opts.clock,
    logger: opts.logger,
    pollMs: opts.pollMs,
    firstPollMs: opts.pollMs,
    work: {
      mode: 'batch',
      batch: BATCH,
      claim: (limit, now) => claimOutboxRows(opts.db, limit, now, leaseUntil(now)),
      deliver: (row) => deliverRow(opts, row),
    },
  });
  return { wake: poller.wake, runOnce: poller.runOnce, close: poller.close };
}

/** Delivers one claimed row and records the outcome; resolves true when it was sent. */
async function deliverRow(opts: OutboxWorkerOptions, row: OutboxRow): Promise<boolean> {
  const { db, clock, logger } = opts;
  const now = clock.now();
  const payload = row.message as Record<string, unknown> | null;
  if (!payload || row.expiresAt <= now) {
    await finishOutboxRow(db, row.id, { abandonedAt: now });
    logger.warn({ outboxId: row.id, attempts: row.attempts - 1 }, 'outbox row expired before it could be delivered');
    return false;
  }
  const kind = kindOf(payload);
  let outcome: 'sent' | 'dropped';
  try {
    // An unknown kind may come from a newer instance during an upgrade: retried, so that one can deliver it.
    const handler = opts.handlers[kind];
    if (!handler) throw new Error(`no handler for outbox rows of kind ${kind}`);
    outcome = await handler(payload, now);
  } catch (err) {
    const delay = backoffMs(row.attempts, opts.retryMaxDelaySeconds * 1000, opts.jitter ?? Math.random);
    await retryOutboxRowAt(db, row.id, new Date(now.getTime() + delay), (err as Error).message);
    logger.warn({ outboxId: row.id, kind, attempt: row.attempts, err: (err as Error).message }, 'outbox delivery failed; will retry');
    return false;
  }
  if (outcome === 'dropped') {
    await finishOutboxRow(db, row.id, { abandonedAt: clock.now(), lastError: 'nobody to deliver to any more' });
    logger.info({ outboxId: row.id, kind }, 'outbox row dropped: nobody to deliver to any more');
    return false;
  }
  await finishOutboxRow(db, row.id, { sentAt: clock.now(), receipt: sentMailReceipt(payload) });
  return true;
}
