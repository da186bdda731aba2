import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { FLOW_TTL_SECONDS, type FlowKind, type UpstreamFlow } from '../../auth/upstream/flow.js';
import { unlinkIdentity } from '../../auth/upstream/identities.js';
import { finishUpstreamFlow, startUpstreamFlow, takeUpstreamFlow } from '../../auth/upstream/upstream-signin.js';
import { AppError } from '../../errors.js';
import { clientOf, limitByAddress } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { html } from './html.js';
import { secondStepForm, secondStepPage } from './login-pages.js';
import { FORM_TYPES, FormField, formResponses, SIGN_IN_HERE, type PageApp, type PageKit } from './page-kit.js';
import { errorText, wordsOf } from './words.js';

/**
 * Sign-in through upstream providers, for browsers and apps alike. `GET /api/signin/<provider>` starts a flow: the
 * browser gets the flow's sealed cookie (./../../auth/upstream/flow.ts) and goes to the provider; the provider sends
 * it back to `GET /api/signin/<provider>/callback`, which finishes the flow in that same browser. Then: the hosted
 * pages' session and on to `return_to`, or the second step; for an app (`redirect_to`, on an origin of
 * ALLOWED_REDIRECT_URLS, with its PKCE `code_challenge`), on to `redirect_to` with a single-use `code` the app
 * exchanges for its tokens (../routes/account/signin-upstream.ts), so that no token is ever in a URL; for a signed-in
 * user who asked from /account to link a provider, the link, and back to /account. Both are counted as sign-ins
 * (RATE_LIMIT_SIGNIN).
 */

const tags = ['pages'];
const ProviderParams = Type.Object({ provider: Type.String({ maxLength: 64 }) });
const CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;

/** What the routes below share: the flow's cookie, the way to the provider, and the page of a refusal. */
interface UpstreamKit {
  flowCookie: string;
  cookieBase: { path: string; httpOnly: boolean; sameSite: 'lax'; secure: boolean };
  toProvider(reply: FastifyReply, started: { url: string; cookie: string }): FastifyReply;
  failedPage: FailedPage;
}

function upstreamKit(kit: PageKit): UpstreamKit {
  const secure = kit.deps.config.publicUrl.startsWith('https:');
  const flowCookie = secure ? '__Host-latchkey_upstream' : 'latchkey_upstream';
  const cookieBase = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure };
  return {
    flowCookie,
    cookieBase,
    toProvider: (reply, started) =>
      reply.setCookie(flowCookie, started.cookie, { ...cookieBase, maxAge: FLOW_TTL_SECONDS }).code(303).header('location', started.url).send(),
    failedPage(request, reply, err, back) {
      const { t, locale } = wordsOf(request);
      if (err.retryAfter) reply.header('retry-after', String(err.retryAfter));
      const body = html`<div class="alert" role="alert">${errorText(t, err)}</div>
<p><a href="${back}">${back.startsWith('/account') ? t.common.backToAccount : t.common.backToSignIn}</a></p>`;
      return kit.send(reply, err.status, { title: t.upstream.failedTitle, locale, body });
    },
  };
}

const pageErrors = {
  400: pageResponse('bad parameters, or the flow expired, was used, or started in another browser'),
  401: pageResponse('the provider refused, or its answer did not check out'),
  403: pageResponse('the account cannot sign in (disabled, unverified, no address from the provider, a second factor to set up first)'),
  404: pageResponse('no provider has this name'),
  409: pageResponse('the address has an account this identity may not join by itself, or the identity is linked to another account'),
  429: jsonErrorResponse('too many attempts from this address (Retry-After)'),
  502: pageResponse('the provider could not be reached'),
  503: jsonErrorResponse('the database does not answer'),
};

export function upstreamPages(app: PageApp, kit: PageKit) {
  const u = upstreamKit(kit);
  startRoute(app, kit, u);
  callbackRoute(app, kit, u);
  accountLinkPages(app, kit, u);
}

