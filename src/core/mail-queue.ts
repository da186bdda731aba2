import type { Db } from '../db/client.js';
import { insertOutboxRow } from '../db/queries/mail-outbox.js';

// The mail outbox as the domain sees it: rows queued in a change's transaction. The channel that renders
// and delivers them (src/mail/) sits above the domain and is wired to it in src/jobs.ts.

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** What a row holds: an intent ({ kind, ...ids }) that its handler renders when it delivers it; never a secret. */
export type OutboxPayload = { kind: string } & Record<string, unknown>;

/**
 * Renders and delivers one row's payload. Resolves 'dropped' when there is no one left to deliver it to
 * (the row is given up); throws when delivery failed (the row is retried with backoff until it expires).
 */
export type OutboxHandler = (payload: Record<string, unknown>, now: Date) => Promise<'sent' | 'dropped'>;

/** A channel: each row kind and the handler that renders and delivers it. */
export type OutboxHandlers = Readonly<Record<string, OutboxHandler>>;

// Rows with no kind hold an email already rendered: the notices, and everything earlier versions queued.
export const RENDERED_EMAIL = 'rendered_email';

export function kindOf(payload: Record<string, unknown>): string {
  return typeof payload.kind === 'string' ? payload.kind : RENDERED_EMAIL;
}

/**
 * What a row keeps once its email is sent, so that a user's data export can list the emails sent to them: an
 * intent's kind and user, a rendered email's recipient and subject. Never its body, its link or its code, nor
 * anything else an intent carries (a sign-in code's network).
 */
export function sentMailReceipt(payload: Record<string, unknown>): Record<string, string> {
  const kept = typeof payload.kind === 'string' ? { kind: payload.kind, userId: payload.userId } : { to: payload.to, subject: payload.subject };
  return Object.fromEntries(Object.entries(kept).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/** Queues a row in the caller's transaction: it exists if and only if the change that causes it commits. */
export function enqueue(tx: Db, payload: OutboxPayload, now: Date, expiresAt: Date): Promise<void> {
  return insertOutboxRow(tx, payload, now, expiresAt);
}

/** Queues an email rendered now; only for emails that hold no secret, since the row keeps it until it is sent. */
export function enqueueEmail(tx: Db, message: MailMessage, now: Date, expiresAt: Date): Promise<void> {
  return insertOutboxRow(tx, message, now, expiresAt);
}

// A notice (a password changed, a new sign-in, an account deleted) is still worth sending this long after it was queued.
const NOTICE_LIFETIME_MS = 24 * 3_600_000;

/** Queues a notice: an email rendered now, with no secret in it, worth sending for a day. */
export function enqueueNotice(tx: Db, message: MailMessage, now: Date): Promise<void> {
  return enqueueEmail(tx, message, now, new Date(now.getTime() + NOTICE_LIFETIME_MS));
}

