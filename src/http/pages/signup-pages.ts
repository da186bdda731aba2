import { Type } from 'typebox';
import { signUp } from '../../auth/account/sign-up.js';
import { formToken } from '../../auth/browser-sessions/browser-sessions.js';
import { requestPasswordReset } from '../../auth/reset/password-reset.js';
import { PASSWORD_AMR } from '../../auth/sessions/access-tokens.js';
import { startSession } from '../../auth/sessions/sign-in.js';
import { AppError } from '../../errors.js';
import { clientOf } from '../client.js';
import { FORGOT_PASSWORD_MESSAGE } from '../routes/password-reset/forgot-password.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { emailProblem, nameProblem } from './form-checks.js';
import { html, type Html } from './html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';

/**
 * Creating an account and asking for a reset link, for a signed-out browser: the API's own functions (the same
 * password policy, rate limits, verification email), their errors beside the fields they are about.
 */

const tags = ['pages'];
const CREATE = 'Create an account';
const FORGOT = 'Reset your password';

type Problems = Partial<Record<'name' | 'email' | 'password', string>>;

/** A labelled input, with its error tied to it (aria-describedby) when it has one. */
function field(id: string, label: string, attributes: Html, problem: string | undefined): Html {
  return html`<label for="${id}">${label}</label>
<input id="${id}" name="${id}" ${attributes}${problem ? html` aria-invalid="true" aria-describedby="${id}-error"` : ''}>
${problem ? html`<p class="field-error" id="${id}-error">${problem}</p>` : ''}`;
}

const summary = (problems: Problems) =>
  Object.keys(problems).length > 0 ? html`<div class="alert" role="alert">${Object.values(problems).join(' ')}</div>` : '';

function signupForm(kit: PageKit, nonce: string, values: { name?: string; email?: string } = {}, problems: Problems = {}): Html {
  const { minLength } = kit.deps.config.password;
  return html`${summary(problems)}
<form method="post" action="/signup" novalidate>
<input type="hidden" name="csrf" value="${formToken(kit.deps.pageKey, nonce)}">
${field('name', 'Name', html`type="text" autocomplete="name" required maxlength="100" value="${values.name ?? ''}"`, problems.name)}
${field('email', 'Email', html`type="email" autocomplete="email" required value="${values.email ?? ''}"`, problems.email)}
${field('password', 'Password', html`type="password" autocomplete="new-password" required minlength="${minLength}" aria-describedby="password-hint"`, problems.password)}
<p class="hint" id="password-hint">At least ${minLength} characters; a long phrase is best.</p>
<button type="submit">Create account</button>
</form>
<p>Already have an account? <a href="/login">Sign in</a></p>`;
}

export function signupPages(app: PageApp, kit: PageKit) {
  app.get(
    '/signup',
    { config: { html: true }, schema: { tags, summary: 'The sign-up page (HTML)', produces: ['text/html'], response: { 200: pageResponse('the form') } } },
    async (request, reply) => kit.send(reply, 200, { title: CREATE, body: signupForm(kit, kit.nonceOf(request, reply)) }),
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
      const nonce = kit.postedNonce(request);
      if (!nonce || !kit.fromOwnForm(request, nonce, request.body.csrf)) return kit.refusedForm(reply);
      const values = { name: (request.body.name ?? '').trim(), email: (request.body.email ?? '').trim() };
      const password = request.body.password ?? '';
      const problems: Problems = { name: nameProblem(values.name), email: emailProblem(values.email), password: password ? undefined : 'Choose a password.' };
      for (const key of Object.keys(problems) as (keyof Problems)[]) if (!problems[key]) delete problems[key];
      if (Object.keys(problems).length > 0) return kit.send(reply, 422, { title: CREATE, body: signupForm(kit, nonce, values, problems) });
      await kit.deps.throttle.limitAddress('signup', request.network);
      try {
        const user = await signUp(kit.deps, { ...values, password }, clientOf(request));
        if (kit.deps.config.requireEmailVerification) {
          return kit.send(reply, 201, { title: 'Check your email', body: html`<p class="notice" role="status">We sent a link to ${user.email}. Open it to verify your address, then <a href="/login">sign in</a>.</p>` });
        }
        // A role that must have a second factor gets no session from a password alone, here as on /login.
        if (kit.deps.config.mfa.requiredForRoles.includes(user.role)) {
          return kit.send(reply, 201, {
            title: 'Account created',
            body: html`<p class="notice" role="status">Your account was created. It must have a second factor before it signs in: <a href="/login">sign in</a> to be told how to set one up.</p>`,
          });
        }
        const { tokens } = await startSession(kit.deps, user, clientOf(request), PASSWORD_AMR, { via: 'signup_page' });
        return kit.signedIn(reply, { sessionId: tokens.sessionId, userId: user.id }, '/account');
      } catch (err) {
        if (!(err instanceof AppError) || err.status === 429 || err.status === 503) throw err;
        const problem: Problems = err.code === 'email_taken' ? { email: err.message } : err.status === 422 ? { password: err.message } : { email: err.message };
        return kit.send(reply, err.status === 409 ? 409 : 422, { title: CREATE, body: signupForm(kit, nonce, values, problem) });
      }
    },
  );
  forgotPasswordPages(app, kit);
}

function forgotForm(kit: PageKit, nonce: string, email = '', problem?: string): Html {
  return html`${problem ? html`<div class="alert" role="alert">${problem}</div>` : ''}
<p>Enter the address of your account: we will send it a link to choose a new password.</p>
<form method="post" action="/forgot-password" novalidate>
<input type="hidden" name="csrf" value="${formToken(kit.deps.pageKey, nonce)}">
${field('email', 'Email', html`type="email" autocomplete="email" required value="${email}"`, problem)}
<button type="submit">Send reset link</button>
</form>
<p><a href="/login">Back to sign in</a></p>`;
}

function forgotPasswordPages(app: PageApp, kit: PageKit) {
  app.get(
    '/forgot-password',
    { config: { html: true }, schema: { tags, summary: 'The page that asks for a reset link (HTML)', produces: ['text/html'], response: { 200: pageResponse('the form') } } },
    async (request, reply) => kit.send(reply, 200, { title: FORGOT, body: forgotForm(kit, kit.nonceOf(request, reply)) }),
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
      const nonce = kit.postedNonce(request);
      if (!nonce || !kit.fromOwnForm(request, nonce, request.body.csrf)) return kit.refusedForm(reply);
      const email = (request.body.email ?? '').trim();
      const problem = emailProblem(email);
      if (problem) return kit.send(reply, 422, { title: FORGOT, body: forgotForm(kit, nonce, email, problem) });
      await kit.deps.throttle.limitAddress('forgot', request.network);
      await requestPasswordReset(kit.deps, email, clientOf(request));
      return kit.send(reply, 200, { title: FORGOT, body: html`<p class="notice" role="status">${FORGOT_PASSWORD_MESSAGE}</p><p><a href="/login">Back to sign in</a></p>` });
    },
  );
}
