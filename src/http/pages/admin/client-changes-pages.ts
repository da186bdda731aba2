import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { BrowserSession } from '../../../auth/browser-sessions/browser-sessions.js';
import { findOAuthClient, isPublicClient, removeOAuthClient, rotateOAuthClientSecret, type OAuthClientCredentials } from '../../../auth/oauth/clients.js';
import { AppError } from '../../../errors.js';
import { pageResponse, redirectResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';

/** Rotating an OAuth client's secret and removing a client, in the console: each a page that asks, then a form that does it. */

const tags = ['console'];
export const CLIENTS = '/admin/clients';
const TITLE = 'OAuth clients';

export const clientPathOf = (name: string, action: 'rotate' | 'remove') => `${CLIENTS}/${encodeURIComponent(name)}/${action}`;
export const day = (iso: string | null) => (iso ? html`<time datetime="${iso}">${iso.slice(0, 10)}</time>` : 'never');

const fieldError = (id: string, problem: string | undefined) => (problem ? html`<p class="field-error" id="${id}-error" role="alert">${problem}</p>` : '');
const invalid = (id: string, problem: string | undefined) => (problem ? html` aria-invalid="true" aria-describedby="${id}-error"` : '');

const back = html`<p><a href="${CLIENTS}">Back to OAuth clients</a></p>`;

const rotateForm = (csrf: string, name: string) => html`<p>A new secret for <strong>${name}</strong>. Its current secret stops working at once: the application cannot exchange codes or refresh tokens until it is given the new one, which is shown once, on the next page. Its users' sessions go on.</p>
<form method="post" action="${clientPathOf(name, 'rotate')}"><input type="hidden" name="csrf" value="${csrf}">
<button type="submit" class="danger">Rotate the secret of ${name}</button></form>
<p><a href="${CLIENTS}">Cancel</a></p>`;

const removeForm = (csrf: string, name: string, problem?: string) => html`<p>Remove <strong>${name}</strong>? Its secret stops working at once, and every session it holds ends: its users are signed out of it. This cannot be undone.</p>
<form method="post" action="${clientPathOf(name, 'remove')}" novalidate><input type="hidden" name="csrf" value="${csrf}">
<label for="confirm">Type the client's name, ${name}, to confirm</label>
<input id="confirm" name="confirm" type="text" autocomplete="off" required${invalid('confirm', problem)}>
${fieldError('confirm', problem)}
<button type="submit" class="danger">Remove OAuth client</button></form>
<p><a href="${CLIENTS}">Cancel</a></p>`;

/** The page that shows a secret, the once it is shown (or says that the client has none). */
export function secretPage(client: OAuthClientCredentials, what: string): Html {
  const none = client.type === 'public' ? 'none: a public client proves each code with PKCE alone' : 'none: it authenticates with its own keys (private_key_jwt)';
  return html`<p class="notice" role="status">${what}</p>
<div class="card"><dl>
<dt>Name</dt><dd>${client.name}</dd>
<dt>Client id</dt><dd><code>${client.client_id}</code></dd>
<dt>Client secret</dt><dd>${client.client_secret ? html`<code>${client.client_secret}</code>` : none}</dd>
<dt>Redirect URIs</dt><dd>${client.redirect_uris.join(' ')}</dd>
</dl></div>
${client.client_secret ? html`<p class="alert" role="alert"><strong>Copy the secret now: it will not be shown again.</strong> Latchkey keeps only its hash; if it is lost, rotate the secret to get a new one.</p>` : ''}
<p><a href="${CLIENTS}">Back to OAuth clients</a></p>`;
}

const noSecret = (name: string): Html => html`<p class="alert" role="alert">${name} has no secret to rotate: it is a public client, or authenticates with its own keys.</p>${back}`;

export function clientChangePages(app: PageApp, admin: AdminKit): void {
  const deps = admin.kit.deps;
  const NameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });
  const send = (reply: FastifyReply, status: number, session: BrowserSession, title: string, body: Html) => admin.send(reply, status, session, { title, section: 'clients', body });
  const gone = (reply: FastifyReply, session: BrowserSession) =>
    send(reply, 404, session, TITLE, html`<p class="alert" role="alert">No OAuth client has this name: it may have been removed.</p>${back}`);
  /** What `change` gives, or undefined when the client is gone (removed meanwhile, or never there). */
  const unlessGone = <T>(change: Promise<T>): Promise<T | undefined> =>
    change.catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'oauth_client_not_found') return undefined;
      throw err;
    });
  const found = (name: string) => unlessGone(findOAuthClient(deps.db, name));
  const getSchema = (summary: string) => ({
    tags, hide: true, summary, produces: ['text/html'], params: NameParam,
    response: { 200: pageResponse('the page'), ...GATE_RESPONSES, 404: pageResponse('no such OAuth client'), 409: pageResponse('a client without a secret: nothing to rotate') },
  });
  const postSchema = (summary: string, extra: Record<number, unknown>) => ({
    tags, hide: true, summary, consumes: FORM_TYPES, params: NameParam,
    body: Type.Object({ confirm: FormField(200), csrf: FormField(128) }),
    response: { ...formResponses, 303: redirectResponse('not signed in: to /login'), 404: pageResponse('no such OAuth client'), ...extra },
  });

  app.get(`${CLIENTS}/:name/rotate`, { config: { html: true }, schema: getSchema("The console: rotate an OAuth client's secret (HTML)") }, async (request, reply) => {
    const session = await admin.adminOf(request, reply);
    if (!('user' in session)) return reply;
    const client = await found(request.params.name);
    if (!client) return gone(reply, session);
    if (!client.secretHash) return send(reply, 409, session, 'Rotate a secret', noSecret(client.name));
    return send(reply, 200, session, 'Rotate a secret', rotateForm(admin.csrfOf(session), client.name));
  });

  app.get(`${CLIENTS}/:name/remove`, { config: { html: true }, schema: getSchema('The console: remove an OAuth client (HTML)') }, async (request, reply) => {
    const session = await admin.adminOf(request, reply);
    if (!('user' in session)) return reply;
    const client = await found(request.params.name);
    if (!client) return gone(reply, session);
    return send(reply, 200, session, 'Remove an OAuth client', removeForm(admin.csrfOf(session), client.name));
  });

  const rotated = { 200: pageResponse('rotated: the new secret, shown this once'), 409: pageResponse('a client without a secret: nothing to rotate') };
  app.post(`${CLIENTS}/:name/rotate`, { config: { html: true }, schema: postSchema("Rotate an OAuth client's secret (HTML form): the new one on the answer, once", rotated) }, async (request, reply) => {
    const session = await admin.adminForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    const client = await found(request.params.name);
    if (!client) return gone(reply, session);
    if (isPublicClient(client) || !client.secretHash) return send(reply, 409, session, 'Rotate a secret', noSecret(client.name));
    const done = await unlessGone(rotateOAuthClientSecret(deps, client.clientId, admin.actorOf(session)));
    if (!done) return gone(reply, session);
    reply.header('cache-control', 'no-store');
    return send(reply, 200, session, 'New secret', secretPage(done, `The secret of ${done.name} was rotated: the old one no longer works.`));
  });

  const mistyped = { 422: pageResponse("the form again: the name typed was not the client's") };
  app.post(`${CLIENTS}/:name/remove`, { config: { html: true }, schema: postSchema('Remove an OAuth client (HTML form), its name typed to confirm', mistyped) }, async (request, reply) => {
    const session = await admin.adminForm(request, reply, request.body.csrf);
    if (!('user' in session)) return reply;
    const client = await found(request.params.name);
    if (!client) return gone(reply, session);
    if ((request.body.confirm ?? '').trim() !== client.name) {
      return send(reply, 422, session, 'Remove an OAuth client', removeForm(admin.csrfOf(session), client.name, `Type ${client.name} exactly to remove it.`));
    }
    if (!(await unlessGone(removeOAuthClient(deps, client.clientId, admin.actorOf(session))))) return gone(reply, session);
    return admin.kit.redirect(reply, `${CLIENTS}?done=removed`);
  });
}
