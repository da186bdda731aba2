import type { FastifyReply, FastifyRequest } from 'fastify';
import { formToken, type BrowserSession } from '../../../auth/browser-sessions/browser-sessions.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { ANSWERED, type Answered, type PageKit } from '../page-kit.js';

/**
 * What every page of the console (`/admin`) uses. The console is for a signed-in browser whose user has the role
 * `admin` and whose session was opened (or stepped up) with a second factor (`aal2`): a signed-out browser is sent
 * to sign in and back; anyone else gets a 403 page saying why, and no page of the console, form or not, does
 * anything for them. Its forms are the pages' forms (./../page-kit.ts: this origin, a token bound to the session).
 * What an admin does there is done by the domain functions the admin API and the command line call, with the
 * admin as the audit's actor (`admin:<user id>`).
 */

/** What any page of the console may answer besides its own: the gate's answers, and a database that does not answer. */
export const GATE_RESPONSES = {
  303: redirectResponse('not signed in: to /login, back here after'),
  403: pageResponse('not an administrator, or signed in without a second factor'),
  503: jsonErrorResponse('the database does not answer'),
};

export type AdminSection = 'overview' | 'users' | 'audit' | 'keys' | 'services' | 'clients' | 'webhooks';

const SECTIONS: readonly (readonly [AdminSection, string, string])[] = [
  ['overview', '/admin', 'Overview'],
  ['users', '/admin/users', 'Users'],
  ['audit', '/admin/audit', 'Audit log'],
  ['keys', '/admin/keys', 'Signing keys'],
  ['services', '/admin/services', 'Service clients'],
  ['clients', '/admin/clients', 'OAuth clients'],
  ['webhooks', '/admin/webhooks', 'Webhooks'],
];

export interface AdminPage {
  title: string;
  section: AdminSection;
  body: Html;
}

export interface AdminKit {
  kit: PageKit;
  /** The admin's browser for a page of the console, or the answer given instead (to /login and back; 403). */
  adminOf(request: FastifyRequest, reply: FastifyReply): Promise<BrowserSession | Answered>;
  /** The admin's browser for a form post of the console from its own page, or the answer given instead. */
  adminForm(request: FastifyRequest, reply: FastifyReply, csrf: string | undefined): Promise<BrowserSession | Answered>;
  /** The token the session's forms carry. */
  csrfOf(session: BrowserSession): string;
  send(reply: FastifyReply, status: number, session: BrowserSession, page: AdminPage): FastifyReply;
  /** The audit's actor for what the admin does. */
  actorOf(session: BrowserSession): string;
}

/** Why a signed-in browser may not use the console, if it may not. */
function refusal(session: BrowserSession): Html | undefined {
  if (session.user.role !== 'admin') return html`<p class="alert" role="alert">The console is for administrators, and this account is not one.</p><p><a href="/account">Your account</a></p>`;
  if (session.aal !== 'aal2')
    return html`<p class="alert" role="alert">The console needs a second factor, and this browser signed in with a password alone.</p>
<p>Set up an authenticator app or a passkey on <a href="/account">your account</a>, then sign out and sign in again with it.</p>`;
  return undefined;
}

export function adminKit(kit: PageKit): AdminKit {
  const nav = (current: AdminSection) =>
    html`<nav class="console" aria-label="Console">${SECTIONS.map(
      ([section, href, label]) => html`<a href="${href}"${section === current ? html` aria-current="page"` : ''}>${label}</a>`,
    )}</nav>`;
  const refuse = (reply: FastifyReply, session: BrowserSession, why: Html) =>
    kit.send(reply, 403, { title: 'Not for this account', body: why, signedInAs: session.user.email });
  const signInAgain = (request: FastifyRequest, reply: FastifyReply) =>
    kit.redirect(reply, `/login?return_to=${encodeURIComponent(request.method === 'GET' ? request.url : '/admin')}`);
  return {
    kit,
    async adminOf(request, reply) {
      const session = await kit.sessionOf(request);
      if (!session) {
        signInAgain(request, reply);
        return ANSWERED;
      }
      const why = refusal(session);
      if (!why) return session;
      refuse(reply, session, why);
      return ANSWERED;
    },
    async adminForm(request, reply, csrf) {
      const session = await kit.signedInForm(request, reply, csrf);
      if (!('user' in session)) return session;
      const why = refusal(session);
      if (!why) return session;
      refuse(reply, session, why);
      return ANSWERED;
    },
    csrfOf: (session) => formToken(kit.deps.pageKey, session.sessionId),
    send: (reply, status, session, page) =>
      kit.send(reply, status, { title: page.title, body: page.body, signedInAs: session.user.email, nav: nav(page.section), wide: true }),
    actorOf: (session) => `admin:${session.user.id}`,
  };
}
