import { eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { sessions, users } from '../../src/db/schema.js';
import { GOOD_PASSWORD, PUBLIC_URL, signUp, uniqueEmail, useMailingApp, type TestApp } from '../helpers/app.js';

// The hosted pages (/login, /signup, /account…) against a hostile client: what a form takes, from whom, and what
// every answer says back. test/http/hosted-pages.test.ts covers what they do for the person using them.

const ORIGIN = new URL(PUBLIC_URL).origin;
const FORM = 'application/x-www-form-urlencoded';
const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
const cookieOf = (res: LightMyRequestResponse, name: string) => (res.cookies as { name: string; value: string }[]).find((c) => c.name === name)?.value;

/** A signed-out browser's form: its nonce cookie and the token of its page. */
async function signedOutForm(t: TestApp, url: string) {
  const page = await t.inject({ method: 'GET', url });
  return { cookie: `latchkey_form=${cookieOf(page, 'latchkey_form')!}`, csrf: csrfOf(page.body) };
}

/** A browser signed in through /login: its cookie header and the token of its account page. */
async function signedInBrowser(t: TestApp, email: string) {
  const form = await signedOutForm(t, '/login');
  const res = await t.inject({
    method: 'POST',
    url: '/login',
    payload: new URLSearchParams({ email, password: GOOD_PASSWORD, csrf: form.csrf }).toString(),
    headers: { 'content-type': FORM, origin: ORIGIN, cookie: form.cookie },
  });
  const value = cookieOf(res, 'latchkey_session')!;
  const cookie = `latchkey_session=${value}`;
  const account = await t.inject({ method: 'GET', url: '/account', headers: { cookie } });
  return { cookie, sessionId: value.split('.')[0]!, csrf: csrfOf(account.body) };
}

const post = (t: TestApp, url: string, payload: string, headers: Record<string, string>) =>
  t.inject({ method: 'POST', url, payload, headers: { 'content-type': FORM, origin: ORIGIN, ...headers } });

describe('the sign-up page where the role of a new account must have a second factor', () => {
  const { t } = useMailingApp({ REQUIRE_MFA_FOR_ROLES: 'user' });

  it('opens no session for it, as /login would not: the account is made, the browser stays signed out', async () => {
    const form = await signedOutForm(t, '/signup');
    const email = uniqueEmail('mfa-role');
    const res = await post(t, '/signup', new URLSearchParams({ name: 'Ada', email, password: GOOD_PASSWORD, csrf: form.csrf }).toString(), { cookie: form.cookie });
    expect(res.statusCode, res.body).toBe(201);
    expect(cookieOf(res, 'latchkey_session')).toBeUndefined();
    expect(res.body).toContain('second factor');
    const [user] = await t.deps.db.select().from(users).where(eq(users.email, email));
    expect(user).toBeDefined();
    expect(await t.deps.db.select().from(sessions).where(eq(sessions.userId, user!.id))).toHaveLength(0);
  });
});

describe('what the form routes take', () => {
  const { t } = useMailingApp();

  it('takes form posts only: JSON, multipart and text are 415 however right their token and origin, and change nothing', async () => {
    const user = await signUp(t);
    const b = await signedInBrowser(t, user.email);
    const bodies: [string, string][] = [
      ['application/json', JSON.stringify({ name: 'Renamed by JSON', csrf: b.csrf })],
      ['multipart/form-data; boundary=x', `--x\r\ncontent-disposition: form-data; name="name"\r\n\r\nRenamed by multipart\r\n--x\r\ncontent-disposition: form-data; name="csrf"\r\n\r\n${b.csrf}\r\n--x--\r\n`],
      ['text/plain', `name=Renamed by text&csrf=${b.csrf}`],
    ];
    for (const [type, payload] of bodies) {
      const res = await post(t, '/account/name', payload, { cookie: b.cookie, 'content-type': type });
      expect(res.statusCode, type).toBe(415);
      expect(res.json().error).toBe('unsupported_media_type');
      expect(res.json().message).toContain('application/x-www-form-urlencoded');
    }
    const form = await signedOutForm(t, '/login');
    const json = await post(t, '/login', JSON.stringify({ email: user.email, password: GOOD_PASSWORD, csrf: form.csrf }), { cookie: form.cookie, 'content-type': 'application/json' });
    expect(json.statusCode).toBe(415);
    expect(cookieOf(json, 'latchkey_session')).toBeUndefined();
    const [row] = await t.deps.db.select().from(users).where(eq(users.id, user.id));
    expect(row!.name).toBe(user.name);
    // The same fields as a form, with a charset parameter and in capitals, are a form.
    const ok = await post(t, '/account/name', new URLSearchParams({ name: 'Renamed by form', csrf: b.csrf }).toString(), { cookie: b.cookie, 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=UTF-8' });
    expect(ok.statusCode).toBe(303);
  });

  it('answers a field sent twice, or sent as an array, 400 and changes nothing', async () => {
    const user = await signUp(t);
    const b = await signedInBrowser(t, user.email);
    for (const payload of [`name=A&name=B&csrf=${b.csrf}`, `name=A&csrf=${b.csrf}&csrf=${b.csrf}`]) {
      const res = await post(t, '/account/name', payload, { cookie: b.cookie });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
    const [row] = await t.deps.db.select().from(users).where(eq(users.id, user.id));
    expect(row!.name).toBe(user.name);
  });
});

describe('what the account page says back', () => {
  const { t } = useMailingApp();

  it('shows a notice only for the words it knows: names of an object’s own properties show nothing', async () => {
    const user = await signUp(t);
    const b = await signedInBrowser(t, user.email);
    for (const word of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const page = await t.inject({ method: 'GET', url: `/account?saved=${word}&ended=${word}`, headers: { cookie: b.cookie } });
      expect(page.statusCode).toBe(200);
      expect(page.body, word).not.toMatch(/role="status"/);
      expect(page.body, word).not.toMatch(/native code|\[object/);
    }
    expect((await t.inject({ method: 'GET', url: '/account?saved=name', headers: { cookie: b.cookie } })).body).toContain('Your name was saved.');
  });
});

describe('the tokens of forms', () => {
  const { t } = useMailingApp();

  it('are bound to one session: another session’s token, even the same user’s, is refused', async () => {
    const user = await signUp(t);
    const one = await signedInBrowser(t, user.email);
    const two = await signedInBrowser(t, user.email);
    expect(one.csrf).not.toBe(two.csrf);
    const res = await post(t, '/account/name', new URLSearchParams({ name: 'Crossed', csrf: two.csrf }).toString(), { cookie: one.cookie });
    expect(res.statusCode).toBe(403);
    const stranger = await signedInBrowser(t, (await signUp(t)).email);
    expect((await post(t, '/account/sessions/end-others', `csrf=${stranger.csrf}`, { cookie: one.cookie })).statusCode).toBe(403);
  });

  it('of a signed-out page and of a session never stand for each other, whatever the nonce cookie says', async () => {
    const user = await signUp(t);
    const b = await signedInBrowser(t, user.email);
    // The nonce cookie set to the session's id (as a sibling host could set it over http): the account page's token is not a signed-out form's.
    const forgot = await post(t, '/forgot-password', new URLSearchParams({ email: user.email, csrf: b.csrf }).toString(), { cookie: `latchkey_form=${b.sessionId}` });
    expect(forgot.statusCode).toBe(403);
    const login = await post(t, '/login', new URLSearchParams({ email: user.email, password: GOOD_PASSWORD, csrf: b.csrf }).toString(), { cookie: `latchkey_form=${b.sessionId}` });
    expect(login.statusCode).toBe(403);
    expect(cookieOf(login, 'latchkey_session')).toBeUndefined();
    // Nor set to the account page's token itself, the form a signed-out form's token (its nonce) is checked against.
    const asNonce = await post(t, '/login', new URLSearchParams({ email: user.email, password: GOOD_PASSWORD, csrf: b.csrf }).toString(), { cookie: `latchkey_form=${b.csrf}` });
    expect(asNonce.statusCode).toBe(403);
    expect(cookieOf(asNonce, 'latchkey_session')).toBeUndefined();
    // And a signed-out page's token is no signed-in form's.
    const form = await signedOutForm(t, '/login');
    expect((await post(t, '/account/name', `name=Crossed&csrf=${form.csrf}`, { cookie: `${b.cookie}; ${form.cookie}` })).statusCode).toBe(403);
  });
});

describe('what the pages reflect, and where they send a browser', () => {
  const { t } = useMailingApp();

  it('sends a browser after sign-in nowhere but this origin, however return_to is spelt', async () => {
    const user = await signUp(t);
    const hostile = ['..//evil.example', 'HTTP://LATCHKEY.TEST//evil.example', 'http://latchkey.test:80//evil.example', 'http://latchkey.test@evil.example', '／／evil.example',
      '/%5Cevil.example', 'http:/\\evil.example', '\u2028//evil.example', '/\u0085/evil.example', 'data:text/html,<script>alert(1)</script>', 'http://[::1]/', '//%65vil.example', '%2F%2Fevil.example'];
    for (const to of hostile) {
      const form = await signedOutForm(t, `/login?return_to=${encodeURIComponent(to)}`);
      const res = await post(t, '/login', new URLSearchParams({ email: user.email, password: GOOD_PASSWORD, csrf: form.csrf, return_to: to }).toString(), { cookie: form.cookie });
      expect(res.statusCode, to).toBe(303);
      const location = String(res.headers.location);
      expect(location, to).toMatch(/^\/(?!\/)[\x21-\x7e]*$/);
      expect(new URL(location, ORIGIN).origin, to).toBe(ORIGIN);
    }
  });

  it('shows what a client sent as text: a user agent in the list of sessions, an address typed back into the form', async () => {
    const user = await signUp(t);
    const ua = '"><img src=x onerror=alert(1)> Mozilla/5.0 (X11; Linux x86_64) Chrome/120 <script>alert(2)</script>';
    await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD }, headers: { 'user-agent': ua } });
    const b = await signedInBrowser(t, user.email);
    const page = await t.inject({ method: 'GET', url: '/account', headers: { cookie: b.cookie } });
    expect(page.body).not.toMatch(/<img src=x|<script>alert/);
    const form = await signedOutForm(t, '/login');
    const typed = '"><svg/onload=alert(1)>@example.com';
    const res = await post(t, '/login', new URLSearchParams({ email: typed, password: 'wrong password', csrf: form.csrf }).toString(), { cookie: form.cookie });
    expect(res.statusCode).toBe(401);
    expect(res.body).not.toContain('<svg/onload');
    expect(res.body).toContain('value="&quot;&gt;&lt;svg/onload=alert(1)&gt;@example.com"');
  });
});
