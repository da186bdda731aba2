import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Db } from '../db/client.js';
import { mailOutbox } from '../db/schema.js';
import type { Mailer, MailMessage } from './mailer.js';

const LEASE_MS = 60_000;
const BATCH = 10;

/** Queues an email in the caller's transaction: it exists if and only if the change that causes it commits. */
export async function enqueueEmail(tx: Db, message: MailMessage, now: Date, expiresAt: Date): Promise<void> {
  await tx.insert(mailOutbox).values({ message, createdAt: now, expiresAt, nextAttemptAt: now });
}

export interface OutboxWorker {
  /** Looks for work now rather than at the next poll (after this instance queued an email). */
  wake(): void;
  /** Runs one pass; resolves with how many messages it sent. */
  runOnce(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Sends queued emails with retries and exponential backoff until they expire. Each message is claimed
 * with FOR UPDATE SKIP LOCKED and a lease, so several instances never send one message twice.
 */
export function startOutboxWorker(opts: {
  db: Db;
  mailer: Mailer;
  clock: Clock;
  logger: Logger;
  pollMs: number;
  retryMaxDelaySeconds: number;
}): OutboxWorker {
  const { db, clock, logger } = opts;
  let closed = false;
  let running: Promise<number> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  async function claim(now: Date) {
    const due = db
      .select({ id: mailOutbox.id })
      .from(mailOutbox)
      .where(
        and(
          isNull(mailOutbox.sentAt),
          isNull(mailOutbox.abandonedAt),
          lte(mailOutbox.nextAttemptAt, now),
          or(isNull(mailOutbox.lockedUntil), lt(mailOutbox.lockedUntil, now)),
        ),
      )
      .orderBy(asc(mailOutbox.id))
      .limit(BATCH)
      .for('update', { skipLocked: true });
    return db
      .update(mailOutbox)
      .set({ lockedUntil: new Date(now.getTime() + LEASE_MS), attempts: sql`${mailOutbox.attempts} + 1` })
      .where(inArray(mailOutbox.id, due))
      .returning();
  }

  async function deliver(row: typeof mailOutbox.$inferSelect) {
    const now = clock.now();
    if (!row.message || row.expiresAt <= now) {
      // Erased with the message: a reset link must not linger once it can no longer be sent.
      await db.update(mailOutbox).set({ abandonedAt: now, message: null, lockedUntil: null }).where(eq(mailOutbox.id, row.id));
      logger.warn({ outboxId: row.id, attempts: row.attempts - 1 }, 'email expired before it could be sent');
      return false;
    }
    try {
      await opts.mailer.send(row.message as MailMessage);
    } catch (err) {
      const delay = Math.min(2 ** (row.attempts - 1), opts.retryMaxDelaySeconds) * 1000 * (0.8 + Math.random() * 0.4);
      await db
        .update(mailOutbox)
        .set({ nextAttemptAt: new Date(now.getTime() + delay), lockedUntil: null, lastError: (err as Error).message.slice(0, 500) })
        .where(eq(mailOutbox.id, row.id));
      logger.warn({ outboxId: row.id, attempt: row.attempts, err: (err as Error).message }, 'email delivery failed; will retry');
      return false;
    }
    await db.update(mailOutbox).set({ sentAt: clock.now(), message: null, lockedUntil: null }).where(eq(mailOutbox.id, row.id));
    return true;
  }

  async function pass(): Promise<number> {
    let sent = 0;
    for (;;) {
      const rows = await claim(clock.now());
      for (const row of rows) if (await deliver(row)) sent += 1;
      if (rows.length < BATCH) return sent;
    }
  }

  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = pass()
      .catch((err: Error) => {
        logger.warn({ err: err.message }, 'outbox pass failed; will retry');
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again && !closed) {
          again = false;
          void runOnce();
        }
      });
    return running;
  }

  const tick = () => {
    if (closed) return;
    void runOnce().finally(() => {
      if (!closed) timer = setTimeout(tick, opts.pollMs).unref();
    });
  };
  timer = setTimeout(tick, opts.pollMs).unref();

  return {
    wake: () => void runOnce(),
    runOnce,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
