import type { MailMessage } from './mail-queue.js';

// What the emails of every concept are made of: the greeting, plain text and HTML from the same paragraphs.

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

export function describeDuration(seconds: number): string {
  if (seconds % 86400 === 0) return plural(seconds / 86400, 'day');
  if (seconds % 3600 === 0) return plural(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return plural(seconds / 60, 'minute');
  return plural(seconds, 'second');
}
const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

export type Paragraph = string | { link: string };

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
export function composeEmail(to: Recipient, subject: string, paragraphs: Paragraph[]): MailMessage {
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
