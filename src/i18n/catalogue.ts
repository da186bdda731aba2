import { mail as enMail, type MailWords } from './en/mail.js';
import { pages as enPages, type PageMessages } from './en/pages.js';
import { mail as frMail } from './fr/mail.js';
import { pages as frPages } from './fr/pages.js';
import type { Locale } from './locale.js';

export type { DeviceParts, MailWords, Paragraph } from './en/mail.js';
export type { PageErrorCode, PageMessages, Parts } from './en/pages.js';

/**
 * Every word Latchkey shows people, by language: the hosted pages' and the emails'. English is the reference;
 * each other language is typed against it, key for key (a missing one does not compile).
 */
export interface Messages {
  pages: PageMessages;
  mail: MailWords;
}

const CATALOGUE: Readonly<Record<Locale, Messages>> = {
  en: { pages: enPages, mail: enMail },
  fr: { pages: frPages, mail: frMail },
};

export const messagesOf = (locale: Locale): Messages => CATALOGUE[locale];
