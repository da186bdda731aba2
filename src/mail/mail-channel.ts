import { PASSWORD_RESET, sendResetEmail } from '../auth/reset-mail.js';
import type { Deps } from '../deps.js';
import type { MailMessage } from './mailer.js';
import { RENDERED_EMAIL, type OutboxHandlers } from './outbox.js';

/**
 * The kinds of row the mail outbox delivers. Emails with a secret in them are queued as intents and
 * rendered here at delivery; the others (notices) are queued rendered, as every earlier version did.
 */
export function mailHandlers(deps: Pick<Deps, 'db' | 'mailer' | 'config'>): OutboxHandlers {
  return {
    [RENDERED_EMAIL]: async (payload) => {
      await deps.mailer.send(payload as unknown as MailMessage);
      return 'sent';
    },
    [PASSWORD_RESET]: (payload, now) => sendResetEmail(deps, payload, now),
  };
}
