import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, describeDuration, wordsFor, type Recipient } from '../../core/email-text.js';

export function passwordResetEmail(to: Recipient, resetUrl: string, ttlSeconds: number): MailMessage {
  const { passwordReset } = wordsFor(to);
  return composeEmail(to, passwordReset.subject, passwordReset.body(resetUrl, describeDuration(ttlSeconds, wordsFor(to))));
}

/** The invitation to an account an admin created: the same reset link, for its first password. */
export function invitationEmail(to: Recipient, resetUrl: string, ttlSeconds: number): MailMessage {
  const words = wordsFor(to);
  return composeEmail(to, words.invitation.subject, words.invitation.body(resetUrl, describeDuration(ttlSeconds, words)));
}

export function passwordChangedEmail(to: Recipient): MailMessage {
  const { passwordChanged } = wordsFor(to);
  return composeEmail(to, passwordChanged.subject, passwordChanged.body());
}
