import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { formToken } from '../../auth/browser-sessions/browser-sessions.js';
import {
  beginEnrolmentTotp,
  confirmEnrolmentTotp,
  enrolmentPasskeyOptions,
  pendingEnrolmentTotp,
  registerEnrolmentPasskey,
  type Enrolled,
} from '../../auth/mfa/enrolment.js';
import type { TotpEnrolment } from '../../auth/mfa/factors.js';
import { PasskeyRegistration } from '../../contracts/mfa.js';
import { AppError } from '../../errors.js';
import { clientOf } from '../client.js';
import { asRegistration } from '../schemas.js';
import { jsonErrorResponse, pageResponse } from './frame.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { html, type Html } from './html.js';
import { confirmForm, recoveryCodesPage, totpSetupView } from './mfa-pages.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';
import { inPageWords, PASSKEY_FIELD, passkeyErrorSlot } from './passkey-pages.js';
import { errorText, wordsOf } from './words.js';

/**
 * The second factor a role must have (REQUIRE_MFA_FOR_ROLES), set up on the way in: after a right password, the
 * page "Set up a second factor" (an authenticator app's QR code and secret, or, with the script, a passkey); then
 * the recovery codes, shown once, and the browser signed in at aal2 and sent on to `return_to`. The enrolment runs
 * through the same functions as the API's enrolment routes (src/auth/mfa/enrolment.ts), so the limits, audit rows,
 * events and emails are theirs.
 *
 * The `enrollment_token` travels in a hidden field of these forms only, never in a URL, and every form carries a
 * token bound to the nonce cookie and that enrollment token together: neither another browser (another nonce) nor
 * this one with another token can post it. The answers are `Cache-Control: no-store`, as every answer of Latchkey's.
 */

const tags = ['pages'];

/** An enrolment in progress, as this browser's forms carry it. */
interface Step {
  nonce: string;
  token: string;
  to: string;
}

/** What an enrolment form's token is bound to: this browser's nonce and the enrolment it carries, together. */
const boundTo = (nonce: string, token: string) => `enrolment:${nonce}:${token}`;

const hiddenFields = (kit: PageKit, step: Step) => html`<input type="hidden" name="csrf" value="${formToken(kit.deps.pageKey, boundTo(step.nonce, step.token))}">
<input type="hidden" name="return_to" value="${step.to}"><input type="hidden" name="enrolment" value="${step.token}">`;

function enrolmentPage(kit: PageKit, t: PageMessages, step: Step, setup: TotpEnrolment | undefined, problem: { code?: AppError; passkey?: AppError } = {}): Html {
  const hidden = hiddenFields(kit, step);
  const again = html`<a href="/login?return_to=${encodeURIComponent(step.to)}">${t.enrolment.signInAgainLower}</a>`;
  return html`${problem.passkey ? html`<div class="alert" role="alert">${errorText(t, problem.passkey)}</div>` : ''}
<p>${t.enrolment.intro}</p>
<h2>${t.enrolment.app}</h2>
${setup ? html`${totpSetupView(t, setup)}
${confirmForm(t, '/login/enrol/totp', hidden, problem.code, t.enrolment.turnOn)}` : html`<p>${t.enrolment.noApp(again)}</p>`}
<div data-needs-passkeys hidden>
<h2>${t.enrolment.orPasskey}</h2>
<p class="hint">${t.enrolment.passkeyHint}</p>
<form method="post" action="/login/enrol/passkey" data-passkey="register" data-options="/login/enrol/passkey-options" novalidate>${hidden}
<label for="enrol-passkey-name">${t.passkeys.nameOptional}</label><input id="enrol-passkey-name" name="name" type="text" maxlength="100" placeholder="${t.passkeys.namePlaceholder}">
<label for="enrol-passkey-password">${t.enrolment.passwordAgain}</label><input id="enrol-passkey-password" name="password" type="password" autocomplete="current-password" required>
${passkeyErrorSlot(t)}<button type="submit" class="secondary">${t.passkeys.add}</button></form></div>`;
}

