import { Type } from 'typebox';
import { signUp } from '../../auth/account/sign-up.js';
import { formToken } from '../../auth/browser-sessions/browser-sessions.js';
import { requestPasswordReset } from '../../auth/reset/password-reset.js';
import { PASSWORD_AMR } from '../../auth/sessions/access-tokens.js';
import { startSession } from '../../auth/sessions/sign-in.js';
import { AppError } from '../../errors.js';
import type { Locale } from '../../i18n/locale.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { clientOf, localeOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { emailProblem, nameProblem } from './form-checks.js';
import { html, type Html } from './html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';
import { errorText, wordsOf } from './words.js';

/**
 * Creating an account and asking for a reset link, for a signed-out browser: the API's own functions (the same
 * password policy, rate limits, verification email), their errors beside the fields they are about.
 */

const tags = ['pages'];

type Problems = Partial<Record<'name' | 'email' | 'password', string>>;

/** A labelled input, with its error tied to it (aria-describedby) when it has one. */
function field(id: string, label: string, attributes: Html, problem: string | undefined): Html {
  return html`<label for="${id}">${label}</label>
<input id="${id}" name="${id}" ${attributes}${problem ? html` aria-invalid="true" aria-describedby="${id}-error"` : ''}>
${problem ? html`<p class="field-error" id="${id}-error">${problem}</p>` : ''}`;
}

const summary = (problems: Problems) =>
  Object.keys(problems).length > 0 ? html`<div class="alert" role="alert">${Object.values(problems).join(' ')}</div>` : '';

function signupForm(kit: PageKit, t: PageMessages, nonce: string, values: { name?: string; email?: string } = {}, problems: Problems = {}): Html {
  const { minLength } = kit.deps.config.password;
  return html`${summary(problems)}
<form method="post" action="/signup" novalidate>
<input type="hidden" name="csrf" value="${formToken(kit.deps.pageKey, nonce)}">
${field('name', t.common.name, html`type="text" autocomplete="name" required maxlength="100" value="${values.name ?? ''}"`, problems.name)}
${field('email', t.common.email, html`type="email" autocomplete="email" required value="${values.email ?? ''}"`, problems.email)}
${field('password', t.common.password, html`type="password" autocomplete="new-password" required minlength="${minLength}" aria-describedby="password-hint"`, problems.password)}
<p class="hint" id="password-hint">${t.signup.passwordHint(minLength)}</p>
<button type="submit">${t.signup.submit}</button>
</form>
<p>${t.signup.haveAccount} <a href="/login">${t.common.signIn}</a></p>`;
}

