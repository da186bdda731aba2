import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { isFormNonce, isFormToken, knownBrowserSession, liveBrowserSession, newFormNonce, sealBrowserSession, type BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import type { Deps } from '../../deps.js';
import { jsonErrorResponse, lookOf, pageResponse, sendFramedPage, type Frame } from './frame.js';
import { html } from './html.js';
import { safeReturnTo } from './return-to.js';
import { siteOf } from './site.js';
import { wordsOf } from './words.js';

/**
 * What every hosted page uses: the browser's session (its cookie), the nonce cookie a signed-out browser's forms
 * are bound to, the check of a form post (this origin's own page, with its token), and the answers a page gives.
 * A signed-in browser holds a cookie naming its session (../../auth/sessions/browser.ts); every form that changes
 * something carries a token bound to that session (or, before sign-in, to the nonce cookie) and must come from this
 * origin: its `Origin`, or else its `Referer` (the pages send `Referrer-Policy: same-origin`).
 */
export interface PageKit {
  deps: Deps;
  send(reply: FastifyReply, status: number, frame: Frame): FastifyReply;
  /** The browser's live session, if its cookie names one. */
  sessionOf(request: FastifyRequest): Promise<BrowserSession | undefined>;
  /** The signed-in browser from what this instance read of it lately, for the authorization endpoint alone; undefined: read it. */
  knownSessionOf(request: FastifyRequest): BrowserSession | undefined;
  /** The nonce a signed-out browser's forms are bound to: its cookie's, or a new one set now. */
  nonceOf(request: FastifyRequest, reply: FastifyReply): string;
  /** The nonce cookie a form post came with, if it is one this server could have made. */
  postedNonce(request: FastifyRequest): string | undefined;
  /** The nonce of a signed-out browser's form post from this site's own page (its cookie, its token); undefined: refuse it. */
  signedOutForm(request: FastifyRequest, csrf: string | undefined): string | undefined;
  /** Whether a form post came from this origin's own page, with the token bound to `boundTo`. */
  fromOwnForm(request: FastifyRequest, boundTo: string | undefined, token: string | undefined): boolean;
  refusedForm(reply: FastifyReply): FastifyReply;
  /** The signed-in browser of a form post from this site's own page, or the answer to give instead (to /login; refused). */
  signedInForm(request: FastifyRequest, reply: FastifyReply, csrf: string | undefined): Promise<BrowserSession | Answered>;
  /**
   * Sends the browser on to `to` after a form post by a page of its own (a 200 that navigates), not by a redirect:
   * browsers hold a form's redirects to its CSP's `form-action`, which names this origin alone, and an OAuth client's
   * redirect URI is elsewhere.
   */
  continueTo(reply: FastifyReply, to: string): FastifyReply;
  /** Signs the browser in: its session's cookie (a new session, a new cookie: nothing set before sign-in is kept), then on to `to`. */
  signedIn(reply: FastifyReply, session: { sessionId: string; userId: string }, to: string): FastifyReply;
  /** Signs the browser in as `signedIn` does, for an answer that is a page of its own (recovery codes shown once). */
  setSession(reply: FastifyReply, session: { sessionId: string; userId: string }): void;
  /** Forgets the browser's session cookie. */
  signedOut(reply: FastifyReply): void;
  /** Where to send a browser after sign-in (./return-to.ts). */
  returnTo(value: string | undefined): string;
  redirect(reply: FastifyReply, to: string): FastifyReply;
}

/**
 * What a check that may answer the request itself gives back once it has: a marker, never the reply. A reply is a
 * thenable (it resolves once sent), so an async function returning it would hand its caller `undefined`; the
 * caller tests `'user' in result` and, when false, returns `reply`.
 */
export const ANSWERED = Object.freeze({ answered: true as const });
export type Answered = typeof ANSWERED;
const answered = (_sent: FastifyReply): Answered => ANSWERED;

/** The app the pages register their routes on: any server and logger, with TypeBox's type provider. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server and logger
export type PageApp = FastifyInstance<any, any, any, any, TypeBoxTypeProvider>;

/** A time as the pages show it: to the minute, in UTC. */
export const whenUtc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

export const FORM_TYPES = ['application/x-www-form-urlencoded'];
export const FormField = (maxLength: number) => Type.Optional(Type.String({ maxLength }));
export const SIGN_IN_HERE = '/login?return_to=%2Faccount';

/** The answers every form post may give besides its own, as its schema declares them. */
export const formResponses = {
  400: jsonErrorResponse('the form is malformed'),
  403: pageResponse('the form came from elsewhere or expired'),
  413: jsonErrorResponse('the form is too large'),
  415: jsonErrorResponse('not a form post'),
  503: jsonErrorResponse('the database does not answer, or the server is busy'),
};

export function pageKit(deps: Deps): PageKit {
  const { publicUrl } = deps.config;
  const secure = publicUrl.startsWith('https:');
  // `__Host-`: only over https, for this host alone, path /, never set by a sibling domain.
  const SESSION_COOKIE = secure ? '__Host-latchkey_session' : 'latchkey_session';
  const NONCE_COOKIE = secure ? '__Host-latchkey_form' : 'latchkey_form';
  const origin = new URL(publicUrl).origin;
  const look = lookOf(siteOf(deps.config), deps.config.allowedRedirectOrigins);
  const cookieBase = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure };
  // A new nonce cookie is set on most signed-out visits: its attributes, serialised once by the cookie plugin's own
  // serialiser, follow a nonce that needs no encoding (base64url), instead of a serialisation per answer.
  let nonceCookieAttributes: string | undefined;
  const redirect = (reply: FastifyReply, to: string) => reply.code(303).header('location', to).send();
  return {
    deps,
    send: (reply, status, frame) => sendFramedPage(reply, look, status, frame),
    sessionOf: (request) => liveBrowserSession(deps, request.cookies[SESSION_COOKIE]),
    knownSessionOf: (request) => knownBrowserSession(deps, request.cookies[SESSION_COOKIE]),
    nonceOf(request, reply) {
      const existing = request.cookies[NONCE_COOKIE];
      if (existing && isFormNonce(existing)) return existing;
      const nonce = newFormNonce();
      nonceCookieAttributes ??= reply.server.serializeCookie(NONCE_COOKIE, '', cookieBase).slice(`${NONCE_COOKIE}=`.length);
      reply.header('set-cookie', `${NONCE_COOKIE}=${nonce}${nonceCookieAttributes}`);
      return nonce;
    },
    // Only a nonce of the form this server makes them: never a session's id (a UUID), nor the token of a session's
    // forms that the account page shows (43 characters to a nonce's 44), so that a token of a session is never one of a
    // signed-out form, whatever the cookie was set to.
    postedNonce: (request) => {
      const posted = request.cookies[NONCE_COOKIE];
      return posted !== undefined && isFormNonce(posted) ? posted : undefined;
    },
    signedOutForm(request, csrf) {
      const nonce = this.postedNonce(request);
      return nonce !== undefined && this.fromOwnForm(request, nonce, csrf) ? nonce : undefined;
    },
    fromOwnForm(request, boundTo, token) {
      const source = request.headers.origin ?? originOfReferer(request.headers.referer);
      return source === origin && boundTo !== undefined && isFormToken(deps.pageKey, boundTo, token);
    },
    refusedForm(reply) {
      // A page opened under another address than PUBLIC_URL's (127.0.0.1 for localhost, a LAN name): every form
      // of it is refused, so say where the site is.
      const from = reply.request.headers.origin ?? originOfReferer(reply.request.headers.referer);
      const elsewhere = from !== undefined && from !== 'null' && from !== origin;
      const { locale, t } = wordsOf(reply.request);
      const setting = html`<code>PUBLIC_URL</code>`;
      return sendFramedPage(reply, look, 403, {
        title: t.refused.title,
        locale,
        body: html`<p class="alert" role="alert">${t.refused.alert}</p>
${elsewhere ? html`<p>${t.refused.elsewhere(html`<a href="${origin}/login">${origin}</a>`, setting)}</p>` : ''}<p><a href="/login">${t.refused.startAgain}</a></p>`,
      });
    },
    async signedInForm(request, reply, csrf) {
      const session = await liveBrowserSession(deps, request.cookies[SESSION_COOKIE]);
      if (!session) return answered(redirect(reply, SIGN_IN_HERE));
      if (!this.fromOwnForm(request, session.sessionId, csrf)) return answered(this.refusedForm(reply));
      return session;
    },
    continueTo(reply, to) {
      const { locale, t } = wordsOf(reply.request);
      reply.header('referrer-policy', 'no-referrer');
      return sendFramedPage(reply, look, 200, {
        title: t.common.continue,
        locale,
        body: html`<meta http-equiv="refresh" content="0;url=${to}"><p><a href="${to}">${t.common.continue}</a></p>`,
      });
    },
    signedIn(reply, session, to) {
      this.setSession(reply, session);
      // On to an authorization request (an OAuth client's sign-in): a navigation of its own, whose redirect to the client is then allowed.
      if (to.startsWith('/oauth/')) return this.continueTo(reply, to);
      return redirect(reply, to);
    },
    setSession(reply, session) {
      reply.setCookie(SESSION_COOKIE, sealBrowserSession(deps.pageKey, session), { ...cookieBase, maxAge: deps.config.ttl.sessionMaxAge });
      reply.clearCookie(NONCE_COOKIE, cookieBase);
    },
    signedOut: (reply) => void reply.clearCookie(SESSION_COOKIE, cookieBase),
    returnTo: (value) => safeReturnTo(value, origin, deps.config.allowedRedirectOrigins),
    redirect,
  };
}

function originOfReferer(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}
