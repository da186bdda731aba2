import { Type } from 'typebox';
import { renameAccount } from '../../auth/account/account.js';
import { formToken, type BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import type { PageMessages } from '../../i18n/catalogue.js';
import type { Locale } from '../../i18n/locale.js';
import { endOtherSessions, endOwnSession, listOwnSessions } from '../../auth/sessions/own-sessions.js';
import { AppError } from '../../errors.js';
import { nameProblem } from './form-checks.js';
import { mfaSection } from './mfa-pages.js';
import { credentialSections } from './credentials-pages.js';
import { passkeySection } from './passkey-pages.js';
import { APP_REMOVED, appsPages, appsSection } from './apps-pages.js';
import { listConsents } from '../../auth/oauth/consents.js';
import { listPasskeys } from '../../auth/mfa/passkeys.js';
import { mfaSummaryOf } from '../../auth/mfa/factors.js';
import type { MfaSummary } from '../../contracts/mfa.js';
import { endSession } from '../../auth/sessions/sessions.js';
import type { OwnSession } from '../../contracts/sessions.js';
import { clientOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { html, type Html } from './html.js';
import { FORM_TYPES, FormField, formResponses, SIGN_IN_HERE, type PageApp, type PageKit, whenUtc } from './page-kit.js';
import { deviceIn, wordsOf } from './words.js';
import { identitySection } from './upstream-sections.js';

/** The account page (the profile, a rename, where the account is signed in) and signing out, for a signed-in browser. */

const tags = ['pages'];
const NAME_MAX = 100;

function sessionList(t: PageMessages, locale: Locale, csrf: string, sessions: readonly OwnSession[]): Html {
  return html`<ul class="sessions">
${sessions.map((s) => {
  const device = deviceIn(locale, s.user_agent);
  return html`<li><strong>${device}</strong>${s.current ? html` <span class="ok">${t.account.thisBrowser}</span>` : ''}<br>
<span class="hint">${t.account.sessionLine(s.ip_address ?? t.common.unknownAddress, whenUtc(s.created_at), whenUtc(s.last_used_at))}</span>
${s.current ? '' : html`<form method="post" action="/account/sessions/end" class="inline"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="session_id" value="${s.id}"><button type="submit" class="secondary" aria-label="${t.account.signOutSession(device, whenUtc(s.created_at))}">${t.frame.signOut}</button></form>`}</li>`;
})}
</ul>`;
}

interface Shown {
  t: PageMessages;
  locale: Locale;
  csrf: string;
  sessions: readonly OwnSession[];
  mfa: MfaSummary;
  /** The sections below two-step sign-in. */
  more: Html;
}

function accountPage(session: BrowserSession, { t, locale, csrf, sessions, mfa, more }: Shown, notice: { saved?: string | undefined; nameError?: string | undefined; ended?: string | undefined } = {}): Html {
  const { user } = session;
  const invalid = notice.nameError ? html` aria-invalid="true" aria-describedby="name-error"` : '';
  return html`${notice.saved ? html`<p class="notice" role="status">${notice.saved}</p>` : ''}
<div class="card"><dl>
<dt>${t.common.email}</dt><dd>${user.email} ${user.emailVerifiedAt ? html`<span class="ok">${t.account.verified}</span>` : html`<span class="error">${t.account.notVerified}</span>`}</dd>
<dt>${t.account.memberSince}</dt><dd>${user.createdAt.toISOString().slice(0, 10)}</dd>
</dl></div>
<h2>${t.common.name}</h2>
<form method="post" action="/account/name" novalidate>
<input type="hidden" name="csrf" value="${csrf}">
<label for="name">${t.common.name}</label>
<input id="name" name="name" type="text" autocomplete="name" required maxlength="${NAME_MAX}" value="${user.name}"${invalid}>
${notice.nameError ? html`<p class="field-error" id="name-error" role="alert">${notice.nameError}</p>` : ''}
<button type="submit">${t.account.save}</button>
</form>
${mfaSection(t, csrf, mfa)}
${more}
<h2>${t.account.whereSignedIn}</h2>
${notice.ended ? html`<p class="notice" role="status">${notice.ended}</p>` : ''}
${sessionList(t, locale, csrf, sessions)}
${sessions.length > 1 ? html`<form method="post" action="/account/sessions/end-others"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="secondary">${t.account.signOutOthers}</button></form>` : ''}
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="secondary">${t.frame.signOut}</button></form>`;
}

export function accountPages(app: PageApp, kit: PageKit) {
  const sessionsOf = (session: BrowserSession) => listOwnSessions(kit.deps, { userId: session.user.id, sessionId: session.sessionId });
  const mfaOf = (session: BrowserSession) => mfaSummaryOf(kit.deps, session.user.id);
  /** What the page shows: the sessions, the factors, and the sections below two-step sign-in (passkeys, the apps with access, then the address, password, activity, data and deletion). */
  const shown = async (session: BrowserSession, words: { t: PageMessages; locale: Locale }, appsNotice?: string): Promise<Shown> => {
    const csrf = formToken(kit.deps.pageKey, session.sessionId);
    const mfa = await mfaOf(session);
    const sessions = await sessionsOf(session);
    const apps = appsSection(words.t, csrf, await listConsents(kit.deps, session.user.id), appsNotice);
    const more = html`${passkeySection(words.t, csrf, await listPasskeys(kit.deps, session.user), mfa)}${apps}${await identitySection(kit, words.t, session, csrf)}${await credentialSections(kit, words, session, csrf, mfa)}`;
    return { ...words, csrf, sessions, mfa, more };
  };
  const show = (session: BrowserSession, { t, locale }: { t: PageMessages; locale: Locale }) => ({ title: t.account.title, locale, signedInAs: session.user.email });

  app.get(
    '/account',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'The account page (HTML): profile, sessions',
        querystring: Type.Object({ saved: FormField(32), ended: FormField(32), apps: FormField(32) }),
        produces: ['text/html'],
        response: { 200: pageResponse('the account'), 303: redirectResponse('not signed in: to /login, back here after'), 503: jsonErrorResponse('the database does not answer') },
      },
    },
    async (request, reply) => {
      const session = await kit.sessionOf(request);
      if (!session) return kit.redirect(reply, SIGN_IN_HERE);
      const words = wordsOf(request);
      const notice = { saved: noticeOf(words.t.account.saved, request.query.saved), ended: noticeOf(words.t.account.ended, request.query.ended) };
      const body = accountPage(session, await shown(session, words, request.query.apps === APP_REMOVED ? words.t.oauth.removed : undefined), notice);
      return kit.send(reply, 200, { ...show(session, words), body });
    },
  );

  app.post(
    '/account/name',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Change the name shown on the account (HTML form)',
        consumes: FORM_TYPES,
        body: Type.Object({ name: FormField(400), csrf: FormField(128) }),
        response: {
          ...formResponses,
          303: redirectResponse('saved: back to /account; or not signed in: to /login'),
          422: pageResponse('the account page again, saying why the name was refused'),
        },
      },
    },
    async (request, reply) => {
      const session = await kit.sessionOf(request);
      if (!session) return kit.redirect(reply, SIGN_IN_HERE);
      if (!kit.fromOwnForm(request, session.sessionId, request.body.csrf)) return kit.refusedForm(reply);
      const name = (request.body.name ?? '').trim();
      const words = wordsOf(request);
      const nameError = nameProblem(name, words.t);
      if (nameError) {
        const body = accountPage(session, await shown(session, words), { nameError });
        return kit.send(reply, 422, { ...show(session, words), body });
      }
      await renameAccount(kit.deps, session.user.id, name, clientOf(request));
      return kit.redirect(reply, '/account?saved=name');
    },
  );
  sessionPages(app, kit);
  appsPages(app, kit);
  signOutPages(app, kit);
}

