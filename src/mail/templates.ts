import type { MailMessage } from './mailer.js';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function describeDuration(seconds: number): string {
  if (seconds % 86400 === 0) return plural(seconds / 86400, 'day');
  if (seconds % 3600 === 0) return plural(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return plural(seconds / 60, 'minute');
  return plural(seconds, 'second');
}
const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

export function passwordResetEmail(to: { name: string; email: string }, resetUrl: string, ttlSeconds: number): MailMessage {
  const valid = describeDuration(ttlSeconds);
  return {
    to: to.email,
    subject: 'Reset your password',
    text: [
      `Hello ${to.name},`,
      '',
      'Someone asked to reset the password of your account. To choose a new password, open this link:',
      '',
      resetUrl,
      '',
      `The link works once and expires in ${valid}. If you did not ask for this, ignore this email: your password stays as it is.`,
    ].join('\n'),
    html: `<p>Hello ${escapeHtml(to.name)},</p>
<p>Someone asked to reset the password of your account. To choose a new password, open this link:</p>
<p><a href="${escapeHtml(resetUrl)}">${escapeHtml(resetUrl)}</a></p>
<p>The link works once and expires in ${valid}. If you did not ask for this, ignore this email: your password stays as it is.</p>`,
  };
}

export function passwordChangedEmail(to: { name: string; email: string }): MailMessage {
  return {
    to: to.email,
    subject: 'Your password was changed',
    text: [
      `Hello ${to.name},`,
      '',
      'The password of your account was just changed, and every device signed in to it was signed out.',
      '',
      'If this was not you, reset your password at once and check your account.',
    ].join('\n'),
    html: `<p>Hello ${escapeHtml(to.name)},</p>
<p>The password of your account was just changed, and every device signed in to it was signed out.</p>
<p>If this was not you, reset your password at once and check your account.</p>`,
  };
}

export { escapeHtml };