/** The setup page, in the request's words. */
function setupPage(kit: PageKit, reply: FastifyReply, status: number, step: Step, setup: TotpEnrolment | undefined, problem?: { code?: AppError; passkey?: AppError }) {
  const { locale, t } = wordsOf(reply.request);
  return kit.send(reply, status, { title: t.enrolment.title, locale, body: enrolmentPage(kit, t, step, setup, problem) });
}

/** The setup can no longer go on (expired, done already, the password changed): say so, and sign in again. */
function setupEnded(kit: PageKit, reply: FastifyReply, to: string, err: unknown): FastifyReply {
  if (!(err instanceof AppError) || err.status === 429 || err.status >= 500) throw err;
  const { locale, t } = wordsOf(reply.request);
  const message = err.code === 'mfa_not_enrolled' ? t.enrolment.notWaiting : errorText(t, err);
  return kit.send(reply, 401, {
    title: t.enrolment.signInAgain,
    locale,
    body: html`<div class="alert" role="alert">${message}</div><p><a href="/login?return_to=${encodeURIComponent(to)}">${t.common.signIn}</a></p>`,
  });
}

/**
 * The answer to a right password of a user who must set up a second factor (login-pages.ts): the app's setup begun
 * with that password (`beginTotpEnrolment`, as `POST /api/me/mfa/totp` takes it), and the page.
 */
export async function enrolmentStarted(kit: PageKit, request: FastifyRequest, reply: FastifyReply, start: Step & { password: string }): Promise<FastifyReply> {
  const step = { nonce: start.nonce, token: start.token, to: start.to };
  try {
    const setup = await beginEnrolmentTotp(kit.deps, step.token, start.password, clientOf(request));
    return setupPage(kit, reply, 200, step, setup);
  } catch (err) {
    return setupEnded(kit, reply, step.to, err);
  }
}

/** An enrolment form post, if this browser's own: its step. Counted as a sign-in's (RATE_LIMIT_SIGNIN). */
async function acceptedEnrolmentForm(kit: PageKit, request: FastifyRequest, body: { enrolment?: string | undefined; csrf?: string | undefined; return_to?: string | undefined }): Promise<Step | undefined> {
  const nonce = kit.postedNonce(request);
  const token = body.enrolment;
  if (!nonce || !token || !kit.fromOwnForm(request, boundTo(nonce, token), body.csrf)) return undefined;
  await kit.deps.throttle.limitAddress('signin', request.network);
  return { nonce, token, to: kit.returnTo(body.return_to) };
}

/** Enrolled: signed in, with the recovery codes shown this once, and on to `return_to` from them. */
function enrolledAnswer(kit: PageKit, reply: FastifyReply, enrolled: Enrolled, to: string): FastifyReply {
  const { locale, t } = wordsOf(reply.request);
  if (!enrolled.tokens) {
    return kit.send(reply, 200, {
      title: t.common.signIn,
      locale,
      body: html`<p class="notice" role="status">${t.enrolment.hasFactor}</p><p><a href="/login?return_to=${encodeURIComponent(to)}">${t.common.signIn}</a></p>`,
    });
  }
  kit.setSession(reply, { sessionId: enrolled.tokens.sessionId, userId: enrolled.user.id });
  return kit.send(reply, 200, {
    title: t.mfa.codesTitle,
    locale,
    signedInAs: enrolled.user.email,
    body: recoveryCodesPage(t, kit.deps.config.brand.name, enrolled.recoveryCodes, html`<p>${t.enrolment.done}</p>
<p><a class="button" href="${to}">${t.login.continue}</a></p>`),
  });
}

/** The setup page again, after a wrong code or a refused passkey: the app's setup as it waits. */
async function setupAgain(kit: PageKit, reply: FastifyReply, status: number, step: Step, problem: { code?: AppError; passkey?: AppError }) {
  try {
    const setup = await pendingEnrolmentTotp(kit.deps, step.token);
    return setupPage(kit, reply, status, step, setup, problem);
  } catch (err) {
    return setupEnded(kit, reply, step.to, err);
  }
}

const schema = <B extends TSchema>(summary: string, body: B, ok: Record<number, unknown>) => ({
  tags,
  summary,
  consumes: FORM_TYPES,
  produces: ['text/html'],
  body,
  response: { ...formResponses, ...ok, 429: jsonErrorResponse('too many tries (Retry-After)') },
});

