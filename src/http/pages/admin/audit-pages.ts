import { Type } from 'typebox';
import { parseAuditTime, searchAuditLog } from '../../../auth/audit/audit-search.js';
import type { AuditEventPage, AuditEventView } from '../../../contracts/audit.js';
import { isUuid } from '../../../contracts/ids.js';
import { AUDIT_EVENT_TYPES } from '../../../core/audit.js';
import { AppError } from '../../../errors.js';
import { pageResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import { FormField, type PageApp } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';

/**
 * The console's audit log (`/admin/audit`): the search the admin API answers (../../../auth/audit/audit-search.ts),
 * as a form of filters (a GET: a search is a link an admin can keep) and a table of events, newest first, with a link
 * to the older ones. Every value shown, a user's name or an event's details, is escaped.
 */

const tags = ['console'];
const PATH = '/admin/audit';
const PAGE = 50;
const FILTERS = ['user', 'type', 'actor', 'from', 'to'] as const;
type Filter = (typeof FILTERS)[number];
type Query = Partial<Record<Filter | 'cursor', string>>;
type Problems = Partial<Record<Filter | 'cursor' | 'limit', string>>;

const LABELS: Record<Filter, string> = { user: 'User', type: 'Event type', actor: 'Actor', from: 'From (UTC)', to: 'To (UTC)' };
const DETAIL_ENTRIES = 6;
const DETAIL_VALUE = 60;

const errorOf = (id: string, problem: string | undefined) => (problem ? html`<p class="field-error" id="${id}-error" role="alert">${problem}</p>` : '');
const describedBy = (id: string, problem: string | undefined, hint = false) => {
  const ids = [hint ? `${id}-hint` : '', problem ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`${ids ? html` aria-describedby="${ids}"` : ''}${problem ? html` aria-invalid="true"` : ''}`;
};

/** A time as a `datetime-local` field with seconds shows it (UTC), or the text as given when it names no time. */
function asLocalField(value: string | undefined): string {
  if (value === undefined) return '';
  const at = parseAuditTime(value.trim());
  if (!at) return value;
  return at.toISOString().slice(0, 19);
}

function filterForm(query: Query, problems: Problems): Html {
  const text = (id: 'user' | 'actor', hint: string) => html`<div><label for="${id}">${LABELS[id]}</label>
<input id="${id}" name="${id}" type="text" autocomplete="off" maxlength="254" value="${query[id] ?? ''}"${describedBy(id, problems[id], true)}>
<p class="hint" id="${id}-hint">${hint}</p>${errorOf(id, problems[id])}</div>`;
  const time = (id: 'from' | 'to') => html`<div><label for="${id}">${LABELS[id]}</label>
<input id="${id}" name="${id}" type="datetime-local" step="1" value="${asLocalField(query[id])}"${describedBy(id, problems[id])}>${errorOf(id, problems[id])}</div>`;
  return html`<form method="get" action="${PATH}" class="filters hinted" role="search" aria-label="Filter the audit log" novalidate>
${text('user', 'A user id, or an email address')}
<div><label for="type">${LABELS.type}</label>
<select id="type" name="type"${describedBy('type', problems.type)}><option value="">Any type</option>${AUDIT_EVENT_TYPES.map(
    (t) => html`<option value="${t}"${query.type === t ? html` selected` : ''}>${t.replace(/_/g, ' ')}</option>`,
  )}</select>${errorOf('type', problems.type)}</div>
${text('actor', 'Exactly: user, cli, admin:<user id>, service:<name>')}
${time('from')}
${time('to')}
<div class="actions"><button type="submit">Search</button> <a href="${PATH}">Clear the filters</a></div>
</form>`;
}

const time = (iso: string) => html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}</time>`;

function whoCell(e: AuditEventView): Html {
  if (e.user_id !== null) {
    const label = e.user?.email ?? e.email ?? e.user_id;
    return html`<a href="/admin/users/${e.user_id}">${label}</a>${e.user ? html`<br><span class="hint">${e.user.name}</span>` : ''}`;
  }
  return e.email ? html`${e.email}<br><span class="hint">no account</span>` : html`—`;
}

/** Who acted; an admin of the console linked to their page. */
function actorCell(actor: string | null): Html | string {
  const adminId = actor?.startsWith('admin:') ? actor.slice('admin:'.length) : undefined;
  if (adminId !== undefined && isUuid(adminId)) return html`<a href="/admin/users/${adminId}">${actor}</a>`;
  return actor ?? '—';
}

/** An event's details in a line: at most a few entries, each value cut short; its actor has a column of its own. */
function detailsSummary(details: object | null): string {
  const entries = Object.entries(details ?? {}).filter(([key]) => key !== 'actor');
  const shown = entries.slice(0, DETAIL_ENTRIES).map(([key, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
    return `${key}: ${text.length > DETAIL_VALUE ? `${text.slice(0, DETAIL_VALUE)}…` : text}`;
  });
  return `${shown.join('; ')}${entries.length > DETAIL_ENTRIES ? '; …' : ''}`;
}

function eventsTable(page: AuditEventPage): Html {
  if (page.events.length === 0) return html`<p>No event matches these filters.</p>`;
  return html`<div class="table-wrap"><table>
<caption class="hint">Newest first</caption>
<thead><tr><th scope="col">Time (UTC)</th><th scope="col">Type</th><th scope="col">User</th><th scope="col">Actor</th><th scope="col">Address</th><th scope="col">Details</th></tr></thead>
<tbody>${page.events.map(
    (e) => html`<tr><td>${time(e.occurred_at)}</td><td>${e.type.replace(/_/g, ' ')}</td><td>${whoCell(e)}</td><td>${actorCell(e.actor)}</td><td>${e.ip_address ?? '—'}</td><td>${detailsSummary(e.details) || '—'}</td></tr>`,
  )}</tbody></table></div>`;
}

/** This search's address, at the page after `cursor` (none: the newest). */
function searchUrl(query: Query, cursor?: string): string {
  const params = new URLSearchParams();
  for (const filter of FILTERS) if (query[filter]?.trim()) params.set(filter, query[filter]!.trim());
  if (cursor) params.set('cursor', cursor);
  const text = params.toString();
  return text ? `${PATH}?${text}` : PATH;
}

function pager(query: Query, page: AuditEventPage): Html | '' {
  const newer = query.cursor ? html`<a href="${searchUrl(query)}">Newest</a>` : '';
  const older = page.next_cursor ? html`<a href="${searchUrl(query, page.next_cursor)}" rel="next">Older</a>` : '';
  return newer || older ? html`<nav class="pager" aria-label="Pages of the audit log"><p>${newer}${newer && older ? ' · ' : ''}${older}</p></nav>` : '';
}

/** The problems of a refused search, by field, from the domain's answer. */
function problemsOf(err: AppError): Problems {
  const problems: Problems = {};
  for (const { field, message } of err.details ?? []) {
    if (field in LABELS) problems[field as Filter] = `${LABELS[field as Filter]} ${message}.`;
    else if (field === 'cursor') problems.cursor = 'This page of the log is not one this server gave.';
  }
  return problems;
}

export function auditPages(app: PageApp, admin: AdminKit): void {
  const deps = admin.kit.deps;
  const field = (n: number) => FormField(n);
  app.get(
    PATH,
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'The console: the audit log, searched (HTML)',
        produces: ['text/html'],
        querystring: Type.Object({ user: field(1000), type: field(100), actor: field(1000), from: field(100), to: field(100), cursor: field(100) }),
        response: {
          200: pageResponse('the events'),
          ...GATE_RESPONSES,
          400: pageResponse('the form again, each bad filter said beside it'),
        },
      },
    },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      const query: Query = request.query;
      const show = (status: number, body: Html) => admin.send(reply, status, session, { title: 'Audit log', section: 'audit', body });
      try {
        const page = await searchAuditLog(deps, { ...query, limit: PAGE });
        return show(200, html`${filterForm(query, {})}${eventsTable(page)}${pager(query, page)}`);
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'invalid_request') throw err;
        const problems = problemsOf(err);
        const lost = problems.cursor ? html`<p class="alert" role="alert">${problems.cursor} <a href="${searchUrl(query)}">Start from the newest</a></p>` : '';
        return show(400, html`${lost}${filterForm(query, problems)}`);
      }
    },
  );
}
