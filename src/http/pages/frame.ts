import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { messagesOf } from '../../i18n/catalogue.js';
import { DEFAULT_LOCALE, type Locale } from '../../i18n/locale.js';
import { html, type Html } from './html.js';
import { SCRIPT_PATH } from './script.js';
import type { Site } from './site.js';

/**
 * The frame of the hosted pages (/login, /account, /logout): one stylesheet, one script (passkeys, copying), a
 * strict CSP. Forms may post to this origin only, and a sign-in may redirect on to the origins of
 * ALLOWED_REDIRECT_URLS (browsers hold a form's redirect to `form-action` too). Images come from this origin, and
 * from the logo's when BRAND_LOGO_URL names another server: that origin alone, never a wildcard.
 */
export function pageCsp(redirectOrigins: readonly string[], imageOrigins: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "style-src 'self'",
    "script-src 'self'",
    "connect-src 'self'",
    ["img-src 'self'", ...imageOrigins].join(' '),
    ["form-action 'self'", ...redirectOrigins].join(' '),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** What a page's frame is drawn with: the site's name, logo and stylesheet, and the CSP it is sent under. */
export interface Look {
  site: Site;
  csp: string;
}

export const lookOf = (site: Site, redirectOrigins: readonly string[]): Look => ({ site, csp: pageCsp(redirectOrigins, site.logoOrigin ? [site.logoOrigin] : []) });

export interface Frame {
  title: string;
  body: Html;
  /** The language of the page (`<html lang>`, the frame's own words); English when unsaid. */
  locale?: Locale | undefined;
  /** Shown in the header: who is signed in, with a link to sign out. */
  signedInAs?: string | undefined;
  /**
   * A page whose URL holds a token (the links emails send): no script, and no Referer at all, so the token never
   * leaves. Its forms carry the token itself, not an origin check.
   */
  tokenInUrl?: boolean;
  /** A navigation bar under the header (the console's sections). */
  nav?: Html | undefined;
  /** A page of tables (the console): wider than a form's column. */
  wide?: boolean;
}

export function sendFramedPage(reply: FastifyReply, { site, csp }: Look, status: number, frame: Frame) {
  const locale = frame.locale ?? DEFAULT_LOCALE;
  const t = messagesOf(locale).pages.frame;
  const home = site.logoUrl ? html`<img src="${site.logoUrl}" alt="${site.brand}">` : site.brand;
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-language', locale)
    .header('content-security-policy', csp)
    // Not no-referrer: with it, a browser sends `Origin: null` on a form post, even to its own origin, and the
    // forms' origin check could not tell this site's page from any other. No token is ever in these pages' URLs.
    .header('referrer-policy', frame.tokenInUrl ? 'no-referrer' : 'same-origin')
    .header('x-frame-options', 'DENY')
    // The page's words follow Accept-Language: a cache between must not serve one language's page for another.
    .header('vary', 'Accept-Language')
    .send(
      html`<!doctype html>
<html lang="${locale}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · ${site.brand}</title><link rel="stylesheet" href="${site.stylesheet.path}">${frame.tokenInUrl ? '' : html`<script src="${SCRIPT_PATH}" defer></script>`}</head>
<body>
<header><a href="/account">${home}</a>${frame.signedInAs ? html`<span>${frame.signedInAs} · <a href="/logout">${t.signOut}</a></span>` : ''}</header>
${frame.nav ?? ''}<main${frame.wide ? html` class="wide"` : ''}>
<h1>${frame.title}</h1>
${frame.body}
</main>
</body>
</html>`.text,
    );
}

/** A response documented as an HTML page (the page itself is a string, not serialised through a schema). */
export const pageResponse = (description: string) => ({ description, content: { 'text/html': { schema: Type.String() } } });

/** A response documented as Latchkey's JSON error body. */
export const jsonErrorResponse = (description: string) => ({ description, content: { 'application/json': { schema: Type.Ref('ErrorBody') } } });

/** A redirect, documented. */
export const redirectResponse = (description: string) => ({ description, headers: { location: { type: 'string' } } });
