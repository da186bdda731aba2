import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { BrowserSession } from '../../../auth/browser-sessions/browser-sessions.js';
import { describeDevice } from '../../../auth/sessions/devices.js';
import { listUserSessions, showUser } from '../../../auth/users/user-admin.js';
import { isUuid } from '../../../contracts/ids.js';
import type { AdminSession, AdminUserWithSessions } from '../../../contracts/users.js';
import { AppError } from '../../../errors.js';
import { pageResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { FormField, whenUtc, type PageApp } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';

/**
 * One user's page in the console: their profile, second factors and live sessions, and the forms of what an admin
 * does to them (./user-actions.ts posts them). On the admin's own page, disabling, deleting and resetting factors
 * are not offered: an admin could lock themselves out of the console, which needs a second factor, with one click.
 */

const tags = ['pages'];

/** What a finished action says on the user's page, by its word in the query (`?done=`): never the query itself. */
const NOTICES: Record<string, string> = {
  invited: 'The user was created, and an invitation to choose their password is on its way to them.',
  disabled: 'The account was disabled: it cannot sign in, and every session of it ended.',
  already_disabled: 'The account was disabled already.',
  enabled: 'The account was enabled: it can sign in again.',
  already_enabled: 'The account was not disabled.',
  reset_sent: 'A password reset email is on its way to the user.',
  reset_not_sent: 'No reset email was sent: the account is disabled.',
  verification_sent: 'A verification email is on its way to the user.',
  verification_not_sent: 'No verification email was sent: the address is verified already, or the account is disabled.',
  verified: 'The address is marked verified.',
  already_verified: 'The address was verified already.',
  factors_reset: 'The user’s second factors and recovery codes were removed; they were told by email.',
  no_factors: 'The user had no second factor to remove.',
  session_revoked: 'The session was revoked.',
  session_gone: 'That session had ended already.',
  sessions_revoked: 'Every session of the user was revoked.',
};

/** A notice by its word: one of the table's own, never a property every object has (`constructor`). */
export const noticeOf = (table: Record<string, string>, word: string | undefined) => (word !== undefined && Object.hasOwn(table, word) ? table[word] : undefined);

export interface UserView {
  user: AdminUserWithSessions;
  sessions: readonly AdminSession[];
  /** The admin's own account. */
  own: boolean;
  /** The admin's browser session, marked in the list. */
  currentSession: string;
  csrf: string;
  notice?: string | undefined;
  /** A refusal, at the top. */
  alert?: string | undefined;
  /** Why the typed confirmation of a deletion was refused. */
  deleteProblem?: string | undefined;
}

const button = (view: UserView, path: string, label: string, style = 'secondary', aria?: string) =>
  html`<form method="post" action="/admin/users/${view.user.id}/${path}" class="inline"><input type="hidden" name="csrf" value="${view.csrf}"><button type="submit" class="${style}"${aria ? html` aria-label="${aria}"` : ''}>${label}</button></form>`;

function profile({ user }: UserView): Html {
  return html`<div class="card"><dl>
<dt>Name</dt><dd>${user.name}</dd>
<dt>Email</dt><dd>${user.email} ${user.email_verified ? html`<span class="ok">(verified)</span>` : html`<span class="error">(not verified)</span>`}</dd>
<dt>Role</dt><dd>${user.role}</dd>
<dt>Status</dt><dd>${user.disabled_at ? html`<span class="error">Disabled since ${whenUtc(user.disabled_at)}</span>` : 'Active'}</dd>
<dt>Created</dt><dd>${whenUtc(user.created_at)}</dd>
<dt>Password changed</dt><dd>${user.password_changed_at ? whenUtc(user.password_changed_at) : 'never'}</dd>
<dt>Id</dt><dd><code>${user.id}</code></dd>
</dl></div>`;
}

function factors(view: UserView): Html {
  const { mfa } = view.user;
  const any = mfa.totp || mfa.passkeys > 0;
  return html`<h2>Second factors</h2>
<div class="card"><dl>
<dt>Authenticator app</dt><dd>${mfa.totp ? 'On' : 'Off'}</dd>
<dt>Passkeys</dt><dd>${mfa.passkeys}</dd>
<dt>Recovery codes left</dt><dd>${mfa.recovery_codes_left}</dd>
</dl></div>
${view.own
  ? html`<p class="hint">Your own factors are changed on <a href="/account">your account</a>, with your password and a code: removing them here would shut you out of the console.</p>`
  : any
    ? html`<p class="hint">For a user who lost their factors: sign-in then takes the password alone until they set up another. They are told by email.</p>${button(view, 'mfa-reset', 'Reset second factors', 'danger')}`
    : ''}`;
}

function sessions(view: UserView): Html {
  if (view.sessions.length === 0) return html`<h2>Sessions</h2><p>No live session.</p>`;
  return html`<h2>Sessions</h2>
<div class="table-wrap"><table>
<caption class="hint">Live sessions, oldest first</caption>
<thead><tr><th scope="col">Device</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Last used</th><th scope="col">Action</th></tr></thead>
<tbody>
${view.sessions.map((s) => {
  const device = describeDevice(s.user_agent);
  const yours = s.id === view.currentSession;
  return html`<tr><th scope="row">${device}${yours ? html` <span class="ok">(your session)</span>` : ''}</th><td>${s.ip_address ?? 'unknown'}</td><td>${whenUtc(s.created_at)}</td><td>${whenUtc(s.last_refreshed_at ?? s.created_at)}</td>
<td><form method="post" action="/admin/users/${view.user.id}/sessions/revoke" class="inline"><input type="hidden" name="csrf" value="${view.csrf}"><input type="hidden" name="session_id" value="${s.id}"><button type="submit" class="secondary" aria-label="Revoke the session of ${device}, signed in ${whenUtc(s.created_at)}">Revoke</button></form></td></tr>
`;
})}</tbody>
</table></div>
${button(view, 'sessions/revoke-all', view.own ? 'Revoke all (this signs you out too)' : 'Revoke all')}`;
}

function actions(view: UserView): Html {
  const { user } = view;
  const access = view.own ? '' : user.disabled_at ? button(view, 'enable', 'Enable the account') : button(view, 'disable', 'Disable the account', 'danger');
  const address = user.email_verified ? '' : html`${button(view, 'send-verification', 'Send a verification email')} ${button(view, 'verify-email', 'Mark the address verified')}`;
  return html`<h2>Actions</h2>
<p>${access} ${button(view, 'send-reset', 'Send a password reset email')} ${address}</p>`;
}

function deletion(view: UserView): Html {
  if (view.own) return html`<h2>Delete</h2><p class="hint">This is your own account: delete it from <a href="/account">your account page</a>, not from the console.</p>`;
  const problem = view.deleteProblem;
  return html`<h2>Delete</h2>
<div class="card">
<p>Deleting the account ends its sessions and removes it and its tokens for good; the audit log keeps its address.</p>
<form method="post" action="/admin/users/${view.user.id}/delete" novalidate><input type="hidden" name="csrf" value="${view.csrf}">
<label for="confirm-email">Type the user’s email address, ${view.user.email}, to confirm</label>
<input id="confirm-email" name="confirm_email" type="text" autocomplete="off" required${problem ? html` aria-invalid="true" aria-describedby="confirm-email-error"` : ''}>
${problem ? html`<p class="field-error" id="confirm-email-error" role="alert">${problem}</p>` : ''}
<button type="submit" class="danger">Delete the user</button>
</form></div>`;
}

export const userBody = (view: UserView): Html =>
  html`${view.notice ? html`<p class="notice" role="status">${view.notice}</p>` : ''}${view.alert ? html`<p class="alert" role="alert">${view.alert}</p>` : ''}
${profile(view)}
${actions(view)}
${factors(view)}
${sessions(view)}
${deletion(view)}
<p><a href="/admin/users">Back to the users</a></p>`;

/** The view of a user by id, read now; `user_not_found` when there is none. */
export async function userViewOf(admin: AdminKit, session: BrowserSession, id: string, more: Partial<UserView> = {}): Promise<UserView> {
  const [user, listed] = await Promise.all([showUser(admin.kit.deps, id), listUserSessions(admin.kit.deps, id)]);
  return { user, sessions: listed.sessions, own: user.id === session.user.id, currentSession: session.sessionId, csrf: admin.csrfOf(session), ...more };
}

export const sendUserPage = (admin: AdminKit, reply: FastifyReply, status: number, session: BrowserSession, view: UserView) =>
  admin.send(reply, status, session, { title: view.user.email, section: 'users', body: userBody(view) });

/** The answer for an id that is not a user's: 400 for what cannot be an id, 404 for one no user has. */
export function sendNoUser(admin: AdminKit, reply: FastifyReply, session: BrowserSession, malformed: boolean) {
  const why = malformed ? 'This address does not name a user: a user’s id is a UUID.' : 'No user has this id: they may have been deleted.';
  return admin.send(reply, malformed ? 400 : 404, session, {
    title: malformed ? 'Not a user’s address' : 'No such user',
    section: 'users',
    body: html`<p class="alert" role="alert">${why}</p><p><a href="/admin/users">Back to the users</a></p>`,
  });
}

export const isUnknownUser = (err: unknown) => err instanceof AppError && err.code === 'user_not_found';

/** The path's user id, as the pages take it: any text, checked by the handler (400 or 404 page, never a JSON error). */
export const UserIdParams = Type.Object({ id: Type.String() });

export function userPage(app: PageApp, admin: AdminKit): void {
  app.get(
    '/admin/users/:id',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'A user in the console (HTML): profile, second factors, sessions, and what an admin does to them',
        params: UserIdParams,
        querystring: Type.Object({ done: FormField(32) }),
        produces: ['text/html'],
        response: {
          200: pageResponse('the user'),
          ...GATE_RESPONSES,
          400: pageResponse('not a user’s id'),
          404: pageResponse('no user has this id'),
        },
      },
    },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      const { id } = request.params;
      if (!isUuid(id)) return sendNoUser(admin, reply, session, true);
      try {
        const view = await userViewOf(admin, session, id, { notice: noticeOf(NOTICES, request.query.done) });
        return sendUserPage(admin, reply, 200, session, view);
      } catch (err) {
        if (isUnknownUser(err)) return sendNoUser(admin, reply, session, false);
        throw err;
      }
    },
  );
}
