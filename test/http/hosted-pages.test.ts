import { and, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { sealBrowserSession, pageKey } from '../../src/auth/browser-sessions/browser-sessions.js';
import { auditEvents, sessions } from '../../src/db/schema.js';
import { bearer, PUBLIC_URL, signIn, signUp, startTestApp, useMailingApp, type SignedUp, type TestApp } from '../helpers/app.js';

// The hosted pages (/login, /account, /logout) as a browser drives them, through inject: plain forms, a session
// cookie of Latchkey's own, a token and the Origin on every form, and `return_to` that never leaves the allowed
// origins. test/http/hosted-pages-browser.test.ts drives the same pages in Chromium.

const ORIGIN = new URL(PUBLIC_URL).origin;
const FORM = 'application/x-www-form-urlencoded';

/** A browser's cookie jar, as far as these pages go: name to value, updated from each answer's Set-Cookie. */
class Browser {
  readonly jar = new Map<string, string>();
  constructor(readonly t: TestApp) {}

  private take(res: LightMyRequestResponse) {
    for (const c of res.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
      if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() <= Date.now())) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
    return res;
  }

  get cookie() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(url: string) {
    return this.take(await this.t.inject({ method: 'GET', url, headers: this.jar.size ? { cookie: this.cookie } : {} }));
  }

  async post(url: string, fields: Record<string, string>, headers: Record<string, string> = { origin: ORIGIN }) {
    const payload = new URLSearchParams(fields).toString();
    return this.take(await this.t.inject({ method: 'POST', url, payload, headers: { 'content-type': FORM, ...(this.jar.size ? { cookie: this.cookie } : {}), ...headers } }));
  }
}

const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
const mfaTokenOf = (body: string) => /name="mfa_token" value="([^"]+)"/.exec(body)?.[1] ?? '';
const sessionCookie = 'latchkey_session';

