import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, type Recipient } from '../../core/email-text.js';

export function accountDeletedEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'Your account was deleted', [
    'Your account was deleted at your request, with everything it held: every device signed in to it was signed out.',
    'If this was not you, your password was known to someone else: nothing of the account can be recovered, but you can sign up again.',
  ]);
}
