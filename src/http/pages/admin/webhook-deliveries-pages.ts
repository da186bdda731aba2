import { Type } from 'typebox';
import { DELIVERY_STATUSES, type DeliveryStatus, type DeliveryView } from '../../../contracts/webhooks.js';
import { AppError } from '../../../errors.js';
import { listWebhookDeliveries, listWebhookEndpoints, replayWebhookDeliveries, type WebhookEndpointView } from '../../../webhooks/endpoints.js';
import { oneOf } from '../../../contracts/fields.js';
import { jsonErrorResponse, pageResponse, redirectResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { FORM_TYPES, FormField, formResponses, type PageApp, whenUtc } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';

/**
 * The console's webhook deliveries, `/admin/webhooks/deliveries`: of every endpoint or one, in one state or all,
 * newest first, a page at a time; a dead one replayed (pending again, retried for WEBHOOK_RETRY_FOR from now), or every
 * dead one at once, by `replayWebhookDeliveries`, as `POST /api/admin/webhooks/deliveries/:id/replay` and
 * `latchkey webhooks replay` do.
 */

const tags = ['pages'];
const PAGE = 50;
const DeliveryId = Type.String({ pattern: '^[1-9][0-9]{0,14}$', maxLength: 15 });
// Empty is "every endpoint", "any state": what the filter form sends for its first option.
const Filters = {
  endpoint: Type.Optional(Type.String({ maxLength: 100, pattern: '^(?:wh_[A-Za-z0-9_-]+)?$' })),
  state: Type.Optional(oneOf(['', ...DELIVERY_STATUSES] as const)),
};

interface View {
  endpoint?: string | undefined;
  state?: DeliveryStatus | undefined;
}

/** A view's address: its filters (checked by the routes' schemas), a page, a notice. */
function viewUrl(view: View, more: Record<string, string> = {}): string {
  const query = new URLSearchParams({ ...(view.endpoint ? { endpoint: view.endpoint } : {}), ...(view.state ? { state: view.state } : {}), ...more }).toString();
  return `/admin/webhooks/deliveries${query ? `?${query}` : ''}`;
}

const DONE: Record<string, (n: number) => string> = {
  replayed: () => 'The delivery is pending again: it is sent at once, and retried for WEBHOOK_RETRY_FOR from now.',
  not_dead: () => 'That delivery is no longer dead (replayed already?): nothing was done.',
  replayed_all: (n) => (n === 0 ? 'No delivery was dead: nothing was done.' : `${n} dead deliver${n === 1 ? 'y is' : 'ies are'} pending again.`),
};

function filterForm(view: View, endpoints: readonly WebhookEndpointView[]): Html {
  return html`<form method="get" action="/admin/webhooks/deliveries" class="filters">
<div><label for="endpoint">Endpoint</label><select id="endpoint" name="endpoint"><option value="">Every endpoint</option>${endpoints.map(
    (w) => html`<option value="${w.id}"${view.endpoint === w.id ? ' selected' : ''}>${w.url} (${w.id})</option>`,
  )}</select></div>
<div><label for="state">State</label><select id="state" name="state"><option value="">Any</option>${DELIVERY_STATUSES.map(
    (s) => html`<option value="${s}"${view.state === s ? ' selected' : ''}>${s}</option>`,
  )}</select></div>
<div><button type="submit" class="secondary">Show</button></div>
</form>`;
}

function deliveryRow(d: DeliveryView, view: View, csrf: string, urls: Map<string, string>): Html {
  const answer = d.last_error ?? (d.last_status === null ? '' : `HTTP ${d.last_status}`);
  const when = d.status === 'delivered' && d.delivered_at ? `delivered ${whenUtc(d.delivered_at)}` : d.status === 'pending' ? `next try ${whenUtc(d.next_attempt_at)}` : '';
  const replay =
    d.status === 'dead'
      ? html`<form method="post" action="/admin/webhooks/deliveries/${String(d.id)}/replay" class="inline"><input type="hidden" name="csrf" value="${csrf}">${view.endpoint ? html`<input type="hidden" name="endpoint" value="${view.endpoint}">` : ''}${view.state ? html`<input type="hidden" name="state" value="${view.state}">` : ''}<button type="submit" class="secondary" aria-label="Replay delivery ${String(d.id)}">Replay</button></form>`
      : '';
  return html`<tr><th scope="row">${String(d.id)}</th>${view.endpoint ? '' : html`<td class="url">${urls.get(d.endpoint_id) ?? d.endpoint_id}</td>`}<td>${d.event_type}</td><td>${d.status}</td><td>${String(d.attempts)}</td><td>${answer}</td><td>${whenUtc(d.created_at)}${when ? html`<br><span class="hint">${when}</span>` : ''}</td><td>${replay}</td></tr>`;
}

function deliveriesBody(view: View, endpoints: readonly WebhookEndpointView[], deliveries: readonly DeliveryView[], more: boolean, csrf: string, notice: string | undefined): Html {
  const urls = new Map(endpoints.map((w) => [w.id, w.url]));
  const dead = deliveries.some((d) => d.status === 'dead');
  const table = html`<div class="table-wrap"><table><caption>Deliveries${view.endpoint ? html` to ${urls.get(view.endpoint)}` : ''}${view.state ? `, ${view.state}` : ''}, newest first</caption>
<thead><tr><th scope="col">Delivery</th>${view.endpoint ? '' : html`<th scope="col">Endpoint</th>`}<th scope="col">Event</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">Created</th><th scope="col">Action</th></tr></thead>
<tbody>${deliveries.map((d) => deliveryRow(d, view, csrf, urls))}</tbody></table></div>`;
  const last = deliveries.at(-1);
  return html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<p><a href="/admin/webhooks">The endpoints</a></p>
${filterForm(view, endpoints)}
${deliveries.length === 0 ? html`<p>No delivery${view.state ? ` is ${view.state}` : ''}${view.endpoint ? ' for this endpoint' : ''}.</p>` : table}
${more && last ? html`<p><a href="${viewUrl(view, { before: String(last.id) })}">Older deliveries</a></p>` : ''}
${dead && !view.endpoint
  ? html`<form method="post" action="/admin/webhooks/deliveries/replay-dead"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="secondary">Replay every dead delivery, of every endpoint</button></form>`
  : ''}`;
}

export function webhookDeliveryPages(app: PageApp, admin: AdminKit): void {
  const { deps } = admin.kit;
  app.get(
    '/admin/webhooks/deliveries',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'Webhook deliveries, of every endpoint or one, in a state or all, newest first, a page at a time (HTML)',
        querystring: Type.Object({ ...Filters, before: Type.Optional(DeliveryId), done: FormField(32), n: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })) }),
        produces: ['text/html'],
        response: { 200: pageResponse('the deliveries'), ...GATE_RESPONSES, 400: jsonErrorResponse('a malformed filter'), 404: pageResponse('no such endpoint') },
      },
    },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      const { endpoint, state, before, done, n } = request.query;
      const view = { endpoint: endpoint || undefined, state: state || undefined };
      const endpoints = await listWebhookEndpoints(deps);
      if (view.endpoint && !endpoints.some((w) => w.id === view.endpoint)) {
        return admin.send(reply, 404, session, { title: 'No such endpoint', section: 'webhooks', body: html`<p class="alert" role="alert">No webhook endpoint has this id: removed already?</p><p><a href="/admin/webhooks">The endpoints</a></p>` });
      }
      const rows = await listWebhookDeliveries(deps, { endpoint: view.endpoint, status: view.state, before: before === undefined ? undefined : Number(before), limit: PAGE + 1 });
      const notice = done !== undefined && Object.hasOwn(DONE, done) ? DONE[done]!(Number(n ?? 0)) : undefined;
      const body = deliveriesBody(view, endpoints, rows.slice(0, PAGE), rows.length > PAGE, admin.csrfOf(session), notice);
      return admin.send(reply, 200, session, { title: 'Webhook deliveries', section: 'webhooks', body });
    },
  );

  app.post(
    '/admin/webhooks/deliveries/:deliveryId/replay',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'Send a dead delivery again (HTML form)',
        consumes: FORM_TYPES,
        params: Type.Object({ deliveryId: DeliveryId }),
        body: Type.Object({ csrf: FormField(128), ...Filters }),
        response: { ...formResponses, 303: redirectResponse('done (or no longer dead): back to the deliveries; or not signed in: to /login') },
      },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const view = { endpoint: request.body.endpoint || undefined, state: request.body.state || undefined };
      try {
        await replayWebhookDeliveries(deps, { id: Number(request.params.deliveryId) }, admin.actorOf(session));
      } catch (err) {
        // Replayed by another tab, or delivered since: said so, nothing done.
        if (err instanceof AppError && err.code === 'webhook_delivery_not_found') return admin.kit.redirect(reply, viewUrl(view, { done: 'not_dead' }));
        throw err;
      }
      return admin.kit.redirect(reply, viewUrl(view, { done: 'replayed' }));
    },
  );

  app.post(
    '/admin/webhooks/deliveries/replay-dead',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'Send every dead delivery, of every endpoint, again (HTML form)',
        consumes: FORM_TYPES,
        body: Type.Object({ csrf: FormField(128) }),
        response: { ...formResponses, 303: redirectResponse('done: back to the deliveries; or not signed in: to /login') },
      },
    },
    async (request, reply) => {
      const session = await admin.adminForm(request, reply, request.body.csrf);
      if (!('user' in session)) return reply;
      const { replayed } = await replayWebhookDeliveries(deps, { dead: true }, admin.actorOf(session));
      return admin.kit.redirect(reply, viewUrl({}, { done: 'replayed_all', n: String(replayed) }));
    },
  );
}