/** Signs a browser in through /login; the answer to the form. */
async function logIn(b: Browser, user: { email: string; password: string }, returnTo?: string) {
  const page = await b.get(`/login${returnTo === undefined ? '' : `?return_to=${encodeURIComponent(returnTo)}`}`);
  const fields = { email: user.email, password: user.password, csrf: csrfOf(page.body), ...(returnTo === undefined ? {} : { return_to: /name="return_to" value="([^"]*)"/.exec(page.body)![1]! }) };
  return b.post('/login', fields);
}

describe('the sign-in page', () => {
  const { t } = useMailingApp();

  it('is a labelled form with a strict CSP, a form token and no script', async () => {
    const b = new Browser(t);
    const res = await b.get('/login');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.body).toMatch(/<label for="email">Email<\/label>/);
    expect(res.body).toMatch(/<label for="password">Password<\/label>/);
    expect(res.body).toMatch(/<button type="submit">Sign in<\/button>/);
    expect(res.body).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
    expect(csrfOf(res.body)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const nonce = (res.cookies as { name: string; httpOnly?: boolean; sameSite?: string; path?: string }[]).find((c) => c.name === 'latchkey_form');
    expect(nonce).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    // Its stylesheet, cached for good (its name changes with it).
    const css = /href="(\/assets\/latchkey-[0-9a-f]{12}\.css)"/.exec(res.body)![1]!;
    const sheet = await t.inject({ method: 'GET', url: css });
    expect(sheet.headers['content-type']).toContain('text/css');
    expect(sheet.headers['cache-control']).toContain('immutable');
  });

  it('signs in with the password: a session of its own, named by an HttpOnly cookie, audited', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    const res = await logIn(b, user);
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe('/account');
    const cookie = (res.cookies as { name: string; httpOnly?: boolean; sameSite?: string; secure?: boolean }[]).find((c) => c.name === sessionCookie);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
    expect(cookie!.secure).toBeFalsy();
    expect(b.jar.has('latchkey_form'), 'the nonce goes at sign-in').toBe(false);
    const account = await b.get('/account');
    expect(account.statusCode).toBe(200);
    expect(account.body).toContain(user.email);
    expect(account.body).toContain('(this browser)');
    const rows = await t.deps.db.select().from(sessions).where(eq(sessions.userId, user.id));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.amr).toEqual(['pwd']);
    expect(await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'signin_succeeded')))).toHaveLength(1);
  });

  it('answers a wrong password 401 with the form again, the error announced and tied to the fields; no cookie', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    const res = await logIn(b, { email: user.email, password: 'not the password at all' });
    expect(res.statusCode).toBe(401);
    expect(res.body).toMatch(/role="alert" id="form-error">Wrong email or password\./);
    expect(res.body).toMatch(/id="password"[^>]*aria-invalid="true" aria-describedby="form-error"/);
    expect(res.body, 'the address typed stays').toContain(`value="${user.email}"`);
    expect(b.jar.has(sessionCookie)).toBe(false);
  });

  it('refuses a form without its token, with another browser’s token, from another origin, or with no origin at all', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    const other = new Browser(t);
    const token = csrfOf((await b.get('/login')).body);
    const othersToken = csrfOf((await other.get('/login')).body);
    const fields = { email: user.email, password: user.password };
    expect((await b.post('/login', fields)).statusCode, 'no token').toBe(403);
    expect((await b.post('/login', { ...fields, csrf: othersToken })).statusCode, 'another browser’s token').toBe(403);
    expect((await b.post('/login', { ...fields, csrf: token }, { origin: 'https://evil.example' })).statusCode, 'another origin').toBe(403);
    expect((await b.post('/login', { ...fields, csrf: token }, { origin: 'null' })).statusCode, 'an opaque origin').toBe(403);
    expect((await b.post('/login', { ...fields, csrf: token }, {})).statusCode, 'neither Origin nor Referer').toBe(403);
    expect((await b.post('/login', { ...fields, csrf: token }, { referer: 'https://evil.example/login' })).statusCode, 'a Referer of another origin').toBe(403);
    expect(b.jar.has(sessionCookie)).toBe(false);
    // The same form from this origin's page (a Referer, as a browser that sends no Origin would) signs in.
    const ok = await b.post('/login', { ...fields, csrf: token }, { referer: `${ORIGIN}/login` });
    expect(ok.statusCode).toBe(303);
    expect(b.jar.has(sessionCookie)).toBe(true);
  });

  it('sends a signed-in browser on to return_to, only on this origin; every open-redirect try ends on /account', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    expect((await logIn(b, user, '/account?tab=sessions#top')).headers.location).toBe('/account?tab=sessions#top');
    for (const hostile of ['//evil.example', '/\\evil.example', '/.//evil.example', 'https:evil.example', 'https://evil.example/', 'http://latchkey.test.evil.example/',
      'javascript:alert(1)', '/%2F%2Fevil.example', ' //evil.example', '\t//evil.example', 'https://user@evil.example', `${ORIGIN}@evil.example`, '/login?return_to=//evil.example']) {
      const signedIn = new Browser(t);
      const res = await logIn(signedIn, user, hostile);
      expect(res.statusCode, hostile).toBe(303);
      const location = String(res.headers.location);
      expect(new URL(location, ORIGIN).origin, `${hostile} -> ${location}`).toBe(ORIGIN);
      expect(location.startsWith('//'), location).toBe(false);
    }
    // Already signed in: /login sends the browser on at once.
    expect((await b.get('/login?return_to=%2Faccount')).statusCode).toBe(303);
  });

  it('shows what the account holds, escaped: a name made of markup is text', async () => {
    const user = await signUp(t, { name: '<img src=x onerror=alert(1)>"Ada"' });
    const b = new Browser(t);
    await logIn(b, user);
    const page = await b.get('/account');
    expect(page.body).not.toContain('<img src=x');
    expect(page.body).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;Ada&quot;');
  });

  it('renames the account from its page, with the form’s token; refuses an empty name 422', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const csrf = csrfOf((await b.get('/account')).body);
    expect((await b.post('/account/name', { name: 'Grace Hopper' })).statusCode, 'no token').toBe(403);
    const saved = await b.post('/account/name', { name: 'Grace Hopper', csrf });
    expect(saved.statusCode).toBe(303);
    expect(saved.headers.location).toBe('/account?saved=name');
    const page = await b.get('/account?saved=name');
    expect(page.body).toContain('value="Grace Hopper"');
    expect(page.body).toContain('Your name was saved.');
    const empty = await b.post('/account/name', { name: '  ', csrf });
    expect(empty.statusCode).toBe(422);
    expect(empty.body).toMatch(/aria-invalid="true" aria-describedby="name-error"/);
  });

  it('signs out: the session ends on the server, and the cookie no longer opens anything', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const kept = b.cookie;
    const page = await b.get('/logout');
    expect(page.body).toMatch(/<button type="submit">Sign out<\/button>/);
    const out = await b.post('/logout', { csrf: csrfOf(page.body) });
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/login');
    expect(b.jar.has(sessionCookie)).toBe(false);
    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.userId, user.id));
    expect(row!.revokedAt).not.toBeNull();
    // The old cookie, replayed.
    const again = await t.inject({ method: 'GET', url: '/account', headers: { cookie: kept } });
    expect(again.statusCode).toBe(303);
    expect(again.headers.location).toBe('/login?return_to=%2Faccount');
  });

  it('follows the session wherever it ends: ended from another device through the API, the cookie opens nothing', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    expect((await b.get('/account')).statusCode).toBe(200);
    const browserSession = b.jar.get(sessionCookie)!.split('.')[0]!;
    const { access_token } = await signIn(t, user.email);
    expect((await t.inject({ method: 'DELETE', url: `/api/me/sessions/${browserSession}`, headers: bearer(access_token) })).statusCode).toBe(200);
    expect((await b.get('/account')).statusCode).toBe(303);
  });

  it('opens nothing with a cookie it did not make: altered, made under another key, or naming another user', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const value = b.jar.get(sessionCookie)!;
    const [sessionId, userId] = value.split('.');
    const other = await signUp(t);
    const tries = [
      `${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`,
      sealBrowserSession(pageKey('another secret key entirely, 32 bytes+'), { sessionId: sessionId!, userId: userId! }),
      `${sessionId}.${other.id}.${value.split('.')[2]}`,
      `${sessionId}.${userId}`,
      'garbage',
    ];
    for (const cookie of tries) {
      const res = await t.inject({ method: 'GET', url: '/account', headers: { cookie: `${sessionCookie}=${cookie}` } });
      expect(res.statusCode, cookie).toBe(303);
    }
  });
});

