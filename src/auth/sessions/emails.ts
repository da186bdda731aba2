import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, describeDuration, type Recipient } from '../../core/email-text.js';

export function signinCodeEmail(to: Recipient, code: string, ttlSeconds: number): MailMessage {
  return composeEmail(to, 'Your sign-in code', [
    'Sign-ins to your account are paused after failed attempts, and someone has just signed in to it with the right password from a network it had not signed in from.',
    `If this was you, finish signing in by sending this code with your email and password: ${code}`,
    `The code works once, from that same network, and expires in ${describeDuration(ttlSeconds)}.`,
    'If this was not you, someone knows your password: reset it now.',
  ]);
}

/** What the new sign-in email says of the sign-in: nothing secret, and no text the client chose. */
export interface NewSignin {
  /** As `describeDevice` says it. */
  device: string;
  ipAddress: string | undefined;
  at: Date;
}

/** "2025-03-14 09:26 UTC". */
const utcMinute = (at: Date) => `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export function newSigninEmail(to: Recipient, signin: NewSignin): MailMessage {
  return composeEmail(to, 'New sign-in to your account', [
    `Your account was just signed in to from ${signin.device}, at the address ${signin.ipAddress ?? 'unknown'}, on ${utcMinute(signin.at)}. It had not signed in from this device and network in the last 90 days.`,
    'If this was you, there is nothing to do. Your sessions list every device signed in to your account, and can end any of them (GET /api/me/sessions, DELETE /api/me/sessions/{id}).',
    "If this wasn't you, reset your password now: a reset signs every device out.",
  ]);
}