function startRoute(app: PageApp, kit: PageKit, { toProvider, failedPage }: UpstreamKit) {
  app.get(
    '/api/signin/:provider',
    {
      config: { html: true },
      onRequest: limitByAddress(kit.deps, 'signin'),
      schema: {
        tags,
        summary: 'Sign in through an upstream provider: to the provider, with the flow bound to this browser by a cookie',
        params: ProviderParams,
        querystring: Type.Object({
          return_to: FormField(2048),
          redirect_to: FormField(2048),
          code_challenge: FormField(128),
          code_challenge_method: FormField(8),
        }),
        produces: ['text/html'],
        response: { 303: redirectResponse("to the provider's authorization endpoint"), ...pageErrors },
      },
    },
    async (request, reply) => {
      const { provider } = request.params;
      const { return_to: returnTo, redirect_to: redirectTo, code_challenge: challenge, code_challenge_method: method } = request.query;
      try {
        const app = redirectTo === undefined ? undefined : appTarget(kit, redirectTo, challenge, method);
        const kind: FlowKind = app ? 'api' : 'browser';
        const started = await startUpstreamFlow(kit.deps, provider, { kind, to: app?.to ?? kit.returnTo(returnTo), challenge: app?.challenge });
        return toProvider(reply, started);
      } catch (err) {
        if (!(err instanceof AppError) || err.status === 429 || err.status === 503) throw err;
        return failedPage(request, reply, err, '/login');
      }
    },
  );
}

function callbackRoute(app: PageApp, kit: PageKit, { flowCookie, cookieBase, failedPage }: UpstreamKit) {
  app.get(
    '/api/signin/:provider/callback',
    {
      config: { html: true },
      onRequest: limitByAddress(kit.deps, 'signin'),
      schema: {
        tags,
        summary: "The redirect URI to register at an upstream provider: finishes the flow this browser started",
        params: ProviderParams,
        querystring: Type.Object({
          code: FormField(2048),
          state: FormField(512),
          iss: FormField(2048),
          error: FormField(256),
          error_description: FormField(2048),
          session_state: FormField(512),
        }),
        produces: ['text/html'],
        response: {
          200: pageResponse('the second step: the account has a second factor'),
          303: redirectResponse('signed in: on to `return_to` with the session cookie; to an app\'s `redirect_to` with `code` (or `error`); linked: to /account'),
          ...pageErrors,
        },
      },
    },
    async (request, reply) => {
      const cookie = request.cookies[flowCookie];
      // Whatever comes of it, the flow is over for this browser.
      reply.clearCookie(flowCookie, cookieBase);
      const query = new URLSearchParams(Object.entries(request.query).filter((e): e is [string, string] => e[1] !== undefined));
      const linkingUser = async (f: UpstreamFlow) => {
        const session = await kit.sessionOf(request);
        return session && session.user.id === f.userId && session.sessionId === f.sessionId ? session.user : undefined;
      };
      let flow: UpstreamFlow | undefined;
      try {
        flow = await takeUpstreamFlow(kit.deps, request.params.provider, cookie, request.query.state);
        const outcome = await finishUpstreamFlow(kit.deps, flow, query, clientOf(request), linkingUser);
        if (outcome.kind === 'link') return kit.redirect(reply, '/account?saved=upstream_linked#identities');
        if (outcome.kind === 'api') return kit.redirect(reply, withParam(flow.to, 'code', outcome.code));
        return kit.signedIn(reply, { sessionId: outcome.tokens.sessionId, userId: outcome.user.id }, flow.to);
      } catch (err) {
        if (!(err instanceof AppError) || err.status === 429 || err.status === 503) throw err;
        return callbackFailed(kit, request, reply, err, flow, failedPage);
      }
    },
  );
}

type FailedPage = (request: FastifyRequest, reply: FastifyReply, err: AppError, back: string) => FastifyReply;

/**
 * A callback that did not end as asked: for an app, back to it with `error` (its code, as the API names it); for a
 * browser's sign-in, the second step when the account has a factor; otherwise a page saying why.
 */
function callbackFailed(kit: PageKit, request: FastifyRequest, reply: FastifyReply, err: AppError, flow: UpstreamFlow | undefined, failedPage: FailedPage) {
  if (flow?.kind === 'api') return kit.redirect(reply, withParam(flow.to, 'error', err.code));
  if (flow?.kind === 'browser' && err.code === 'mfa_required') {
    const words = wordsOf(request);
    const { mfa_token: mfaToken } = err.fields as { mfa_token: string };
    return kit.send(reply, 200, secondStepPage(words, secondStepForm(kit, words, kit.nonceOf(request, reply), flow.to, mfaToken)));
  }
  return failedPage(request, reply, err, flow?.kind === 'link' ? '/account' : '/login');
}

