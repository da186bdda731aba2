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
