import { and, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { Browser } from '../helpers/admin-browser.js';
import { liveBrowserSession } from '../../src/auth/browser-sessions/browser-sessions.js';
import { auditEvents, events, sessions, users } from '../../src/db/schema.js';
import { SoftwareAuthenticator } from '../helpers/authenticator.js';
import { bearer, PUBLIC_URL, signUp, useMailingApp, type SignedUp, type TestApp } from '../helpers/app.js';

// The second factor a role must have (REQUIRE_MFA_FOR_ROLES, `admin` by default), set up on the hosted pages on the
// way in: the password, "Set up a second factor" (an authenticator app, or a passkey), the recovery codes once, then
// signed in at aal2 and on to return_to. And against a hostile client: the enrolment is bound to the browser that
// gave the password, its token never travels in a URL or reaches the log. Also: a sign-in refused for an unverified
// address offers to send the link again.



const fieldOf = (body: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(body)?.[1] ?? '';
const secretOf = (body: string) => (/Secret: <code>([A-Z2-7 ]+)<\/code>/.exec(body)?.[1] ?? '').replace(/ /g, '');
const codesOf = (body: string) => [...body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
const codeAt = (secret: string, at: Date) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: at.getTime() });
/** The fields of the page's enrolment forms: its token, bound to this browser, and the enrolment it carries. */
const enrolmentFields = (body: string) => ({ csrf: fieldOf(body, 'csrf'), enrolment: fieldOf(body, 'enrolment'), return_to: fieldOf(body, 'return_to') });

async function makeAdmin(t: TestApp): Promise<SignedUp> {
  const admin = await signUp(t);
  await t.deps.db.update(users).set({ role: 'admin' }).where(eq(users.id, admin.id));
  return admin;
}

/** The password through /login, from the sign-in page with `returnTo`: the answer. */
async function logIn(b: Browser, user: { email: string; password: string }, returnTo = '/admin') {
  const page = await b.get(`/login?return_to=${encodeURIComponent(returnTo)}`);
  return b.post('/login', { email: user.email, password: user.password, csrf: fieldOf(page.body, 'csrf'), return_to: fieldOf(page.body, 'return_to') });
}

/** Where the token must never be: a Location header, a form's action, a link. */
function expectNowhereButFields(answers: LightMyRequestResponse[], token: string) {
  expect(token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  for (const res of answers) {
    expect(String(res.headers.location ?? ''), 'a Location header').not.toContain(token);
    for (const [, url] of res.body.matchAll(/(?:action|href)="([^"]*)"/g)) expect(url, 'a URL of the page').not.toContain(token);
  }
}

describe('an admin without a second factor on the hosted sign-in pages', () => {
  const { t, smtp } = useMailingApp();

  it('sets up an authenticator app after the password, gets the recovery codes once, and lands signed in at aal2 on return_to', async () => {
    const admin = await makeAdmin(t);
    const b = new Browser(t);
    const setup = await logIn(b, admin);
    expect(setup.statusCode, setup.body).toBe(200);
    expect(setup.headers['cache-control']).toBe('no-store');
    expect(setup.body).toContain('<h1>Set up a second factor</h1>');
    expect(setup.body).toMatch(/role="img" aria-label="QR code of the authenticator app&#39;s setup"><svg/);
    expect(setup.body, 'the passkey too, shown by the script').toMatch(/data-passkey="register" data-options="\/login\/enrol\/passkey-options"/);
    expect(b.jar.has('latchkey_session'), 'no session yet').toBe(false);
    const fields = enrolmentFields(setup.body);
    expect(fields.return_to).toBe('/admin');
    const secret = secretOf(setup.body);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    // Whoever copied this browser's nonce cookie and page, to replay its form once it is done.
    const copy = new Browser(t);
    copy.jar.set('latchkey_form', b.jar.get('latchkey_form')!);

    const done = await b.post('/login/enrol/totp', { ...fields, code: codeAt(secret, t.clock.now()) });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.headers['cache-control']).toBe('no-store');
    expect(done.body).toContain('<h1>Save your recovery codes</h1>');
    const codes = codesOf(done.body);
    expect(codes).toHaveLength(10);
    expect(done.body).toContain('download="latchkey-recovery-codes.txt"');
    expect(done.body).toContain('<a class="button" href="/admin">Continue</a>');
    expect(b.jar.has('latchkey_session'), 'signed in').toBe(true);
    expect(b.jar.has('latchkey_form'), 'the nonce goes at sign-in').toBe(false);

    // A browser session at aal2, which the console's gate asks for; its session opened with the password and the app.
    const browserSession = await liveBrowserSession(t.deps, b.jar.get('latchkey_session'));
    expect(browserSession).toMatchObject({ aal: 'aal2', user: { id: admin.id, role: 'admin' } });
    const rows = await t.deps.db.select().from(sessions).where(eq(sessions.userId, admin.id));
    expect(rows.map((r) => r.amr)).toEqual([['pwd', 'otp', 'mfa']]);
    expect((await b.get('/account')).statusCode).toBe(200);
    expect((await b.get('/admin')).statusCode, 'the console lets the admin in (no 403 of its gate, no sign-in)').toBe(200);

    // As the API's enrolment: the event, the audit rows, the email.
    expect(await t.deps.db.select().from(events).where(and(eq(events.userId, admin.id), eq(events.type, 'user.mfa_enabled')))).toHaveLength(1);
    const audited = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.userId, admin.id));
    expect(audited.filter((a) => a.type === 'mfa_enabled')).toHaveLength(1);
    expect(audited.find((a) => a.type === 'signin_succeeded')?.details).toEqual({ enrolment: 'totp' });
    await smtp.waitFor((m) => m.to.includes(admin.email) && m.subject === 'Two-step sign-in is on');

    // The form again: the nonce went at sign-in, so it is no longer this browser's; and with the nonce, the
    // enrolment is spent: nothing more opens.
    const nextCode = codeAt(secret, new Date(t.clock.now().getTime() + 30_000));
    expect((await b.post('/login/enrol/totp', { ...fields, code: nextCode })).statusCode).toBe(403);
    const replay = await copy.post('/login/enrol/totp', { ...fields, code: nextCode });
    expect(replay.statusCode).toBe(401);
    expect(replay.body).toContain('The setup of a second factor expired, or it is done already: sign in again.');
    expect(copy.jar.has('latchkey_session')).toBe(false);
    expect(await t.deps.db.select().from(sessions).where(eq(sessions.userId, admin.id))).toHaveLength(1);
    expectNowhereButFields([...b.answers, ...copy.answers], fields.enrolment);

    // From now on, sign-in takes the factor: a recovery code will do.
    const next = new Browser(t);
    const step = await logIn(next, admin);
    expect(step.body).toContain('<h1>Two-step sign-in</h1>');
    const signedIn = await next.post('/login/mfa', { mfa_token: fieldOf(step.body, 'mfa_token'), csrf: fieldOf(step.body, 'csrf'), return_to: '/admin', code: codes[0]! });
    expect([signedIn.statusCode, signedIn.headers.location]).toEqual([303, '/admin']);
    expect(t.logs.join('')).not.toContain(fields.enrolment);
    expect(t.logs.join('')).not.toContain(secret);
  });

  it('sets up a passkey instead, with the password once more: signed in at aal2 with the passkey', async () => {
    const admin = await makeAdmin(t);
    const b = new Browser(t);
    const setup = await logIn(b, admin, '/account');
    const fields = enrolmentFields(setup.body);
    const wrong = await b.post('/login/enrol/passkey-options', { csrf: fields.csrf, enrolment: fields.enrolment, password: 'not the password at all' });
    expect([wrong.statusCode, wrong.json().error]).toEqual([401, 'invalid_credentials']);
    const options = await b.post('/login/enrol/passkey-options', { csrf: fields.csrf, enrolment: fields.enrolment, password: admin.password });
    expect(options.statusCode, options.body).toBe(200);
    const authenticator = new SoftwareAuthenticator(PUBLIC_URL);
    const response = JSON.stringify(authenticator.create(options.json()));
    const done = await b.post('/login/enrol/passkey', { ...fields, name: 'Work laptop', response });
    expect(done.statusCode, done.body).toBe(200);
    expect(codesOf(done.body)).toHaveLength(10);
    expect(done.body).toContain('<a class="button" href="/account">Continue</a>');
    expect(await liveBrowserSession(t.deps, b.jar.get('latchkey_session'))).toMatchObject({ aal: 'aal2' });
    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.userId, admin.id));
    expect(row!.amr).toEqual(['pwd', 'hwk', 'user', 'mfa']);
    expect((await b.get('/account')).body).toContain('Work laptop');
    expectNowhereButFields(b.answers, fields.enrolment);
  });

  it('shows a wrong code beside its field, with the setup again', async () => {
    const admin = await makeAdmin(t);
    const b = new Browser(t);
    const setup = await logIn(b, admin);
    const fields = enrolmentFields(setup.body);
    const wrong = await b.post('/login/enrol/totp', { ...fields, code: '000000' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toMatch(/role="alert" id="confirm-error">The code is wrong/);
    expect(wrong.body).toMatch(/id="confirm-code"[^>]*aria-invalid="true" aria-describedby="confirm-error"/);
    expect(secretOf(wrong.body), 'the same secret, shown again').toBe(secretOf(setup.body));
    expect(enrolmentFields(wrong.body), 'the same enrolment, for this browser').toEqual(fields);
    const right = await b.post('/login/enrol/totp', { ...enrolmentFields(wrong.body), code: codeAt(secretOf(wrong.body), t.clock.now()) });
    expect(right.statusCode).toBe(200);
  });

  it('refuses another browser’s enrolment form, a forged one, and one whose setup expired', async () => {
    const admin = await makeAdmin(t);
    const b = new Browser(t);
    const setup = await logIn(b, admin);
    const fields = enrolmentFields(setup.body);
    const code = () => codeAt(secretOf(setup.body), t.clock.now());
    // Another browser: with this one's whole form (its nonce differs), or with the token in a form of its own.
    const other = new Browser(t);
    const otherCsrf = fieldOf((await other.get('/login')).body, 'csrf');
    expect((await other.post('/login/enrol/totp', { ...fields, code: code() })).statusCode, 'the whole form, elsewhere').toBe(403);
    expect((await other.post('/login/enrol/totp', { ...fields, csrf: otherCsrf, code: code() })).statusCode, 'its own sign-in form’s token').toBe(403);
    expect((await other.post('/login/enrol/passkey-options', { ...fields, csrf: otherCsrf, password: admin.password })).json().error).toBe('form_refused');
    // This browser: a sign-in form's token, a forged enrolment, another origin, no origin at all.
    const signinCsrf = fieldOf((await b.get('/login')).body, 'csrf');
    expect((await b.post('/login/enrol/totp', { ...fields, csrf: signinCsrf, code: code() })).statusCode, 'a sign-in form’s token').toBe(403);
    expect((await b.post('/login/enrol/totp', { ...fields, enrolment: 'A'.repeat(43), code: code() })).statusCode, 'a forged enrolment').toBe(403);
    expect((await b.post('/login/enrol/totp', { ...fields, code: code() }, { origin: 'https://evil.example' })).statusCode, 'another origin').toBe(403);
    expect((await b.post('/login/enrol/totp', { ...fields, code: code() }, {})).statusCode, 'no origin').toBe(403);
    expect(other.jar.has('latchkey_session') || b.jar.has('latchkey_session')).toBe(false);
    // None of them spent anything; once its 15 minutes are over, the enrolment opens nothing.
    t.clock.advance(901);
    const stale = await b.post('/login/enrol/totp', { ...fields, code: code() });
    expect(stale.statusCode).toBe(401);
    expect(stale.body).toContain('The setup of a second factor expired, or it is done already: sign in again.');
    expect(stale.body).toContain('href="/login?return_to=%2Fadmin"');
    expect(b.jar.has('latchkey_session')).toBe(false);
    expect(await t.deps.db.select().from(sessions).where(eq(sessions.userId, admin.id))).toEqual([]);
    expectNowhereButFields([...b.answers, ...other.answers], fields.enrolment);
  });

  it('is never shown to a user whose role need not have a second factor', async () => {
    const user = await signUp(t);
    const b = new Browser(t);
    const res = await logIn(b, user, '/account');
    expect([res.statusCode, res.headers.location]).toEqual([303, '/account']);
    expect(res.body).not.toContain('Set up a second factor');
    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.userId, user.id));
    expect(row!.amr).toEqual(['pwd']);
  });
});

