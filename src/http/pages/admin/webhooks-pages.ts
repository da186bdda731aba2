import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { BrowserSession } from '../../../auth/browser-sessions/browser-sessions.js';
import type { EventType } from '../../../core/events.js';
import type { ErrorDetail } from '../../../errors.js';
import { AppError } from '../../../errors.js';
import {
  addWebhookEndpoint,
  countDeliveriesByEndpoint,
  EVENT_TYPES,
  listWebhookEndpoints,
  removeWebhookEndpoint,
  WEBHOOK_URL_MAX,
  webhookRegistrationProblems,
  type WebhookEndpointView,
} from '../../../webhooks/endpoints.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, whenUtc } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';
import { webhookDeliveryPages } from './webhook-deliveries-pages.js';

/**
 * The console's webhooks, `/admin/webhooks`: the endpoints with their backlog and dead deliveries, adding one (its
 * signing secret shown once), removing one; their deliveries are ./webhook-deliveries-pages.ts. The same domain
 * functions and checks as the admin API's `/api/admin/webhooks` (src/webhooks/endpoints.ts).
 */

const tags = ['pages'];
const ENDPOINT_ID = Type.String({ minLength: 4, maxLength: 100, pattern: '^wh_[A-Za-z0-9_-]+$' });
const DONE: Record<string, string> = { removed: 'The endpoint was removed: nothing more is posted to it.' };

/** What the form was sent with, to show it again. */
interface Typed {
  url: string;
  events: string[];
  backchannel: boolean;
  audience: string;
}
const EMPTY: Typed = { url: '', events: [], backchannel: false, audience: '' };

const errorOf = (problems: readonly ErrorDetail[], field: string) => problems.filter((p) => p.field === field).map((p) => p.message).join('; ');

/** A field's error under it, and what its input says of it. */
function fieldError(id: string, message: string): { attrs: Html | string; note: Html | string } {
  if (!message) return { attrs: '', note: '' };
  return { attrs: html` aria-invalid="true" aria-describedby="${id}-error"`, note: html`<p class="field-error" id="${id}-error" role="alert">${message}</p>` };
}

export function addForm(csrf: string, typed: Typed = EMPTY, problems: readonly ErrorDetail[] = []): Html {
  const url = fieldError('url', errorOf(problems, 'url') ? `The URL ${errorOf(problems, 'url')}.` : '');
  const events = fieldError('events', errorOf(problems, 'events') ? `Events: ${errorOf(problems, 'events')}.` : '');
  const audience = fieldError('audience', errorOf(problems, 'audience') ? `The audience ${errorOf(problems, 'audience')}.` : '');
  return html`<h2 id="add">Add an endpoint</h2>
<form method="post" action="/admin/webhooks" novalidate><input type="hidden" name="csrf" value="${csrf}">
<label for="url">URL</label>
<input id="url" name="url" type="url" required maxlength="${WEBHOOK_URL_MAX}" autocomplete="off" value="${typed.url}"${url.attrs}>
<p class="hint">An http:// or https:// address that takes a POST for each event.</p>${url.note}
<fieldset${events.attrs === '' ? '' : html` aria-describedby="events-error"`}><legend>Events to post</legend>
${EVENT_TYPES.map((type) => html`<label class="check"><input type="checkbox" name="events" value="${type}"${typed.events.includes(type) ? ' checked' : ''}> ${type}</label>`)}
</fieldset>${events.note}
<label class="check"><input type="checkbox" id="backchannel" name="backchannel_logout" value="on"${typed.backchannel ? ' checked' : ''}> Back-channel logout: post session.revoked as OpenID Connect logout tokens</label>
<label for="audience">Audience of the logout tokens (the receiver's client id)</label>
<input id="audience" name="audience" type="text" autocomplete="off" value="${typed.audience}"${audience.attrs}>
<p class="hint">Only for back-channel logout; leave it empty otherwise.</p>${audience.note}
<button type="submit">Add the endpoint</button>
</form>`;
}

const eventsOf = (w: WebhookEndpointView) =>
  w.backchannel_logout_audience === null ? w.events.join(', ') : html`session.revoked, as logout tokens for <code>${w.backchannel_logout_audience}</code>`;

