import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, describeDuration, wordsFor, type Recipient } from '../../core/email-text.js';

/** The email that proves an address: a link for a browser, the same proof as six digits for an app. */
export function verificationEmail(to: Recipient, link: string, code: string, ttlSeconds: number): MailMessage {
  const words = wordsFor(to);
  return composeEmail(to, words.verification.subject, words.verification.body(link, code, describeDuration(ttlSeconds, words)));
}

/** To the new address of an email change: the link that makes it the account's address. */
export function emailChangeConfirmEmail(to: Recipient, link: string, ttlSeconds: number): MailMessage {
  const words = wordsFor(to);
  return composeEmail({ ...to, emailVerifiedAt: null }, words.emailChangeConfirm.subject, words.emailChangeConfirm.body(link, describeDuration(ttlSeconds, words)));
}

/** To the old address of an email change: what was asked, and the link that undoes it and signs out every device. */
export function emailChangeNoticeEmail(to: Recipient, newEmail: string, cancelLink: string, ttlSeconds: number): MailMessage {
  const words = wordsFor(to);
  return composeEmail(to, words.emailChangeNotice.subject, words.emailChangeNotice.body(newEmail, cancelLink, describeDuration(ttlSeconds, words)));
}

/** To the owner of an address another account tried to take: no link, nothing to do. */
export function emailTakenNoticeEmail(to: Recipient): MailMessage {
  const { emailTaken } = wordsFor(to);
  return composeEmail(to, emailTaken.subject, emailTaken.body());
}
