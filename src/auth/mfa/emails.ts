import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, type Recipient } from '../../core/email-text.js';

const NOT_YOU = "If this wasn't you, someone is signed in to your account with your password: reset your password now, which signs every device out.";

export function mfaEnabledEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'Two-step sign-in is on', [
    'An authenticator app was just set up for your account: from now on, signing in takes a code from it after your password.',
    'Keep your recovery codes somewhere safe: each signs in once if you lose the app.',
    NOT_YOU,
  ]);
}

export function mfaDisabledEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'Two-step sign-in is off', [
    'The authenticator app of your account was just removed, with its recovery codes: signing in takes your password alone again.',
    NOT_YOU,
  ]);
}

export function mfaResetEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'Two-step sign-in was reset', [
    'An administrator removed the authenticator app and the recovery codes of your account, as asked for when an app is lost: signing in takes your password alone until you set up a new one.',
    "If you did not ask for this, tell your administrator, and reset your password now.",
  ]);
}

export function recoveryCodeUsedEmail(to: Recipient, left: number): MailMessage {
  return composeEmail(to, 'A recovery code was used', [
    `Your account was just signed in to with one of its recovery codes. ${left === 1 ? 'One code is' : `${left} codes are`} left.`,
    'If you lost your authenticator app, set up a new one and get new recovery codes once signed in.',
    NOT_YOU,
  ]);
}
