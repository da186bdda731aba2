import { Type } from 'typebox';
import { inviteUser } from '../../../auth/reset/operator.js';
import { searchUsers } from '../../../auth/users/user-admin.js';
import { USERS_PAGE_DEFAULT, type AdminUser } from '../../../contracts/users.js';
import { UNSAFE_NAME_CHARACTERS } from '../../../contracts/fields.js';
import { describeDuration } from '../../../core/email-text.js';
import { AppError } from '../../../errors.js';
import { pageResponse, redirectResponse } from '../frame.js';
import { emailProblem, nameProblem } from '../form-checks.js';
import { html, type Html } from '../html.js';
import { FORM_TYPES, FormField, formResponses, whenUtc, type PageApp } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';
import { userActionPages } from './user-actions.js';
import { noticeOf, userPage } from './user-page.js';

/**
 * The console's users section: the users a page at a time (the admin API's search: by email or name, its cursor),
 * a form that creates a user and emails them an invitation to choose their password (../../../auth/reset/operator.ts),
 * and each user's page (./user-page.ts) with what an admin does to them (./user-actions.ts).
 */

const tags = ['pages'];
const TITLE = 'Users';
const NEW_TITLE = 'Create a user';
const SEARCH_MAX = 254;

const LIST_NOTICES: Record<string, string> = { deleted: 'The user was deleted.' };

const usersUrl = (query: Record<string, string | undefined>) => {
  const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  return params.size > 0 ? `/admin/users?${params}` : '/admin/users';
};

const yesNo = (value: boolean) => (value ? 'Yes' : 'No');

function usersTable(users: readonly AdminUser[]): Html {
  return html`<div class="table-wrap"><table>
<caption class="hint">Users in the order they were created</caption>
<thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Verified</th><th scope="col">Disabled</th><th scope="col">Created</th></tr></thead>
<tbody>
${users.map(
  (u) => html`<tr><th scope="row"><a href="/admin/users/${u.id}">${u.email}</a></th><td>${u.name}</td><td>${u.role}</td><td>${yesNo(u.email_verified)}</td><td>${u.disabled_at ? whenUtc(u.disabled_at) : 'No'}</td><td>${whenUtc(u.created_at)}</td></tr>
`,
)}</tbody>
</table></div>`;
}

interface ListView {
  q: string;
  cursor?: string | undefined;
  users: readonly AdminUser[];
  next: string | null;
  notice?: string | undefined;
  problem?: string | undefined;
}

function listPage(view: ListView): Html {
  const invalid = view.problem ? html` aria-invalid="true" aria-describedby="q-error"` : '';
  const paging = [
    view.cursor ? html`<a href="${usersUrl({ q: view.q })}">First page</a>` : '',
    view.next ? html`<a href="${usersUrl({ q: view.q, cursor: view.next })}" rel="next">Next page</a>` : '',
  ].filter((link) => link !== '');
  return html`${view.notice ? html`<p class="notice" role="status">${view.notice}</p>` : ''}
<form method="get" action="/admin/users" role="search">
<label for="q">Search by email or name</label>
<input id="q" name="q" type="search" maxlength="${SEARCH_MAX}" value="${view.q}"${invalid}>
${view.problem ? html`<p class="field-error" id="q-error" role="alert">${view.problem}</p>` : ''}
<button type="submit">Search</button>
</form>
<p><a class="button" href="/admin/users/new">Create a user</a></p>
${view.users.length > 0 ? usersTable(view.users) : html`<p>${view.problem ? '' : view.q ? html`No user matches “${view.q}”.` : 'No users yet.'}</p>`}
${paging.length > 0 ? html`<nav class="paging" aria-label="Pages of users">${paging}</nav>` : ''}`;
}

/** Why the search cannot run as typed, in words; undefined when it can. */
function searchProblem(q: string): string | undefined {
  if (q.length > SEARCH_MAX) return `Search for at most ${SEARCH_MAX} characters.`;
  if (UNSAFE_NAME_CHARACTERS.test(q)) return 'Search without control characters.';
  return undefined;
}

