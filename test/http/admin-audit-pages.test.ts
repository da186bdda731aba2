import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAuditEvent } from '../../src/core/audit.js';
import { AUDIT_EVENT_TYPES } from '../../src/core/audit.js';
import { adminBrowser, Browser, PASSWORD_ONLY_AMR, type SignedInBrowser } from '../helpers/admin-browser.js';
import { signUp, startTestApp, uniqueEmail, type SignedUp, type TestApp } from '../helpers/app.js';

// The console's audit log (/admin/audit) as an admin's browser reads it: a GET form of filters, a table of events
// newest first with an "Older" link, every value escaped, bad filters said beside their field; anyone else refused.

let t: TestApp;
let admin: SignedInBrowser;
let mallory: SignedUp;
const HOSTILE_NAME = '<img src=x onerror=alert(1)>';
const stranger = uniqueEmail('stranger');

beforeAll(async () => {
  t = await startTestApp();
  admin = await adminBrowser(t);
  mallory = await signUp(t, { name: HOSTILE_NAME });
  t.clock.advance(60);
  await t.inject({ method: 'POST', url: '/api/signin', payload: { email: stranger, password: 'a wrong password here' } });
  // Details as a future event (or a hostile import) might hold them: markup, quotes, long values, nested values.
  await recordAuditEvent(t.deps.db, t.clock, {
    type: 'profile_updated',
    userId: mallory.id,
    email: mallory.email,
    details: { actor: '<b>actor</b>', note: '<script>alert(1)</script>', quote: '"\'&', long: 'x'.repeat(500), nested: { html: '</td><td>' } },
  });
});
afterAll(async () => {
  await t?.close();
});

const rowsOf = (body: string) => body.match(/<tr><td><time/g)?.length ?? 0;
const olderOf = (body: string) => /<a href="([^"]+)" rel="next">Older<\/a>/.exec(body)?.[1]?.replace(/&amp;/g, '&');

