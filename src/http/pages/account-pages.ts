import { Type } from 'typebox';
import { renameAccount } from '../../auth/account/account.js';
import { formToken, type BrowserSession } from '../../auth/browser-sessions/browser-sessions.js';
import { describeDevice } from '../../auth/sessions/devices.js';
import { endOtherSessions, endOwnSession, listOwnSessions } from '../../auth/sessions/own-sessions.js';
import { AppError } from '../../errors.js';
import { nameProblem } from './form-checks.js';
import { mfaSection } from './mfa-pages.js';
import { credentialSections } from './credentials-pages.js';
import { passkeySection } from './passkey-pages.js';
import { listPasskeys } from '../../auth/mfa/passkeys.js';
import { mfaSummaryOf } from '../../auth/mfa/factors.js';
import type { MfaSummary } from '../../contracts/mfa.js';
import { endSession } from '../../auth/sessions/sessions.js';
import type { OwnSession } from '../../contracts/sessions.js';
import { clientOf } from '../client.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from './frame.js';
import { html, type Html } from './html.js';
import { FORM_TYPES, FormField, formResponses, SIGN_IN_HERE, type PageApp, type PageKit, whenUtc } from './page-kit.js';

/** The account page (the profile, a rename, where the account is signed in) and signing out, for a signed-in browser. */

const tags = ['pages'];
const TITLE = 'Your account';
const NAME_MAX = 100;

function accountPage(session: BrowserSession, csrf: string, sessions: readonly OwnSession[], mfa: MfaSummary, more: Html, notice: { saved?: string | undefined; nameError?: string | undefined; ended?: string | undefined } = {}): Html {
  const { user } = session;
  const invalid = notice.nameError ? html` aria-invalid="true" aria-describedby="name-error"` : '';
  return html`${notice.saved ? html`<p class="notice" role="status">${notice.saved}</p>` : ''}
<div class="card"><dl>
<dt>Email</dt><dd>${user.email} ${user.emailVerifiedAt ? html`<span class="ok">(verified)</span>` : html`<span class="error">(not verified)</span>`}</dd>
<dt>Member since</dt><dd>${user.createdAt.toISOString().slice(0, 10)}</dd>
</dl></div>
<h2>Name</h2>
<form method="post" action="/account/name" novalidate>
<input type="hidden" name="csrf" value="${csrf}">
<label for="name">Name</label>
<input id="name" name="name" type="text" autocomplete="name" required maxlength="${NAME_MAX}" value="${user.name}"${invalid}>
${notice.nameError ? html`<p class="field-error" id="name-error" role="alert">${notice.nameError}</p>` : ''}
<button type="submit">Save</button>
</form>
${mfaSection(csrf, mfa)}
${more}
<h2>Where you are signed in</h2>
${notice.ended ? html`<p class="notice" role="status">${notice.ended}</p>` : ''}
<ul class="sessions">
${sessions.map(
  (s) => html`<li><strong>${describeDevice(s.user_agent)}</strong>${s.current ? html` <span class="ok">(this browser)</span>` : ''}<br>
<span class="hint">${s.ip_address ?? 'unknown address'} · signed in ${whenUtc(s.created_at)} · last used ${whenUtc(s.last_used_at)}</span>
${s.current ? '' : html`<form method="post" action="/account/sessions/end" class="inline"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="session_id" value="${s.id}"><button type="submit" class="secondary" aria-label="Sign out ${describeDevice(s.user_agent)}, signed in ${whenUtc(s.created_at)}">Sign out</button></form>`}</li>`,
)}
</ul>
${sessions.length > 1 ? html`<form method="post" action="/account/sessions/end-others"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="secondary">Sign out everywhere else</button></form>` : ''}
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="secondary">Sign out</button></form>`;
}

export function accountPages(app: PageApp, kit: PageKit) {
  const sessionsOf = (session: BrowserSession) => listOwnSessions(kit.deps, { userId: session.user.id, sessionId: session.sessionId });
  const mfaOf = (session: BrowserSession) => mfaSummaryOf(kit.deps, session.user.id);
  /** The sections below two-step sign-in: the passkeys, then the address, password, activity, data and deletion. */
  const more = async (session: BrowserSession, csrf: string, mfa: MfaSummary) =>
    html`${passkeySection(csrf, await listPasskeys(kit.deps, session.user), mfa)}${await credentialSections(kit, session, csrf, mfa)}`;
  const show = (session: BrowserSession) => ({ title: TITLE, signedInAs: session.user.email });

  app.get(
    '/account',
    {
      config: { html: true },
      schema: {
        tags,
        summary: 'The account page (HTML): profile, sessions',
        querystring: Type.Object({ saved: FormField(32), ended: FormField(32) }),
        produces: ['text/html'],
        response: { 200: pageResponse('the account'), 303: redirectResponse('not signed in: to /login, back here after'), 503: jsonErrorResponse('the database does not answer') },
      },
    },
    async (request, reply) => {
      const session = await kit.sessionOf(request);
      if (!session) return kit.redirect(reply, SIGN_IN_HERE);
      const notice = { saved: noticeOf(SAVED, request.query.saved), ended: noticeOf(ENDED, request.query.ended) };
      const csrf = formToken(kit.deps.pageKey, session.sessionId);
      const mfa = await mfaOf(session);
      const body = accountPage(session, csrf, await sessionsOf(session), mfa, await more(session, csrf, mfa), notice);
      return kit.send(reply, 200, { ...show(session), body });
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
      const nameError = nameProblem(name);
      if (nameError) {
        const csrf = formToken(kit.deps.pageKey, session.sessionId);
        const mfa = await mfaOf(session);
        const body = accountPage(session, csrf, await sessionsOf(session), mfa, await more(session, csrf, mfa), { nameError });
        return kit.send(reply, 422, { ...show(session), body });
      }
      await renameAccount(kit.deps, session.user.id, name, clientOf(request));
      return kit.redirect(reply, '/account?saved=name');
    },
  );
  sessionPages(app, kit);
  signOutPages(app, kit);
}

const SAVED: Record<string, string> = {
  name: 'Your name was saved.',
  mfa_off: 'The authenticator app is off: your password alone signs you in.',
  email: 'If the new address can be yours, a link to confirm it is on its way there. Your current address keeps working until then.',
  password: 'Your password was changed. Every other device was signed out.',
  passkey: 'Your passkey was added.',
  passkey_removed: 'The passkey was removed.',
};
const ENDED: Record<string, string> = { one: 'That session was signed out.', others: 'Every other session was signed out.' };
/** A notice by its word in the query: one of the table's own, never a property every object has (`constructor`). */
const noticeOf = (table: Record<string, string>, word: string | undefined) => (word !== undefined && Object.hasOwn(table, word) ? table[word] : undefined);

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
      return kit.send(reply, 200, {
        title: 'Sign out',
        signedInAs: session.user.email,
        body: html`<p>Sign out of Latchkey in this browser? Your other devices stay signed in.</p>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${formToken(kit.deps.pageKey, session.sessionId)}"><button type="submit">Sign out</button></form>`,
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
