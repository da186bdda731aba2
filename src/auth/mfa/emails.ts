import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, type Recipient } from '../../core/email-text.js';

const NOT_YOU = "If this wasn't you, someone is signed in to your account with your password: reset your password now, which signs every device out.";

const FACTOR_NAMES = { totp: 'An authenticator app', passkey: 'A passkey' } as const;

export function mfaEnabledEmail(to: Recipient, factor: keyof typeof FACTOR_NAMES): MailMessage {
  return composeEmail(to, factor === 'totp' ? 'Two-step sign-in is on' : 'A passkey was added', [
    factor === 'totp'
      ? 'An authenticator app was just set up for your account: from now on, signing in takes a code from it after your password.'
      : 'A passkey was just added to your account: it signs you in on its own, and serves as the second step after your password.',
    'Keep your recovery codes somewhere safe: each signs in once if you lose your second factors.',
    NOT_YOU,
  ]);
}

export function factorRemovedEmail(to: Recipient, factor: keyof typeof FACTOR_NAMES, last: boolean): MailMessage {
  return composeEmail(to, last ? 'Two-step sign-in is off' : `${FACTOR_NAMES[factor]} was removed`, [
    last
      ? `${FACTOR_NAMES[factor]} of your account was just removed, with its recovery codes: signing in takes your password alone again.`
      : `${FACTOR_NAMES[factor]} of your account was just removed; your other second factors and your recovery codes still work.`,
    NOT_YOU,
  ]);
}

export function mfaResetEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'Two-step sign-in was reset', [
    'An administrator removed the second factors of your account (authenticator app, passkeys) and its recovery codes, as asked for when they are lost: signing in takes your password alone until you set up a new one.',
    "If you did not ask for this, tell your administrator, and reset your password now.",
  ]);
}

export function recoveryCodeUsedEmail(to: Recipient, left: number): MailMessage {
  return composeEmail(to, 'A recovery code was used', [
    `One of your account's recovery codes was just used, to sign in or to confirm a change. ${left === 1 ? 'One code is' : `${left} codes are`} left.`,
    'If you lost your second factor, set up a new one and get new recovery codes once signed in.',
    NOT_YOU,
  ]);
}

export function passkeyCloneEmail(to: Recipient): MailMessage {
  return composeEmail(to, 'A passkey of yours may have been copied', [
    "Someone just tried to sign in with one of your passkeys, and its signature counter had gone back: the mark of a copy of the passkey. The attempt was refused.",
    "If you did not restore or copy a security key, remove that passkey from your account and reset your password.",
  ]);
}
