import { eq, sql } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client.js';
import { sessions, users } from '../../src/db/schema.js';
import { GOOD_PASSWORD, PUBLIC_URL, signIn, signUp, uniqueEmail, useMailingApp, type TestApp } from '../helpers/app.js';

// Every route of the admin console (/admin…), whichever section registered it, against every browser that may not
// use it: signed out, signed in without the role, and an admin whose session has no second factor; and an admin's
// own browser with a forged form. The routes are read from the app itself, so a section added later is covered.

const ORIGIN = new URL(PUBLIC_URL).origin;
const FORM = 'application/x-www-form-urlencoded';
const SECTIONS = ['/admin', '/admin/users', '/admin/audit', '/admin/keys', '/admin/services', '/admin/clients', '/admin/webhooks'];
const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
const cookieOf = (res: LightMyRequestResponse, name: string) => (res.cookies as { name: string; value: string }[]).find((c) => c.name === name)?.value;

/** A route's URL with each parameter given a well-formed value: a user's id, an endpoint's, a name. */
const filledIn = (url: string, userId: string) =>
  url.replace(/:(\w+)/g, (_m, name: string) =>
    url.startsWith('/admin/webhooks/') && name === 'id' ? 'wh_0123456789abcdef' : name === 'deliveryId' ? '1' : /id$/i.test(name) ? userId : 'orders-api',
  );

interface Browser {
  cookie: string;
  csrf: string;
}

/** A browser signed in through /login with a password: its cookie and the token of its forms. */
async function signedIn(t: TestApp, email: string): Promise<Browser> {
  const page = await t.inject({ method: 'GET', url: '/login' });
  const res = await t.inject({
    method: 'POST',
    url: '/login',
    payload: new URLSearchParams({ email, password: GOOD_PASSWORD, csrf: csrfOf(page.body) }).toString(),
    headers: { 'content-type': FORM, origin: ORIGIN, cookie: `latchkey_form=${cookieOf(page, 'latchkey_form')!}` },
  });
  const value = cookieOf(res, 'latchkey_session');
  expect(value, res.body).toBeDefined();
  const cookie = `latchkey_session=${value}`;
  const account = await t.inject({ method: 'GET', url: '/account', headers: { cookie } });
  return { cookie, csrf: csrfOf(account.body) };
}

/**
 * What an admin could change through the console, as one string: it must not move while refused browsers try. The
 * mails queued before are sent first (a verification link's token is made at sending).
 */
async function stateOf(t: TestApp): Promise<string> {
  for (let i = 0; ; i += 1) {
    const [queued] = rowsOf<{ n: number }>(await t.deps.db.execute(sql`SELECT count(*)::int AS n FROM mail_outbox WHERE sent_at IS NULL AND abandoned_at IS NULL`));
    if (queued!.n === 0) break;
    if (i > 200) throw new Error('the outbox did not drain');
    await new Promise((r) => setTimeout(r, 50));
  }
  const counts = await t.deps.db.execute(sql`SELECT
      (SELECT count(*) FROM users) AS users,
      (SELECT count(*) FROM users WHERE disabled_at IS NOT NULL OR email_verified_at IS NOT NULL) AS changed_users,
      (SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL) AS revoked_sessions,
      (SELECT count(*) FROM signing_keys) AS keys,
      (SELECT count(*) FROM service_clients) AS services,
      (SELECT count(*) FROM oauth_clients) AS oauth_clients,
      (SELECT count(*) FROM oauth_clients WHERE secret_rotated_at IS NOT NULL) AS rotated_oauth_clients,
      (SELECT count(*) FROM webhook_endpoints) AS webhooks,
      (SELECT count(*) FROM webhook_deliveries WHERE status <> 'dead') AS live_deliveries,
      (SELECT count(*) FROM one_time_tokens) AS one_time_tokens,
      (SELECT count(*) FROM mail_outbox) AS mails,
      (SELECT count(*) FROM audit_events WHERE details->>'actor' LIKE 'admin:%') AS admin_actions`);
  return JSON.stringify(rowsOf(counts));
}

