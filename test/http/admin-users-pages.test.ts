import { and, eq, sql } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { beforeAll, describe, expect, it } from 'vitest';
import { insertUser } from '../../src/auth/users/users.js';
import { auditEvents, mailOutbox, oneTimeTokens, users } from '../../src/db/schema.js';
import { adminBrowser, Browser, csrfOf, PASSWORD_ONLY_AMR, signInBrowser, type SignedInBrowser } from '../helpers/admin-browser.js';
import { bearer, dashboard, GOOD_PASSWORD, refresh, signIn, signUp, uniqueEmail, useMailingApp } from '../helpers/app.js';

// The console's users section (/admin/users) as a browser drives it, through inject: the search and its pages, a
// user's page and every action on it (each done by the admin API's domain function, audited with the admin as
// actor), the invitation and the page its link opens; and what a hostile browser finds: names shown as text, forms
// refused from elsewhere or with a stale token, every route closed to anyone but an admin at aal2, ids that are not
// a user's answered with a page. test/http/hosted-pages-browser.test.ts drives it in Chromium.

const { t, smtp } = useMailingApp();

async function auditOf(type: string, userId: string) {
  const rows = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, type));
  return rows.filter((r) => r.userId === userId || (r.details as { userId?: string } | null)?.userId === userId);
}

const rowsOf = (body: string) => body.match(/<tr><th scope="row">/g)?.length ?? 0;
const unescape = (s: string) => s.replaceAll('&amp;', '&');
const userRow = async (id: string) => (await t.deps.db.select().from(users).where(eq(users.id, id)))[0];

let admin: SignedInBrowser;
beforeAll(async () => {
  admin = await adminBrowser(t);
});

/** A form of the user's page, posted with that page's token. */
async function act(b: Browser, userId: string, action: string, fields: Record<string, string> = {}) {
  const page = await b.get(`/admin/users/${userId}`);
  return b.post(`/admin/users/${userId}/${action}`, { csrf: csrfOf(page.body), ...fields });
}

