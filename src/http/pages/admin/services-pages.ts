import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { BrowserSession } from '../../../auth/browser-sessions/browser-sessions.js';
import {
  createServiceClient,
  findServiceClient,
  listServiceClients,
  removeServiceClient,
  rotateServiceClientSecret,
  SERVICE_NAME_PATTERN,
  SERVICE_SCOPES,
  type ServiceClientCredentials,
  type ServiceClientInfo,
} from '../../../auth/service-clients/service-clients.js';
import { AppError } from '../../../errors.js';
import { pageResponse, redirectResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';

/**
 * The console's service clients (`/admin/services`): the list, a new client, a new secret, a removal, through the
 * domain functions the admin API and `latchkey services` call, audited with the admin as actor. A secret is shown
 * once, on the answer to the form that made it (never in a URL, never cached); a removal is confirmed by typing the
 * client's name.
 */

const tags = ['console'];
const TITLE = 'Service clients';
const LIST = '/admin/services';

const SCOPE_HINTS: Record<(typeof SERVICE_SCOPES)[number], string> = {
  'revocations:read': 'the revocation feed (GET /api/revocations/stream)',
  'users:read': 'finding and reading users (GET /api/admin/users…)',
  admin: 'the whole admin API: users, webhooks, service clients, the audit log',
};
const DONE: Record<string, string> = { removed: 'The service client was removed: its secret no longer works.' };
const noticeOf = (word: string | undefined) => (word !== undefined && Object.hasOwn(DONE, word) ? DONE[word] : undefined);

type Problems = Partial<Record<'name' | 'scopes' | 'confirm', string>>;

const fieldError = (id: string, problem: string | undefined) => (problem ? html`<p class="field-error" id="${id}-error" role="alert">${problem}</p>` : '');
const invalid = (id: string, problem: string | undefined) => (problem ? html` aria-invalid="true" aria-describedby="${id}-error"` : '');
const day = (iso: string | null) => (iso ? html`<time datetime="${iso}">${iso.slice(0, 10)}</time>` : 'never');
const pathOf = (name: string, action: 'rotate' | 'remove') => `${LIST}/${encodeURIComponent(name)}/${action}`;

function clientsTable(clients: readonly ServiceClientInfo[]): Html {
  if (clients.length === 0) return html`<p>No service client yet.</p>`;
  return html`<div class="table-wrap"><table>
<caption class="hint">${clients.length} service client${clients.length === 1 ? '' : 's'}, by name</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Client id</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Secret last rotated</th><th scope="col">Actions</th></tr></thead>
<tbody>${clients.map(
    (c) => html`<tr><th scope="row">${c.name}</th><td><code>${c.client_id}</code></td><td>${c.scopes.join(', ')}</td><td>${day(c.created_at)}</td><td>${day(c.secret_rotated_at)}</td>
<td><a href="${pathOf(c.name, 'rotate')}" aria-label="Rotate secret of ${c.name}">Rotate secret</a> · <a href="${pathOf(c.name, 'remove')}" aria-label="Remove ${c.name}">Remove</a></td></tr>`,
  )}</tbody></table></div>`;
}

function createForm(csrf: string, values: { name?: string; scopes?: readonly string[] } = {}, problems: Problems = {}): Html {
  const chosen = new Set(values.scopes ?? []);
  return html`<h2>New service client</h2>
<form method="post" action="${LIST}" novalidate><input type="hidden" name="csrf" value="${csrf}">
<label for="name">Name</label>
<input id="name" name="name" type="text" autocomplete="off" required maxlength="64" value="${values.name ?? ''}" aria-describedby="name-hint${problems.name ? ' name-error' : ''}"${problems.name ? html` aria-invalid="true"` : ''}>
<p class="hint" id="name-hint">Letters, digits, ".", "_" and "-", from a letter or digit; at most 64.</p>
${fieldError('name', problems.name)}
<fieldset${problems.scopes ? html` aria-describedby="scopes-error"` : ''}><legend>Scopes</legend>
${SERVICE_SCOPES.map(
  (scope) => html`<label class="check" for="scope-${scope}"><input type="checkbox" id="scope-${scope}" name="scopes" value="${scope}"${chosen.has(scope) ? html` checked` : ''}>
<span><code>${scope}</code>: ${SCOPE_HINTS[scope]}</span></label>`,
)}
</fieldset>
${fieldError('scopes', problems.scopes)}
<button type="submit">Create service client</button></form>`;
}

/** The page that shows a secret, the once it is shown. */
function secretPage(client: ServiceClientCredentials, what: string): Html {
  return html`<p class="notice" role="status">${what}</p>
<div class="card"><dl>
<dt>Name</dt><dd>${client.name}</dd>
<dt>Client id</dt><dd><code>${client.client_id}</code></dd>
<dt>Client secret</dt><dd><code>${client.client_secret}</code></dd>
<dt>Scopes</dt><dd>${client.scopes.join(', ')}</dd>
</dl></div>
<p class="alert" role="alert"><strong>Copy the secret now: it will not be shown again.</strong> Latchkey keeps only its hash; if it is lost, rotate the secret to get a new one.</p>
<p>The service calls Latchkey with HTTP Basic authentication: the client id as the user name, the secret as the password.</p>
<p><a href="${LIST}">Back to service clients</a></p>`;
}

/** What is wrong with a new client's fields, if anything. */
function createProblems(name: string, scopes: readonly string[]): Problems {
  const problems: Problems = {};
  if (!SERVICE_NAME_PATTERN.test(name)) problems.name = name === '' ? 'Give the service a name.' : 'Use letters, digits, ".", "_" and "-", from a letter or digit, at most 64 (and not starting with lkc_).';
  if (scopes.length === 0) problems.scopes = 'Choose at least one scope.';
  else if (scopes.some((s) => !(SERVICE_SCOPES as readonly string[]).includes(s))) problems.scopes = 'Choose among the scopes listed.';
  return problems;
}

const scopesOf = (value: string | string[] | undefined) => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export function servicePages(app: PageApp, admin: AdminKit): void {
  const deps = admin.kit.deps;
  const listPage = async (reply: FastifyReply, status: number, session: BrowserSession, form: Html, notice?: string) => {
    const clients = await listServiceClients(deps);
    const body = html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<p>Other services call Latchkey's admin API and revocation feed as service clients, with a client id and secret. A secret is shown once, when it is made.</p>
${clientsTable(clients)}
${form}`;
    return admin.send(reply, status, session, { title: TITLE, section: 'services', body });
  };
  const pageSchema = { tags, hide: true, produces: ['text/html'], response: { 200: pageResponse('the page'), ...GATE_RESPONSES } };

  app.get(
    LIST,
    { config: { html: true }, schema: { ...pageSchema, summary: 'The console: service clients (HTML)', querystring: Type.Object({ done: FormField(32) }) } },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      return listPage(reply, 200, session, createForm(admin.csrfOf(session)), noticeOf(request.query.done));
    },
  );

  app.post(
    LIST,
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'Create a service client (HTML form): its secret on the answer, once',
        consumes: FORM_TYPES,
        body: Type.Object({ name: FormField(400), scopes: Type.Optional(Type.Union([FormField(40), Type.Array(Type.String({ maxLength: 40 }), { maxItems: 10 })])), csrf: FormField(128) }),
        response: { ...formResponses, 200: pageResponse('created: the secret, shown this once'), 303: redirectResponse('not signed in: to /login'), 409: pageResponse('the form again: the name is taken'), 422: pageResponse('the form again, each problem beside its field') },
      },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const name = (request.body.name ?? '').trim();
      const scopes = [...new Set(scopesOf(request.body.scopes))];
      const problems = createProblems(name, scopes);
      const again = (status: number, found: Problems) => listPage(reply, status, session, createForm(admin.csrfOf(session), { name, scopes }, found));
      if (Object.keys(problems).length > 0) return again(422, problems);
      try {
        const created = await createServiceClient(deps, { name, scopes: scopes as (typeof SERVICE_SCOPES)[number][] }, admin.actorOf(session));
        reply.header('cache-control', 'no-store');
        return admin.send(reply, 200, session, { title: 'Service client created', section: 'services', body: secretPage(created, `The service client ${created.name} was created.`) });
      } catch (err) {
        if (err instanceof AppError && err.code === 'service_client_exists') return again(409, { name: 'A service client has this name already.' });
        throw err;
      }
    },
  );
  serviceChangePages(app, admin);
}

/** Rotating a client's secret and removing a client: each a page that asks, then a form that does it. */
function serviceChangePages(app: PageApp, admin: AdminKit): void {
  const deps = admin.kit.deps;
  const NameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });
  const gone = (reply: FastifyReply, session: BrowserSession) =>
    admin.send(reply, 404, session, { title: TITLE, section: 'services', body: html`<p class="alert" role="alert">No service client has this name: it may have been removed.</p><p><a href="${LIST}">Back to service clients</a></p>` });
  /** What `change` gives, or undefined when the client is gone (removed meanwhile, or never there). */
  const unlessGone = <T>(change: Promise<T>): Promise<T | undefined> =>
    change.catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'service_client_not_found') return undefined;
      throw err;
    });
  const found = (name: string) => unlessGone(findServiceClient(deps.db, name));
  const rotateForm = (csrf: string, name: string) => html`<p>A new secret for <strong>${name}</strong>. Its current secret stops working at once, and the revocation streams it opened close: the service is cut off until it is given the new secret, which is shown once, on the next page.</p>
<form method="post" action="${pathOf(name, 'rotate')}"><input type="hidden" name="csrf" value="${csrf}">
<button type="submit" class="danger">Rotate the secret of ${name}</button></form>
<p><a href="${LIST}">Cancel</a></p>`;
  const removeForm = (csrf: string, name: string, problem?: string) => html`<p>Remove <strong>${name}</strong>? Its secret stops working at once, and the revocation streams it opened close. This cannot be undone.</p>
<form method="post" action="${pathOf(name, 'remove')}" novalidate><input type="hidden" name="csrf" value="${csrf}">
<label for="confirm">Type the service client's name, ${name}, to confirm</label>
<input id="confirm" name="confirm" type="text" autocomplete="off" required${invalid('confirm', problem)}>
${fieldError('confirm', problem)}
<button type="submit" class="danger">Remove service client</button></form>
<p><a href="${LIST}">Cancel</a></p>`;
  const getSchema = (summary: string) => ({ tags, hide: true, summary, produces: ['text/html'], params: NameParam, response: { 200: pageResponse('the page'), ...GATE_RESPONSES, 404: pageResponse('no such service client') } });
  const postSchema = (summary: string, extra: Record<number, unknown>) => ({
    tags, hide: true, summary, consumes: FORM_TYPES, params: NameParam,
    body: Type.Object({ confirm: FormField(200), csrf: FormField(128) }),
    response: { ...formResponses, 303: redirectResponse('not signed in: to /login'), 404: pageResponse('no such service client'), ...extra },
  });

  for (const [action, ask] of [['rotate', rotateForm], ['remove', removeForm]] as const) {
    app.get(`${LIST}/:name/${action}`, { config: { html: true }, schema: getSchema(`The console: ${action === 'rotate' ? 'rotate a service client\'s secret' : 'remove a service client'} (HTML)`) }, async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      const client = await found(request.params.name);
      if (!client) return gone(reply, session);
      return admin.send(reply, 200, session, { title: action === 'rotate' ? 'Rotate a secret' : 'Remove a service client', section: 'services', body: ask(admin.csrfOf(session), client.name) });
    });
  }

  app.post(`${LIST}/:name/rotate`, { config: { html: true }, schema: postSchema("Rotate a service client's secret (HTML form): the new one on the answer, once", { 200: pageResponse('rotated: the new secret, shown this once') }) }, async (request, reply) => {
    const session = await admin.adminForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    const rotated = await unlessGone(rotateServiceClientSecret(deps, request.params.name, admin.actorOf(session)));
    if (!rotated) return gone(reply, session);
    reply.header('cache-control', 'no-store');
    return admin.send(reply, 200, session, { title: 'New secret', section: 'services', body: secretPage(rotated, `The secret of ${rotated.name} was rotated: the old one no longer works.`) });
  });

  app.post(`${LIST}/:name/remove`, { config: { html: true }, schema: postSchema('Remove a service client (HTML form), its name typed to confirm', { 422: pageResponse('the form again: the name typed was not the client\'s') }) }, async (request, reply) => {
    const session = await admin.adminForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    const client = await found(request.params.name);
    if (!client) return gone(reply, session);
    if ((request.body.confirm ?? '').trim() !== client.name) {
      return admin.send(reply, 422, session, { title: 'Remove a service client', section: 'services', body: removeForm(admin.csrfOf(session), client.name, `Type ${client.name} exactly to remove it.`) });
    }
    if (!(await unlessGone(removeServiceClient(deps, client.clientId, admin.actorOf(session))))) return gone(reply, session);
    return admin.kit.redirect(reply, `${LIST}?done=removed`);
  });
}