export function signupPages(app: PageApp, kit: PageKit) {
  app.get(
    '/signup',
    { config: { html: true }, schema: { tags, summary: 'The sign-up page (HTML)', produces: ['text/html'], response: { 200: pageResponse('the form') } } },
    async (request, reply) => {
      const { locale, t } = wordsOf(request);
      return kit.send(reply, 200, { title: t.signup.title, locale, body: signupForm(kit, t, kit.nonceOf(request, reply)) });
    },
  );

  app.post(
    '/signup',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Submit the sign-up form (HTML): the account, then signed in (or asked to verify the address first)',
        consumes: FORM_TYPES,
        produces: ['text/html'],
        body: Type.Object({ name: FormField(400), email: FormField(1024), password: FormField(4096), csrf: FormField(128) }),
        response: {
          ...formResponses,
          201: pageResponse('created: the address must be verified, or a second factor set up, before signing in'),
          303: redirectResponse('created and signed in: to /account'),
          409: pageResponse('the form again: an account has this address'),
          422: pageResponse('the form again, each problem beside its field'),
          429: jsonErrorResponse('too many sign-ups from this address (Retry-After)'),
        },
      },
    },
    async (request, reply) => {
      const nonce = kit.signedOutForm(request, request.body.csrf);
      if (!nonce) return kit.refusedForm(reply);
      const { locale, t } = wordsOf(request);
      const page = (status: number, values: { name?: string; email?: string }, problems: Problems) =>
        kit.send(reply, status, { title: t.signup.title, locale, body: signupForm(kit, t, nonce, values, problems) });
      const values = { name: (request.body.name ?? '').trim(), email: (request.body.email ?? '').trim() };
      const password = request.body.password ?? '';
      const problems: Problems = { name: nameProblem(values.name, t), email: emailProblem(values.email, t), password: password ? undefined : t.checks.choosePassword };
      for (const key of Object.keys(problems) as (keyof Problems)[]) if (!problems[key]) delete problems[key];
      if (Object.keys(problems).length > 0) return page(422, values, problems);
      await kit.deps.throttle.limitAddress('signup', request.network);
      try {
        // The browser's language becomes the language of the account's emails.
        const user = await signUp(kit.deps, { ...values, password, locale: localeOf(request) }, clientOf(request));
        const signInLink = html`<a href="/login">${t.signup.signInLower}</a>`;
        if (kit.deps.config.requireEmailVerification) {
          return kit.send(reply, 201, { title: t.signup.checkTitle, locale, body: html`<p class="notice" role="status">${t.signup.checkEmail(user.email, signInLink)}</p>` });
        }
        // A role that must have a second factor gets no session from a password alone, here as on /login.
        if (kit.deps.config.mfa.requiredForRoles.includes(user.role)) {
          return kit.send(reply, 201, { title: t.signup.createdTitle, locale, body: html`<p class="notice" role="status">${t.signup.createdMfa(signInLink)}</p>` });
        }
        const { tokens } = await startSession(kit.deps, user, clientOf(request), PASSWORD_AMR, { via: 'signup_page' });
        return kit.signedIn(reply, { sessionId: tokens.sessionId, userId: user.id }, '/account');
      } catch (err) {
        if (!(err instanceof AppError) || err.status === 429 || err.status === 503) throw err;
        const said = errorText(t, err);
        const problem: Problems = err.code === 'email_taken' ? { email: said } : err.status === 422 ? { password: said } : { email: said };
        return page(err.status === 409 ? 409 : 422, values, problem);
      }
    },
  );
  forgotPasswordPages(app, kit);
}

function forgotForm(kit: PageKit, t: PageMessages, nonce: string, email = '', problem?: string): Html {
  return html`${problem ? html`<div class="alert" role="alert">${problem}</div>` : ''}
<p>${t.forgot.intro}</p>
<form method="post" action="/forgot-password" novalidate>
<input type="hidden" name="csrf" value="${formToken(kit.deps.pageKey, nonce)}">
${field('email', t.common.email, html`type="email" autocomplete="email" required value="${email}"`, problem)}
<button type="submit">${t.forgot.submit}</button>
</form>
<p><a href="/login">${t.common.backToSignIn}</a></p>`;
}

const forgotPage = (t: PageMessages, locale: Locale, body: Html) => ({ title: t.forgot.title, locale, body });

function forgotPasswordPages(app: PageApp, kit: PageKit) {
  app.get(
    '/forgot-password',
    { config: { html: true }, schema: { tags, summary: 'The page that asks for a reset link (HTML)', produces: ['text/html'], response: { 200: pageResponse('the form') } } },
    async (request, reply) => {
      const { locale, t } = wordsOf(request);
      return kit.send(reply, 200, forgotPage(t, locale, forgotForm(kit, t, kit.nonceOf(request, reply))));
    },
  );

  app.post(
    '/forgot-password',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Submit the reset-link form (HTML): the same answer whether or not the address has an account',
        consumes: FORM_TYPES,
        produces: ['text/html'],
        body: Type.Object({ email: FormField(1024), csrf: FormField(128) }),
        response: {
          ...formResponses,
          200: pageResponse('the link is on its way, if the address has an account'),
          422: pageResponse('the form again: not an email address'),
          429: jsonErrorResponse('too many requests from this address (Retry-After)'),
        },
      },
    },
    async (request, reply) => {
      const nonce = kit.signedOutForm(request, request.body.csrf);
      if (!nonce) return kit.refusedForm(reply);
      const { locale, t } = wordsOf(request);
      const email = (request.body.email ?? '').trim();
      const problem = emailProblem(email, t);
      if (problem) return kit.send(reply, 422, forgotPage(t, locale, forgotForm(kit, t, nonce, email, problem)));
      await kit.deps.throttle.limitAddress('forgot', request.network);
      await requestPasswordReset(kit.deps, email, clientOf(request));
      return kit.send(reply, 200, forgotPage(t, locale, html`<p class="notice" role="status">${t.forgot.sent}</p><p><a href="/login">${t.common.backToSignIn}</a></p>`));
    },
  );
}
