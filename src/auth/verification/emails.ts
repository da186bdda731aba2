import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, describeDuration, type Recipient } from '../../core/email-text.js';

/** The email that proves an address: a link for a browser, the same proof as six digits for an app. */
export function verificationEmail(to: Recipient, link: string, code: string, ttlSeconds: number): MailMessage {
  return composeEmail(to, 'Confirm your email address', [
    'To confirm that this address is yours, open this link and press the button on the page:',
    { link },
    `Or, in the app, enter this code: ${code}`,
    `The link and the code work once and expire in ${describeDuration(ttlSeconds)}. If you did not create an account, ignore this email.`,
  ]);
}

/** To the new address of an email change: the link that makes it the account's address. */
export function emailChangeConfirmEmail(to: Recipient, link: string, ttlSeconds: number): MailMessage {
  return composeEmail({ ...to, emailVerifiedAt: null }, 'Confirm your new email address', [
    'Someone asked to use this address for their account. If it was you, open this link and press the button on the page:',
    { link },
    `The link works once and expires in ${describeDuration(ttlSeconds)}. If you did not ask for this, ignore this email: nothing changes.`,
  ]);
}

/** To the old address of an email change: what was asked, and the link that undoes it and signs out every device. */
export function emailChangeNoticeEmail(to: Recipient, newEmail: string, cancelLink: string, ttlSeconds: number): MailMessage {
  return composeEmail(to, 'Your email address is being changed', [
    `Someone signed in to your account asked to change its email address to ${newEmail}.`,
    'If this was you, there is nothing to do. If it was not you, open this link and press the button: the change is undone (or cancelled, if not confirmed yet) and every device signed in to your account is signed out.',
    { link: cancelLink },
    `The link works for ${describeDuration(ttlSeconds)}. Then reset your password.`,
  ]);
}

/** To the owner of an address another account tried to take: no link, nothing to do. */
export function emailTakenNoticeEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'Someone tried to use your email address', [
    'Someone signed in to another account asked to change its email address to this one, which already belongs to your account. Nothing was changed.',
    'If you know nothing of this, you can ignore this email; your account is as it was.',
  ]);
}
