import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import {
  checkAuthorizationRequest,
  grantConsent,
  issueAuthorizationCode,
  needsConsent,
  redirectWith,
  userHasSecondFactor,
  type AuthorizationQuery,
  type AuthorizationRequest,
} from '../../auth/oauth/authorization.js';
import { formToken, type BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import { stepUp } from '../../auth/mfa/step-up.js';
import { AppError } from '../../errors.js';
import { clientOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { html } from './html.js';
import { factorTyped } from './mfa-pages.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';
import { errorText, wordsOf } from './words.js';

/**
 * The authorization endpoint, a page of Latchkey's own (OpenID Connect Core §3.1.2): it signs the user in on /login
 * when the browser has no session (or a session too old for `max_age`, or `prompt=login`), asks for the second factor
 * when the client asks `acr_values=aal2` of a session opened with a password alone, asks the user's consent for a
 * third-party client, then sends the browser back to the client with a code. Errors before the client and its
 * redirect URI are known good are shown here; after, they go back to the client.
 */

const tags = ['pages'];
const QUERY_FIELDS = [
  'client_id', 'redirect_uri', 'response_type', 'response_mode', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method',
  'prompt', 'max_age', 'login_hint', 'acr_values', 'request', 'request_uri', 'ui_locales', 'lk_after',
] as const;
const AuthorizationQuerySchema = Type.Object(Object.fromEntries(QUERY_FIELDS.map((name) => [name, FormField(2048)])));

/** The request's own parameters, as a query string again (the forms of its pages carry it). */
const queryOf = (q: AuthorizationQuery) => new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined)).toString();

function errorPage(kit: PageKit, request: FastifyRequest, reply: FastifyReply, status: number, description: string) {
  const { locale, t } = wordsOf(request);
  return kit.send(reply, status, {
    title: t.oauth.errorTitle,
    locale,
    body: html`<p class="alert" role="alert">${description}</p><p>${t.oauth.errorHint}</p>`,
  });
}

/** Whether the browser's sign-in is recent enough for the request (`max_age`, `prompt=login`: a sign-in after `lk_after`). */
function signedInRecentlyEnough(session: BrowserSession, req: AuthorizationRequest, after: number, now: number): boolean {
  const since = Number.isSafeInteger(after) && after > 0 ? after : undefined;
  if (since !== undefined && session.authTime >= since) return true;
  if (req.prompt.has('login')) return false;
  return req.maxAge === null || session.authTime >= now - req.maxAge;
}