describe('the admin console, to anyone but an admin signed in with a second factor', () => {
  // No role must have a factor here, so that an admin can sign in with a password alone (aal1).
  const { t } = useMailingApp({ REQUIRE_MFA_FOR_ROLES: '' });

  const consoleRoutes = () => t.app.routeList.filter((r) => r.url === '/admin' || r.url.startsWith('/admin/'));

  async function makeAdmin(email: string) {
    await t.deps.db.update(users).set({ role: 'admin' }).where(eq(users.email, email));
  }

  it('has every section, each a page that an admin at aal2 opens', async () => {
    const admin = await signUp(t, { email: uniqueEmail('admin') });
    await makeAdmin(admin.email);
    const browser = await signedIn(t, admin.email);
    // A second factor's session, as a sign-in with one opens it.
    await t.deps.db.update(sessions).set({ amr: ['pwd', 'otp', 'mfa'] }).where(eq(sessions.userId, admin.id));
    const gets = consoleRoutes().filter((r) => r.method === 'GET').map((r) => r.url);
    expect(gets).toEqual(expect.arrayContaining(SECTIONS));
    for (const url of SECTIONS) {
      const res = await t.inject({ method: 'GET', url, headers: { cookie: browser.cookie } });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-security-policy'], url).toContain("frame-ancestors 'none'");
      expect(res.body, url).toContain('<nav class="console" aria-label="Console">');
    }
  });

  it('sends a signed-out browser to sign in, and refuses a user without the role and an admin without a second factor, on every route', async () => {
    const victim = await signUp(t, { email: uniqueEmail('victim'), name: 'Victim' });
    await signIn(t, victim.email);
    const user = await signUp(t, { email: uniqueEmail('plain') });
    const admin = await signUp(t, { email: uniqueEmail('aal1-admin') });
    await makeAdmin(admin.email);
    const refused: [string, Browser | undefined][] = [
      ['signed out', undefined],
      ['without the role', await signedIn(t, user.email)],
      ['an admin at aal1', await signedIn(t, admin.email)],
    ];
    const routes = consoleRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(SECTIONS.length);
    const before = await stateOf(t);
    for (const route of routes) {
      const url = filledIn(route.url, victim.id);
      for (const [who, browser] of refused) {
        const what = `${route.method} ${url} (${who})`;
        const cookie = browser ? { cookie: browser.cookie } : {};
        const res =
          route.method === 'GET'
            ? await t.inject({ method: 'GET', url, headers: cookie })
            : await t.inject({
                method: route.method as 'POST',
                url,
                payload: new URLSearchParams({ csrf: browser?.csrf ?? '', confirm: victim.email, email: victim.email, name: 'orders-api' }).toString(),
                headers: { 'content-type': FORM, origin: ORIGIN, ...cookie },
              });
        expect(res.body, what).not.toContain(victim.email);
        if (!browser) {
          expect(res.statusCode, what).toBe(303);
          expect(String(res.headers.location), what).toMatch(/^\/login\?return_to=/);
        } else if (route.method === 'GET') {
          expect(res.statusCode, what).toBe(403);
          expect(res.body, what).toMatch(who === 'an admin at aal1' ? /second factor/ : /not one/);
        } else {
          // A form's fields may be refused as malformed before the browser is looked at: either way, nothing is done.
          expect([400, 403], what).toContain(res.statusCode);
        }
      }
    }
    expect(await stateOf(t)).toBe(before);
    // Every refusal answered cleanly: no handler failed after its answer went out.
    expect(t.logs.filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
  });

  it("refuses an admin's own browser a form without its token, with another session's token, or from another origin", async () => {
    const victim = await signUp(t, { email: uniqueEmail('victim') });
    await signIn(t, victim.email);
    const admin = await signUp(t, { email: uniqueEmail('admin') });
    await makeAdmin(admin.email);
    const browser = await signedIn(t, admin.email);
    const other = await signedIn(t, admin.email);
    await t.deps.db.update(sessions).set({ amr: ['pwd', 'otp', 'mfa'] }).where(eq(sessions.userId, admin.id));
    const posts = consoleRoutes().filter((r) => r.method !== 'GET');
    expect(posts.length).toBeGreaterThan(0);
    const before = await stateOf(t);
    for (const route of posts) {
      const url = filledIn(route.url, victim.id);
      for (const [why, csrf, origin] of [
        ['no token', '', ORIGIN],
        ["another session's token", other.csrf, ORIGIN],
        ['another origin', browser.csrf, 'https://evil.example'],
        ['a sibling host', browser.csrf, 'http://evil.latchkey.test'],
      ] as const) {
        const res = await t.inject({
          method: route.method as 'POST',
          url,
          payload: new URLSearchParams({ csrf, confirm: victim.email, email: victim.email, name: 'orders-api' }).toString(),
          headers: { 'content-type': FORM, origin, cookie: browser.cookie },
        });
        expect([400, 403], `${route.method} ${url}: ${why}`).toContain(res.statusCode);
      }
      // And never a JSON body, whatever it carries.
      const json = await t.inject({ method: route.method as 'POST', url, payload: { csrf: browser.csrf }, headers: { origin: ORIGIN, cookie: browser.cookie } });
      expect(json.statusCode, `${route.method} ${url}: JSON`).toBe(415);
    }
    expect(await stateOf(t)).toBe(before);
    // Every refusal answered cleanly: no handler failed after its answer went out.
    expect(t.logs.filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
  });
});
