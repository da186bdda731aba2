import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, wordsFor, type Recipient } from '../../core/email-text.js';

export function accountDeletedEmail(to: Recipient): MailMessage {
  const { accountDeleted } = wordsFor(to);
  return composeEmail(to, accountDeleted.subject, accountDeleted.body());
}
