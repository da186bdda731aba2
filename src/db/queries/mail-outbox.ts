import { and, asc, count, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import { rowsOf, type Db } from '../client.js';
import { mailOutbox } from '../schema.js';

// The mail outbox: rows queued in a change's transaction (src/core/mail-queue.ts), claimed and delivered
// by the mail channel (src/mail/outbox.ts).

export type OutboxRow = typeof mailOutbox.$inferSelect;

/** Queues a row (an intent or a rendered email) in the caller's transaction, due now. */
export async function insertOutboxRow(tx: Db, message: object, now: Date, expiresAt: Date): Promise<void> {
  await tx.insert(mailOutbox).values({ message, createdAt: now, expiresAt, nextAttemptAt: now });
}

/** Rows still to deliver (neither sent nor given up), every instance's (the partial index answers it); only those queued before `queuedBefore` when given. */
export async function countOutboxRowsToDeliver(db: Db, queuedBefore?: Date): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(mailOutbox)
    .where(and(isNull(mailOutbox.sentAt), isNull(mailOutbox.abandonedAt), queuedBefore ? lt(mailOutbox.createdAt, queuedBefore) : undefined));
  return row?.n ?? 0;
}

/** Claims up to `limit` due rows, oldest first, until `lease`; rows another instance holds are skipped. */
export function claimOutboxRows(db: Db, limit: number, now: Date, lease: Date): Promise<OutboxRow[]> {
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
    .limit(limit)
    .for('update', { skipLocked: true });
  return db
    .update(mailOutbox)
    .set({ lockedUntil: lease, attempts: sql`${mailOutbox.attempts} + 1` })
    .where(inArray(mailOutbox.id, due))
    .returning();
}

/**
 * Ends a row, sent or given up. Its payload is replaced by `receipt` (what a sent email was and whom it went to,
 * never its body, link or code: `sentMailReceipt`), or erased: rows of earlier versions held links.
 */
export async function finishOutboxRow(
  db: Db,
  id: number,
  fields: { sentAt: Date; receipt?: object } | { abandonedAt: Date; lastError?: string },
): Promise<void> {
  const { receipt, ...marks } = { receipt: undefined, ...fields };
  await db.update(mailOutbox).set({ ...marks, message: receipt ?? null, lockedUntil: null }).where(eq(mailOutbox.id, id));
}

export interface UserMailRow {
  kind: string | null;
  subject: string | null;
  created_at: Date | string;
  sent_at: Date | string | null;
}

/**
 * The rows queued for a user, waiting or sent (given-up rows hold nothing), newest first, at most `limit`:
 * intents by the user's id, rendered emails by the address they went to. Only their kind and subject. The
 * table has no index on its payload: rows stay a day after they are finished, so it stays small.
 */
export async function selectUserMail(db: Db, user: { id: string; email: string }, limit: number): Promise<UserMailRow[]> {
  const result = await db.execute(sql`
    SELECT message->>'kind' AS kind, message->>'subject' AS subject, created_at, sent_at FROM mail_outbox
    WHERE message->>'userId' = ${user.id} OR (message->>'kind' IS NULL AND message->>'to' = ${user.email})
    ORDER BY id DESC
    LIMIT ${limit}`);
  return rowsOf<UserMailRow>(result);
}

/** A failed attempt: the row is released and due again at `retryAt`. */
export async function retryOutboxRowAt(db: Db, id: number, retryAt: Date, error: string): Promise<void> {
  await db.update(mailOutbox).set({ nextAttemptAt: retryAt, lockedUntil: null, lastError: error.slice(0, 500) }).where(eq(mailOutbox.id, id));
}
