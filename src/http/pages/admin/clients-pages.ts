import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { BrowserSession } from '../../../auth/browser-sessions/browser-sessions.js';
import {
  createOAuthClient,
  listOAuthClients,
  OAUTH_CLIENT_NAME_PATTERN,
  type NewOAuthClient,
  type OAuthClientInfo,
} from '../../../auth/oauth/clients.js';
import { AppError, type ErrorDetail } from '../../../errors.js';
import { pageResponse, redirectResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';
import { clientChangePages, CLIENTS, clientPathOf, day, secretPage } from './client-changes-pages.js';

/**
 * The console's OAuth clients (`/admin/clients`): the applications that sign their users in through Latchkey, a new
 * one, a new secret, a removal (./client-changes-pages.ts), through the domain functions the admin API and
 * `latchkey clients` call, audited with the admin as actor. A secret is shown once, on the answer to the form that
 * made it (never in a URL, never cached); a removal is confirmed by typing the client's name.
 */

const tags = ['console'];
const TITLE = 'OAuth clients';
const DONE: Record<string, string> = { removed: 'The OAuth client was removed: its secret no longer works and its sessions ended.' };
const noticeOf = (word: string | undefined) => (word !== undefined && Object.hasOwn(DONE, word) ? DONE[word] : undefined);
// The JSON of a JWK Set of a few public keys fits well within this.
const JWKS_MAX = 16_000;

/** What the form was sent with, to show it again. */
interface Typed {
  name: string;
  redirectUris: string;
  postLogoutRedirectUris: string;
  backchannelLogoutUri: string;
  kind: 'secret' | 'public' | 'keys';
  firstParty: boolean;
  jwks: string;
}
const EMPTY: Typed = { name: '', redirectUris: '', postLogoutRedirectUris: '', backchannelLogoutUri: '', kind: 'secret', firstParty: false, jwks: '' };

const problemOf = (problems: readonly ErrorDetail[], field: string) =>
  problems.filter((p) => p.field === field || p.field.startsWith(`${field}.`)).map((p) => (p.field === field ? p.message : `${p.field.slice(field.length + 1)}: ${p.message}`)).join('; ');

/** A field's error under it, and what its input says of it. */
function fieldError(id: string, message: string): { attrs: Html | string; note: Html | string } {
  if (!message) return { attrs: '', note: '' };
  return { attrs: html` aria-invalid="true" aria-describedby="${id}-error"`, note: html`<p class="field-error" id="${id}-error" role="alert">${message}</p>` };
}

function clientsTable(clients: readonly OAuthClientInfo[]): Html {
  if (clients.length === 0) return html`<p>No OAuth client yet.</p>`;
  return html`<div class="table-wrap"><table>
<caption class="hint">${clients.length} OAuth client${clients.length === 1 ? '' : 's'}, by name</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Client id</th><th scope="col">Type</th><th scope="col">Redirect URIs</th><th scope="col">Created</th><th scope="col">Secret last rotated</th><th scope="col">Actions</th></tr></thead>
<tbody>${clients.map(
    (c) => html`<tr><th scope="row">${c.name}</th><td><code>${c.client_id}</code></td><td>${c.type}${c.first_party ? ', first party' : ''}<br><span class="hint">${c.token_endpoint_auth_methods.join(', ')}</span></td>
<td>${c.redirect_uris.map((u, i) => html`${i > 0 ? html`<br>` : ''}<span class="url">${u}</span>`)}</td><td>${day(c.created_at)}</td><td>${day(c.secret_rotated_at)}</td>
<td>${c.token_endpoint_auth_methods.includes('client_secret_basic') ? html`<a href="${clientPathOf(c.name, 'rotate')}" aria-label="Rotate secret of ${c.name}">Rotate secret</a> · ` : ''}<a href="${clientPathOf(c.name, 'remove')}" aria-label="Remove ${c.name}">Remove</a></td></tr>`,
  )}</tbody></table></div>`;
}

function createForm(csrf: string, typed: Typed = EMPTY, problems: readonly ErrorDetail[] = []): Html {
  const name = fieldError('name', problemOf(problems, 'name'));
  const redirect = fieldError('redirect_uris', problemOf(problems, 'redirect_uris'));
  const bye = fieldError('post_logout_redirect_uris', problemOf(problems, 'post_logout_redirect_uris'));
  const bcl = fieldError('backchannel_logout_uri', problemOf(problems, 'backchannel_logout_uri'));
  const jwks = fieldError('jwks', problemOf(problems, 'jwks'));
  const kind = (value: Typed['kind'], label: string) =>
    html`<label class="check" for="kind-${value}"><input type="radio" id="kind-${value}" name="kind" value="${value}"${typed.kind === value ? html` checked` : ''}> <span>${label}</span></label>`;
  return html`<h2>New OAuth client</h2>
<form method="post" action="${CLIENTS}" novalidate><input type="hidden" name="csrf" value="${csrf}">
<label for="name">Name</label>
<input id="name" name="name" type="text" autocomplete="off" required maxlength="64" value="${typed.name}"${name.attrs}>
<p class="hint">The name users see on the consent page: letters, digits, ".", "_" and "-", from a letter or digit; at most 64.</p>${name.note}
<label for="redirect_uris">Redirect URIs</label>
<input id="redirect_uris" name="redirect_uris" type="text" autocomplete="off" required value="${typed.redirectUris}"${redirect.attrs}>
<p class="hint">Where the application receives its codes, separated by spaces, compared exactly: https, http on localhost, or a private-use scheme (com.example.app:/callback); no fragment.</p>${redirect.note}
<label for="post_logout_redirect_uris">Post-logout redirect URIs (optional)</label>
<input id="post_logout_redirect_uris" name="post_logout_redirect_uris" type="text" autocomplete="off" value="${typed.postLogoutRedirectUris}"${bye.attrs}>${bye.note}
<label for="backchannel_logout_uri">Back-channel logout URI (optional)</label>
<input id="backchannel_logout_uri" name="backchannel_logout_uri" type="url" autocomplete="off" value="${typed.backchannelLogoutUri}"${bcl.attrs}>${bcl.note}
<fieldset><legend>How it authenticates</legend>
${kind('secret', 'With a client secret (a server-side application)')}
${kind('public', 'Public: no secret, PKCE alone (a single-page or mobile application)')}
${kind('keys', 'With its own keys (private_key_jwt): give its public keys below')}
</fieldset>
<label for="jwks">Public keys (a JWK Set, as JSON; with its own keys only)</label>
<input id="jwks" name="jwks" type="text" autocomplete="off" maxlength="${JWKS_MAX}" value="${typed.jwks}"${jwks.attrs}>${jwks.note}
<label class="check" for="first_party"><input type="checkbox" id="first_party" name="first_party" value="on"${typed.firstParty ? html` checked` : ''}> <span>First party: an application of your own, whose users are not asked for their consent</span></label>
<button type="submit">Create OAuth client</button></form>`;
}

const urisOf = (value: string) => value.split(/\s+/).filter(Boolean);

/** The new client the form asks for, or what is wrong with it before the domain looks (the domain checks the rest). */
function asked(typed: Typed): NewOAuthClient | ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  if (!OAUTH_CLIENT_NAME_PATTERN.test(typed.name)) {
    problems.push({ field: 'name', message: typed.name === '' ? 'Give the application a name.' : 'Use letters, digits, ".", "_" and "-", from a letter or digit, at most 64 (and not starting with lko_).' });
  }
  if (urisOf(typed.redirectUris).length === 0) problems.push({ field: 'redirect_uris', message: 'Give at least one redirect URI.' });
  let jwks: NewOAuthClient['jwks'] = null;
  if (typed.kind === 'keys') {
    try {
      jwks = JSON.parse(typed.jwks) as NewOAuthClient['jwks'];
      if (typeof jwks !== 'object' || jwks === null || Array.isArray(jwks)) throw new Error('not an object');
    } catch {
      problems.push({ field: 'jwks', message: typed.jwks === '' ? 'Give its public keys, or choose another way.' : 'Paste a JWK Set as JSON: {"keys": [...]}.' });
    }
  } else if (typed.jwks !== '') problems.push({ field: 'jwks', message: 'Keys are for a client that authenticates with its own keys.' });
  if (problems.length > 0) return problems;
  return {
    name: typed.name,
    redirectUris: urisOf(typed.redirectUris),
    postLogoutRedirectUris: urisOf(typed.postLogoutRedirectUris),
    backchannelLogoutUri: typed.backchannelLogoutUri || null,
    public: typed.kind === 'public',
    firstParty: typed.firstParty,
    jwks,
  };
}

