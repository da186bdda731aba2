import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { rowsOf, type Db } from '../db/client.js';
import { mailOutbox } from '../db/schema.js';
import { noMetrics, type Metrics } from '../core/metrics.js';
import { kindOf, type OutboxHandlers } from '../core/mail-queue.js';

const LEASE_MS = 60_000;
const BATCH = 10;

/** Rows still to deliver (neither sent nor given up), every instance's: the partial index answers it. */
export async function countPendingRows(db: Db): Promise<number> {
  const result = await db.execute(sql`SELECT count(*)::int AS n FROM mail_outbox WHERE sent_at IS NULL AND abandoned_at IS NULL`);
  return rowsOf<{ n: number }>(result)[0]?.n ?? 0;
}

export interface OutboxWorker {
  /** Looks for work now rather than at the next poll (after this instance queued a row). */
  wake(): void;
  /** Runs one pass; resolves with how many rows it delivered. */
  runOnce(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Delivers queued rows through their kind's handler, with retries and exponential backoff until they
 * expire. Each row is claimed with FOR UPDATE SKIP LOCKED and a lease, so several instances never
 * deliver one row twice.
 */
export function startOutboxWorker(opts: {
  db: Db;
  handlers: OutboxHandlers;
  clock: Clock;
  logger: Logger;
  pollMs: number;
  retryMaxDelaySeconds: number;
  metrics?: Pick<Metrics, 'mailDelivery'>;
}): OutboxWorker {
  const { db, clock, logger } = opts;
  const metrics = opts.metrics ?? noMetrics;
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

  // The payload is erased once a row is done with: it names a person, and rows of earlier versions held links.
  const finish = (id: number, fields: { sentAt: Date } | { abandonedAt: Date; lastError?: string }) =>
    db.update(mailOutbox).set({ ...fields, message: null, lockedUntil: null }).where(eq(mailOutbox.id, id));

  async function deliver(row: typeof mailOutbox.$inferSelect): Promise<boolean> {
    const now = clock.now();
    const payload = row.message as Record<string, unknown> | null;
    if (!payload || row.expiresAt <= now) {
      await finish(row.id, { abandonedAt: now });
      metrics.mailDelivery('abandoned');
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
      const delay = Math.min(2 ** (row.attempts - 1), opts.retryMaxDelaySeconds) * 1000 * (0.8 + Math.random() * 0.4);
      await db
        .update(mailOutbox)
        .set({ nextAttemptAt: new Date(now.getTime() + delay), lockedUntil: null, lastError: (err as Error).message.slice(0, 500) })
        .where(eq(mailOutbox.id, row.id));
      metrics.mailDelivery('failed');
      logger.warn({ outboxId: row.id, kind, attempt: row.attempts, err: (err as Error).message }, 'outbox delivery failed; will retry');
      return false;
    }
    if (outcome === 'dropped') {
      await finish(row.id, { abandonedAt: clock.now(), lastError: 'nobody to deliver to any more' });
      metrics.mailDelivery('dropped');
      logger.info({ outboxId: row.id, kind }, 'outbox row dropped: nobody to deliver to any more');
      return false;
    }
    await finish(row.id, { sentAt: clock.now() });
    metrics.mailDelivery('sent');
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