describe('the audit log page', () => {
  it('is a labelled GET form of filters, with the event types as a select, over a table of events', async () => {
    const res = await admin.get('/admin/audit');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('aria-current="page">Audit log</a>');
    expect(res.body).toMatch(/<form method="get" action="\/admin\/audit"/);
    for (const [id, label] of [['user', 'User'], ['type', 'Event type'], ['actor', 'Actor'], ['from', 'From \\(UTC\\)'], ['to', 'To \\(UTC\\)']]) {
      expect(res.body, id).toMatch(new RegExp(`<label for="${id}">${label}</label>`));
      expect(res.body, id).toMatch(new RegExp(`id="${id}" name="${id}"`));
    }
    expect(res.body).toContain('<option value="">Any type</option>');
    for (const type of AUDIT_EVENT_TYPES) expect(res.body).toContain(`<option value="${type}">`);
    expect(res.body).toMatch(/<button type="submit">Search<\/button>/);
    expect(res.body).toMatch(/<th scope="col">Time \(UTC\)<\/th><th scope="col">Type<\/th><th scope="col">User<\/th><th scope="col">Actor<\/th><th scope="col">Address<\/th><th scope="col">Details<\/th>/);
    // No inline style or handler in any tag (the escaped details may say `onerror=` as text).
    expect(res.body).not.toMatch(/<[^>]*\s(style|on[a-z]+)=/i);
    // No form of the page changes anything: it has no token to carry.
    expect(res.body).not.toContain('name="csrf"');
  });

  it('shows a user\'s name and an event\'s details escaped, the user linked to their page', async () => {
    const res = await admin.get(`/admin/audit?user=${mallory.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain(`<a href="/admin/users/${mallory.id}">${mallory.email}</a><br><span class="hint">&lt;img src=x onerror=alert(1)&gt;</span>`);
    expect(res.body).toContain('&lt;b&gt;actor&lt;/b&gt;');
    expect(res.body).toContain('note: &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.body).toContain('quote: &quot;&#39;&amp;');
    expect(res.body).toContain(`long: ${'x'.repeat(60)}…`);
    expect(res.body).not.toContain('x'.repeat(61));
    expect(res.body).toContain('nested: {&quot;html&quot;:&quot;&lt;/td&gt;&lt;td&gt;&quot;}');
    expect(res.body).not.toMatch(/<img src=x|<script>alert|<b>actor/);
    expect(rowsOf(res.body)).toBe(2);
    // An admin of the console as actor: linked to their page.
    const own = await admin.get(`/admin/audit?user=${admin.user.id}`);
    expect(own.body).toContain(`<td>test</td>`);
    await recordAuditEvent(t.deps.db, t.clock, { type: 'user_enabled', userId: mallory.id, details: { actor: `admin:${admin.user.id}` } });
    expect((await admin.get(`/admin/audit?type=user_enabled`)).body).toContain(`<td><a href="/admin/users/${admin.user.id}">admin:${admin.user.id}</a></td>`);
  });

  it('filters by address (an account or none), type and actor, and keeps the filters in the form', async () => {
    const byAddress = await admin.get(`/admin/audit?user=${encodeURIComponent(stranger)}`);
    expect(rowsOf(byAddress.body)).toBe(1);
    expect(byAddress.body).toContain(`${stranger}<br><span class="hint">no account</span>`);
    expect(byAddress.body).toContain(`value="${stranger}"`);
    const byType = await admin.get('/admin/audit?type=signup');
    expect(byType.body).toContain('<option value="signup" selected>');
    expect(byType.body).toMatch(/<td>signup<\/td>/);
    expect(byType.body).not.toMatch(/<td>signin failed<\/td>/);
    const byActor = await admin.get(`/admin/audit?actor=${encodeURIComponent('<b>actor</b>')}`);
    expect(rowsOf(byActor.body)).toBe(1);
    expect(byActor.body).toContain('value="&lt;b&gt;actor&lt;/b&gt;"');
    const none = await admin.get('/admin/audit?type=webhook_replayed');
    expect(none.statusCode).toBe(200);
    expect(none.body).toContain('No event matches these filters.');
    // A time range, as a datetime-local field sends it (UTC), shown back in the field.
    // Half a minute before the failures: after the sign-ups.
    const from = new Date(t.clock.now().getTime() - 30_000).toISOString().slice(0, 19);
    const since = await admin.get(`/admin/audit?from=${from}`);
    expect(since.body).toContain(`value="${from}"`);
    expect(since.body).toMatch(/<td>signin failed<\/td>/);
    expect(since.body).not.toMatch(/<td>signup<\/td>/);
  });

  it('pages with an "Older" link that keeps the filters, each event once, and a link back to the newest', async () => {
    for (let i = 0; i < 120; i++) await recordAuditEvent(t.deps.db, t.clock, { type: 'signin_failed', email: stranger, details: { n: i } });
    const seen = new Set<string>();
    let url: string | undefined = `/admin/audit?user=${encodeURIComponent(stranger)}&type=signin_failed`;
    let pages = 0;
    while (url) {
      const res = await admin.get(url);
      expect(res.statusCode).toBe(200);
      for (const n of res.body.matchAll(/<td>n: (\d+)<\/td>/g)) {
        expect(seen.has(n[1]!)).toBe(false);
        seen.add(n[1]!);
      }
      pages += 1;
      if (pages > 1) expect(res.body).toContain(`<a href="/admin/audit?user=${encodeURIComponent(stranger)}&amp;type=signin_failed">Newest</a>`);
      url = olderOf(res.body);
      if (url) expect(url).toMatch(/^\/admin\/audit\?user=[^&]+&type=signin_failed&cursor=[A-Za-z0-9_-]+$/);
    }
    expect(pages).toBe(3);
    expect(seen.size).toBe(120);
  });

  it('says what is wrong with a bad filter beside its field, and never fails on hostile input', async () => {
    const bad: [string, string][] = [
      ['from=2025-02-30T10:00', 'from'],
      ['to=yesterday', 'to'],
      ['from=2025-05-02&to=2025-05-01', 'to'],
      ['type=no_such_type', 'type'],
      ['user=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'user'],
      ['actor=a%0Ab', 'actor'],
    ];
    for (const [query, field] of bad) {
      const res = await admin.get(`/admin/audit?${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.body).toMatch(new RegExp(`<p class="field-error" id="${field}-error" role="alert">`));
      expect(res.body).toMatch(new RegExp(`id="${field}" name="${field}"[^>]*aria-describedby="[^"]*${field}-error"[^>]*aria-invalid="true"`));
      expect(res.body).not.toContain('<script>alert');
      expect(res.body).not.toContain('<table>');
    }
    expect((await admin.get('/admin/audit?user=%22%3E%3Cscript%3E')).body).toContain('value="&quot;&gt;&lt;script&gt;"');
    const lost = await admin.get('/admin/audit?cursor=garbage');
    expect(lost.statusCode).toBe(400);
    expect(lost.body).toContain('<a href="/admin/audit">Start from the newest</a>');
    // Quotes and wildcards are values, matched exactly; huge values are refused; nothing is a 5xx.
    for (const query of ["actor=%25", "actor=user'%20OR%20'1'%3D'1", 'user=%25%40%25', `user=${'a'.repeat(5000)}`, `from=${'9'.repeat(5000)}`, 'type=signup&type=logout', 'cursor=%00']) {
      const res = await admin.get(`/admin/audit?${query}`);
      expect(res.statusCode, query.slice(0, 40)).toBeLessThan(500);
      if (res.statusCode === 200) expect(res.body, query).toContain('No event matches these filters.');
      else expect(res.statusCode, query.slice(0, 40)).toBe(400);
    }
  });
});

describe('who may read the audit log page', () => {
  it('sends a signed-out browser to sign in, and refuses a non-admin and an admin without a second factor', async () => {
    const signedOut = await new Browser(t).get('/admin/audit?type=signup');
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toBe(`/login?return_to=${encodeURIComponent('/admin/audit?type=signup')}`);
    for (const browser of [await adminBrowser(t, { admin: false }), await adminBrowser(t, { amr: PASSWORD_ONLY_AMR })]) {
      const res = await browser.get(`/admin/audit?user=${mallory.id}`);
      expect(res.statusCode).toBe(403);
      expect(res.body).not.toContain(mallory.email);
      expect(res.body).not.toContain('<table>');
    }
  });
});