/** Appends a parameter to an address. */
function withParam(to: string, name: string, value: string): string {
  const url = new URL(to);
  url.searchParams.set(name, value);
  return url.href;
}

/**
 * An app's flow: `redirect_to` must be an address on one of ALLOWED_REDIRECT_URLS' origins (never this server's own
 * pages: an app gets its code at home), and the app's PKCE challenge (S256) must come with it.
 */
function appTarget(kit: PageKit, redirectTo: string, challenge: string | undefined, method: string | undefined): { to: string; challenge: string } {
  let url: URL | undefined;
  try {
    url = new URL(redirectTo);
  } catch {
    url = undefined;
  }
  const allowed = url && !url.username && !url.password && !url.hash && kit.deps.config.allowedRedirectOrigins.includes(url.origin);
  if (!allowed || !url) throw new AppError('invalid_request', 'redirect_to must be an address on an origin of ALLOWED_REDIRECT_URLS.');
  if (!challenge || !CHALLENGE.test(challenge) || (method !== undefined && method !== 'S256'))
    throw new AppError('invalid_request', 'An app must send its PKCE code_challenge (S256) with redirect_to.');
  return { to: url.href, challenge };
}

/** Linking a provider from /account (its flow ends at the callback above), and unlinking one. */
function accountLinkPages(app: PageApp, kit: PageKit, { toProvider, failedPage }: UpstreamKit) {
  const schema = (summary: string, body: ReturnType<typeof Type.Object>) => ({
    tags,
    summary,
    consumes: FORM_TYPES,
    body,
    response: {
      ...formResponses,
      303: redirectResponse("to the provider; or done: back to /account; or not signed in: to /login"),
      404: pageResponse('no such provider, or no such link'),
      409: pageResponse('the last way this account can sign in'),
      429: jsonErrorResponse('too many attempts from this address (Retry-After)'),
      502: pageResponse('the provider could not be reached'),
    },
  });
  const LinkBody = Type.Object({ provider: FormField(64), csrf: FormField(128) });
  app.post('/account/identities/link', { config: { html: true }, onRequest: limitByAddress(kit.deps, 'signin'), schema: schema('Link an upstream provider to the account (HTML form): to the provider', LinkBody) }, async (request, reply) => {
    const session = await kit.sessionOf(request);
    if (!session) return kit.redirect(reply, SIGN_IN_HERE);
    const body = request.body as { provider?: string; csrf?: string };
    if (!kit.fromOwnForm(request, session.sessionId, body.csrf)) return kit.refusedForm(reply);
    try {
      const link = { kind: 'link' as const, to: '/account', userId: session.user.id, sessionId: session.sessionId };
      return toProvider(reply, await startUpstreamFlow(kit.deps, body.provider ?? '', link));
    } catch (err) {
      if (!(err instanceof AppError) || err.status === 429 || err.status === 503) throw err;
      return failedPage(request, reply, err, '/account');
    }
  });
  const UnlinkBody = Type.Object({ provider: FormField(64), subject: FormField(512), csrf: FormField(128) });
  app.post('/account/identities/unlink', { config: { html: true }, schema: schema('Unlink an upstream provider from the account (HTML form)', UnlinkBody) }, async (request, reply) => {
    const session = await kit.sessionOf(request);
    if (!session) return kit.redirect(reply, SIGN_IN_HERE);
    const body = request.body as { provider?: string; subject?: string; csrf?: string };
    if (!kit.fromOwnForm(request, session.sessionId, body.csrf)) return kit.refusedForm(reply);
    try {
      await unlinkIdentity(kit.deps, session.user.id, body.provider ?? '', body.subject ?? '', clientOf(request));
      return kit.redirect(reply, '/account?saved=upstream_unlinked#identities');
    } catch (err) {
      if (!(err instanceof AppError) || err.status === 503) throw err;
      return failedPage(request, reply, err, '/account');
    }
  });
}
