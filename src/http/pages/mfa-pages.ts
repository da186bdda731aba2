import type { FastifyReply } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { formToken, type BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import { beginTotpEnrolment, confirmTotp, regenerateRecoveryCodes, removeTotp, type SecondFactor, type TotpEnrolment } from '../../auth/mfa/factors.js';
import type { MfaSummary } from '../../contracts/mfa.js';
import { AppError } from '../../errors.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import { clientOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { Html, html } from './html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';
import { errorText, wordsOf } from './words.js';

/**
 * Two-step sign-in on the account page: setting up an authenticator app (its QR code, and its secret as text,
 * confirmed with a first code), the recovery codes shown once with a download, new recovery codes, turning the
 * app off. Each takes what the API takes (the password, and a code once the account has a factor), through the
 * same functions. Passkeys are ./passkey-pages.ts's.
 */

const tags = ['pages'];

/** A code typed in a form: six digits are the app's, anything else a recovery code. */
export const factorTyped = (code: string | undefined): SecondFactor => {
  const typed = (code ?? '').trim();
  return /^\d{6}$/.test(typed) ? { code: typed } : { recoveryCode: typed };
};

const passwordField = (t: PageMessages, id = 'password') => html`<label for="${id}">${t.common.yourPassword}</label>
<input id="${id}" name="password" type="password" autocomplete="current-password" required>`;
/** The field a change takes its second factor in: an app's code or a recovery code. */
export const codeField = (t: PageMessages, id: string) => html`<label for="${id}">${t.common.codeOrRecovery}</label>
<input id="${id}" name="code" type="text" autocomplete="one-time-code" required>`;

/** The account page's section on second factors. */
export function mfaSection(t: PageMessages, csrf: string, mfa: MfaSummary): Html {
  if (!mfa.totp) {
    return html`<h2>${t.mfa.title}</h2>
<p>${mfa.passkeys > 0 ? t.mfa.offPasskeys(mfa.passkeys, mfa.recovery_codes_left) : t.mfa.off}</p>
<form method="post" action="/account/totp" novalidate><input type="hidden" name="csrf" value="${csrf}">
${passwordField(t, 'totp-password')}${mfa.passkeys > 0 ? codeField(t, 'totp-code') : ''}
<button type="submit">${t.mfa.setUp}</button></form>`;
  }
  return html`<h2>${t.mfa.title}</h2>
<p class="ok">${t.mfa.on(mfa.recovery_codes_left)}</p>
<div class="card"><h3>${t.mfa.newCodes}</h3><p class="hint">${t.mfa.oldStop}</p>
<form method="post" action="/account/recovery-codes" novalidate><input type="hidden" name="csrf" value="${csrf}">
${passwordField(t, 'codes-password')}${codeField(t, 'codes-code')}
<button type="submit">${t.mfa.makeCodes}</button></form></div>
<div class="card"><h3>${t.mfa.turnOffTitle}</h3>
<form method="post" action="/account/totp/remove" novalidate><input type="hidden" name="csrf" value="${csrf}">
${passwordField(t, 'off-password')}${codeField(t, 'off-code')}
<button type="submit" class="secondary">${t.mfa.turnOff}</button></form></div>`;
}

/**
 * A button that copies the text of the element `target` (its `data-copy-value`, else its text; a list's items a
 * line each), shown by the pages' script where the browser lets a page write the clipboard, and the live region
 * that says it was done. Without the script, none of it shows: the text is on the page to select.
 */
export const copyButton = (t: PageMessages, target: string, label: string) => html`<div data-needs-clipboard hidden>
<button type="button" class="secondary copy" data-copy="${target}" data-copied="${t.mfa.copied}" data-copy-failed="${t.mfa.copyFailed}">${label}</button>
<p class="copy-status" role="status" aria-live="polite" data-copy-status></p></div>`;

/**
 * The recovery codes, shown once, to copy or download; then `next`, the way on (back to the account by default).
 * The file is named by `brand` (BRAND_NAME).
 */
export function recoveryCodesPage(t: PageMessages, brand: string, codes: readonly string[], next: Html = html`<p><a href="/account">${t.common.backToAccount}</a></p>`): Html {
  const file = `${t.mfa.codesFile(brand)}\n\n${codes.join('\n')}\n`;
  return html`<p class="notice" role="status">${t.mfa.codesNotice}</p>
<ul class="codes" id="recovery-codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ul>
${copyButton(t, 'recovery-codes', t.mfa.copyCodes)}
<p><a class="button" download="latchkey-recovery-codes.txt" href="data:text/plain;charset=utf-8,${encodeURIComponent(file)}">${t.mfa.download}</a></p>
${next}`;
}

/**
 * The form that confirms a new authenticator app with its first code: posted to `action` with the `hidden` fields;
 * a wrong code is said beside the field.
 */
export function confirmForm(t: PageMessages, action: string, hidden: Html, error?: AppError, button = t.mfa.turnOn): Html {
  return html`${error ? html`<div class="alert" role="alert" id="confirm-error">${errorText(t, error)}</div>` : ''}
<form method="post" action="${action}" novalidate>${hidden}
<label for="confirm-code">${t.mfa.firstCode}</label>
<input id="confirm-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required${error ? html` aria-invalid="true" aria-describedby="confirm-error"` : ''}>
<button type="submit">${button}</button></form>`;
}

const accountConfirmForm = (t: PageMessages, csrf: string, error?: AppError) => confirmForm(t, '/account/totp/confirm', html`<input type="hidden" name="csrf" value="${csrf}">`, error);

const groupsOf = (secret: string) => secret.match(/.{1,4}/g)!.join(' ');

/** A new authenticator app's setup: its QR code, and its secret as text to type in (or, with the script, to copy). */
export const totpSetupView = (t: PageMessages, setup: TotpEnrolment): Html => html`<p>${t.mfa.scan}</p>
<div class="qr" role="img" aria-label="${t.mfa.qrLabel}">${new Html(setup.qr_svg)}</div>
<p id="totp-secret" data-copy-value="${setup.secret}">${t.mfa.secret} <code>${groupsOf(setup.secret)}</code></p>
${copyButton(t, 'totp-secret', t.mfa.copySecret)}`;

export function mfaPages(app: PageApp, kit: PageKit) {
  const schema = <B extends TSchema>(summary: string, body: B, ok: Record<number, unknown>) => ({
    tags,
    summary,
    consumes: FORM_TYPES,
    body,
    response: { ...formResponses, ...ok, 303: redirectResponse('not signed in: to /login (or done: back to /account)'), 401: pageResponse('a wrong password or code: said so'), 409: pageResponse('already set up, or nothing to confirm'), 429: jsonErrorResponse('too many tries (Retry-After)') },
  });
  const proofBody = Type.Object({ password: FormField(4096), code: FormField(64), csrf: FormField(128) });

  const brand = kit.deps.config.brand.name;
  /** An AppError a page shows (a wrong password or code, nothing to do); any other is thrown on. */
  const shown = (reply: FastifyReply, session: BrowserSession, err: unknown, body: (err: AppError, t: PageMessages) => Html) => {
    if (!(err instanceof AppError) || err.status === 429 || err.status >= 500) throw err;
    const { locale, t } = wordsOf(reply.request);
    return kit.send(reply, err.status === 409 ? 409 : 401, { title: t.mfa.title, locale, signedInAs: session.user.email, body: body(err, t) });
  };
  const backToAccount = (err: AppError, t: PageMessages) => html`<div class="alert" role="alert">${errorText(t, err)}</div><p><a href="/account">${t.common.backToAccount}</a></p>`;
  const codesShown = (reply: FastifyReply, session: BrowserSession, codes: readonly string[]) => {
    const { locale, t } = wordsOf(reply.request);
    return kit.send(reply, 200, { title: t.mfa.codesTitle, locale, signedInAs: session.user.email, body: recoveryCodesPage(t, brand, codes) });
  };

  app.post('/account/totp', { config: { html: true }, schema: schema('Set up an authenticator app (HTML form): its QR code and secret', Type.Object({ password: FormField(4096), code: FormField(64), csrf: FormField(128) }), { 200: pageResponse('the QR code, the secret, and the form for the first code') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    try {
      const proof = { password: request.body.password ?? '', ...(request.body.code ? factorTyped(request.body.code) : {}) };
      const setup = await beginTotpEnrolment(kit.deps, session.user, proof, clientOf(request));
      const csrf = formToken(kit.deps.pageKey, session.sessionId);
      const { locale, t } = wordsOf(request);
      return kit.send(reply, 200, {
        title: t.mfa.setupTitle,
        locale,
        signedInAs: session.user.email,
        body: html`${totpSetupView(t, setup)}
${accountConfirmForm(t, csrf)}`,
      });
    } catch (err) {
      return shown(reply, session, err, backToAccount);
    }
  });

  app.post('/account/totp/confirm', { config: { html: true }, schema: schema('Confirm the new authenticator app with its first code (HTML form): the recovery codes, once', Type.Object({ code: FormField(64), csrf: FormField(128) }), { 200: pageResponse('the recovery codes, shown once') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    try {
      const codes = await confirmTotp(kit.deps, session.user, (request.body.code ?? '').trim(), clientOf(request));
      return codesShown(reply, session, codes);
    } catch (err) {
      return shown(reply, session, err, (e, t) => (e.code === 'invalid_mfa_code' ? accountConfirmForm(t, formToken(kit.deps.pageKey, session.sessionId), e) : backToAccount(e, t)));
    }
  });

  app.post('/account/recovery-codes', { config: { html: true }, schema: schema('Make new recovery codes (HTML form)', proofBody, { 200: pageResponse('the new recovery codes, shown once') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    try {
      const codes = await regenerateRecoveryCodes(kit.deps, session.user, request.body.password ?? '', factorTyped(request.body.code), clientOf(request));
      return codesShown(reply, session, codes);
    } catch (err) {
      return shown(reply, session, err, backToAccount);
    }
  });

  app.post('/account/totp/remove', { config: { html: true }, schema: schema('Turn the authenticator app off (HTML form)', proofBody, {}) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    try {
      await removeTotp(kit.deps, session.user, request.body.password ?? '', factorTyped(request.body.code), clientOf(request));
      return kit.redirect(reply, '/account?saved=mfa_off');
    } catch (err) {
      return shown(reply, session, err, backToAccount);
    }
  });
}
