import type { FastifyReply } from 'fastify';
import type { Config } from '../../config.js';
import type { Locale } from '../../i18n/locale.js';
import { lookOf, sendFramedPage } from './frame.js';
import type { Html } from './html.js';
import { siteOf } from './site.js';

/**
 * The pages the emails link to (a reset, a verification, an email change), in the hosted pages' frame: their
 * stylesheet, no script, no Referer (their URL holds the token).
 */
export function linkPageSender(config: Pick<Config, 'brand'>) {
  const look = lookOf(siteOf(config), []);
  return (reply: FastifyReply, status: number, locale: Locale, title: string, body: Html) =>
    sendFramedPage(reply, look, status, { title, body, locale, tokenInUrl: true });
}