describe('searching users and paging through them', () => {
  const tag = `find${Date.now().toString(36)}`;
  beforeAll(async () => {
    // 60 users without hashing 60 passwords; names carry the tag in capitals, emails in lower case for half of them.
    const now = t.clock.now();
    for (let i = 0; i < 60; i++) {
      const email = i % 2 === 0 ? `${tag}.${i}@example.com` : `someone.${i}.${tag.length}${Date.now()}@example.org`;
      await insertUser(t.deps.db, now, { name: `${i % 2 === 0 ? 'Member' : tag.toUpperCase()} ${i}`, email, passwordHash: 'not-a-hash' });
    }
  });

  it('finds users by email or name, 50 a page, with a link to the next page and back to the first', async () => {
    const first = await admin.get(`/admin/users?q=${tag}`);
    expect(first.statusCode).toBe(200);
    expect(first.body).toMatch(/<label for="q">Search by email or name<\/label>/);
    expect(first.body).toContain(`value="${tag}"`);
    expect(rowsOf(first.body)).toBe(50);
    expect(first.body).toMatch(/<th scope="col">Email<\/th><th scope="col">Name<\/th><th scope="col">Role<\/th><th scope="col">Verified<\/th><th scope="col">Disabled<\/th><th scope="col">Created<\/th>/);
    expect(first.body).not.toContain('First page');
    const next = unescape(/href="([^"]+)" rel="next">Next page</.exec(first.body)![1]!);
    expect(next).toMatch(new RegExp(`^/admin/users\\?q=${tag}&cursor=[A-Za-z0-9_-]+$`));
    const second = await admin.get(next);
    expect(rowsOf(second.body)).toBe(10);
    expect(second.body).not.toContain('Next page');
    expect(second.body).toContain(`href="/admin/users?q=${tag}">First page</a>`);
    // No user twice, and each row links to its page.
    const ids = [...first.body.matchAll(/href="\/admin\/users\/([0-9a-f-]{36})"/g), ...second.body.matchAll(/href="\/admin\/users\/([0-9a-f-]{36})"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(60);
  });

  it('matches a name whatever its case, and says when nothing matches', async () => {
    const byName = await admin.get(`/admin/users?q=${encodeURIComponent(` ${tag.toLowerCase()} 1 `)}`);
    // "<TAG> 1", "<TAG> 11", "<TAG> 13" … "<TAG> 19": odd numbers starting with 1.
    expect(rowsOf(byName.body)).toBe(6);
    const none = await admin.get('/admin/users?q=nobody-has-this-anywhere');
    expect(none.statusCode).toBe(200);
    expect(none.body).toContain('No user matches “nobody-has-this-anywhere”.');
    const all = await admin.get('/admin/users');
    expect(rowsOf(all.body)).toBe(50);
  });

  it('answers a page link it never gave, or a search it cannot run, with a 400 page saying why beside the field', async () => {
    for (const url of ['/admin/users?cursor=bm9uc2Vuc2U', '/admin/users?cursor=***', `/admin/users?q=a%01b`, `/admin/users?q=${'a'.repeat(255)}`]) {
      const res = await admin.get(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.body).toMatch(/id="q"[^>]*aria-invalid="true" aria-describedby="q-error"/);
      expect(res.body).toMatch(/<p class="field-error" id="q-error" role="alert">/);
    }
  });
});

describe('a user’s page and what an admin does there', () => {
  it('shows the profile, second factors and live sessions; revokes one session, whose tokens are then refused', async () => {
    const user = await signUp(t, { name: 'Session Holder' });
    const [one, two] = [await signIn(t, user.email), await signIn(t, user.email)];
    const sid = decodeJwt(one.access_token).sid as string;
    const page = await admin.get(`/admin/users/${user.id}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<h1>' + user.email + '</h1>');
    expect(page.body).toContain('<dt>Name</dt><dd>Session Holder</dd>');
    expect(page.body).toContain('<dt>Authenticator app</dt><dd>Off</dd>');
    expect(page.body).toContain('<dt>Recovery codes left</dt><dd>0</dd>');
    expect(page.body).toMatch(/<th scope="col">Device<\/th><th scope="col">Address<\/th><th scope="col">Signed in<\/th><th scope="col">Last used<\/th>/);
    expect(page.body.match(/>Revoke<\/button>/g)).toHaveLength(2);
    expect(page.body).toContain(`name="session_id" value="${sid}"`);
    const res = await admin.post(`/admin/users/${user.id}/sessions/revoke`, { csrf: csrfOf(page.body), session_id: sid });
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe(`/admin/users/${user.id}?done=session_revoked`);
    expect((await admin.get(res.headers.location as string)).body).toContain('The session was revoked.');
    expect((await refresh(t, one.refresh_token)).statusCode).toBe(401);
    expect((await dashboard(t, one.access_token)).statusCode).toBe(401);
    expect((await dashboard(t, two.access_token)).statusCode).toBe(200);
    expect((await auditOf('session_revoked', user.id))[0]).toMatchObject({ sessionId: sid, details: { actor: `admin:${admin.user.id}` } });
    // Ended already: said so, nothing else happens.
    const again = await admin.post(`/admin/users/${user.id}/sessions/revoke`, { csrf: csrfOf(page.body), session_id: sid });
    expect(again.headers.location).toBe(`/admin/users/${user.id}?done=session_gone`);
  });

  it('revokes a user’s browser session: their next page sends them to sign in', async () => {
    const user = await signUp(t);
    const theirs = await signInBrowser(t, user.id, user.password, PASSWORD_ONLY_AMR);
    expect((await theirs.get('/account')).statusCode).toBe(200);
    await act(admin, user.id, 'sessions/revoke', { session_id: theirs.sessionId });
    const after = await theirs.get('/account');
    expect(after.statusCode).toBe(303);
    expect(after.headers.location).toMatch(/^\/login/);
  });

  it('revokes every session of a user', async () => {
    const user = await signUp(t);
    const tokens = [await signIn(t, user.email), await signIn(t, user.email)];
    const res = await act(admin, user.id, 'sessions/revoke-all');
    expect(res.headers.location).toBe(`/admin/users/${user.id}?done=sessions_revoked`);
    for (const pair of tokens) expect((await refresh(t, pair.refresh_token)).statusCode).toBe(401);
    expect((await auditOf('sessions_revoked', user.id))[0]?.details).toMatchObject({ actor: `admin:${admin.user.id}`, sessionsEnded: 2 });
    expect((await admin.get(`/admin/users/${user.id}`)).body).toContain('No live session.');
  });

  it('disables and enables the account, each audited with the admin as actor', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    const disabled = await act(admin, user.id, 'disable');
    expect(disabled.headers.location).toBe(`/admin/users/${user.id}?done=disabled`);
    expect((await userRow(user.id))!.disabledAt).not.toBeNull();
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
    expect((await auditOf('user_disabled', user.id))[0]?.details).toMatchObject({ actor: `admin:${admin.user.id}`, sessionsEnded: 1 });
    const page = await admin.get(`/admin/users/${user.id}?done=disabled`);
    expect(page.body).toContain('Disabled since');
    expect(page.body).toContain('<p class="notice" role="status">The account was disabled');
    expect(page.body).toMatch(/<button type="submit" class="secondary">Enable the account<\/button>/);
    expect((await act(admin, user.id, 'disable')).headers.location, 'again: nothing to do').toBe(`/admin/users/${user.id}?done=already_disabled`);
    expect((await act(admin, user.id, 'enable')).headers.location).toBe(`/admin/users/${user.id}?done=enabled`);
    expect((await userRow(user.id))!.disabledAt).toBeNull();
    expect((await auditOf('user_enabled', user.id))[0]?.details).toMatchObject({ actor: `admin:${admin.user.id}` });
  });

  it('emails a reset link and a verification link, and marks the address verified', async () => {
    const user = await signUp(t);
    expect((await act(admin, user.id, 'send-reset')).headers.location).toBe(`/admin/users/${user.id}?done=reset_sent`);
    const reset = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    expect(reset.text).toMatch(/\/reset-password\/[A-Za-z0-9_-]+/);
    expect((await auditOf('password_reset_requested', user.id))[0]?.details).toEqual({ actor: `admin:${admin.user.id}`, sent: true });
    // Sign-up sent the first; the admin's is the second.
    const confirmations = () => smtp.messages.filter((m) => m.to.includes(user.email) && m.subject === 'Confirm your email address').length;
    await smtp.waitFor(() => confirmations() === 1);
    expect((await act(admin, user.id, 'send-verification')).headers.location).toBe(`/admin/users/${user.id}?done=verification_sent`);
    await smtp.waitFor(() => confirmations() === 2);
    expect((await auditOf('verification_email_requested', user.id)).map((r) => r.details)).toContainEqual({ actor: `admin:${admin.user.id}`, sent: true });
    expect((await act(admin, user.id, 'verify-email')).headers.location).toBe(`/admin/users/${user.id}?done=verified`);
    expect((await userRow(user.id))!.emailVerifiedAt).not.toBeNull();
    expect((await auditOf('email_verified', user.id))[0]?.details).toMatchObject({ actor: `admin:${admin.user.id}` });
    const page = await admin.get(`/admin/users/${user.id}`);
    expect(page.body).toContain('(verified)');
    expect(page.body, 'nothing left to verify').not.toContain('Mark the address verified');
  });

  it('resets a user’s second factors: they are mailed, and sign-in takes the password alone', async () => {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    const setup = await t.inject({ method: 'POST', url: '/api/me/mfa/totp', payload: { password: user.password }, headers: bearer(access_token) });
    const code = new TOTP({ secret: Secret.fromBase32(setup.json().secret) }).generate({ timestamp: t.clock.now().getTime() });
    expect((await t.inject({ method: 'POST', url: '/api/me/mfa/totp/confirm', payload: { code }, headers: bearer(access_token) })).statusCode).toBe(200);
    const page = await admin.get(`/admin/users/${user.id}`);
    expect(page.body).toContain('<dt>Authenticator app</dt><dd>On</dd>');
    expect(page.body).toContain('<dt>Recovery codes left</dt><dd>10</dd>');
    const res = await admin.post(`/admin/users/${user.id}/mfa-reset`, { csrf: csrfOf(page.body) });
    expect(res.headers.location).toBe(`/admin/users/${user.id}?done=factors_reset`);
    expect((await admin.get(`/admin/users/${user.id}`)).body).toContain('<dt>Authenticator app</dt><dd>Off</dd>');
    expect((await auditOf('mfa_disabled', user.id))[0]?.details).toMatchObject({ actor: `admin:${admin.user.id}`, factor: 'all' });
    expect((await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: user.password } })).statusCode).toBe(200);
  });

  it('deletes a user once their address is typed; a wrong one is refused beside the field', async () => {
    const user = await signUp(t);
    const wrong = await act(admin, user.id, 'delete', { confirm_email: 'someone-else@example.com' });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.body).toMatch(/id="confirm-email"[^>]*aria-invalid="true" aria-describedby="confirm-email-error"/);
    expect(wrong.body).toMatch(/<p class="field-error" id="confirm-email-error" role="alert">Type /);
    expect(await userRow(user.id)).toBeDefined();
    const res = await act(admin, user.id, 'delete', { confirm_email: ` ${user.email.toUpperCase()} ` });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/users?done=deleted');
    expect((await admin.get('/admin/users?done=deleted')).body).toContain('The user was deleted.');
    expect(await userRow(user.id)).toBeUndefined();
    expect((await auditOf('user_deleted', user.id))[0]?.details).toMatchObject({ actor: `admin:${admin.user.id}`, userId: user.id });
    const gone = await admin.get(`/admin/users/${user.id}`);
    expect(gone.statusCode).toBe(404);
    expect(gone.body).toContain('No user has this id');
  });

  it('shows only its own notices, never the query’s words', async () => {
    const user = await signUp(t);
    for (const done of ['constructor', '__proto__', 'toString', '<b>hi</b>']) {
      const page = await admin.get(`/admin/users/${user.id}?done=${encodeURIComponent(done)}`);
      expect(page.statusCode).toBe(200);
      expect(page.body).not.toContain('class="notice"');
      expect(page.body).not.toContain('<b>hi');
    }
  });
});

describe('the admin’s own account', () => {
  it('offers no disable, delete or factor reset, and refuses them with a page saying why', async () => {
    const self = await adminBrowser(t);
    const page = await self.get(`/admin/users/${self.user.id}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain(`/admin/users/${self.user.id}/disable"`);
    expect(page.body).not.toContain(`/admin/users/${self.user.id}/delete"`);
    expect(page.body).not.toContain(`/admin/users/${self.user.id}/mfa-reset"`);
    expect(page.body).toContain('(your session)');
    expect(page.body).toContain('Revoke all (this signs you out too)');
    for (const [action, words] of [['disable', 'cannot disable your own account'], ['delete', 'cannot delete your own account'], ['mfa-reset', 'cannot reset your own second factors']] as const) {
      const res = await self.post(`/admin/users/${self.user.id}/${action}`, { csrf: csrfOf(page.body), confirm_email: self.user.email });
      expect(res.statusCode, action).toBe(409);
      expect(res.body).toMatch(new RegExp(`<p class="alert" role="alert">You ${words}`));
    }
    const row = await userRow(self.user.id);
    expect(row!.disabledAt).toBeNull();
    expect((await self.get('/admin/users')).statusCode, 'still signed in, still an admin').toBe(200);
  });
});

describe('creating a user with an invitation', () => {
  it('creates the user, mails a link to choose a password that verifies the address, and signs them in after', async () => {
    const form = await admin.get('/admin/users/new');
    expect(form.statusCode).toBe(200);
    for (const label of ['<label for="name">Name</label>', '<label for="email">Email</label>', '<label for="role">Role</label>']) expect(form.body).toContain(label);
    expect(form.body).toContain('for 7 days');
    const csrf = csrfOf(form.body);
    const bad = await admin.post('/admin/users/new', { csrf, name: '', email: 'not an address', role: 'user' });
    expect(bad.statusCode).toBe(422);
    for (const id of ['name', 'email']) expect(bad.body).toMatch(new RegExp(`id="${id}"[^>]*aria-invalid="true" aria-describedby="${id}-error"`));
    const superuser = await admin.post('/admin/users/new', { csrf, name: 'Root', email: uniqueEmail('root'), role: 'superuser' });
    expect(superuser.statusCode).toBe(422);
    expect(superuser.body).toMatch(/id="role"[^>]*aria-invalid="true" aria-describedby="role-error"/);
    const taken = await admin.post('/admin/users/new', { csrf, name: 'Taken', email: admin.user.email, role: 'user' });
    expect(taken.statusCode).toBe(409);
    expect(taken.body).toMatch(/id="email-error">An account has this address already\./);

    const email = uniqueEmail('invited');
    const created = await admin.post('/admin/users/new', { csrf, name: 'Ida Invited', email, role: 'user' });
    expect(created.statusCode, created.body).toBe(303);
    const id = /^\/admin\/users\/([0-9a-f-]{36})\?done=invited$/.exec(created.headers.location as string)![1]!;
    expect((await admin.get(created.headers.location as string)).body).toContain('an invitation to choose their password is on its way');
    expect((await auditOf('user_created', id))[0]?.details).toEqual({ actor: `admin:${admin.user.id}`, role: 'user', verified: false, invited: true });
    expect((await t.inject({ method: 'POST', url: '/api/signin', payload: { email, password: GOOD_PASSWORD } })).statusCode, 'no password works yet').toBe(401);

    const mail = await smtp.waitFor((m) => m.to.includes(email));
    expect(mail.subject).toBe('Your new account: choose a password');
    expect(mail.text).toContain('An administrator created an account for you');
    expect(mail.text).toContain('expires in 7 days');
    expect(mail.text, 'no name before the address is proved').toMatch(/^Hello,/);
    const link = new URL(/(http\S+\/reset-password\/[A-Za-z0-9_-]+)/.exec(mail.text)![1]!);
    const [token] = await t.deps.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, id), eq(oneTimeTokens.type, 'password_reset')));
    expect(token!.expiresAt.getTime() - token!.createdAt.getTime()).toBe(7 * 86_400_000);
    expect(token!.payload).toEqual({ invitation: true });

    const page = await t.inject({ method: 'GET', url: link.pathname });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<h1>Choose your password</h1>');
    expect(page.body).toContain('An account was created for you.');
    const set = await t.inject({ method: 'POST', url: link.pathname, payload: `password=${encodeURIComponent(GOOD_PASSWORD)}&password_confirm=${encodeURIComponent(GOOD_PASSWORD)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.body).toContain('Your password is set, and your email address is verified.');
    expect((await userRow(id))!.emailVerifiedAt).not.toBeNull();
    expect((await auditOf('password_reset_completed', id))[0]?.details).toMatchObject({ invitation: true });
    expect((await t.inject({ method: 'POST', url: '/api/signin', payload: { email, password: GOOD_PASSWORD } })).statusCode).toBe(200);
    // Their first password: no "your password was changed" notice for it (queued in the reset's transaction, were there one).
    const notices = await t.deps.db.select().from(mailOutbox).where(sql`${mailOutbox.message}->>'to' = ${email}`);
    expect(notices.map((r) => (r.message as { subject?: string }).subject)).not.toContain('Your password was changed');
    expect((await t.inject({ method: 'GET', url: link.pathname })).statusCode, 'the link works once').toBe(400);
  });

  it('creates an admin when asked', async () => {
    const form = await admin.get('/admin/users/new');
    const email = uniqueEmail('new-admin');
    const created = await admin.post('/admin/users/new', { csrf: csrfOf(form.body), name: 'Nia Admin', email, role: 'admin' });
    expect(created.statusCode).toBe(303);
    expect((await t.deps.db.select().from(users).where(eq(users.email, email)))[0]!.role).toBe('admin');
  });
});

describe('what a hostile browser finds', () => {
  let victim: { id: string; email: string };
  beforeAll(async () => {
    victim = await signUp(t);
  });
  const routes = (id: string): [string, string][] => [
    ['GET', '/admin/users'],
    ['GET', '/admin/users?q=a'],
    ['GET', '/admin/users/new'],
    ['GET', `/admin/users/${id}`],
    ['POST', '/admin/users/new'],
    ...['disable', 'enable', 'send-reset', 'send-verification', 'verify-email', 'mfa-reset', 'sessions/revoke', 'sessions/revoke-all', 'delete'].map((a): [string, string] => ['POST', `/admin/users/${id}/${a}`]),
  ];
  const fields = (csrf: string) => ({ csrf, name: 'Mallory', email: uniqueEmail('mallory'), role: 'admin', session_id: '00000000-0000-4000-8000-000000000000', confirm_email: victim.email });

  it('shows a name with HTML in it as text, on the list and on the user’s page', async () => {
    const name = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&';
    const email = uniqueEmail('xss');
    const user = await insertUser(t.deps.db, t.clock.now(), { name, email, passwordHash: 'not-a-hash' });
    const escaped = '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;';
    for (const url of [`/admin/users?q=${encodeURIComponent(email)}`, `/admin/users/${user.id}`, `/admin/users?q=${encodeURIComponent('<script>')}`]) {
      const page = await admin.get(url);
      expect(page.statusCode, url).toBe(200);
      expect(page.body, url).toContain(escaped);
      expect(page.body, url).not.toMatch(/<script>alert|<img src=x/);
    }
  });

  it('refuses a form without its token, with another session’s token, from another origin, or with no origin: nothing changes', async () => {
    const page = await admin.get(`/admin/users/${victim.id}`);
    const csrf = csrfOf(page.body);
    const other = await adminBrowser(t);
    const otherCsrf = csrfOf((await other.get('/admin/users')).body);
    // The same admin, signed in again: the first session's token is stale for the new one.
    const again = await signInBrowser(t, admin.user.id, admin.user.password);
    const attempts: [Browser, Record<string, string>, Record<string, string> | undefined][] = [
      [admin, { csrf: 'forged' }, undefined],
      [admin, {}, undefined],
      [admin, { csrf: otherCsrf }, undefined],
      [again, { csrf }, undefined],
      [admin, { csrf }, { origin: 'https://evil.example' }],
      [admin, { csrf }, { referer: 'https://evil.example/page' }],
      [admin, { csrf }, { origin: 'null' }],
      [admin, { csrf }, {}],
    ];
    for (const [browser, token, headers] of attempts) {
      for (const action of ['disable', 'delete', 'sessions/revoke-all', 'send-reset']) {
        const res = await browser.post(`/admin/users/${victim.id}/${action}`, { ...token, confirm_email: victim.email }, headers);
        expect(res.statusCode, `${action} ${JSON.stringify(token)} ${JSON.stringify(headers)}`).toBe(403);
        expect(res.body).toContain('This form has expired');
      }
      const created = await browser.post('/admin/users/new', { ...token, name: 'Forged', email: uniqueEmail('forged'), role: 'admin' }, headers);
      expect(created.statusCode).toBe(403);
    }
    expect((await userRow(victim.id))!.disabledAt).toBeNull();
    expect(await auditOf('password_reset_requested', victim.id)).toEqual([]);
    expect((await t.deps.db.select().from(users).where(eq(users.name, 'Forged')))).toEqual([]);
  });

  it('sends a signed-out browser to sign in, on every route, and does nothing for it', async () => {
    const anonymous = new Browser(t);
    for (const [method, url] of routes(victim.id)) {
      const res = method === 'GET' ? await anonymous.get(url) : await anonymous.post(url, fields('anything'));
      expect(res.statusCode, `${method} ${url}`).toBe(303);
      expect(res.headers.location, `${method} ${url}`).toMatch(/^\/login\?return_to=/);
    }
    expect((await anonymous.get('/admin/users/new')).headers.location).toBe(`/login?return_to=${encodeURIComponent('/admin/users/new')}`);
    expect((await userRow(victim.id))!.disabledAt).toBeNull();
  });

  it('refuses a user who is not an admin, and an admin signed in with a password alone, on every route', async () => {
    const plain = await adminBrowser(t, { admin: false });
    const aal1 = await adminBrowser(t, { amr: PASSWORD_ONLY_AMR });
    for (const [browser, words] of [[plain, 'this account is not one'], [aal1, 'needs a second factor']] as const) {
      const csrf = csrfOf((await browser.get('/account')).body);
      for (const [method, url] of routes(victim.id)) {
        const res = method === 'GET' ? await browser.get(url) : await browser.post(url, fields(csrf));
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.body).toContain(words);
        expect(res.body).not.toContain(victim.email);
      }
    }
    expect((await userRow(victim.id))!.disabledAt).toBeNull();
    expect(await auditOf('password_reset_requested', victim.id)).toEqual([]);
  });

  it('answers an unknown id with a 404 page and a malformed one with a 400 page, on every route, never a 5xx', async () => {
    const csrf = csrfOf((await admin.get('/admin/users/new')).body);
    const cases: [string, number][] = [
      ['00000000-0000-4000-8000-000000000000', 404],
      ['not-a-uuid', 400],
      ['%00', 400],
      ['%20', 400],
      ["'%20OR%201=1--", 400],
      [`${victim.id}0`, 400],
      ['x'.repeat(90), 400],
    ];
    for (const [id, status] of cases) {
      for (const [method, url] of routes(id).filter(([, u]) => u.includes(id))) {
        const res = method === 'GET' ? await admin.get(url) : await admin.post(url, fields(csrf));
        expect(res.statusCode, `${method} ${url}`).toBe(status);
        expect(res.headers['content-type'], `${method} ${url}`).toContain('text/html');
        expect(res.body).toMatch(status === 404 ? /No user has this id/ : /does not name a user/);
      }
    }
    // Longer than any path parameter may be: refused before routing, still not a 5xx.
    expect((await admin.get(`/admin/users/${'x'.repeat(500)}`)).statusCode).toBeLessThan(500);
  });
});