function listBody(endpoints: readonly WebhookEndpointView[], counts: Map<string, { pending: number; dead: number }>, csrf: string, done: string | undefined): Html {
  const rows = endpoints.map((w) => {
    const c = counts.get(w.id) ?? { pending: 0, dead: 0 };
    const deliveries = `/admin/webhooks/deliveries?endpoint=${encodeURIComponent(w.id)}`;
    return html`<tr><td><span class="url">${w.url}</span>${w.disabled_at ? ' (disabled)' : ''}<br><code class="hint">${w.id}</code></td><td>${eventsOf(w)}</td><td>${whenUtc(w.created_at)}</td>
<td><a href="${deliveries}&amp;state=pending">${c.pending}</a></td><td><a href="${deliveries}&amp;state=dead">${c.dead}</a></td>
<td><a href="${deliveries}">Deliveries</a> · <a href="/admin/webhooks/${w.id}/remove">Remove</a></td></tr>`;
  });
  return html`${done ? html`<p class="notice" role="status">${done}</p>` : ''}
<p>Each endpoint receives the events it names, signed with its secret. <a href="/admin/webhooks/deliveries">Every delivery</a> · <a href="/admin/webhooks/deliveries?state=dead">the dead ones</a></p>
${endpoints.length === 0
  ? html`<p>No endpoint yet.</p>`
  : html`<div class="table-wrap"><table><caption>Webhook endpoints</caption>
<thead><tr><th scope="col">Endpoint</th><th scope="col">Events</th><th scope="col">Added</th><th scope="col">Backlog</th><th scope="col">Dead</th><th scope="col">Actions</th></tr></thead>
<tbody>${rows}</tbody></table></div>`}
${addForm(csrf)}`;
}

function addedBody(w: WebhookEndpointView, secret: string): Html {
  return html`<p class="notice" role="status">The endpoint was added. Its signing secret is shown this once: put it in the receiver's configuration now.</p>
<div class="card"><dl><dt>URL</dt><dd>${w.url}</dd><dt>Events</dt><dd>${eventsOf(w)}</dd><dt>Id</dt><dd><code>${w.id}</code></dd></dl></div>
<label for="secret">Signing secret</label>
<input id="secret" type="text" readonly autocomplete="off" spellcheck="false" value="${secret}">
<p class="hint">Deliveries are signed as Standard Webhooks says, with this secret. Latchkey keeps it sealed and cannot show it again.</p>
<p><a href="/admin/webhooks">Back to the webhooks</a></p>`;
}

/** The form's fields as the registration's: a checkbox sends its value once per box, a lone one as a string. */
function typedOf(body: { url?: string | undefined; events?: string | string[] | undefined; backchannel_logout?: string | undefined; audience?: string | undefined }): Typed {
  return {
    url: (body.url ?? '').trim(),
    events: body.events === undefined ? [] : typeof body.events === 'string' ? [body.events] : body.events,
    backchannel: body.backchannel_logout !== undefined,
    audience: body.audience ?? '',
  };
}

