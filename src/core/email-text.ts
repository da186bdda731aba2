import { messagesOf, type MailWords, type Paragraph } from '../i18n/catalogue.js';
import { localeOr } from '../i18n/locale.js';
import type { MailMessage } from './mail-queue.js';

// What the emails of every concept are made of: the greeting, plain text and HTML from the same paragraphs, in
// the recipient's language (../i18n/).

export type { Paragraph };

const HTML_SPECIAL = /[&<>"']/;
const HTML_ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// Most values a page puts in (tokens, paths, plain words) have nothing to escape: a test, then the string itself,
// costs a fraction of a replace that finds nothing, and a hosted page escapes a dozen values.
export const escapeHtml = (s: string) => (HTML_SPECIAL.test(s) ? s.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!) : s);

/** Who an email goes to: a name is printed only for an address its owner proved (`email_verified_at`). */
export interface Recipient {
  name: string;
  email: string;
  emailVerifiedAt: Date | null;
  /**
   * The language of their emails (`users.locale`, their browser's at sign-up); null: the default. The person's
   * own, never that of whoever caused the email (a stranger asking for a reset, an administrator, an attacker
   * with the password), who could otherwise choose a language the owner cannot read for the owner's warnings.
   */
  locale?: string | null;
}

/** The words of the recipient's emails. */
export const wordsFor = (to: Pick<Recipient, 'locale'>): MailWords => messagesOf(localeOr(to.locale)).mail;

/** "1 hour", "30 minutes": a lifetime in the largest whole unit, in the recipient's words. */
export function describeDuration(seconds: number, words: MailWords = messagesOf('en').mail): string {
  if (seconds % 86400 === 0) return words.duration.day(seconds / 86400);
  if (seconds % 3600 === 0) return words.duration.hour(seconds / 3600);
  if (seconds % 60 === 0) return words.duration.minute(seconds / 60);
  return words.duration.second(seconds);
}

/**
 * One email, as plain text and as HTML, from the same paragraphs, greeting in the recipient's language. An address
 * never verified may not belong to whoever signed up with it: that person's name (text they chose) is not put in
 * front of its owner.
 */
export function composeEmail(to: Recipient, subject: string, paragraphs: Paragraph[]): MailMessage {
  const all: Paragraph[] = [wordsFor(to).hello(to.emailVerifiedAt ? to.name : undefined), ...paragraphs];
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
