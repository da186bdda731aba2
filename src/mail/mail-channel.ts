import { RENDERED_EMAIL, type Mailer, type MailMessage, type OutboxHandlers } from '../core/mail-queue.js';

/**
 * The kinds of row the mail outbox delivers. Emails with a secret in them are queued as intents and
 * rendered at delivery by the concept that queued them (`rendering`, wired in src/jobs.ts: the channel
 * never reaches into the domain); the others (notices) are queued rendered, as every earlier version did.
 */
export function mailHandlers(deps: { mailer: Pick<Mailer, 'send'> }, rendering: OutboxHandlers): OutboxHandlers {
  return {
    [RENDERED_EMAIL]: async (payload) => {
      await deps.mailer.send(payload as unknown as MailMessage);
      return 'sent';
    },
    ...rendering,
  };
}
