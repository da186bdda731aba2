import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { SigninCodeField } from '../../contracts/fields.js';
import { completeMfaSignIn } from '../../auth/mfa/second-step.js';
import { formToken } from '../../auth/browser-sessions/browser-sessions.js';
import { signIn } from '../../auth/sessions/sign-in.js';
import { AppError } from '../../errors.js';
import { clientOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import type { Locale } from '../../i18n/locale.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { html } from './html.js';
import { enrolmentStarted } from './enrolment-pages.js';
import { factorTyped } from './mfa-pages.js';
import { assertionOf, PASSKEY_FIELD, passkeySecondStepForm, passkeySigninForm } from './passkey-pages.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';
import { resendVerificationForm } from './resend-pages.js';
import { errorText, wordsOf } from './words.js';
import { providerButtons, signinProviders } from './upstream-sections.js';

/**
 * The sign-in pages: the password, then the second factor (a code from the authenticator app, or a recovery code)
 * when the account has one, each answered as the API answers it (the same rate limits, lock, audit and metrics); the
 * setup of the second factor a role must have (./enrolment-pages.ts); for an address not verified yet, a button that
 * sends the link again (./resend-pages.ts). Passkeys are ./passkey-pages.ts's.
 */

const tags = ['pages'];

/** What a refused sign-in tells the person: the error's own words, which never say more than the API's. */
const messageOf = (t: PageMessages, err: AppError) =>
  err.code === 'invalid_credentials' ? t.login.wrongPassword : err.code === 'too_many_attempts' ? t.login.locked : errorText(t, err);

/** The words of the request's language, and the language. */
interface Words {
  t: PageMessages;
  locale: Locale;
}

function loginForm(kit: PageKit, { t }: Words, nonce: string, to: string, error?: AppError, email?: string, providers: readonly string[] = []) {
  const csrf = formToken(kit.deps.pageKey, nonce);
  // A lock that holds the account: the owner, with the right password, got a code by email, typed here.
  const locked = error?.code === 'too_many_attempts';
  const invalid = error?.code === 'invalid_credentials' ? html` aria-invalid="true" aria-describedby="form-error"` : '';
  return html`${error ? html`<div class="alert" role="alert" id="form-error">${messageOf(t, error)}</div>` : ''}
${error?.code === 'email_not_verified' ? resendVerificationForm(t, csrf, email ?? '') : ''}
<form method="post" action="/login" novalidate>
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="return_to" value="${to}">
<label for="email">${t.common.email}</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${email ?? ''}"${invalid}>
<label for="password">${t.common.password}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required${invalid}>
${locked ? html`<label for="signin-code">${t.login.signinCode}</label><input id="signin-code" name="code" type="text" autocomplete="one-time-code" aria-describedby="form-error">` : ''}
<button type="submit">${t.common.signIn}</button>
</form>
${passkeySigninForm(t, csrf, to)}
${providerButtons(t, providers, to)}
<p><a href="/forgot-password">${t.login.forgot}</a> · <a href="/signup">${t.login.create}</a></p>`;
}

export function secondStepForm(kit: PageKit, { t }: Words, nonce: string, to: string, mfaToken: string, error?: AppError) {
  const csrf = formToken(kit.deps.pageKey, nonce);
  return html`${error ? html`<div class="alert" role="alert" id="code-error">${messageOf(t, error)}</div>` : ''}
<p>${t.login.secondStepIntro}</p>
<form method="post" action="/login/mfa" novalidate>
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="return_to" value="${to}">
<input type="hidden" name="mfa_token" value="${mfaToken}">
<label for="code">${t.login.code}</label>
<input id="code" name="code" type="text" autocomplete="one-time-code" required${error ? html` aria-invalid="true" aria-describedby="code-error"` : ''}>
<p class="hint">${t.login.codeHint}</p>
<button type="submit">${t.login.continue}</button>
</form>
${passkeySecondStepForm(t, csrf, to, mfaToken)}`;
}

/** The frame of the sign-in form, and of the second step. */
const signInPage = (words: Words, body: ReturnType<typeof loginForm>) => ({ title: words.t.common.signIn, locale: words.locale, body });
export const secondStepPage = (words: Words, body: ReturnType<typeof secondStepForm>) => ({ title: words.t.mfa.title, locale: words.locale, body });

export function loginPages(app: PageApp, kit: PageKit) {
  app.get(
    '/login',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'The sign-in page (HTML)',
        querystring: Type.Object({ return_to: FormField(2048), reauth: FormField(8) }),
        produces: ['text/html'],
        response: { 200: pageResponse('the form'), 303: redirectResponse('already signed in: on to `return_to`'), 503: jsonErrorResponse('the database does not answer') },
      },
    },
    async (request, reply) => {
      const to = kit.returnTo(request.query.return_to);
      // `reauth`: an application asked for a fresh sign-in (OpenID Connect's prompt=login, max_age): the form, signed in or not.
      if (request.query.reauth === undefined && (await kit.sessionOf(request))) return kit.redirect(reply, to);
      const words = wordsOf(request);
      return kit.send(reply, 200, signInPage(words, loginForm(kit, words, kit.nonceOf(request, reply), to, undefined, undefined, await signinProviders(kit))));
    },
  );
  passwordStep(app, kit);
  secondStep(app, kit);
}

const signinResponses = { ...formResponses, 429: jsonErrorResponse('too many attempts (Retry-After)') };

