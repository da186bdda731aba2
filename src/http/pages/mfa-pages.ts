import type { FastifyReply } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { formToken, type BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import { beginTotpEnrolment, confirmTotp, regenerateRecoveryCodes, removeTotp, type SecondFactor, type TotpEnrolment } from '../../auth/mfa/factors.js';
import type { MfaSummary } from '../../contracts/mfa.js';
import { AppError } from '../../errors.js';
import { clientOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { Html, html } from './html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, type PageKit } from './page-kit.js';

/**
 * Two-step sign-in on the account page: setting up an authenticator app (its QR code, and its secret as text,
 * confirmed with a first code), the recovery codes shown once with a download, new recovery codes, turning the
 * app off. Each takes what the API takes (the password, and a code once the account has a factor), through the
 * same functions. Passkeys are ./passkey-pages.ts's.
 */

const tags = ['pages'];
const TITLE = 'Two-step sign-in';

/** A code typed in a form: six digits are the app's, anything else a recovery code. */
export const factorTyped = (code: string | undefined): SecondFactor => {
  const typed = (code ?? '').trim();
  return /^\d{6}$/.test(typed) ? { code: typed } : { recoveryCode: typed };
};

const passwordField = (id = 'password') => html`<label for="${id}">Your password</label>
<input id="${id}" name="password" type="password" autocomplete="current-password" required>`;
/** The field a change takes its second factor in: an app's code or a recovery code. */
export const codeField = (id: string) => html`<label for="${id}">A code from your app, or a recovery code</label>
<input id="${id}" name="code" type="text" autocomplete="one-time-code" required>`;

/** The account page's section on second factors. */
export function mfaSection(csrf: string, mfa: MfaSummary): Html {
  if (!mfa.totp) {
    return html`<h2>Two-step sign-in</h2>
<p>${mfa.passkeys > 0 ? html`On: ${mfa.passkeys} passkey${mfa.passkeys === 1 ? '' : 's'} (below), ${mfa.recovery_codes_left} recovery code${mfa.recovery_codes_left === 1 ? '' : 's'} left. You may add an authenticator app too.` : 'Off. With an authenticator app or a passkey, a stolen password is not enough to sign in.'}</p>
<form method="post" action="/account/totp" novalidate><input type="hidden" name="csrf" value="${csrf}">
${passwordField('totp-password')}${mfa.passkeys > 0 ? codeField('totp-code') : ''}
<button type="submit">Set up an authenticator app</button></form>`;
  }
  return html`<h2>Two-step sign-in</h2>
<p class="ok">On: an authenticator app. ${mfa.recovery_codes_left} recovery code${mfa.recovery_codes_left === 1 ? '' : 's'} left.</p>
<div class="card"><h3>New recovery codes</h3><p class="hint">The old ones stop working.</p>
<form method="post" action="/account/recovery-codes" novalidate><input type="hidden" name="csrf" value="${csrf}">
${passwordField('codes-password')}${codeField('codes-code')}
<button type="submit">Make new recovery codes</button></form></div>
<div class="card"><h3>Turn off the authenticator app</h3>
<form method="post" action="/account/totp/remove" novalidate><input type="hidden" name="csrf" value="${csrf}">
${passwordField('off-password')}${codeField('off-code')}
<button type="submit" class="secondary">Turn off</button></form></div>`;
}

/** The recovery codes, shown once, with their download; then `next`, the way on (back to the account by default). */
export function recoveryCodesPage(codes: readonly string[], next: Html = html`<p><a href="/account">Back to your account</a></p>`): Html {
  const file = `Latchkey recovery codes\nEach works once, in place of a code from your app.\n\n${codes.join('\n')}\n`;
  return html`<p class="notice" role="status">Save these recovery codes somewhere safe: each signs you in once if you lose your app. They are shown only now.</p>
<ul class="codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ul>
<p><a class="button" download="latchkey-recovery-codes.txt" href="data:text/plain;charset=utf-8,${encodeURIComponent(file)}">Download them</a></p>
${next}`;
}

/**
 * The form that confirms a new authenticator app with its first code: posted to `action` with the `hidden` fields;
 * a wrong code is said beside the field.
 */
export function confirmForm(action: string, hidden: Html, error?: AppError, button = 'Turn on'): Html {
  return html`${error ? html`<div class="alert" role="alert" id="confirm-error">${error.message}</div>` : ''}
<form method="post" action="${action}" novalidate>${hidden}
<label for="confirm-code">The six-digit code your app shows</label>
<input id="confirm-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required${error ? html` aria-invalid="true" aria-describedby="confirm-error"` : ''}>
<button type="submit">${button}</button></form>`;
}

const accountConfirmForm = (csrf: string, error?: AppError) => confirmForm('/account/totp/confirm', html`<input type="hidden" name="csrf" value="${csrf}">`, error);

const groupsOf = (secret: string) => secret.match(/.{1,4}/g)!.join(' ');

/** A new authenticator app's setup: its QR code, and its secret as text to type in. */
export const totpSetupView = (setup: TotpEnrolment): Html => html`<p>Scan this code with your authenticator app, or type the secret into it.</p>
<div class="qr" role="img" aria-label="QR code of the authenticator app's setup">${new Html(setup.qr_svg)}</div>
<p>Secret: <code>${groupsOf(setup.secret)}</code></p>`;

export function mfaPages(app: PageApp, kit: PageKit) {
  const schema = <B extends TSchema>(summary: string, body: B, ok: Record<number, unknown>) => ({
    tags,
    summary,
    consumes: FORM_TYPES,
    body,
    response: { ...formResponses, ...ok, 303: redirectResponse('not signed in: to /login (or done: back to /account)'), 401: pageResponse('a wrong password or code: said so'), 409: pageResponse('already set up, or nothing to confirm'), 429: jsonErrorResponse('too many tries (Retry-After)') },
  });
  const proofBody = Type.Object({ password: FormField(4096), code: FormField(64), csrf: FormField(128) });

  /** An AppError a page shows (a wrong password or code, nothing to do); any other is thrown on. */
  const shown = (reply: FastifyReply, session: BrowserSession, err: unknown, body: (err: AppError) => Html) => {
    if (!(err instanceof AppError) || err.status === 429 || err.status >= 500) throw err;
    return kit.send(reply, err.status === 409 ? 409 : 401, { title: TITLE, signedInAs: session.user.email, body: body(err) });
  };
  const backToAccount = (err: AppError) => html`<div class="alert" role="alert">${err.message}</div><p><a href="/account">Back to your account</a></p>`;

  app.post('/account/totp', { config: { html: true }, schema: schema('Set up an authenticator app (HTML form): its QR code and secret', Type.Object({ password: FormField(4096), code: FormField(64), csrf: FormField(128) }), { 200: pageResponse('the QR code, the secret, and the form for the first code') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return session;
    try {
      const proof = { password: request.body.password ?? '', ...(request.body.code ? factorTyped(request.body.code) : {}) };
      const setup = await beginTotpEnrolment(kit.deps, session.user, proof, clientOf(request));
      const csrf = formToken(kit.deps.pageKey, session.sessionId);
      return kit.send(reply, 200, {
        title: 'Set up your authenticator app',
        signedInAs: session.user.email,
        body: html`${totpSetupView(setup)}
${accountConfirmForm(csrf)}`,
      });
    } catch (err) {
      return shown(reply, session, err, backToAccount);
    }
  });

  app.post('/account/totp/confirm', { config: { html: true }, schema: schema('Confirm the new authenticator app with its first code (HTML form): the recovery codes, once', Type.Object({ code: FormField(64), csrf: FormField(128) }), { 200: pageResponse('the recovery codes, shown once') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return session;
    try {
      const codes = await confirmTotp(kit.deps, session.user, (request.body.code ?? '').trim(), clientOf(request));
      return kit.send(reply, 200, { title: 'Save your recovery codes', signedInAs: session.user.email, body: recoveryCodesPage(codes) });
    } catch (err) {
      return shown(reply, session, err, (e) => (e.code === 'invalid_mfa_code' ? accountConfirmForm(formToken(kit.deps.pageKey, session.sessionId), e) : backToAccount(e)));
    }
  });

  app.post('/account/recovery-codes', { config: { html: true }, schema: schema('Make new recovery codes (HTML form)', proofBody, { 200: pageResponse('the new recovery codes, shown once') }) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return session;
    try {
      const codes = await regenerateRecoveryCodes(kit.deps, session.user, request.body.password ?? '', factorTyped(request.body.code), clientOf(request));
      return kit.send(reply, 200, { title: 'Save your recovery codes', signedInAs: session.user.email, body: recoveryCodesPage(codes) });
    } catch (err) {
      return shown(reply, session, err, backToAccount);
    }
  });

  app.post('/account/totp/remove', { config: { html: true }, schema: schema('Turn the authenticator app off (HTML form)', proofBody, {}) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return session;
    try {
      await removeTotp(kit.deps, session.user, request.body.password ?? '', factorTyped(request.body.code), clientOf(request));
      return kit.redirect(reply, '/account?saved=mfa_off');
    } catch (err) {
      return shown(reply, session, err, backToAccount);
    }
  });
}