/** What the authorization pages share: the kit, and the steps of a request in progress. */
function authorizationFlow(kit: PageKit) {
  const { deps } = kit;
  const issuer = deps.config.jwt.issuer;
  const toClient = (reply: FastifyReply, req: { redirectUri: string; state: string | undefined }, params: Record<string, string | undefined>, navigate = false) => {
    const to = redirectWith(req.redirectUri, issuer, { ...params, state: req.state });
    return navigate ? kit.continueTo(reply, to) : kit.redirect(reply, to);
  };

  /** Goes on with a checked request for a signed-in browser: the second factor, consent, then the code. */
  async function proceed(request: FastifyRequest, reply: FastifyReply, req: AuthorizationRequest, q: AuthorizationQuery, session: BrowserSession, afterForm: boolean) {
    const none = req.prompt.has('none');
    if (req.acr === 'aal2' && session.aal !== 'aal2') {
      if (none) return toClient(reply, req, { error: 'interaction_required', error_description: 'A second factor is needed.' }, afterForm);
      if (!(await userHasSecondFactor(deps.db, session.user.id))) {
        return toClient(reply, req, { error: 'unmet_authentication_requirements', error_description: 'The account has no second factor.' }, afterForm);
      }
      return stepUpPage(request, reply, req, q, session, 200);
    }
    if (!afterForm && (await needsConsent(deps.db, session.user.id, req))) {
      if (none) return toClient(reply, req, { error: 'consent_required', error_description: 'The user has not allowed this client yet.' });
      return consentPage(request, reply, req, q, session);
    }
    const code = issueAuthorizationCode(deps, req, session);
    return toClient(reply, req, { code }, afterForm);
  }

  function consentPage(request: FastifyRequest, reply: FastifyReply, req: AuthorizationRequest, q: AuthorizationQuery, session: BrowserSession) {
    const { locale, t } = wordsOf(request);
    const csrf = formToken(deps.pageKey, session.sessionId);
    return kit.send(reply, 200, {
      title: t.oauth.consentTitle,
      locale,
      signedInAs: session.user.email,
      body: html`<p>${t.oauth.consentIntro(req.client.name)}</p>
<ul>${req.scopes.map((s) => html`<li>${t.oauth.scopes[s]}</li>`)}</ul>
<p class="hint">${t.oauth.consentNote}</p>
<form method="post" action="/oauth/authorize/consent">
<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="request" value="${queryOf(q)}">
<button type="submit" name="decision" value="allow">${t.oauth.allow}</button>
<button type="submit" name="decision" value="deny" class="secondary">${t.oauth.deny}</button>
</form>`,
    });
  }

  function stepUpPage(request: FastifyRequest, reply: FastifyReply, req: AuthorizationRequest, q: AuthorizationQuery, session: BrowserSession, status: number, error?: AppError) {
    const { locale, t } = wordsOf(request);
    const csrf = formToken(deps.pageKey, session.sessionId);
    return kit.send(reply, status, {
      title: t.oauth.stepUpTitle,
      locale,
      signedInAs: session.user.email,
      body: html`${error ? html`<div class="alert" role="alert" id="code-error">${errorText(t, error)}</div>` : ''}
<p>${t.oauth.stepUpIntro(req.client.name)}</p>
<form method="post" action="/oauth/authorize/step-up" novalidate>
<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="request" value="${queryOf(q)}">
<label for="code">${t.common.codeOrRecovery}</label>
<input id="code" name="code" type="text" autocomplete="one-time-code" required${error ? html` aria-invalid="true" aria-describedby="code-error"` : ''}>
<button type="submit">${t.oauth.confirm}</button>
</form>`,
    });
  }

  /** The request a form carries back, checked again from the start; or the answer already given. */
  async function carriedRequest(request: FastifyRequest, reply: FastifyReply, carried: string | undefined) {
    const q = Object.fromEntries(new URLSearchParams(carried ?? '')) as AuthorizationQuery;
    const req = await checkAuthorizationRequest(deps, q);
    if ('to' in req) {
      if (req.to === 'page') return { answered: errorPage(kit, request, reply, 400, req.description) };
      return { answered: toClient(reply, req, { error: req.error, error_description: req.description }, true) };
    }
    return { req, q };
  }
  return { kit, toClient, proceed, carriedRequest, stepUpPage };
}

type Flow = ReturnType<typeof authorizationFlow>;

const carriedForm = { csrf: FormField(128), request: FormField(8192) };

export function oauthPages(app: PageApp, kit: PageKit) {
  const flow = authorizationFlow(kit);
  authorizeRoute(app, flow);
  consentRoute(app, flow);
  stepUpRoute(app, flow);
}