/** A notice by its word in the query (`?saved=name`): one of the table's own, never a property every object has (`constructor`). */
const noticeOf = (table: Readonly<Record<string, string>>, word: string | undefined) => (word !== undefined && Object.hasOwn(table, word) ? table[word] : undefined);

/** Ending one of the account's other sessions, or all of them but this browser's, from the account page. */
function sessionPages(app: PageApp, kit: PageKit) {
  const schema = { tags, consumes: FORM_TYPES, response: { ...formResponses, 303: redirectResponse('done: back to /account; or not signed in: to /login') } };
  const one = { ...schema, summary: 'Sign one other session out (HTML form)', body: Type.Object({ session_id: FormField(64), csrf: FormField(128) }) };
  const others = { ...schema, summary: 'Sign every other session out (HTML form)', body: Type.Object({ csrf: FormField(128) }) };
  app.post('/account/sessions/end', { config: { html: true }, schema: one }, async (request, reply) => {
    const session = await kit.sessionOf(request);
    if (!session) return kit.redirect(reply, SIGN_IN_HERE);
    if (!kit.fromOwnForm(request, session.sessionId, request.body.csrf)) return kit.refusedForm(reply);
    // One already ended (another tab got there first) is ended all the same.
    await endOwnSession(kit.deps, { userId: session.user.id, sessionId: session.sessionId }, request.body.session_id ?? '', clientOf(request)).catch((err: unknown) => {
      if (!(err instanceof AppError && err.code === 'session_not_found')) throw err;
    });
    return kit.redirect(reply, '/account?ended=one');
  });
  app.post('/account/sessions/end-others', { config: { html: true }, schema: others }, async (request, reply) => {
    const session = await kit.sessionOf(request);
    if (!session) return kit.redirect(reply, SIGN_IN_HERE);
    if (!kit.fromOwnForm(request, session.sessionId, request.body.csrf)) return kit.refusedForm(reply);
    await endOtherSessions(kit.deps, { userId: session.user.id, sessionId: session.sessionId }, clientOf(request));
    return kit.redirect(reply, '/account?ended=others');
  });
}

function signOutPages(app: PageApp, kit: PageKit) {
  app.get(
    '/logout',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'The sign-out page (HTML): a button that ends this browser session',
        produces: ['text/html'],
        response: { 200: pageResponse('the button'), 303: redirectResponse('not signed in: to /login'), 503: jsonErrorResponse('the database does not answer') },
      },
    },
    async (request, reply) => {
      const session = await kit.sessionOf(request);
      if (!session) return kit.redirect(reply, '/login');
      const { locale, t } = wordsOf(request);
      return kit.send(reply, 200, {
        title: t.account.signOutTitle,
        locale,
        signedInAs: session.user.email,
        body: html`<p>${t.account.signOutQuestion(kit.deps.config.brand.name)}</p>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${formToken(kit.deps.pageKey, session.sessionId)}"><button type="submit">${t.frame.signOut}</button></form>`,
      });
    },
  );

  app.post(
    '/logout',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'Sign out (HTML form): ends this browser session',
        consumes: FORM_TYPES,
        body: Type.Object({ csrf: FormField(128) }),
        response: { ...formResponses, 303: redirectResponse('signed out (or was not signed in): to /login') },
      },
    },
    async (request, reply) => {
      const session = await kit.sessionOf(request);
      if (session) {
        if (!kit.fromOwnForm(request, session.sessionId, request.body.csrf)) return kit.refusedForm(reply);
        await endSession(kit.deps, { userId: session.user.id, sessionId: session.sessionId }, clientOf(request));
      }
      kit.signedOut(reply);
      return kit.redirect(reply, '/login');
    },
  );
}
