import { and, desc, eq } from 'drizzle-orm';
import { createDecoder } from 'fast-jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, events, oneTimeTokens, users } from '../../src/db/schema.js';
import { bearer, GOOD_PASSWORD, PUBLIC_URL, refresh, signIn, signUp, startTestApp, uniqueEmail, useMailingApp, type TestApp } from '../helpers/app.js';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.js';

// Email verification: the link and the 6-digit code of the email sign-up sends, a page whose button confirms
// (a scanner that follows the link consumes nothing), resends that supersede, and the verified address in the
// user object and in access tokens.

const SUBJECT = 'Confirm your email address';
const decode = createDecoder();

function proofIn(mail: ReceivedMail): { url: string; token: string; code: string } {
  const link = /(https?:\/\/\S+\/verify-email\/([A-Za-z0-9_-]+))/.exec(mail.text);
  const code = /code: ([0-9]{6})\b/.exec(mail.text);
  if (!link || !code) throw new Error(`no link or code in: ${mail.text}`);
  return { url: link[1]!, token: link[2]!, code: code[1]! };
}

const nthMailTo = async (smtp: TestSmtpServer, email: string, n: number) => {
  await expect.poll(() => smtp.messages.filter((m) => m.to.includes(email) && m.subject === SUBJECT).length, { timeout: 5000 }).toBeGreaterThanOrEqual(n);
  return smtp.messages.filter((m) => m.to.includes(email) && m.subject === SUBJECT)[n - 1]!;
};

