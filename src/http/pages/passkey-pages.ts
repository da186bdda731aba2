import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { Type, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import { passkeyCreationOptions, registerPasskey, removeOwnPasskey, renameOwnPasskey, signInWithPasskey } from '../../auth/mfa/passkeys.js';
import { PasskeyAssertion, PasskeyRegistration, type MfaSummary, type Passkey } from '../../contracts/mfa.js';
import { isUuid } from '../../contracts/ids.js';
import { AppError } from '../../errors.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { clientOf } from '../client.js';
import { asAssertion, asRegistration } from '../schemas.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { html, type Html } from './html.js';
import { codeField, factorTyped, recoveryCodesPage } from './mfa-pages.js';
import { nameProblem } from './form-checks.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';
import { errorText, wordsOf } from './words.js';

/**
 * Passkeys on the hosted pages: sign in with one alone, the second step with one, and the account's passkeys added
 * (the password, and a code once the account has a factor), listed and removed. The browser's part is the pages'
 * one script (./script.ts); a page without it shows none of this.
 */

const tags = ['pages'];
export const PASSKEY_FIELD = 32_768;

/** An assertion posted as a form field (JSON), as the API's schema takes it; undefined when it is not one. */
export function assertionOf(text: string | undefined): AuthenticationResponseJSON | undefined {
  try {
    const value: unknown = JSON.parse(text ?? '');
    return Value.Check(PasskeyAssertion, value) ? asAssertion(value) : undefined;
  } catch {
    return undefined;
  }
}

/** Where the script says why a passkey could not be made or used, with its words for the two failures it names itself. */
export const passkeyErrorSlot = (t: PageMessages) =>
  html`<p class="field-error" data-passkey-error data-not-used="${t.passkeys.notUsed}" data-failed="${t.passkeys.failed}" hidden tabindex="-1" role="alert"></p>`;

/**
 * For the JSON a page's script asks for and shows the message of (a passkey's options): an error refused in the
 * page's words, its code and status unchanged. Busy or throttled answers stay as the API says them.
 */
export const inPageWords = (request: FastifyRequest) => (err: unknown): never => {
  if (!(err instanceof AppError) || err.status === 429 || err.status >= 500) throw err;
  throw new AppError(err.code, { message: errorText(wordsOf(request).t, err), details: err.details, fields: err.fields });
};

/** The sign-in page's "Sign in with a passkey", shown by the script. */
export const passkeySigninForm = (t: PageMessages, csrf: string, to: string) => html`<div data-needs-passkeys hidden>
<form method="post" action="/login/passkey" data-passkey="signin"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="return_to" value="${to}">
${passkeyErrorSlot(t)}<button type="submit" class="secondary">${t.passkeys.signIn}</button></form></div>`;

/** The second step's "Use a passkey", shown by the script. */
export const passkeySecondStepForm = (t: PageMessages, csrf: string, to: string, mfaToken: string) => html`<div data-needs-passkeys hidden>
<form method="post" action="/login/mfa" data-passkey="second-step"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="return_to" value="${to}"><input type="hidden" name="mfa_token" value="${mfaToken}">
${passkeyErrorSlot(t)}<button type="submit" class="secondary">${t.passkeys.secondStep}</button></form></div>`;

const when = (t: PageMessages, iso: string | null) => (iso ? `${iso.slice(0, 10)}` : t.passkeys.never);

/** The account page's passkeys: each with its removal, and (shown by the script) the form that adds one. */
export function passkeySection(t: PageMessages, csrf: string, passkeys: readonly Passkey[], mfa: MfaSummary): Html {
  const hasFactor = mfa.totp || mfa.passkeys > 0;
  const code = (id: string) => (hasFactor ? codeField(t, id) : '');
  return html`<h2>${t.passkeys.title}</h2>
${passkeys.length === 0 ? html`<p>${t.passkeys.none}</p>` : ''}
<ul class="sessions">${passkeys.map(
    (p) => html`<li><strong>${p.name}</strong> <span class="hint">· ${t.passkeys.added(when(t, p.created_at), when(t, p.last_used_at))}${p.synced ? ` · ${t.passkeys.synced}` : ''}</span>
<details><summary>${t.passkeys.remove}</summary><form method="post" action="/account/passkeys/remove" novalidate><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="id" value="${p.id}">
<label for="rm-${p.id}-password">${t.common.yourPassword}</label><input id="rm-${p.id}-password" name="password" type="password" autocomplete="current-password" required>
${code(`rm-${p.id}-code`)}<button type="submit" class="secondary">${t.passkeys.removeOne(p.name)}</button></form></details>
<details><summary>${t.passkeys.rename}</summary><form method="post" action="/account/passkeys/rename" novalidate><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="id" value="${p.id}">
<label for="mv-${p.id}-name">${t.passkeys.newName}</label><input id="mv-${p.id}-name" name="name" type="text" maxlength="100" required value="${p.name}">
<button type="submit" class="secondary">${t.passkeys.renameOne(p.name)}</button></form></details></li>`,
  )}</ul>
<div data-needs-passkeys hidden><form method="post" action="/account/passkeys" data-passkey="register" novalidate><input type="hidden" name="csrf" value="${csrf}">
<label for="passkey-name">${t.passkeys.nameOptional}</label><input id="passkey-name" name="name" type="text" maxlength="100" placeholder="${t.passkeys.namePlaceholder}">
<label for="passkey-password">${t.common.yourPassword}</label><input id="passkey-password" name="password" type="password" autocomplete="current-password" required>
${code('passkey-code')}${passkeyErrorSlot(t)}<button type="submit">${t.passkeys.add}</button></form></div>`;
}

export function passkeyPages(app: PageApp, kit: PageKit) {
  const form = <B extends TSchema>(summary: string, body: B, extra: Record<number, unknown>) => ({ tags, summary, consumes: FORM_TYPES, body, response: { ...formResponses, ...extra } });
  const refused = (reply: FastifyReply, session: BrowserSession, err: unknown) => {
    if (!(err instanceof AppError) || err.status === 429 || err.status >= 500) throw err;
    const { locale, t } = wordsOf(reply.request);
    return kit.send(reply, err.status === 401 || err.status === 404 || err.status === 409 ? err.status : 400, {
      title: t.passkeys.title,
      locale,
      signedInAs: session.user.email,
      body: html`<div class="alert" role="alert">${errorText(t, err)}</div><p><a href="/account">${t.common.backToAccount}</a></p>`,
    });
  };

  app.post('/login/passkey', { config: { html: true }, schema: form('Sign in with a passkey (HTML form, posted by the pages’ script)', Type.Object({ challenge_id: FormField(512), response: FormField(PASSKEY_FIELD), csrf: FormField(128), return_to: FormField(2048) }), { 303: redirectResponse('signed in: on to `return_to`'), 401: pageResponse('the passkey was refused'), 403: pageResponse('the form came from elsewhere or expired, or the account cannot sign in'), 429: jsonErrorResponse('too many tries (Retry-After)') }) }, async (request, reply) => {
    const nonce = kit.signedOutForm(request, request.body.csrf);
    if (!nonce) return kit.refusedForm(reply);
    await kit.deps.throttle.limitAddress('passkey', request.network);
    const response = assertionOf(request.body.response);
    try {
      if (!response) throw new AppError('invalid_passkey');
      const { user, tokens } = await signInWithPasskey(kit.deps, { challengeId: request.body.challenge_id ?? '', response }, clientOf(request));
      return kit.signedIn(reply, { sessionId: tokens.sessionId, userId: user.id }, kit.returnTo(request.body.return_to));
    } catch (err) {
      if (!(err instanceof AppError) || err.status === 429 || err.status >= 500) throw err;
      const { locale, t } = wordsOf(request);
      const body = html`<div class="alert" role="alert">${err.code === 'invalid_passkey' ? t.passkeys.refused : errorText(t, err)}</div><p><a href="/login">${t.common.backToSignIn}</a></p>`;
      return kit.send(reply, err.status === 401 ? 401 : 403, { title: t.common.signIn, locale, body });
    }
  });

  app.post('/account/passkeys/options', { schema: { ...form('A new passkey’s creation options (for the pages’ script): the password, and a code once the account has a factor', Type.Object({ password: FormField(4096), code: FormField(64), csrf: FormField(128) }), { 200: { description: 'the creation options (JSON)', content: { 'application/json': { schema: Type.Object({}, { additionalProperties: true }) } } }, 401: jsonErrorResponse('not signed in, or a wrong password or code'), 403: jsonErrorResponse('the form came from elsewhere') }) } }, async (request) => {
    const session = await kit.sessionOf(request);
    if (!session) throw new AppError('not_signed_in');
    if (!kit.fromOwnForm(request, session.sessionId, request.body.csrf)) throw new AppError('form_refused');
    const proof = { password: request.body.password ?? '', ...(request.body.code ? factorTyped(request.body.code) : {}) };
    return passkeyCreationOptions(kit.deps, session.user, proof, clientOf(request)).catch(inPageWords(request));
  });

  app.post('/account/passkeys', { config: { html: true }, schema: form('Add the passkey the browser made (HTML form, posted by the pages’ script)', Type.Object({ response: FormField(PASSKEY_FIELD), name: FormField(400), csrf: FormField(128) }), { 200: pageResponse('added, the account’s first factor: its recovery codes, shown once'), 303: redirectResponse('added: back to /account; or not signed in: to /login'), 401: pageResponse('refused') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    try {
      const value: unknown = JSON.parse(request.body.response ?? 'null');
      if (!Value.Check(PasskeyRegistration, value)) throw new AppError('invalid_passkey_registration');
      const name = (request.body.name ?? '').trim().slice(0, 100);
      const added = await registerPasskey(kit.deps, session.user, { response: asRegistration(value), name: name || undefined }, clientOf(request));
      if (added.recovery_codes) {
        const { locale, t } = wordsOf(request);
        return kit.send(reply, 200, { title: t.mfa.codesTitle, locale, signedInAs: session.user.email, body: recoveryCodesPage(t, kit.deps.config.brand.name, added.recovery_codes) });
      }
      return kit.redirect(reply, '/account?saved=passkey');
    } catch (err) {
      return refused(reply, session, err instanceof SyntaxError ? new AppError('invalid_passkey_registration') : err);
    }
  });

  app.post('/account/passkeys/rename', { config: { html: true }, schema: form('Rename one of the account’s passkeys (HTML form)', Type.Object({ id: FormField(64), name: FormField(400), csrf: FormField(128) }), { 303: redirectResponse('renamed: back to /account; or not signed in: to /login'), 400: pageResponse('a name the API would refuse'), 404: pageResponse('no such passkey of the account') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    const { t } = wordsOf(request);
    const name = (request.body.name ?? '').trim();
    const problem = nameProblem(name, t);
    try {
      // The API's rules for a name; an id that cannot be a passkey's is one the account does not have.
      if (problem) throw new AppError('invalid_request', { message: problem });
      if (!isUuid(request.body.id ?? '')) throw new AppError('passkey_not_found');
      await renameOwnPasskey(kit.deps, session.user, request.body.id!, name, clientOf(request));
      return kit.redirect(reply, '/account?saved=passkey_renamed');
    } catch (err) {
      return refused(reply, session, err);
    }
  });

  app.post('/account/passkeys/remove', { config: { html: true }, schema: form('Remove one of the account’s passkeys (HTML form): the password and a code', Type.Object({ id: FormField(64), password: FormField(4096), code: FormField(64), csrf: FormField(128) }), { 303: redirectResponse('removed: back to /account; or not signed in: to /login'), 401: pageResponse('a wrong password or code'), 404: pageResponse('no such passkey of the account'), 429: jsonErrorResponse('too many tries (Retry-After)') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    try {
      await removeOwnPasskey(kit.deps, session.user, request.body.id ?? '', { password: request.body.password ?? '', ...factorTyped(request.body.code) }, clientOf(request));
      return kit.redirect(reply, '/account?saved=passkey_removed');
    } catch (err) {
      return refused(reply, session, err);
    }
  });
}

