import { and, eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { Browser } from '../helpers/admin-browser.js';
import { sealBrowserSession, pageKey } from '../../src/auth/browser-sessions/browser-sessions.js';
import { auditEvents, sessions } from '../../src/db/schema.js';
import { startSmtpServer } from '../helpers/smtp.js';
import { bearer, GOOD_PASSWORD, PUBLIC_URL, signIn, signUp, startTestApp, uniqueEmail, useMailingApp, type SignedUp } from '../helpers/app.js';

// The hosted pages (/login, /account, /logout) as a browser drives them, through inject: plain forms, a session
// cookie of Latchkey's own, a token and the Origin on every form, and `return_to` that never leaves the allowed
// origins. test/http/hosted-pages-browser.test.ts drives the same pages in Chromium.

const ORIGIN = new URL(PUBLIC_URL).origin;
const FORM = 'application/x-www-form-urlencoded';


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

  it('is a labelled form with a strict CSP, a form token, and no script but the one file (passkeys)', async () => {
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
    expect(res.body).not.toMatch(/\sstyle=|\son[a-z]+=/i);
    const scripts = res.body.match(/<script[^>]*>[^<]*<\/script>/g);
    expect(scripts).toEqual([expect.stringMatching(/^<script src="\/assets\/latchkey-[0-9a-f]{12}\.js" defer><\/script>$/)]);
    expect(csp).toContain("script-src 'self'");
    const nonce = (res.cookies as { name: string; value: string; httpOnly?: boolean; sameSite?: string; path?: string }[]).find((c) => c.name === 'latchkey_form');
    expect(nonce).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    // A signed-out form's token is its nonce cookie's value (a double submit; browser-sessions.ts says why).
    expect(nonce!.value).toMatch(/^[A-Za-z0-9_-]{44}$/);
    expect(csrfOf(res.body)).toBe(nonce!.value);
    const again = await b.get('/login');
    expect(again.cookies, 'set once: the browser keeps its nonce').toEqual([]);
    expect(csrfOf(again.body)).toBe(nonce!.value);
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
    const elsewhere = await b.post('/login', { ...fields, csrf: token }, { origin: 'http://127.0.0.1:5001' });
    expect(elsewhere.statusCode, 'another origin').toBe(403);
    expect(elsewhere.body, 'where the site is').toContain(`This site&#39;s address is <a href="${ORIGIN}/login">`);
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

describe('creating an account, and asking for a reset link, from the pages', () => {
  const { t, smtp } = useMailingApp();

  it('creates an account and signs it in; the form shows each problem beside its field', async () => {
    const b = new Browser(t);
    const page = await b.get('/signup');
    expect(page.body).toMatch(/<button type="submit">Create account<\/button>/);
    const csrf = csrfOf(page.body);
    const bad = await b.post('/signup', { name: 'Mallory\u202Eevil', email: 'not an address', password: '', csrf });
    expect(bad.statusCode).toBe(422);
    for (const id of ['name', 'email', 'password']) expect(bad.body, id).toMatch(new RegExp(`id="${id}"[^>]*aria-invalid="true" aria-describedby="${id}-error"`));
    const weak = await b.post('/signup', { name: 'Ada', email: uniqueEmail('page'), password: 'password', csrf });
    expect(weak.statusCode).toBe(422);
    expect(weak.body).toMatch(/id="password-error"/);
    const email = uniqueEmail('page');
    const created = await b.post('/signup', { name: 'Ada Lovelace', email, password: GOOD_PASSWORD, csrf });
    expect(created.statusCode, created.body).toBe(303);
    expect(created.headers.location).toBe('/account');
    expect((await b.get('/account')).body).toContain(email);
    await smtp.waitFor((m) => m.to.includes(email));
    const taken = new Browser(t);
    const again = await taken.post('/signup', { name: 'Ada', email, password: GOOD_PASSWORD, csrf: csrfOf((await taken.get('/signup')).body) });
    expect(again.statusCode).toBe(409);
    expect(again.body).toMatch(/id="email-error"/);
    expect((await taken.post('/signup', { name: 'Ada', email: uniqueEmail('page'), password: GOOD_PASSWORD }, { origin: 'https://evil.example' })).statusCode).toBe(403);
  });

  it('answers a reset request the same whether or not the address has an account, and mails the link to one that has', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    const page = await b.get('/forgot-password');
    expect(page.body).toMatch(/<button type="submit">Send reset link<\/button>/);
    const csrf = csrfOf(page.body);
    const known = await b.post('/forgot-password', { email: user.email, csrf });
    const unknown = await b.post('/forgot-password', { email: uniqueEmail('nobody'), csrf });
    expect(known.statusCode).toBe(200);
    expect(unknown.statusCode).toBe(200);
    expect(known.body).toBe(unknown.body);
    await smtp.waitFor((m) => m.to.includes(user.email) && /reset/i.test(m.subject));
    expect((await b.post('/forgot-password', { email: 'nope', csrf })).statusCode).toBe(422);
    expect((await b.post('/forgot-password', { email: user.email })).statusCode, 'no token').toBe(403);
  });
});

describe('the account page’s sessions', () => {
  const { t } = useMailingApp();

  it('signs one other session out, then every other one; this browser stays', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const phone = await signIn(t, user.email);
    const laptop = await signIn(t, user.email);
    const page = await b.get('/account');
    const csrf = csrfOf(page.body);
    const phoneSession = decodeJwt(phone.access_token).sid as string;
    expect(page.body).toContain(`name="session_id" value="${phoneSession}"`);
    expect(page.body).toMatch(/<button type="submit" class="secondary">Sign out everywhere else<\/button>/);
    expect((await b.post('/account/sessions/end', { session_id: phoneSession })).statusCode, 'no token').toBe(403);
    const one = await b.post('/account/sessions/end', { session_id: phoneSession, csrf });
    expect(one.headers.location).toBe('/account?ended=one');
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(phone.access_token) })).statusCode).toBe(401);
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(laptop.access_token) })).statusCode).toBe(200);
    // Another user's session, named here, is not this account's to end.
    const stranger = await signUp(t);
    const theirs = decodeJwt((await signIn(t, stranger.email)).access_token);
    await b.post('/account/sessions/end', { session_id: theirs.sid as string, csrf });
    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.id, theirs.sid as string));
    expect(row!.revokedAt).toBeNull();
    const others = await b.post('/account/sessions/end-others', { csrf });
    expect(others.headers.location).toBe('/account?ended=others');
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(laptop.access_token) })).statusCode).toBe(401);
    const after = await b.get('/account?ended=others');
    expect(after.statusCode).toBe(200);
    expect(after.body).toContain('Every other session was signed out.');
  });

  it('refuses a name the API would refuse: control and direction-changing characters', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const csrf = csrfOf((await b.get('/account')).body);
    for (const name of ['Ada\u202Eecalevol', 'Ada\u0000', 'x'.repeat(101)]) expect((await b.post('/account/name', { name, csrf })).statusCode, JSON.stringify(name)).toBe(422);
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

describe('two-step sign-in from the account page', () => {
  const { t } = useMailingApp();
  const codeAt = (secret: string, at: Date) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: at.getTime() });

  it('sets up an authenticator app from its QR code or secret, shows the recovery codes once, makes new ones, and turns it off', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const account = await b.get('/account');
    expect(account.body).toMatch(/<button type="submit">Set up an authenticator app<\/button>/);
    const csrf = csrfOf(account.body);
    expect((await b.post('/account/totp', { password: 'wrong password here', csrf })).statusCode).toBe(401);
    const setup = await b.post('/account/totp', { password: user.password, csrf });
    expect(setup.statusCode).toBe(200);
    expect(setup.body).toMatch(/<svg[^>]*viewBox/);
    expect(setup.body).not.toMatch(/\sstyle=/);
    const secret = /Secret: <code>([A-Z2-7 ]+)<\/code>/.exec(setup.body)![1]!.replace(/ /g, '');
    const wrong = await b.post('/account/totp/confirm', { code: '000000', csrf });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toMatch(/aria-invalid="true" aria-describedby="confirm-error"/);
    const confirmed = await b.post('/account/totp/confirm', { code: codeAt(secret, t.clock.now()), csrf });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const codes = [...confirmed.body.matchAll(/<li><code>([A-Z2-7-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);
    const download = /download="latchkey-recovery-codes.txt" href="data:text\/plain;charset=utf-8,([^"]+)"/.exec(confirmed.body)![1]!;
    expect(decodeURIComponent(download.replace(/&amp;/g, '&'))).toContain(codes[0]!);
    expect((await b.get('/account')).body).toContain('10 recovery codes left');
    // Signing in now takes the second step.
    const other = new Browser(t);
    expect((await logIn(other, user)).body).toMatch(/<label for="code">Code<\/label>/);
    // New codes: the password and a code; the old ones stop working.
    t.clock.advance(60);
    const renewed = await b.post('/account/recovery-codes', { password: user.password, code: codes[0]!, csrf });
    expect(renewed.statusCode).toBe(200);
    const fresh = [...renewed.body.matchAll(/<li><code>([A-Z2-7-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(fresh).toHaveLength(10);
    expect((await b.post('/account/totp/remove', { password: user.password, code: codes[1]!, csrf })).statusCode, 'an old recovery code').toBe(401);
    const off = await b.post('/account/totp/remove', { password: user.password, code: codeAt(secret, t.clock.now()), csrf });
    expect(off.statusCode).toBe(303);
    expect(off.headers.location).toBe('/account?saved=mfa_off');
    expect((await b.get('/account?saved=mfa_off')).body).toMatch(/Set up an authenticator app/);
    expect((await b.post('/account/totp', { password: user.password })).statusCode, 'no token').toBe(403);
  });
});

describe('the account page’s address, password, data and deletion', () => {
  const { t, smtp } = useMailingApp();

  it('asks for a new address with the password, and mails the new address a link', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const csrf = csrfOf((await b.get('/account')).body);
    const next = uniqueEmail('moved');
    expect((await b.post('/account/email', { email: next, password: 'wrong password here', csrf })).statusCode).toBe(401);
    expect((await b.post('/account/email', { email: 'nope', password: user.password, csrf })).statusCode).toBe(422);
    const asked = await b.post('/account/email', { email: next, password: user.password, csrf });
    expect(asked.statusCode).toBe(303);
    expect(asked.headers.location).toBe('/account?saved=email');
    await smtp.waitFor((m) => m.to.includes(next));
  });

  it('changes the password: every other session ends, this browser gets a new session and cookie', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const before = b.jar.get(sessionCookie);
    const elsewhere = await signIn(t, user.email);
    const csrf = csrfOf((await b.get('/account')).body);
    expect((await b.post('/account/password', { password: 'wrong password here', new_password: 'a brand new passphrase', csrf })).statusCode).toBe(401);
    expect((await b.post('/account/password', { password: user.password, new_password: 'short', csrf })).statusCode).toBe(422);
    const changed = await b.post('/account/password', { password: user.password, new_password: 'a brand new passphrase', csrf });
    expect(changed.statusCode, changed.body).toBe(303);
    expect(b.jar.get(sessionCookie)).not.toBe(before);
    expect((await b.get('/account?saved=password')).body).toContain('Your password was changed.');
    expect((await t.inject({ method: 'GET', url: '/account', headers: { cookie: `${sessionCookie}=${before}` } })).statusCode, 'the old cookie').toBe(303);
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(elsewhere.access_token) })).statusCode).toBe(401);
    expect((await logIn(new Browser(t), { email: user.email, password: 'a brand new passphrase' })).statusCode).toBe(303);
  });

  it('shows recent activity and hands the account’s data over as a JSON attachment', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    expect((await b.get('/account')).body).toMatch(/<li>signin succeeded <span class="hint">/);
    const data = await b.get('/account/export');
    expect(data.statusCode).toBe(200);
    expect(data.headers['content-disposition']).toContain('attachment');
    expect(JSON.parse(data.body).user.email).toBe(user.email);
    expect((await t.inject({ method: 'GET', url: '/account/export' })).statusCode, 'signed out').toBe(303);
  });

  it('deletes the account once its address is typed and the password given; the cookie goes with it', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    await logIn(b, user);
    const csrf = csrfOf((await b.get('/account')).body);
    expect((await b.post('/account/delete', { confirm: 'someone@else.example', password: user.password, csrf })).statusCode).toBe(422);
    expect((await b.post('/account/delete', { confirm: user.email, password: 'wrong password here', csrf })).statusCode).toBe(401);
    expect((await signIn(t, user.email)).access_token, 'still there').toBeTruthy();
    const gone = await b.post('/account/delete', { confirm: user.email.toUpperCase(), password: user.password, csrf });
    expect(gone.statusCode, gone.body).toBe(200);
    expect(b.jar.has(sessionCookie)).toBe(false);
    expect((await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: user.password } })).statusCode).toBe(401);
  });
});

