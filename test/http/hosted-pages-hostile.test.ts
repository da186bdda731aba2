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