export function webhookPages(app: PageApp, admin: AdminKit): void {
  const { deps } = admin.kit;
  const listPage = async (reply: FastifyReply, session: BrowserSession, status: number, done?: string) => {
    const body = listBody(await listWebhookEndpoints(deps), await countDeliveriesByEndpoint(deps), admin.csrfOf(session), done);
    return admin.send(reply, status, session, { title: 'Webhooks', section: 'webhooks', body });
  };

  app.get(
    '/admin/webhooks',
    { config: { html: true }, schema: { tags, hide: true, summary: 'The webhook endpoints, their backlog and dead deliveries, and a form to add one (HTML)', querystring: Type.Object({ done: FormField(32) }), produces: ['text/html'], response: { 200: pageResponse('the endpoints'), ...GATE_RESPONSES } } },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      const done = request.query.done;
      return listPage(reply, session, 200, done !== undefined && Object.hasOwn(DONE, done) ? DONE[done] : undefined);
    },
  );

  const AddBody = Type.Object({
    url: FormField(8192),
    events: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Array(Type.String({ maxLength: 64 }), { maxItems: 20 })])),
    backchannel_logout: FormField(8),
    audience: FormField(1000),
    csrf: FormField(128),
  });
  app.post(
    '/admin/webhooks',
    {
      config: { html: true },
      schema: { tags, hide: true, summary: 'Add a webhook endpoint (HTML form): its signing secret, shown once', consumes: FORM_TYPES, body: AddBody, response: { ...formResponses, 200: pageResponse('added: the signing secret, shown once'), 303: redirectResponse('not signed in: to /login'), 422: pageResponse('the endpoints again, the form saying why it was refused') } },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const typed = typedOf(request.body);
      const audience = typed.backchannel || typed.audience.trim() !== '' ? typed.audience : undefined;
      const refuse = async (problems: readonly ErrorDetail[]) => {
        const body = html`<p class="alert" role="alert">The endpoint was not added: see below.</p>${addForm(admin.csrfOf(session), typed, problems)}<p><a href="/admin/webhooks">Back to the webhooks</a></p>`;
        return admin.send(reply, 422, session, { title: 'Add a webhook endpoint', section: 'webhooks', body });
      };
      const problems = webhookRegistrationProblems({ url: typed.url, events: typed.events, backchannelLogout: typed.backchannel, audience });
      if (problems.length > 0) return refuse(problems);
      try {
        const events = typed.events as EventType[];
        const created = await addWebhookEndpoint(deps, { url: typed.url, events, ...(typed.backchannel ? { backchannelAudience: audience!.trim() } : {}) }, admin.actorOf(session));
        const { secret, ...endpoint } = created;
        reply.header('cache-control', 'no-store');
        return admin.send(reply, 200, session, { title: 'Endpoint added', section: 'webhooks', body: addedBody(endpoint, secret) });
      } catch (err) {
        if (err instanceof AppError && err.code === 'invalid_request' && err.details) return refuse(err.details);
        throw err;
      }
    },
  );
  removePages(app, admin);
  webhookDeliveryPages(app, admin);
}

/** Removing an endpoint: a page that asks, and its form. */
function removePages(app: PageApp, admin: AdminKit): void {
  const { deps } = admin.kit;
  const params = Type.Object({ id: ENDPOINT_ID });
  const gone = (reply: FastifyReply, session: BrowserSession) =>
    admin.send(reply, 404, session, { title: 'No such endpoint', section: 'webhooks', body: html`<p class="alert" role="alert">No webhook endpoint has this id: removed already?</p><p><a href="/admin/webhooks">Back to the webhooks</a></p>` });
  app.get(
    '/admin/webhooks/:id/remove',
    {
      config: { html: true },
      schema: { tags, hide: true, summary: 'Remove a webhook endpoint? (HTML): a page that asks', params, produces: ['text/html'], response: { 200: pageResponse('the question'), ...GATE_RESPONSES, 400: jsonErrorResponse('a malformed id'), 404: pageResponse('no such endpoint') } },
    },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      const endpoint = (await listWebhookEndpoints(deps)).find((w) => w.id === request.params.id);
      if (!endpoint) return gone(reply, session);
      const pending = (await countDeliveriesByEndpoint(deps)).get(endpoint.id)?.pending ?? 0;
      const body = html`<p>Remove the endpoint <strong class="url">${endpoint.url}</strong> (<code>${endpoint.id}</code>)? Nothing more is posted to it${pending > 0 ? html`, and its ${pending} pending deliver${pending === 1 ? 'y is' : 'ies are'} dropped` : ''}. This cannot be undone.</p>
<form method="post" action="/admin/webhooks/${endpoint.id}/remove"><input type="hidden" name="csrf" value="${admin.csrfOf(session)}"><button type="submit" class="danger">Remove the endpoint</button></form>
<p><a href="/admin/webhooks">Keep it</a></p>`;
      return admin.send(reply, 200, session, { title: 'Remove a webhook endpoint', section: 'webhooks', body });
    },
  );
  app.post(
    '/admin/webhooks/:id/remove',
    {
      config: { html: true },
      schema: { tags, hide: true, summary: 'Remove a webhook endpoint (HTML form): its pending deliveries are dropped', consumes: FORM_TYPES, params, body: Type.Object({ csrf: FormField(128) }), response: { ...formResponses, 303: redirectResponse('removed: back to /admin/webhooks; or not signed in: to /login'), 404: pageResponse('no such endpoint') } },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      try {
        await removeWebhookEndpoint(deps, request.params.id, admin.actorOf(session));
      } catch (err) {
        if (err instanceof AppError && err.code === 'webhook_not_found') return gone(reply, session);
        throw err;
      }
      return admin.kit.redirect(reply, '/admin/webhooks?done=removed');
    },
  );
}