const CreateBody = Type.Object({
  name: FormField(400),
  redirect_uris: FormField(44_000),
  post_logout_redirect_uris: FormField(44_000),
  backchannel_logout_uri: FormField(2100),
  kind: FormField(16),
  first_party: FormField(8),
  jwks: FormField(JWKS_MAX),
  csrf: FormField(128),
});

const typedOf = (b: Partial<Record<keyof typeof CreateBody.properties, string>>): Typed => ({
  name: (b.name ?? '').trim(),
  redirectUris: (b.redirect_uris ?? '').trim(),
  postLogoutRedirectUris: (b.post_logout_redirect_uris ?? '').trim(),
  backchannelLogoutUri: (b.backchannel_logout_uri ?? '').trim(),
  kind: b.kind === 'public' || b.kind === 'keys' ? b.kind : 'secret',
  firstParty: b.first_party === 'on',
  jwks: (b.jwks ?? '').trim(),
});

export function oauthClientPages(app: PageApp, admin: AdminKit): void {
  const deps = admin.kit.deps;
  const listPage = async (reply: FastifyReply, status: number, session: BrowserSession, form: Html, notice?: string) => {
    const clients = await listOAuthClients(deps);
    const body = html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<p>Applications sign their users in through Latchkey with OpenID Connect as OAuth clients. A client secret is shown once, when it is made.</p>
${clientsTable(clients)}
${form}`;
    return admin.send(reply, status, session, { title: TITLE, section: 'clients', body });
  };
  const pageSchema = { tags, hide: true, produces: ['text/html'], response: { 200: pageResponse('the page'), ...GATE_RESPONSES } };

  app.get(
    CLIENTS,
    { config: { html: true }, schema: { ...pageSchema, summary: 'The console: OAuth clients (HTML)', querystring: Type.Object({ done: FormField(32) }) } },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      return listPage(reply, 200, session, createForm(admin.csrfOf(session)), noticeOf(request.query.done));
    },
  );

  app.post(
    CLIENTS,
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'Create an OAuth client (HTML form): its secret, if it has one, on the answer, once',
        consumes: FORM_TYPES,
        body: CreateBody,
        response: { ...formResponses, 200: pageResponse('created: the secret, shown this once'), 303: redirectResponse('not signed in: to /login'), 409: pageResponse('the form again: the name is taken'), 422: pageResponse('the form again, each problem beside its field') },
      },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const typed = typedOf(request.body);
      const again = (status: number, found: readonly ErrorDetail[]) => listPage(reply, status, session, createForm(admin.csrfOf(session), typed, found));
      const input = asked(typed);
      if (Array.isArray(input)) return again(422, input);
      try {
        const created = await createOAuthClient(deps, input, admin.actorOf(session));
        reply.header('cache-control', 'no-store');
        return admin.send(reply, 200, session, { title: 'OAuth client created', section: 'clients', body: secretPage(created, `The OAuth client ${created.name} was created.`) });
      } catch (err) {
        if (err instanceof AppError && err.code === 'oauth_client_exists') return again(409, [{ field: 'name', message: 'An OAuth client has this name already.' }]);
        if (err instanceof AppError && err.code === 'invalid_request' && err.details) return again(422, err.details);
        throw err;
      }
    },
  );
  clientChangePages(app, admin);
}
