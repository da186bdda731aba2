import { readOverview } from '../../../auth/overview/overview.js';
import { OVERVIEW_DAYS, type Overview } from '../../../contracts/overview.js';
import { pageResponse } from '../frame.js';
import { html, type Html } from '../html.js';
import type { PageApp } from '../page-kit.js';
import { GATE_RESPONSES, type AdminKit } from './admin-kit.js';
import { barChart } from './charts.js';

/**
 * The console's overview, `/admin`: the figures of `GET /api/admin/overview` (the same domain function), as numbers,
 * as bar charts drawn on the server (./charts.ts), and as a table.
 */

const tags = ['pages'];
const num = (n: number) => n.toLocaleString('en-US');

/** An age in its largest whole unit: "3 days", "5 hours", "12 minutes". */
export function ageInWords(seconds: number): string {
  for (const [size, unit] of [[86_400, 'day'], [3_600, 'hour'], [60, 'minute']] as const) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'}`;
  }
  return 'less than a minute';
}

interface Figure {
  label: string;
  value: string;
  hint?: Html | string;
}

function figures(o: Overview, rotationInterval: number): Figure[] {
  const rotation = rotationInterval > 0 ? `a new one every ${ageInWords(rotationInterval)}` : 'automatic rotation is off';
  const key: Figure = o.signing_key
    ? { label: 'Signing key age', value: ageInWords(o.signing_key.age_seconds), hint: html`<a href="/admin/keys">${o.signing_key.alg} key ${o.signing_key.kid}</a>, ${rotation}` }
    : { label: 'Signing key', value: 'HS256', hint: 'the shared secret JWT_SECRET_KEY signs: no stored key' };
  return [
    { label: 'Users', value: num(o.users.total), hint: html`<a href="/admin/users">All users</a>` },
    { label: `New users, ${OVERVIEW_DAYS} days`, value: num(o.totals.new_users) },
    { label: `Sign-ins, ${OVERVIEW_DAYS} days`, value: num(o.totals.sign_ins) },
    { label: `Failed sign-ins, ${OVERVIEW_DAYS} days`, value: num(o.totals.failed_sign_ins), hint: html`<a href="/admin/audit">The audit log</a>` },
    { label: 'Active sessions', value: num(o.sessions.active), hint: 'open now' },
    { label: 'Webhook backlog', value: num(o.webhooks.pending), hint: html`<a href="/admin/webhooks/deliveries?state=pending">deliveries waiting</a>` },
    { label: 'Dead deliveries', value: num(o.webhooks.dead), hint: html`<a href="/admin/webhooks/deliveries?state=dead">given up, to replay</a>` },
    key,
  ];
}

export function overviewBody(o: Overview, rotationInterval: number): Html {
  const points = (pick: (d: Overview['days'][number]) => number) => o.days.map((d) => ({ date: d.date, n: pick(d) }));
  return html`<p class="hint">As of ${o.as_of.slice(0, 16).replace('T', ' ')} UTC. Days are UTC days; today is the last, so far.</p>
<ul class="figures">${figures(o, rotationInterval).map(
    (f) => html`<li><span class="label">${f.label}</span><span class="value">${f.value}</span>${f.hint ? html`<span class="hint">${f.hint}</span>` : ''}</li>`,
  )}</ul>
<h2>The last ${OVERVIEW_DAYS} days</h2>
<div class="charts">
${barChart({ id: 'chart-new-users', caption: 'New users per day', unit: ['new user', 'new users'], points: points((d) => d.new_users), barClass: 'bar' })}
${barChart({ id: 'chart-sign-ins', caption: 'Sign-ins per day', unit: ['sign-in', 'sign-ins'], points: points((d) => d.sign_ins), barClass: 'bar' })}
${barChart({ id: 'chart-failed', caption: 'Failed sign-ins per day', unit: ['failed sign-in', 'failed sign-ins'], points: points((d) => d.failed_sign_ins), barClass: 'bar failed' })}
</div>
<details><summary>The same days as a table</summary>
<div class="table-wrap"><table><caption>New users, sign-ins and failed sign-ins per UTC day</caption>
<thead><tr><th scope="col">Day</th><th scope="col">New users</th><th scope="col">Sign-ins</th><th scope="col">Failed sign-ins</th></tr></thead>
<tbody>${o.days.map((d) => html`<tr><th scope="row">${d.date}</th><td>${num(d.new_users)}</td><td>${num(d.sign_ins)}</td><td>${num(d.failed_sign_ins)}</td></tr>`)}</tbody>
</table></div></details>`;
}

export function overviewPages(app: PageApp, admin: AdminKit): void {
  app.get(
    '/admin',
    {
      config: { html: true },
      schema: {
        tags, hide: true,
        summary: 'The console\'s overview (HTML): users, sign-ins and failures per day, sessions, webhooks, the signing key',
        produces: ['text/html'],
        response: {
          200: pageResponse('the overview'),
          ...GATE_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const session = await admin.adminOf(request, reply);
      if (!('user' in session)) return reply;
      const overview = await readOverview(admin.kit.deps);
      return admin.send(reply, 200, session, { title: 'Overview', section: 'overview', body: overviewBody(overview, admin.kit.deps.config.keyRotationInterval) });
    },
  );
}
