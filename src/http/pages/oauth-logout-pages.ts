import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { formToken } from '../../auth/browser-sessions/browser-sessions.js';
import { logoutTarget, readIdTokenHint } from '../../auth/oauth/logout.js';
import { endSession } from '../../auth/sessions/sessions.js';
import { clientOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { html } from './html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';
import { wordsOf } from './words.js';

/**
 * `/oauth/logout`, OpenID Connect's end-session endpoint (../../auth/oauth/logout.ts): signing out of the browser session
 * ends every client session it authorised too, and the browser goes back to the client's registered address.
 */

const tags = ['pages'];
const LogoutFields = { id_token_hint: FormField(4096), post_logout_redirect_uri: FormField(2048), state: FormField(512), client_id: FormField(128), ui_locales: FormField(64) };
type LogoutParams = { id_token_hint?: string | undefined; post_logout_redirect_uri?: string | undefined; state?: string | undefined; client_id?: string | undefined };

export function oauthLogoutPages(app: PageApp, kit: PageKit) {
  const { deps } = kit;
  const issuer = deps.config.jwt.issuer;

  async function answer(request: FastifyRequest, reply: FastifyReply, params: LogoutParams, confirmed: boolean) {
    const { locale, t } = wordsOf(request);
    const hint = readIdTokenHint(deps.keys, issuer, params.id_token_hint);
    const target = await logoutTarget(deps, params.client_id, hint, params.post_logout_redirect_uri);
    if ('problem' in target) {
      return kit.send(reply, 400, { title: t.oauth.errorTitle, locale, body: html`<p class="alert" role="alert">${target.problem}</p>` });
    }
    const session = await kit.sessionOf(request);
    // The hint names this browser's own session: the client that holds it asks; no question.
    const asked = hint !== undefined && session !== undefined && hint.sid === session.sessionId && hint.sub === session.user.id;
    if (session && !confirmed && !asked) {
      const hidden = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[0] !== 'csrf');
      return kit.send(reply, 200, {
        title: t.oauth.logoutTitle,
        locale,
        signedInAs: session.user.email,
        body: html`<p>${t.oauth.logoutQuestion(target.client?.name ?? deps.config.brand.name)}</p>
<form method="post" action="/oauth/logout"><input type="hidden" name="csrf" value="${formToken(deps.pageKey, session.sessionId)}">
${hidden.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}<button type="submit">${t.frame.signOut}</button></form>`,
      });
    }
    if (session) {
      await endSession(deps, { userId: session.user.id, sessionId: session.sessionId }, clientOf(request));
      kit.signedOut(reply);
    }
    if (target.redirectUri) {
      const to = new URL(target.redirectUri);
      if (params.state !== undefined) to.searchParams.set('state', params.state);
      return confirmed ? kit.continueTo(reply, to.href) : kit.redirect(reply, to.href);
    }
    return kit.send(reply, 200, { title: t.oauth.logoutTitle, locale, body: html`<p>${t.oauth.signedOut}</p><p><a href="/login">${t.common.signIn}</a></p>` });
  }

  app.get(
    '/oauth/logout',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'OpenID Connect RP-initiated logout (HTML): ends the browser session and the client sessions it authorised',
        querystring: Type.Object(LogoutFields),
        produces: ['text/html'],
        response: {
          200: pageResponse('a question (the request did not name this browser\'s session), or "signed out"'),
          303: redirectResponse('signed out: to the registered post_logout_redirect_uri, with `state`'),
          400: pageResponse('an address the client has not registered'),
          503: jsonErrorResponse('the database does not answer'),
        },
      },
    },
    async (request, reply) => answer(request, reply, request.query, false),
  );

  app.post(
    '/oauth/logout',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Sign out, answering the question of GET /oauth/logout (HTML form)',
        consumes: FORM_TYPES,
        body: Type.Object({ ...LogoutFields, csrf: FormField(128) }),
        response: { ...formResponses, 200: pageResponse('signed out: on to the client (a page that navigates there), or "signed out"'), 400: pageResponse('an address the client has not registered') },
      },
    },
    async (request, reply) => {
      const session = await kit.sessionOf(request);
      if (session && !kit.fromOwnForm(request, session.sessionId, request.body.csrf)) return kit.refusedForm(reply);
      return answer(request, reply, request.body, true);
    },
  );
}
