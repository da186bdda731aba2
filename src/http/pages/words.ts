import type { FastifyRequest } from 'fastify';
import { deviceParts } from '../../auth/sessions/devices.js';
import type { AppError } from '../../errors.js';
import { messagesOf, type PageErrorCode, type PageMessages } from '../../i18n/catalogue.js';
import type { Locale } from '../../i18n/locale.js';
import { localeOf } from '../client.js';

/**
 * The words of a page in the language its request asks for (`Accept-Language`; English by default): `t` for
 * the page's text, `locale` for its frame (`<html lang>`).
 */
export function wordsOf(request: FastifyRequest): { locale: Locale; t: PageMessages } {
  const locale = localeOf(request);
  return { locale, t: messagesOf(locale).pages };
}

const isPageError = (t: PageMessages, code: string): code is PageErrorCode => Object.hasOwn(t.errors, code);

/** An error as a page says it: in the page's words for its code (English: the error's own message, often more precise). */
export const errorText = (t: PageMessages, err: AppError): string => (isPageError(t, err.code) ? t.errors[err.code](err.message) : err.message);

/** A device as the page's reader names it ("Firefox on Windows", "Firefox sous Windows"), from its User-Agent. */
export const deviceIn = (locale: Locale, userAgent: string | null | undefined): string => messagesOf(locale).mail.device(deviceParts(userAgent));