describe('the sign-in page with a second factor', () => {
  const { t } = useMailingApp();
  const codeAt = (secret: string, at: Date) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: at.getTime() });

  async function withApp(): Promise<SignedUp & { secret: string; recoveryCodes: string[] }> {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    const setup = await t.inject({ method: 'POST', url: '/api/me/mfa/totp', payload: { password: user.password }, headers: bearer(access_token) });
    const { secret } = setup.json();
    const confirmed = await t.inject({ method: 'POST', url: '/api/me/mfa/totp/confirm', payload: { code: codeAt(secret, t.clock.now()) }, headers: bearer(access_token) });
    t.clock.advance(60);
    return { ...user, secret, recoveryCodes: confirmed.json().recovery_codes };
  }

  it('asks for the code after the password, and signs in with it at aal2; a wrong code shows the step again', async () => {
    const user = await withApp();
    const b = new Browser(t);
    const step = await logIn(b, user);
    expect(step.statusCode).toBe(200);
    expect(step.body).toMatch(/<label for="code">Code<\/label>/);
    expect(b.jar.has(sessionCookie), 'no session before the second step').toBe(false);
    const fields = { mfa_token: mfaTokenOf(step.body), csrf: csrfOf(step.body) };
    const wrong = await b.post('/login/mfa', { ...fields, code: '000000' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toMatch(/role="alert" id="code-error"/);
    const res = await b.post('/login/mfa', { ...fields, code: codeAt(user.secret, t.clock.now()) });
    expect(res.statusCode, res.body).toBe(303);
    expect(b.jar.has(sessionCookie)).toBe(true);
    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.userId, user.id)).orderBy(sessions.createdAt);
    expect(row).toBeDefined();
    const rows = await t.deps.db.select().from(sessions).where(eq(sessions.userId, user.id));
    expect(rows.some((r) => r.amr?.includes('otp') && r.amr.includes('mfa'))).toBe(true);
  });

  it('takes a recovery code instead, once', async () => {
    const user = await withApp();
    const b = new Browser(t);
    const step = await logIn(b, user);
    const fields = { mfa_token: mfaTokenOf(step.body), csrf: csrfOf(step.body) };
    expect((await b.post('/login/mfa', { ...fields, code: user.recoveryCodes[0]! })).statusCode).toBe(303);
    const again = new Browser(t);
    const step2 = await logIn(again, user);
    const reused = await again.post('/login/mfa', { mfa_token: mfaTokenOf(step2.body), csrf: csrfOf(step2.body), code: user.recoveryCodes[0]! });
    expect(reused.statusCode).toBe(401);
    expect(again.jar.has(sessionCookie)).toBe(false);
  });
});

describe('the hosted pages over https', () => {
  it('name their cookies __Host- and send them Secure', async () => {
    const t = await startTestApp({ env: { PUBLIC_URL: 'https://auth.example.com' } });
    try {
      const user = await signUp(t);
      const page = await t.inject({ method: 'GET', url: '/login' });
      const nonce = (page.cookies as { name: string; value: string; secure?: boolean }[]).find((c) => c.name === '__Host-latchkey_form');
      expect(nonce?.secure).toBe(true);
      const res = await t.inject({
        method: 'POST',
        url: '/login',
        payload: new URLSearchParams({ email: user.email, password: user.password, csrf: csrfOf(page.body) }).toString(),
        headers: { 'content-type': FORM, origin: 'https://auth.example.com', cookie: `__Host-latchkey_form=${nonce!.value}` },
      });
      expect(res.statusCode, res.body).toBe(303);
      const session = (res.cookies as { name: string; secure?: boolean; path?: string }[]).find((c) => c.name === '__Host-latchkey_session');
      expect(session).toMatchObject({ secure: true, path: '/' });
    } finally {
      await t.close();
    }
  });
});
