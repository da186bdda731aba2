import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, describeDuration, type Recipient } from '../../core/email-text.js';

export function passwordResetEmail(to: Recipient, resetUrl: string, ttlSeconds: number): MailMessage {
  return composeEmail(to, 'Reset your password', [
    'Someone asked to reset the password of your account. To choose a new password, open this link:',
    { link: resetUrl },
    `The link works once and expires in ${describeDuration(ttlSeconds)}. If you did not ask for this, ignore this email: your password stays as it is.`,
  ]);
}

export function passwordChangedEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'Your password was changed', [
    'The password of your account was just changed, and every device signed in to it was signed out.',
    'If this was not you, reset your password at once and check your account.',
  ]);
}
