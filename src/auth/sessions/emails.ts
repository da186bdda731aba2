import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, describeDuration, wordsFor, type Recipient } from '../../core/email-text.js';
import type { DeviceParts } from '../../i18n/catalogue.js';

export function signinCodeEmail(to: Recipient, code: string, ttlSeconds: number): MailMessage {
  const words = wordsFor(to);
  return composeEmail(to, words.signinCode.subject, words.signinCode.body(code, describeDuration(ttlSeconds, words)));
}

/** What the new sign-in email says of the sign-in: nothing secret, and no text the client chose. */
export interface NewSignin {
  /** Its browser and system, as `deviceParts` reads them. */
  device: DeviceParts;
  ipAddress: string | undefined;
  at: Date;
}

/** "2025-03-14 09:26 UTC". */
const utcMinute = (at: Date) => `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export function newSigninEmail(to: Recipient, signin: NewSignin): MailMessage {
  const words = wordsFor(to);
  return composeEmail(to, words.newSignin.subject, words.newSignin.body(words.device(signin.device), signin.ipAddress, utcMinute(signin.at)));
}
