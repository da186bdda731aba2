import type { MailMessage } from '../../core/mail-queue.js';

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function describeDuration(seconds: number): string {
  if (seconds % 86400 === 0) return plural(seconds / 86400, 'day');
  if (seconds % 3600 === 0) return plural(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return plural(seconds / 60, 'minute');
  return plural(seconds, 'second');
}
const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

type Paragraph = string | { link: string };

/** Who an email goes to: a name is printed only for an address its owner proved (`email_verified_at`). */
export interface Recipient {
  name: string;
  email: string;
  emailVerifiedAt: Date | null;
}

/**
 * One email, as plain text and as HTML, from the same paragraphs. An address never verified may not belong
 * to whoever signed up with it: that person's name (text they chose) is not put in front of its owner.
 */
function compose(to: Recipient, subject: string, paragraphs: Paragraph[]): MailMessage {
  const all: Paragraph[] = [to.emailVerifiedAt ? `Hello ${to.name},` : 'Hello,', ...paragraphs];
  return {
    to: to.email,
    subject,
    text: all.map((p) => (typeof p === 'string' ? p : p.link)).join('\n\n'),
    html: all
      .map((p) => (typeof p === 'string' ? escapeHtml(p) : `<a href="${escapeHtml(p.link)}">${escapeHtml(p.link)}</a>`))
      .map((p) => `<p>${p}</p>`)
      .join('\n'),
  };
}

export function passwordResetEmail(to: Recipient, resetUrl: string, ttlSeconds: number): MailMessage {
  return compose(to, 'Reset your password', [
    'Someone asked to reset the password of your account. To choose a new password, open this link:',
    { link: resetUrl },
    `The link works once and expires in ${describeDuration(ttlSeconds)}. If you did not ask for this, ignore this email: your password stays as it is.`,
  ]);
}

export function passwordChangedEmail(to: Recipient): MailMessage {
  return compose(to, 'Your password was changed', [
    'The password of your account was just changed, and every device signed in to it was signed out.',
    'If this was not you, reset your password at once and check your account.',
  ]);
}
