import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, describeDuration, type Recipient } from '../../core/email-text.js';

export function passwordResetEmail(to: Recipient, resetUrl: string, ttlSeconds: number): MailMessage {
  return composeEmail(to, 'Reset your password', [
    'Someone asked to reset the password of your account. To choose a new password, open this link:',
    { link: resetUrl },
    `The link works once and expires in ${describeDuration(ttlSeconds)}. If you did not ask for this, ignore this email: your password stays as it is.`,
  ]);
}

/** The invitation to an account an admin created: the same reset link, for its first password. */
export function invitationEmail(to: Recipient, resetUrl: string, ttlSeconds: number): MailMessage {
  return composeEmail(to, 'Your new account: choose a password', [
    'An administrator created an account for you with this email address. To choose its password, open this link:',
    { link: resetUrl },
    `The link works once and expires in ${describeDuration(ttlSeconds)}. Then sign in with this address and your new password.`,
    'If you did not expect this, ignore this email: nobody can sign in to the account until a password is chosen through a link like this one.',
  ]);
}

export function passwordChangedEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'Your password was changed', [
    'The password of your account was just changed, and every device signed in to it was signed out.',
    'If this was not you, reset your password at once and check your account.',
  ]);
}