export function userPages(app: PageApp, admin: AdminKit): void {
  app.get(
    '/admin/users',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'The console’s users (HTML): searched by email or name, a page at a time',
        querystring: Type.Object({ q: FormField(1024), cursor: FormField(1024), done: FormField(32) }),
        produces: ['text/html'],
        response: {
          200: pageResponse('a page of users'),
          ...GATE_RESPONSES,
          400: pageResponse('the search or the page link cannot be used'),
        },
      },
    },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      const q = (request.query.q ?? '').trim();
      const { cursor } = request.query;
      const notice = noticeOf(LIST_NOTICES, request.query.done);
      const send = (status: number, view: ListView) => admin.send(reply, status, session, { title: TITLE, section: 'users', body: listPage(view) });
      const problem = searchProblem(q);
      if (problem) return send(400, { q, users: [], next: null, problem });
      try {
        const page = await searchUsers(admin.kit.deps, { text: q === '' ? undefined : q, cursor, limit: USERS_PAGE_DEFAULT });
        return send(200, { q, cursor, users: page.users, next: page.next_cursor, notice });
      } catch (err) {
        if (!(err instanceof AppError && err.code === 'invalid_request')) throw err;
        return send(400, { q, users: [], next: null, problem: 'That page link is not one this console gave: search again.' });
      }
    },
  );
  newUserPages(app, admin);
  userPage(app, admin);
  userActionPages(app, admin);
}

type Problems = Partial<Record<'name' | 'email' | 'role', string>>;

function labelled(id: string, label: string, attributes: Html, problem: string | undefined): Html {
  return html`<label for="${id}">${label}</label>
<input id="${id}" name="${id}" ${attributes}${problem ? html` aria-invalid="true" aria-describedby="${id}-error"` : ''}>
${problem ? html`<p class="field-error" id="${id}-error">${problem}</p>` : ''}`;
}

function newUserForm(csrf: string, invitationTtl: number, values: { name?: string; email?: string; admin?: boolean } = {}, problems: Problems = {}): Html {
  const problemList = Object.values(problems);
  return html`${problemList.length > 0 ? html`<div class="alert" role="alert">${problemList.join(' ')}</div>` : ''}
<p>The new user gets an email with a link to choose their password. The link works once, for ${describeDuration(invitationTtl)}; following it also verifies their address.</p>
<form method="post" action="/admin/users/new" novalidate>
<input type="hidden" name="csrf" value="${csrf}">
${labelled('name', 'Name', html`type="text" autocomplete="off" required maxlength="100" value="${values.name ?? ''}"`, problems.name)}
${labelled('email', 'Email', html`type="email" autocomplete="off" required value="${values.email ?? ''}"`, problems.email)}
<label for="role">Role</label>
<select id="role" name="role"${problems.role ? html` aria-invalid="true" aria-describedby="role-error"` : ''}><option value="user">User</option><option value="admin"${values.admin ? html` selected` : ''}>Administrator</option></select>
${problems.role ? html`<p class="field-error" id="role-error">${problems.role}</p>` : ''}
<button type="submit">Create and send the invitation</button>
</form>
<p><a href="/admin/users">Back to the users</a></p>`;
}

function newUserPages(app: PageApp, admin: AdminKit) {
  const ttl = admin.kit.deps.config.ttl.invitation;
  app.get(
    '/admin/users/new',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'The console’s form that creates a user and invites them (HTML)',
        produces: ['text/html'],
        response: { 200: pageResponse('the form'), ...GATE_RESPONSES },
      },
    },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      return admin.send(reply, 200, session, { title: NEW_TITLE, section: 'users', body: newUserForm(admin.csrfOf(session), ttl) });
    },
  );
  app.post(
    '/admin/users/new',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'Create a user and email them an invitation to choose their password (HTML form)',
        consumes: FORM_TYPES,
        produces: ['text/html'],
        body: Type.Object({ name: FormField(400), email: FormField(1024), role: FormField(16), csrf: FormField(128) }),
        response: {
          ...formResponses,
          303: redirectResponse('created: to the user’s page; or not signed in: to /login'),
          409: pageResponse('the form again: an account has this address'),
          422: pageResponse('the form again, each problem beside its field'),
        },
      },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const values = { name: (request.body.name ?? '').trim(), email: (request.body.email ?? '').trim(), admin: request.body.role === 'admin' };
      const again = (status: number, problems: Problems) =>
        admin.send(reply, status, session, { title: NEW_TITLE, section: 'users', body: newUserForm(admin.csrfOf(session), ttl, values, problems) });
      const role = request.body.role ?? 'user';
      const problems: Problems = { name: nameProblem(values.name), email: emailProblem(values.email), role: role === 'user' || role === 'admin' ? undefined : 'Choose a role: User or Administrator.' };
      for (const key of Object.keys(problems) as (keyof Problems)[]) if (!problems[key]) delete problems[key];
      if (Object.keys(problems).length > 0) return again(422, problems);
      try {
        const { user } = await inviteUser(admin.kit.deps, values, admin.actorOf(session));
        return admin.kit.redirect(reply, `/admin/users/${user.id}?done=invited`);
      } catch (err) {
        if (err instanceof AppError && err.code === 'email_taken') return again(409, { email: 'An account has this address already.' });
        throw err;
      }
    },
  );
}