describe('the sign-in page while strangers have locked the account', () => {
  it('asks the owner, with the right password, for the code it emailed, and signs in with it', async () => {
    const smtp = await startSmtpServer();
    const t = await startTestApp({ env: { TRUST_PROXY: '127.0.0.1', SMTP_URL: smtp.url, LOCKOUT_THRESHOLD: '5', LOCKOUT_DURATION: '1h', RATE_LIMIT_LOCKED_SIGNIN: '20/1h' } });
    try {
      const user = await signUp(t);
      for (let i = 1; i <= 6; i++) {
        await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: 'a wrong password' }, headers: { 'x-forwarded-for': `10.0.${i}.7` } });
      }
      const b = new Browser(t);
      const from = { origin: ORIGIN, 'x-forwarded-for': '10.9.9.7' };
      const csrf = csrfOf((await b.get('/login')).body);
      const locked = await b.post('/login', { email: user.email, password: user.password, csrf }, from);
      expect(locked.statusCode).toBe(429);
      expect(locked.headers['retry-after']).toBeDefined();
      expect(locked.body).toMatch(/<label for="signin-code">Sign-in code from your email<\/label>/);
      const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Your sign-in code');
      const code = /\b([2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4})\b/.exec(mail.text)![1]!;
      const wrongCode = await b.post('/login', { email: user.email, password: user.password, code: 'ABCD-EFGH', csrf }, from);
      expect(wrongCode.statusCode).toBe(429);
      const inside = await b.post('/login', { email: user.email, password: user.password, code, csrf }, from);
      expect(inside.statusCode, inside.body).toBe(303);
      expect(b.jar.has(sessionCookie)).toBe(true);
    } finally {
      await t.close();
      await smtp.close();
    }
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