/**
 * A sign-in form post, if it is this site's own (bound to the browser's nonce, from this origin): where to go after,
 * and the nonce the next form is bound to; counted then as the API's sign-ins are (RATE_LIMIT_SIGNIN). Undefined: refuse it.
 */
async function acceptedSigninForm(kit: PageKit, request: FastifyRequest, body: { csrf?: string | undefined; return_to?: string | undefined }) {
  const nonce = kit.signedOutForm(request, body.csrf);
  if (!nonce) return undefined;
  await kit.deps.throttle.limitAddress('signin', request.network);
  return { nonce, to: kit.returnTo(body.return_to) };
}

function passwordStep(app: PageApp, kit: PageKit) {
  app.post(
    '/login',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Submit the sign-in form (HTML): on with a session cookie, or the second step',
        consumes: FORM_TYPES,
        produces: ['text/html'],
        body: Type.Object({ email: FormField(1024), password: FormField(4096), code: FormField(32), csrf: FormField(128), return_to: FormField(2048) }),
        response: {
          ...signinResponses,
          200: pageResponse('the second step (the account has a second factor), or the setup of the second factor its role must have'),
          303: redirectResponse('signed in: on to `return_to`, with the session cookie'),
          401: pageResponse('the form again: wrong email or password; or the setup of a second factor could not begin'),
          403: pageResponse('the form came from elsewhere or expired, or the account cannot sign in (disabled; unverified, with a button that sends the link again)'),
          429: {
            description: 'the account is locked (a page: the form again, with a field for the code emailed to its owner), or too many attempts from this address (JSON)',
            content: { ...pageResponse('').content, ...jsonErrorResponse('').content },
          },
        },
      },
    },
    async (request, reply) => {
      const form = await acceptedSigninForm(kit, request, request.body);
      if (!form) return kit.refusedForm(reply);
      const { nonce, to } = form;
      const words = wordsOf(request);
      const { email = '', password = '' } = request.body;
      const code = request.body.code?.trim() || undefined;
      try {
        const { user, tokens } = await signIn(kit.deps, { email: email.trim(), password, code: code && Value.Check(SigninCodeField, code) ? code : undefined }, clientOf(request));
        return kit.signedIn(reply, { sessionId: tokens.sessionId, userId: user.id }, to);
      } catch (err) {
        if (err instanceof AppError && err.code === 'too_many_attempts') {
          if (err.retryAfter) reply.header('retry-after', String(err.retryAfter));
          return kit.send(reply, 429, signInPage(words, loginForm(kit, words, nonce, to, err, email)));
        }
        if (!(err instanceof AppError) || err.status === 429 || err.status === 503) throw err;
        if (err.code === 'mfa_required') {
          const { mfa_token: mfaToken } = err.fields as { mfa_token: string };
          return kit.send(reply, 200, secondStepPage(words, secondStepForm(kit, words, nonce, to, mfaToken)));
        }
        if (err.code === 'mfa_enrollment_required') {
          const { enrollment_token: token } = err.fields as { enrollment_token: string };
          return enrolmentStarted(kit, request, reply, { nonce, to, token, password });
        }
        return kit.send(reply, err.status === 401 ? 401 : 403, signInPage(words, loginForm(kit, words, nonce, to, err, email, await signinProviders(kit))));
      }
    },
  );
}

function secondStep(app: PageApp, kit: PageKit) {
  app.post(
    '/login/mfa',
    {
      config: { html: true },
      schema: {
        tags,
        summary: "Submit the sign-in's second step (HTML): a code from the authenticator app or a recovery code",
        consumes: FORM_TYPES,
        produces: ['text/html'],
        body: Type.Object({ mfa_token: FormField(512), code: FormField(64), passkey: FormField(PASSKEY_FIELD), csrf: FormField(128), return_to: FormField(2048) }),
        response: {
          ...signinResponses,
          303: redirectResponse('signed in: on to `return_to`, with the session cookie'),
          401: pageResponse('the second step again (a wrong code), or the sign-in form (the step expired)'),
        },
      },
    },
    async (request, reply) => {
      const form = await acceptedSigninForm(kit, request, request.body);
      if (!form) return kit.refusedForm(reply);
      const { nonce, to } = form;
      const words = wordsOf(request);
      const { mfa_token: mfaToken = '', code = '', passkey } = request.body;
      const assertion = passkey === undefined ? undefined : assertionOf(passkey);
      const stepAgain = (err: AppError) => kit.send(reply, 401, secondStepPage(words, secondStepForm(kit, words, nonce, to, mfaToken, err)));
      // Something posted as a passkey's answer that is not one: the step again, as for a wrong code.
      if (passkey !== undefined && !assertion) return stepAgain(new AppError('invalid_mfa_code'));
      const factor = assertion ? { passkey: assertion } : factorTyped(code);
      try {
        const { user, tokens } = await completeMfaSignIn(kit.deps, { mfaToken, ...factor }, clientOf(request));
        return kit.signedIn(reply, { sessionId: tokens.sessionId, userId: user.id }, to);
      } catch (err) {
        if (!(err instanceof AppError) || err.status === 429 || err.status === 503) throw err;
        if (err.code === 'invalid_mfa_code') return stepAgain(err);
        return kit.send(reply, 401, signInPage(words, loginForm(kit, words, nonce, to, err)));
      }
    },
  );
}