function authorizeRoute(app: PageApp, { kit, toClient, proceed }: Flow) {
  const { deps } = kit;
  app.get(
    '/oauth/authorize',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'The OpenID Connect authorization endpoint (HTML): sign-in, second factor and consent as needed, then back to the client with a code',
        querystring: AuthorizationQuerySchema,
        produces: ['text/html'],
        response: {
          200: pageResponse('the consent page, or the second factor the client asks for'),
          303: redirectResponse('to /login (not signed in, or not recently enough), or back to the client with `code` or `error`, `state` and `iss`'),
          400: pageResponse('an unknown client, or a redirect URI it has not registered'),
          503: jsonErrorResponse('the database does not answer'),
        },
      },
    },
    async (request, reply) => {
      const q = request.query as AuthorizationQuery;
      const req = await checkAuthorizationRequest(deps, q);
      if ('to' in req) {
        if (req.to === 'page') return errorPage(kit, request, reply, 400, req.description);
        return toClient(reply, req, { error: req.error, error_description: req.description });
      }
      const now = Math.floor(deps.clock.now().getTime() / 1000);
      // A browser this instance read lately, recent enough and at the level asked: on with it, without a read (the code
      // is worth nothing until its exchange asks the database whether the session lives). Any other answer is given
      // from the database.
      const known = kit.knownSessionOf(request);
      if (known && signedInRecentlyEnough(known, req, Number(q.lk_after), now) && (req.acr !== 'aal2' || known.aal === 'aal2')) {
        return proceed(request, reply, req, q, known, false);
      }
      const session = await kit.sessionOf(request);
      if (!session || !signedInRecentlyEnough(session, req, Number(q.lk_after), now)) {
        if (req.prompt.has('none')) return toClient(reply, req, { error: 'login_required', error_description: 'The user is not signed in (recently enough).' });
        // After the sign-in, the same request, asking for a sign-in no older than now instead of prompt=login and max_age.
        const again = { ...q, prompt: [...req.prompt].filter((p) => p !== 'login').join(' ') || undefined, lk_after: String(now) };
        const back = `/oauth/authorize?${queryOf(again)}`;
        return kit.redirect(reply, `/login?reauth=1&return_to=${encodeURIComponent(back)}`);
      }
      return proceed(request, reply, req, q, session, false);
    },
  );
}

function consentRoute(app: PageApp, { kit, toClient, proceed, carriedRequest }: Flow) {
  const { deps } = kit;
  app.post(
    '/oauth/authorize/consent',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Answer the consent page (HTML form): allow, or deny, what the client asks',
        consumes: FORM_TYPES,
        body: Type.Object({ ...carriedForm, decision: FormField(16) }),
        response: {
          ...formResponses,
          200: pageResponse('on to the client (a page that navigates there), or the second factor'),
          303: redirectResponse('to /login: the browser is not signed in'),
        },
      },
    },
    async (request, reply) => {
      const session = await kit.signedInForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const carried = await carriedRequest(request, reply, request.body.request);
      if ('answered' in carried) return carried.answered;
      const { req, q } = carried;
      if (request.body.decision !== 'allow') return toClient(reply, req, { error: 'access_denied', error_description: 'The user denied access.' }, true);
      await grantConsent(deps, session.user.id, req, clientOf(request));
      return proceed(request, reply, req, q, session, true);
    },
  );
}

function stepUpRoute(app: PageApp, { kit, carriedRequest, stepUpPage }: Flow) {
  const { deps } = kit;
  app.post(
    '/oauth/authorize/step-up',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Answer the second factor an authorization request asks for (HTML form)',
        consumes: FORM_TYPES,
        body: Type.Object({ ...carriedForm, code: FormField(64) }),
        response: {
          ...formResponses,
          200: pageResponse('on to the authorization request again (a page that navigates there)'),
          303: redirectResponse('to /login: the browser is not signed in'),
          401: pageResponse('the form again: a wrong code'),
          429: jsonErrorResponse('too many attempts (Retry-After)'),
        },
      },
    },
    async (request, reply) => {
      const session = await kit.signedInForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const carried = await carriedRequest(request, reply, request.body.request);
      if ('answered' in carried) return carried.answered;
      const { req, q } = carried;
      try {
        await stepUp(deps, session.user, session.sessionId, factorTyped(request.body.code), clientOf(request));
      } catch (err) {
        if (err instanceof AppError && err.status === 401 && err.code !== 'session_revoked') return stepUpPage(request, reply, req, q, session, 401, err);
        throw err;
      }
      return kit.continueTo(reply, `/oauth/authorize?${queryOf(q)}`);
    },
  );
}