export function enrolmentPages(app: PageApp, kit: PageKit) {
  app.post(
    '/login/enrol/totp',
    {
      config: { html: true },
      schema: schema(
        "Confirm the authenticator app a role requires with its first code (HTML form): signed in, and the recovery codes shown once",
        Type.Object({ enrolment: FormField(512), code: FormField(64), csrf: FormField(128), return_to: FormField(2048) }),
        { 200: pageResponse('the recovery codes, with the session cookie set; or, another factor set up first, the way to sign in'), 401: pageResponse('the setup again (a wrong code), or the way to sign in again (the setup expired)') },
      ),
    },
    async (request, reply) => {
      const step = await acceptedEnrolmentForm(kit, request, request.body);
      if (!step) return kit.refusedForm(reply);
      try {
        return enrolledAnswer(kit, reply, await confirmEnrolmentTotp(kit.deps, step.token, (request.body.code ?? '').trim(), clientOf(request)), step.to);
      } catch (err) {
        if (err instanceof AppError && err.code === 'invalid_mfa_code') return setupAgain(kit, reply, 401, step, { code: err });
        return setupEnded(kit, reply, step.to, err);
      }
    },
  );

  passkeyEnrolment(app, kit);
}

function passkeyEnrolment(app: PageApp, kit: PageKit) {
  app.post(
    '/login/enrol/passkey-options',
    {
      schema: {
        tags,
        summary: "The creation options of the passkey a role requires (for the pages' script): the password once more",
        consumes: FORM_TYPES,
        body: Type.Object({ enrolment: FormField(512), password: FormField(4096), csrf: FormField(128) }),
        response: {
          ...formResponses,
          200: { description: 'the creation options (JSON)', content: { 'application/json': { schema: Type.Object({}, { additionalProperties: true }) } } },
          401: jsonErrorResponse('a wrong password, or the setup expired'),
          403: jsonErrorResponse('the form came from elsewhere'),
          429: jsonErrorResponse('too many tries (Retry-After)'),
        },
      },
    },
    async (request) => {
      const step = await acceptedEnrolmentForm(kit, request, request.body);
      if (!step) throw new AppError('form_refused');
      return enrolmentPasskeyOptions(kit.deps, step.token, request.body.password ?? '', clientOf(request)).catch(inPageWords(request));
    },
  );

  app.post(
    '/login/enrol/passkey',
    {
      config: { html: true },
      schema: schema(
        "Register the passkey a role requires, as the browser made it (HTML form, posted by the pages' script): signed in, and the recovery codes shown once",
        Type.Object({ enrolment: FormField(512), response: FormField(PASSKEY_FIELD), name: FormField(400), csrf: FormField(128), return_to: FormField(2048) }),
        {
          200: pageResponse('the recovery codes, with the session cookie set; or, another factor set up first, the way to sign in'),
          400: pageResponse('the setup again: the passkey could not be verified'),
          401: pageResponse('the way to sign in again: the setup expired'),
          409: pageResponse('the setup again: that passkey is registered already'),
        },
      ),
    },
    async (request, reply) => {
      const step = await acceptedEnrolmentForm(kit, request, request.body);
      if (!step) return kit.refusedForm(reply);
      try {
        const value: unknown = JSON.parse(request.body.response ?? 'null');
        if (!Value.Check(PasskeyRegistration, value)) throw new AppError('invalid_passkey_registration');
        const name = (request.body.name ?? '').trim().slice(0, 100) || undefined;
        return enrolledAnswer(kit, reply, await registerEnrolmentPasskey(kit.deps, step.token, { response: asRegistration(value), name }, clientOf(request)), step.to);
      } catch (caught) {
        const err = caught instanceof SyntaxError ? new AppError('invalid_passkey_registration') : caught;
        if (err instanceof AppError && (err.code === 'invalid_passkey_registration' || err.code === 'passkey_already_registered')) {
          return setupAgain(kit, reply, err.status === 409 ? 409 : 400, step, { passkey: err });
        }
        return setupEnded(kit, reply, step.to, err);
      }
    },
  );
}
