import type { FastifyReply } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { changePassword, deleteOwnAccount } from '../../auth/account/account.js';
import { listActivity } from '../../auth/account/activity.js';
import { requestEmailChange } from '../../auth/account/email-change.js';
import { exportAccount } from '../../auth/account/export.js';
import type { BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import type { ActivityEvent } from '../../contracts/activity.js';
import type { MfaSummary } from '../../contracts/mfa.js';
import { AppError } from '../../errors.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import type { Locale } from '../../i18n/locale.js';
import { clientOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { emailProblem } from './form-checks.js';
import { html, type Html } from './html.js';
import { codeField, factorTyped } from './mfa-pages.js';
import { FORM_TYPES, FormField, formResponses, SIGN_IN_HERE, type PageApp, type PageKit, whenUtc } from './page-kit.js';
import { deviceIn, errorText, wordsOf } from './words.js';

/**
 * The account page's sensitive changes (the address, the password, deleting the account), its recent activity and
 * "Download my data": the API's own functions, each taking the password, and a code once the account has a factor.
 * A new password ends every session, this browser's too, and opens a new one for it: its cookie changes.
 */

const tags = ['pages'];
const ACTIVITY_SHOWN = 10;

/** The password field, and the code field when the account has a factor a page can take (an authenticator app). */
function proofFields(t: PageMessages, prefix: string, mfa: MfaSummary, label = t.common.yourPassword): Html {
  return html`<label for="${prefix}-password">${label}</label>
<input id="${prefix}-password" name="password" type="password" autocomplete="current-password" required>
${mfa.totp ? codeField(t, `${prefix}-code`) : ''}`;
}

function changeSections(t: PageMessages, csrf: string, mfa: MfaSummary, minLength: number): Html {
  return html`<h2>${t.credentials.emailTitle}</h2>
<form method="post" action="/account/email" novalidate><input type="hidden" name="csrf" value="${csrf}">
<label for="new-email">${t.credentials.newEmail}</label><input id="new-email" name="email" type="email" autocomplete="email" required>
${proofFields(t, 'email', mfa)}
<button type="submit">${t.credentials.sendLink}</button></form>
<h2>${t.credentials.passwordTitle}</h2>
<form method="post" action="/account/password" novalidate><input type="hidden" name="csrf" value="${csrf}">
${proofFields(t, 'pw', mfa, t.credentials.currentPassword)}
<label for="new-password">${t.credentials.newPassword}</label><input id="new-password" name="new_password" type="password" autocomplete="new-password" required minlength="${minLength}">
<p class="hint">${t.credentials.passwordHint}</p>
<button type="submit">${t.credentials.changePassword}</button></form>`;
}

/** The account page's sections for its address, password, activity, data and deletion. */
export async function credentialSections(kit: PageKit, { t, locale }: { t: PageMessages; locale: Locale }, session: BrowserSession, csrf: string, mfa: MfaSummary): Promise<Html> {
  const { events } = await listActivity(kit.deps, session.user.id, { limit: ACTIVITY_SHOWN });
  const passkeyOnly = !mfa.totp && mfa.passkeys > 0;
  const changes = passkeyOnly ? html`<p class="hint">${t.credentials.passkeyOnly}</p>` : changeSections(t, csrf, mfa, kit.deps.config.password.minLength);
  return html`${changes}
<h2>${t.credentials.activity}</h2>
<ul class="sessions">${events.map((e) => activityLine(t, locale, e))}</ul>
<p><a href="/account/export">${t.credentials.download}</a> ${t.credentials.downloadWhat(kit.deps.config.brand.name)}</p>
${passkeyOnly ? '' : deleteSection(t, csrf, mfa, session.user.email)}`;
}

const activityLine = (t: PageMessages, locale: Locale, e: ActivityEvent) =>
  html`<li>${t.credentials.event(e.type)} <span class="hint">· ${whenUtc(e.created_at)} · ${e.ip_address ?? t.common.unknownAddress}${e.user_agent ? html` · ${deviceIn(locale, e.user_agent)}` : ''}</span></li>`;

const deleteSection = (t: PageMessages, csrf: string, mfa: MfaSummary, email: string) => html`<div class="card"><h2>${t.credentials.deleteTitle}</h2>
<p>${t.credentials.deleteWhat}</p>
<form method="post" action="/account/delete" novalidate><input type="hidden" name="csrf" value="${csrf}">
<label for="delete-confirm">${t.credentials.typeEmail(email)}</label><input id="delete-confirm" name="confirm" type="text" autocomplete="off" required>
${proofFields(t, 'delete', mfa)}
<button type="submit" class="danger">${t.credentials.deleteButton}</button></form></div>`;

export function credentialPages(app: PageApp, kit: PageKit) {
  const schema = <B extends TSchema>(summary: string, body: B) => ({
    tags,
    summary,
    consumes: FORM_TYPES,
    body,
    response: {
      ...formResponses,
      200: pageResponse('done, said on a page'),
      303: redirectResponse('done: back to /account; or not signed in: to /login'),
      401: pageResponse('a wrong password or code: said so'),
      409: pageResponse('the address is taken'),
      422: pageResponse('the form was refused: said why'),
      429: jsonErrorResponse('too many tries (Retry-After)'),
    },
  });
  /** The page that says why a change was refused: an AppError, or a problem the page found itself. */
  const refused = (reply: FastifyReply, session: BrowserSession, err: unknown) => {
    if (typeof err !== 'string' && (!(err instanceof AppError) || err.status === 429 || err.status >= 500)) throw err;
    const { locale, t } = wordsOf(reply.request);
    const status = err instanceof AppError && (err.status === 401 || err.status === 409) ? err.status : 422;
    const said = err instanceof AppError ? errorText(t, err) : err;
    return kit.send(reply, status, { title: t.account.title, locale, signedInAs: session.user.email, body: html`<div class="alert" role="alert">${said}</div><p><a href="/account">${t.common.backToAccount}</a></p>` });
  };
  const field = (n: number) => FormField(n);

  app.post('/account/email', { config: { html: true }, schema: schema('Ask to change the address (HTML form): a link to the new one', Type.Object({ email: field(1024), password: field(4096), code: field(64), csrf: field(128) })) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    const email = (request.body.email ?? '').trim();
    const { t } = wordsOf(request);
    const problem = emailProblem(email, t);
    if (problem) return refused(reply, session, problem);
    try {
      await requestEmailChange(kit.deps, session.user, { email, password: request.body.password ?? '', ...factorTyped(request.body.code) }, clientOf(request));
      return kit.redirect(reply, '/account?saved=email');
    } catch (err) {
      // Refused after the password and code were checked: the account's own address, said in the page's words.
      const same = err instanceof AppError && err.code === 'invalid_request' && email.toLowerCase() === session.user.email;
      return refused(reply, session, same ? t.checks.alreadyYourAddress : err);
    }
  });

  app.post('/account/password', { config: { html: true }, schema: schema('Change the password (HTML form): every session ends, this browser gets a new one', Type.Object({ password: field(4096), new_password: field(4096), code: field(64), csrf: field(128) })) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    try {
      const input = { currentPassword: request.body.password ?? '', newPassword: request.body.new_password ?? '', ...factorTyped(request.body.code) };
      const tokens = await changePassword(kit.deps, session.user, input, clientOf(request));
      return kit.signedIn(reply, { sessionId: tokens.sessionId, userId: session.user.id }, '/account?saved=password');
    } catch (err) {
      return refused(reply, session, err);
    }
  });

  app.post('/account/delete', { config: { html: true }, schema: schema('Delete the account (HTML form), its address typed to confirm', Type.Object({ confirm: field(1024), password: field(4096), code: field(64), csrf: field(128) })) }, async (request, reply) => {
    const session = await kit.signedInForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    if ((request.body.confirm ?? '').trim().toLowerCase() !== session.user.email.toLowerCase()) {
      return refused(reply, session, wordsOf(request).t.credentials.typeExactly);
    }
    try {
      await deleteOwnAccount(kit.deps, session.user, { password: request.body.password ?? '', ...factorTyped(request.body.code) }, clientOf(request));
    } catch (err) {
      return refused(reply, session, err);
    }
    kit.signedOut(reply);
    const { locale, t } = wordsOf(request);
    return kit.send(reply, 200, { title: t.credentials.deletedTitle, locale, body: html`<p class="notice" role="status">${t.credentials.deleted}</p>` });
  });

  app.get(
    '/account/export',
    { config: { html: true }, schema: { tags, summary: 'Download my data (a JSON attachment)', response: { 200: { description: 'everything Latchkey holds about the account, as JSON', content: { 'application/json': { schema: Type.Object({}, { additionalProperties: true }) } } }, 303: redirectResponse('not signed in: to /login') } } },
    async (request, reply) => {
      const session = await kit.sessionOf(request);
      if (!session) return kit.redirect(reply, SIGN_IN_HERE);
      const document = await exportAccount(kit.deps, session.user.id);
      return reply.header('content-type', 'application/json; charset=utf-8').header('content-disposition', 'attachment; filename="latchkey-export.json"').send(JSON.stringify(document, null, 2));
    },
  );
}