describe('the enrolment pages under a tight RATE_LIMIT_MFA', () => {
  const { t } = useMailingApp({ RATE_LIMIT_MFA: '3/15m' });

  it('share the account’s budget of codes with the API: past it, both answer 429', async () => {
    const admin = await makeAdmin(t);
    const b = new Browser(t);
    const setup = await logIn(b, admin);
    const fields = enrolmentFields(setup.body);
    for (let i = 0; i < 3; i += 1) expect((await b.post('/login/enrol/totp', { ...fields, code: '000000' })).statusCode).toBe(401);
    const limited = await b.post('/login/enrol/totp', { ...fields, code: codeAt(secretOf(setup.body), t.clock.now()) });
    expect([limited.statusCode, limited.json().error]).toEqual([429, 'too_many_requests']);
    expect(limited.headers['retry-after']).toBeDefined();
    const api = await t.inject({ method: 'POST', url: '/api/me/mfa/totp/confirm', payload: { code: '000000' }, headers: bearer(fields.enrolment) });
    expect([api.statusCode, api.json().error]).toEqual([429, 'too_many_requests']);
  });
});

describe('the sign-in page for an address not verified yet (REQUIRE_EMAIL_VERIFICATION)', () => {
  const { t, smtp } = useMailingApp({ REQUIRE_EMAIL_VERIFICATION: 'true', VERIFICATION_MAIL_LIMIT: '100/1h' });
  const verificationMails = (email: string) => smtp.messages.filter((m) => m.to.includes(email) && m.subject === 'Confirm your email address').length;

  it('says why, and sends the link again from a button', async () => {
    const user = await signUp(t);
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Confirm your email address');
    const b = new Browser(t);
    const refused = await logIn(b, user, '/account');
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toMatch(/role="alert" id="form-error">This email address is not verified yet; a new verification link has been sent to it\./);
    expect(refused.body).toMatch(/<form method="post" action="\/login\/resend-verification"/);
    expect(b.jar.has('latchkey_session')).toBe(false);
    await smtp.waitFor(() => verificationMails(user.email) >= 2);
    const resent = await b.post('/login/resend-verification', { csrf: fieldOf(refused.body, 'csrf'), email: fieldOf(refused.body, 'email') });
    expect(resent.statusCode).toBe(200);
    expect(resent.body).toContain('a new verification email has been sent to it');
    await smtp.waitFor(() => verificationMails(user.email) >= 3);
    // The same answer for an address with no account; and only from this site's own form.
    const unknown = await b.post('/login/resend-verification', { csrf: fieldOf(refused.body, 'csrf'), email: 'nobody.here@example.com' });
    expect([unknown.statusCode, unknown.body.includes('a new verification email has been sent to it')]).toEqual([200, true]);
    expect((await b.post('/login/resend-verification', { csrf: 'forged', email: user.email })).statusCode).toBe(403);
    expect((await b.post('/login/resend-verification', { csrf: fieldOf(refused.body, 'csrf'), email: 'not an address' })).statusCode).toBe(422);
  });
});
