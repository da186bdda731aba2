import { createServer } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperation } from '../../src/control/operations.js';
import { auditEvents, webhookDeliveries, webhookEndpoints } from '../../src/db/schema.js';
import { adminBrowser, csrfOf, PASSWORD_ONLY_AMR, type Browser, type SignedInBrowser } from '../helpers/admin-browser.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { createTestClock } from '../helpers/clock.js';
import { serviceClients } from '../helpers/service-clients.js';
import { until } from '../helpers/webhook-receiver.js';

// The console's overview (/admin, and GET /api/admin/overview) and its webhooks section (/admin/webhooks), driven as
// a browser would through inject, by an admin signed in with a second factor: the figures match what was done at
// chosen times of the test clock, days with nothing included; an endpoint is added (its secret shown once), a dead
// delivery replayed and audited with the admin as actor. test/http/hosted-pages-browser.test.ts walks them in Chromium.

/** A form post with a field given more than once (the events' checkboxes), as a browser sends it. */
function postPairs(b: Browser, url: string, pairs: [string, string][]) {
  const payload = new URLSearchParams(pairs).toString();
  return b.t.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: b.cookie, origin: b.origin } });
}

/** A local port nothing listens on: a webhook posted there is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const DAY = 86_400;
const TODAY = new Date('2026-03-17T15:00:00Z');
const at = (iso: string) => new Date(iso);

describe('the overview', () => {
  // The clock starts 35 days before TODAY (the first signing key is made then) and only moves forward.
  const clock = createTestClock(new Date(TODAY.getTime() - 35 * DAY * 1000));
  let t: TestApp;
  const clients = serviceClients(() => t, 'overview');
  const moveTo = (when: Date) => clock.advance((when.getTime() - clock.now().getTime()) / 1000);
  const failSignIn = (email: string) => t.inject({ method: 'POST', url: '/api/signin', payload: { email, password: 'not the password at all' } });
  let admin: SignedInBrowser;

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { WEBHOOK_RETRY_FOR: '1s' } });
    // 35 days ago, outside the window: a user and a sign-in, whose session has expired since (SESSION_MAX_AGE 30 days).
    const old = await signUp(t);
    await signIn(t, old.email);
    // 10 days ago: two users, two sign-ins, three failures, one of the sessions signed out again.
    moveTo(at('2026-03-07T09:00:00Z'));
    const [b, c] = [await signUp(t), await signUp(t)];
    await signIn(t, b.email);
    const out = await signIn(t, b.email);
    await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(out.access_token) });
    for (let i = 0; i < 3; i += 1) expect((await failSignIn(c.email)).statusCode).toBe(401);
    // Either side of a UTC midnight: a sign-in on the 14th, a failure (an unknown address) on the 15th.
    moveTo(at('2026-03-14T23:59:30Z'));
    await signIn(t, c.email);
    clock.advance(60);
    expect((await failSignIn(uniqueEmail('nobody'))).statusCode).toBe(401);
    // Today: the admin (a user made by the operator's function, a session), then a webhook whose first delivery dies
    // and whose second waits.
    moveTo(TODAY);
    admin = await adminBrowser(t);
    const hook = await runOperation(t.deps as never, 'webhooks.add', { url: `http://127.0.0.1:${await closedPort()}/hook`, events: ['user.created'] }, { actor: 'test' });
    const deliveries = () => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, (hook as { id: string }).id));
    await signUp(t);
    await until(deliveries, (d) => d.length === 1 && d[0]!.lastError !== null);
    clock.advance(2);
    t.deps.webhooks.wake();
    await until(deliveries, (d) => d[0]?.status === 'dead');
    await signUp(t);
    expect((await deliveries()).map((d) => d.status).sort()).toEqual(['dead', 'pending']);
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('counts what happened, per UTC day over the last 30 days, every day there, zeros included', async () => {
    const clientAuth = clients.auth(await clients.client(['admin']));
    const res = await t.inject({ method: 'GET', url: '/api/admin/overview', headers: clientAuth });
    expect(res.statusCode, res.body).toBe(200);
    const o = res.json();
    expect(o.as_of).toBe(clock.now().toISOString());
    // Old, b, c, the admin and the two webhook users; the old user's session has expired, b's second ended: b's
    // first, c's and the admin's are open.
    expect(o.users).toEqual({ total: 6 });
    expect(o.sessions).toEqual({ active: 3 });
    expect(o.webhooks).toEqual({ pending: 1, dead: 1 });
    expect(o.days).toHaveLength(30);
    expect(o.days[0].date).toBe('2026-02-16');
    expect(o.days.at(-1).date).toBe('2026-03-17');
    const day = (date: string) => o.days.find((d: { date: string }) => d.date === date);
    expect(day('2026-03-07')).toEqual({ date: '2026-03-07', new_users: 2, sign_ins: 2, failed_sign_ins: 3 });
    expect(day('2026-03-14')).toEqual({ date: '2026-03-14', new_users: 0, sign_ins: 1, failed_sign_ins: 0 });
    expect(day('2026-03-15')).toEqual({ date: '2026-03-15', new_users: 0, sign_ins: 0, failed_sign_ins: 1 });
    expect(day('2026-03-17')).toEqual({ date: '2026-03-17', new_users: 3, sign_ins: 0, failed_sign_ins: 0 });
    const quiet = o.days.filter((d: { new_users: number; sign_ins: number; failed_sign_ins: number }) => d.new_users + d.sign_ins + d.failed_sign_ins === 0);
    expect(quiet).toHaveLength(26);
    expect(o.totals).toEqual({ new_users: 5, sign_ins: 3, failed_sign_ins: 4 });
    // The first key, made when the clock started, signs still: 35 days and the minutes the clock moved since.
    expect(o.signing_key).toMatchObject({ alg: 'ES256', kid: expect.any(String) });
    expect(o.signing_key.age_seconds).toBe(Math.floor((clock.now().getTime() - Date.parse(o.signing_key.activated_at)) / 1000));
    expect(o.signing_key.age_seconds).toBeGreaterThanOrEqual(35 * DAY - 60);
    // Only for the admin scope.
    expect((await t.inject({ method: 'GET', url: '/api/admin/overview' })).statusCode).toBe(401);
    const reader = await t.inject({ method: 'GET', url: '/api/admin/overview', headers: clients.auth(await clients.client(['users:read'])) });
    expect(reader.statusCode).toBe(403);
    expect(reader.json().error).toBe('insufficient_scope');
  });

  it('shows the same figures on /admin, as numbers, as accessible charts and as a table, with no style attribute or script of its own', async () => {
    const page = await admin.get('/admin');
    expect(page.statusCode, page.body).toBe(200);
    const body = page.body;
    expect(body).toContain('<h1>Overview</h1>');
    expect(body).toMatch(/<a href="\/admin" aria-current="page">Overview<\/a>/);
    const figure = (label: string) => new RegExp(`<span class="label">${label}</span><span class="value">([^<]+)</span>`).exec(body)?.[1];
    expect(figure('Users')).toBe('6');
    expect(figure('New users, 30 days')).toBe('5');
    expect(figure('Sign-ins, 30 days')).toBe('3');
    expect(figure('Failed sign-ins, 30 days')).toBe('4');
    expect(figure('Active sessions')).toBe('3');
    expect(figure('Webhook backlog')).toBe('1');
    expect(figure('Dead deliveries')).toBe('1');
    expect(figure('Signing key age')).toBe('35 days');
    // Three charts, each one image named by a sentence that sums it up.
    const charts = [...body.matchAll(/<svg role="img" aria-labelledby="([^"]+)"[^>]*><title id="([^"]+)">([^<]+)<\/title>/g)];
    expect(charts.map((c) => c[1])).toEqual(['chart-new-users-title', 'chart-sign-ins-title', 'chart-failed-title']);
    for (const c of charts) expect(c[2]).toBe(c[1]);
    expect(charts[2]![3]).toBe('Failed sign-ins per day, 2026-02-16 to 2026-03-17 (UTC): 4 failed sign-ins in all, at most 3 on 2026-03-07, none on 28 days.');
    // One bar per day with something, coloured by a class of the stylesheet.
    expect(body.match(/<rect class="bar failed"/g)).toHaveLength(2);
    expect(body.match(/<rect class="bar"/g)).toHaveLength(2 + 2);
    // The table: a row per day, zeros included.
    const rows = [...body.matchAll(/<tr><th scope="row">(\d{4}-\d\d-\d\d)<\/th><td>(\d+)<\/td><td>(\d+)<\/td><td>(\d+)<\/td><\/tr>/g)];
    expect(rows).toHaveLength(30);
    expect(rows.find((r) => r[1] === '2026-03-07')!.slice(2)).toEqual(['2', '2', '3']);
    expect(rows.find((r) => r[1] === '2026-03-17')!.slice(2)).toEqual(['3', '0', '0']);
    expect(rows.find((r) => r[1] === '2026-02-20')!.slice(2)).toEqual(['0', '0', '0']);
    expect(body).toMatch(/<details><summary>/);
    expect(body).not.toMatch(/\sstyle=|\son[a-z]+=|<style/i);
    expect(body.match(/<script[^>]*>/g)).toEqual([expect.stringMatching(/^<script src="\/assets\/latchkey-[0-9a-f]{12}\.js" defer>$/)]);
  });

  it('is for an admin at aal2 only: sent to sign in when signed out, 403 otherwise', async () => {
    const signedOut = await t.inject({ method: 'GET', url: '/admin' });
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toBe('/login?return_to=%2Fadmin');
    for (const other of [await adminBrowser(t, { admin: false }), await adminBrowser(t, { amr: PASSWORD_ONLY_AMR })]) {
      const refused = await other.get('/admin');
      expect(refused.statusCode).toBe(403);
      expect(refused.body).not.toContain('Active sessions');
    }
  });
});

describe('the webhooks section', () => {
  let t: TestApp;
  let admin: SignedInBrowser;
  const clients = serviceClients(() => t, 'webhook-pages');
  beforeAll(async () => {
    t = await startTestApp({ env: { WEBHOOK_RETRY_FOR: '1s' } });
    admin = await adminBrowser(t);
  });
  afterAll(async () => {
    await t?.close();
  });
  const deliveriesOf = (id: string) => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id)).orderBy(webhookDeliveries.id);
  const auditOf = (type: 'webhook_added' | 'webhook_removed' | 'webhook_replayed') => t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, type));
  /** Lets the clock pass WEBHOOK_RETRY_FOR: the next failed attempt of each delivery is its last. */
  const dieNow = async (id: string, count: number) => {
    t.clock.advance(2);
    t.deps.webhooks.wake();
    return until(() => deliveriesOf(id), (d) => d.filter((x) => x.status === 'dead').length === count);
  };

  // This endpoint names events no test here causes: the next tests count the deliveries of their own endpoints only.
  it('adds an endpoint, its secret shown once; refuses a bad one with the form again, each error by its field', async () => {
    const [b, user] = [admin, admin.user];
    const list = await b.get('/admin/webhooks');
    expect(list.statusCode).toBe(200);
    expect(list.body).toContain('No endpoint yet.');
    const csrf = csrfOf(list.body);
    const bad = await b.post('/admin/webhooks', { url: 'ftp://hooks.example.com/x', audience: 'client-a', csrf });
    expect(bad.statusCode).toBe(422);
    expect(bad.body).toMatch(/<input id="url"[^>]*aria-invalid="true" aria-describedby="url-error">/);
    expect(bad.body).toMatch(/id="url-error" role="alert">The URL must be an http:\/\/ or https:\/\/ URL\./);
    expect(bad.body).toMatch(/<fieldset aria-describedby="events-error">/);
    expect(bad.body).toMatch(/id="events-error" role="alert">Events: must name at least one event type\./);
    expect(bad.body).toMatch(/id="audience-error" role="alert">The audience goes with backchannel_logout: true\./);
    expect(bad.body, 'what was typed stays').toContain('value="ftp://hooks.example.com/x"');
    // What the domain refuses besides (a denied network), by its field too.
    const denied = await postPairs(b, '/admin/webhooks', [['url', 'http://169.254.169.254/latest'], ['events', 'user.created'], ['csrf', csrf]]);
    expect(denied.statusCode).toBe(422);
    expect(denied.body).toMatch(/id="url-error" role="alert">The URL [^<]*never posted there/);
    expect((await postPairs(b, '/admin/webhooks', [['url', 'https://hooks.example.com/x'], ['events', 'user.exploded'], ['csrf', csrf]])).statusCode).toBe(422);
    expect(await t.deps.db.select().from(webhookEndpoints)).toEqual([]);
    expect((await postPairs(b, '/admin/webhooks', [['url', 'https://hooks.example.com/x'], ['events', 'user.created']])).statusCode, 'no form token').toBe(403);

    const added = await postPairs(b, '/admin/webhooks', [['url', 'HTTPS://Hooks.Example.com/a'], ['events', 'user.disabled'], ['events', 'user.deleted'], ['csrf', csrf]]);
    expect(added.statusCode, added.body).toBe(200);
    expect(added.headers['cache-control']).toBe('no-store');
    const secret = /<input id="secret" type="text" readonly[^>]* value="(whsec_[A-Za-z0-9+/=]+)">/.exec(added.body)?.[1];
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const [row] = await t.deps.db.select().from(webhookEndpoints);
    expect(row).toMatchObject({ url: 'https://hooks.example.com/a', eventTypes: ['user.deleted', 'user.disabled'] });
    expect(JSON.stringify(row)).not.toContain(secret!.slice(6));
    const [audit] = await auditOf('webhook_added');
    expect(audit!.details).toMatchObject({ actor: `admin:${user.id}`, webhookId: row!.id });
    const again = await b.get('/admin/webhooks');
    expect(again.body).toContain('https://hooks.example.com/a');
    expect(again.body).toContain('user.deleted, user.disabled');
    expect(again.body, 'never shown again').not.toContain(secret!.slice(6));
    // The same endpoint through the admin API's list.
    const api = await t.inject({ method: 'GET', url: '/api/admin/webhooks', headers: clients.auth(await clients.client(['admin'])) });
    expect(api.json().webhooks.map((w: { id: string }) => w.id)).toEqual([row!.id]);
  });

  it('lists a dead delivery, replays it (pending again, audited with the admin as actor), and says so when it is no longer dead', async () => {
    const [b, user] = [admin, admin.user];
    const csrf = csrfOf((await b.get('/admin/webhooks')).body);
    const url = `http://127.0.0.1:${await closedPort()}/hook`;
    expect((await postPairs(b, '/admin/webhooks', [['url', url], ['events', 'user.created'], ['csrf', csrf]])).statusCode).toBe(200);
    const [endpoint] = await t.deps.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.url, url));
    const id = endpoint!.id;
    await signUp(t);
    // Its first attempt refused and recorded: due again a second from now, which the clock never reaches by itself.
    await until(() => deliveriesOf(id), (d) => d[0]?.lastError != null);
    const [dead] = await dieNow(id, 1);
    const list = await b.get('/admin/webhooks');
    expect(list.body).toContain(`<a href="/admin/webhooks/deliveries?endpoint=${id}&amp;state=dead">1</a>`);
    const view = `/admin/webhooks/deliveries?endpoint=${id}&state=dead`;
    const page = await b.get(view);
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(new RegExp(`<tr><th scope="row">${dead!.id}</th><td>user.created</td><td>dead</td><td>2</td><td>[^<]*ECONNREFUSED`));
    expect(page.body).toContain(`action="/admin/webhooks/deliveries/${dead!.id}/replay"`);
    expect(page.body).toMatch(/<button type="submit" class="secondary" aria-label="Replay delivery \d+">Replay<\/button>/);

    const replay = await b.post(`/admin/webhooks/deliveries/${dead!.id}/replay`, { csrf, endpoint: id, state: 'dead' });
    expect(replay.statusCode).toBe(303);
    expect(replay.headers.location).toBe(`${view}&done=replayed`);
    expect((await deliveriesOf(id))[0]!.status).toBe('pending');
    const audit = await auditOf('webhook_replayed');
    expect(audit.map((a) => a.details)).toEqual([{ actor: `admin:${user.id}`, deliveryId: dead!.id, replayed: 1 }]);
    expect((await b.get(replay.headers.location as string)).body).toContain('The delivery is pending again');
    const twice = await b.post(`/admin/webhooks/deliveries/${dead!.id}/replay`, { csrf });
    expect(twice.headers.location).toBe('/admin/webhooks/deliveries?done=not_dead');
    expect(await auditOf('webhook_replayed')).toHaveLength(1);
    // A form without its token, or from another origin, does nothing.
    await dieNow(id, 1);
    expect((await b.post(`/admin/webhooks/deliveries/${dead!.id}/replay`, {})).statusCode).toBe(403);
    expect((await b.post(`/admin/webhooks/deliveries/${dead!.id}/replay`, { csrf }, { origin: 'https://evil.example' })).statusCode).toBe(403);
    expect((await deliveriesOf(id))[0]!.status).toBe('dead');
    // Every dead one at once, from the view of every endpoint.
    const all = await b.get('/admin/webhooks/deliveries?state=dead');
    expect(all.body).toContain('Replay every dead delivery, of every endpoint');
    const everything = await b.post('/admin/webhooks/deliveries/replay-dead', { csrf });
    expect(everything.headers.location).toBe('/admin/webhooks/deliveries?done=replayed_all&n=1');
    expect((await b.get(everything.headers.location as string)).body).toContain('1 dead delivery is pending again.');
    expect((await deliveriesOf(id))[0]!.status).toBe('pending');
    expect((await auditOf('webhook_replayed')).at(-1)!.details).toEqual({ actor: `admin:${user.id}`, deliveryId: null, replayed: 1 });
  });

  it('pages through an endpoint\'s deliveries, newest first; removes the endpoint after asking, dropping its backlog', async () => {
    const [b, user] = [admin, admin.user];
    const csrf = csrfOf((await b.get('/admin/webhooks')).body);
    const url = `http://127.0.0.1:${await closedPort()}/renames`;
    expect((await postPairs(b, '/admin/webhooks', [['url', url], ['events', 'user.updated'], ['csrf', csrf]])).statusCode).toBe(200);
    const [endpoint] = await t.deps.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.url, url));
    const id = endpoint!.id;
    const renamed = await signUp(t, { password: GOOD_PASSWORD });
    const { access_token } = await signIn(t, renamed.email);
    for (let i = 0; i < 51; i += 1) await t.inject({ method: 'PATCH', url: '/api/me', payload: { name: `Name ${i}` }, headers: bearer(access_token) });
    const ids = (await deliveriesOf(id)).map((d) => d.id).reverse();
    expect(ids).toHaveLength(51);
    const first = await b.get(`/admin/webhooks/deliveries?endpoint=${id}`);
    const shown = (body: string) => [...body.matchAll(/<tr><th scope="row">(\d+)<\/th>/g)].map((m) => Number(m[1]));
    expect(shown(first.body)).toEqual(ids.slice(0, 50));
    const older = /<a href="([^"]+)">Older deliveries<\/a>/.exec(first.body)![1]!.replace(/&amp;/g, '&');
    expect(older).toBe(`/admin/webhooks/deliveries?endpoint=${id}&before=${ids[49]}`);
    const second = await b.get(older);
    expect(shown(second.body)).toEqual(ids.slice(50));
    expect(second.body).not.toContain('Older deliveries');
    // The admin API pages the same way.
    const api = await t.inject({ method: 'GET', url: `/api/admin/webhooks/${id}/deliveries?limit=50&before=${ids[49]}`, headers: clients.auth(await clients.client(['admin'])) });
    expect(api.json().deliveries.map((d: { id: number }) => d.id)).toEqual(ids.slice(50));
    // Bad filters are refused; an unknown endpoint is not found.
    for (const query of ['state=lost', 'endpoint=nope', 'before=0', 'before=x']) expect((await b.get(`/admin/webhooks/deliveries?${query}`)).statusCode, query).toBe(400);
    expect((await b.get('/admin/webhooks/deliveries?endpoint=wh_unknown0000')).statusCode).toBe(404);
    expect((await b.get('/admin/webhooks/deliveries?endpoint=&state=')).statusCode, 'the filter form\'s "every" and "any"').toBe(200);

    const ask = await b.get(`/admin/webhooks/${id}/remove`);
    expect(ask.statusCode).toBe(200);
    expect(ask.body).toMatch(/its 51 pending deliveries are dropped/);
    const removed = await b.post(`/admin/webhooks/${id}/remove`, { csrf });
    expect(removed.statusCode).toBe(303);
    expect(removed.headers.location).toBe('/admin/webhooks?done=removed');
    expect(await deliveriesOf(id)).toEqual([]);
    expect((await b.get('/admin/webhooks?done=removed')).body).toContain('The endpoint was removed');
    expect((await auditOf('webhook_removed')).map((a) => a.details)).toEqual([expect.objectContaining({ actor: `admin:${user.id}`, webhookId: id })]);
    expect((await b.post(`/admin/webhooks/${id}/remove`, { csrf })).statusCode, 'removed already').toBe(404);
    expect((await b.get(`/admin/webhooks/${id}/remove`)).statusCode).toBe(404);
  });
});
