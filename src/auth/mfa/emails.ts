import type { MailMessage } from '../../core/mail-queue.js';
import { composeEmail, wordsFor, type Recipient } from '../../core/email-text.js';

type Factor = 'totp' | 'passkey';

export function mfaEnabledEmail(to: Recipient, factor: Factor): MailMessage {
  const { mfaEnabled } = wordsFor(to);
  return composeEmail(to, mfaEnabled.subject[factor], mfaEnabled.body(factor));
}

export function factorRemovedEmail(to: Recipient, factor: Factor, last: boolean): MailMessage {
  const { factorRemoved } = wordsFor(to);
  return composeEmail(to, factorRemoved.subject[last ? 'last' : factor], factorRemoved.body(factor, last));
}

export function mfaResetEmail(to: Recipient): MailMessage {
  const { mfaReset } = wordsFor(to);
  return composeEmail(to, mfaReset.subject, mfaReset.body());
}

export function recoveryCodeUsedEmail(to: Recipient, left: number): MailMessage {
  const { recoveryCodeUsed } = wordsFor(to);
  return composeEmail(to, recoveryCodeUsed.subject, recoveryCodeUsed.body(left));
}

export function passkeyCloneEmail(to: Recipient): MailMessage {
  const { passkeyClone } = wordsFor(to);
  return composeEmail(to, passkeyClone.subject, passkeyClone.body());
}