describe('email verification', () => {
  const { t, smtp } = useMailingApp();
  const verify = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.inject({ method: 'POST', url: '/api/verify-email', payload, headers });
  const resend = (payload?: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.inject({ method: 'POST', url: '/api/verify-email/resend', ...(payload ? { payload } : {}), headers });

  it('emails a link and a code at sign-up; the page shows a button and consumes nothing; the POST verifies once', async () => {
    const user = await signUp(t);
    const mail = await nthMailTo(smtp, user.email, 1);
    const { url, token, code } = proofIn(mail);
    expect(url).toBe(`${PUBLIC_URL}/verify-email/${token}`);
    expect(mail.text).toContain('expire in 1 day');
    // An unverified address is not greeted by the name its signer-up chose.
    expect(mail.text).not.toContain(user.name);
    expect(code).toMatch(/^[0-9]{6}$/);

    // A scanner following the link twice gets the page; the link still works.
    for (let i = 0; i < 2; i++) {
      const page = await t.inject({ method: 'GET', url: `/verify-email/${token}` });
      expect(page.statusCode).toBe(200);
      expect(page.headers['referrer-policy']).toBe('no-referrer');
      expect(page.body).toContain('<form method="post"');
    }
    const done = await verify({ token });
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ message: 'Your email address is verified.', user: expect.objectContaining({ id: user.id, email: user.email, email_verified: true }) });
    expect((await verify({ token })).json().error).toBe('invalid_verification_token');
    // The code of the same email died with the link.
    expect((await verify({ email: user.email, code })).json().error).toBe('invalid_verification_token');

    const [row] = await t.deps.db.select().from(users).where(eq(users.id, user.id));
    expect(row!.emailVerifiedAt).not.toBeNull();
    const [event] = await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'user.updated')));
    expect(event!.data).toMatchObject({ email_verified: true, changes: ['email_verified'] });
    const audit = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'email_verified')));
    expect(audit).toHaveLength(1);
  });

  it('verifies through the page\'s button, and says so in HTML', async () => {
    const user = await signUp(t);
    const { token } = proofIn(await nthMailTo(smtp, user.email, 1));
    const res = await t.inject({ method: 'POST', url: `/verify-email/${token}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('confirmed');
    const again = await t.inject({ method: 'POST', url: `/verify-email/${token}` });
    expect(again.statusCode).toBe(400);
    expect((await t.inject({ method: 'GET', url: `/verify-email/${token}` })).statusCode).toBe(400);
  });

  it('puts email_verified in the user object and in access tokens, from the next refresh on', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    expect(decode(tokens.access_token).email_verified).toBe(false);
    const { code } = proofIn(await nthMailTo(smtp, user.email, 1));
    expect((await verify({ email: user.email.toUpperCase(), code })).statusCode).toBe(200);
    const me = await t.inject({ method: 'GET', url: '/api/me', headers: bearer(tokens.access_token) });
    expect(me.json().user.email_verified).toBe(true);
    const next = (await refresh(t, tokens.refresh_token)).json();
    expect(decode(next.access_token).email_verified).toBe(true);
    expect(decode((await signIn(t, user.email)).access_token).email_verified).toBe(true);
  });

  it('spends a code after five wrong ones, and answers a wrong code, an unknown address and a used code alike', async () => {
    const user = await signUp(t);
    const { code } = proofIn(await nthMailTo(smtp, user.email, 1));
    const wrong = code === '000000' ? '111111' : '000000';
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push((await verify({ email: user.email, code: wrong })).json());
    const unknown = (await verify({ email: uniqueEmail('nobody'), code })).json();
    for (const answer of [...answers, unknown]) expect(answer).toEqual({ error: 'invalid_verification_token', message: expect.any(String) });
    // The right code, after five wrong ones, no longer works: guessing has five tries per email.
    expect((await verify({ email: user.email, code })).json().error).toBe('invalid_verification_token');
    const [spent] = await t.deps.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.type, 'email_verification_code')));
    expect(spent!.usedAt).not.toBeNull();
    // The link of the same email is not spent by wrong codes.
    const { token } = proofIn(await nthMailTo(smtp, user.email, 1));
    expect((await verify({ token })).statusCode).toBe(200);
  });

  it('refuses bodies that are neither a token nor an email and a code', async () => {
    for (const payload of [{}, { email: 'a@example.com' }, { code: '123456' }, { token: 'x', code: '123456' }, { token: 'x', email: 'a@example.com', code: '123456' }]) {
      const res = await verify(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
    for (const code of ['12345', '1234567', 'abcdef', '12 34 56']) expect((await verify({ email: 'a@example.com', code })).json().error).toBe('invalid_request');
    expect((await verify({ token: 'y'.repeat(600) })).statusCode).toBe(400);
    expect((await verify({ token: 'not-a-token' })).json().error).toBe('invalid_verification_token');
  });

  it('resends on request: a newer email supersedes the older, and an address with no account gets the same answer', async () => {
    const user = await signUp(t);
    const first = proofIn(await nthMailTo(smtp, user.email, 1));
    const answer = await resend({ email: user.email });
    const ghost = await resend({ email: uniqueEmail('ghost') });
    expect(answer.statusCode).toBe(200);
    expect(ghost.json()).toEqual(answer.json());
    const second = proofIn(await nthMailTo(smtp, user.email, 2));
    expect((await verify({ token: first.token })).json().error).toBe('invalid_verification_token');
    expect((await verify({ email: user.email, code: first.code })).json().error).toBe('invalid_verification_token');
    expect((await verify({ token: second.token })).statusCode).toBe(200);
  });

  it('resends to the signed-in user with the access token, and says when there is nothing to prove', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    const res = await resend(undefined, bearer(tokens.access_token));
    expect(res.json()).toEqual({ message: 'A new verification email has been sent.' });
    const { token } = proofIn(await nthMailTo(smtp, user.email, 2));
    expect((await verify({ token })).statusCode).toBe(200);
    expect((await resend(undefined, bearer(tokens.access_token))).json()).toEqual({ message: 'Your email address is already verified.' });
    expect((await resend(undefined, bearer('not-a-token'))).statusCode).toBe(401);
    expect((await resend({})).json().error).toBe('invalid_request');
  });

  it('sends at most VERIFICATION_MAIL_LIMIT emails per address, whoever asks, with the same answer past it', async () => {
    const user = await signUp(t);
    await nthMailTo(smtp, user.email, 1);
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push((await resend({ email: user.email })).json());
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    await t.deps.outbox.runOnce();
    // Sign-up's own email, and three resends (the default 3/1h).
    await nthMailTo(smtp, user.email, 4);
    await t.deps.outbox.runOnce();
    expect(smtp.messages.filter((m) => m.to.includes(user.email) && m.subject === SUBJECT)).toHaveLength(4);
    const requested = await t.deps.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'verification_email_requested')))
      .orderBy(desc(auditEvents.id));
    expect(requested.map((r) => (r.details as { sent: boolean }).sent)).toEqual([false, false, true, true, true]);
  });

  it('lets exactly one of two simultaneous confirmations of one link through', async () => {
    const user = await signUp(t);
    const { token } = proofIn(await nthMailTo(smtp, user.email, 1));
    const answers = await Promise.all([verify({ token }), verify({ token }), t.inject({ method: 'POST', url: `/verify-email/${token}` })]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 400, 400]);
    const verified = await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'user.updated')));
    expect(verified).toHaveLength(1);
  });

  it('counts a completed password reset as proof of the address', async () => {
    const user = await signUp(t);
    await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } });
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    const token = /reset-password\/([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
    expect((await t.inject({ method: 'POST', url: `/api/reset-password/${token}`, payload: { password: 'a new and long passphrase' } })).statusCode).toBe(200);
    const [row] = await t.deps.db.select().from(users).where(eq(users.id, user.id));
    expect(row!.emailVerifiedAt).not.toBeNull();
  });

  it('gives nothing to a disabled account: its links die with it', async () => {
    const user = await signUp(t);
    const { token } = proofIn(await nthMailTo(smtp, user.email, 1));
    await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD } });
    const { disableUser } = await import('../../src/auth/users/user-admin.js');
    await disableUser(t.deps, user.id, 'test');
    expect((await verify({ token })).json().error).toBe('invalid_verification_token');
  });
});

describe('REQUIRE_EMAIL_VERIFICATION', () => {
  let smtp: TestSmtpServer;
  let t: TestApp;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ env: { SMTP_URL: smtp.url, REQUIRE_EMAIL_VERIFICATION: 'true' } });
  });
  afterAll(async () => {
    await t.close();
    await smtp.close();
  });
  const signin = (email: string, password: string) => t.inject({ method: 'POST', url: '/api/signin', payload: { email, password } });

  it('refuses the right password on an unverified address with 403 email_not_verified and a fresh link; a wrong one is 401', async () => {
    const user = await signUp(t);
    await nthMailTo(smtp, user.email, 1);
    expect((await signin(user.email, 'a wrong password')).json().error).toBe('invalid_credentials');
    const refused = await signin(user.email, GOOD_PASSWORD);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toBe('email_not_verified');
    const { token } = proofIn(await nthMailTo(smtp, user.email, 2));
    expect((await t.inject({ method: 'POST', url: '/api/verify-email', payload: { token } })).statusCode).toBe(200);
    expect((await signin(user.email, GOOD_PASSWORD)).statusCode).toBe(200);
  });
});
