import { and, eq } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { FORGOT_PASSWORD_MESSAGE } from '../../src/http/routes/password-reset/forgot-password.js';
import { hashToken } from '../../src/core/secrets.js';
import { oneTimeTokens, users } from '../../src/db/schema.js';
import { dashboard, GOOD_PASSWORD, PUBLIC_URL, refresh, signIn, signUp, uniqueEmail, useMailingApp } from '../helpers/app.js';
import type { ReceivedMail } from '../helpers/smtp.js';

const NEW_PASSWORD = 'a brand new passphrase';
const { t, smtp } = useMailingApp();
beforeEach(() => {
  smtp.messages.length = 0;
});

const forgot = (email: string, headers: Record<string, string> = {}) =>
  t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email }, headers });
const reset = (token: string, password: string) =>
  t.inject({ method: 'POST', url: `/api/reset-password/${token}`, payload: { password } });

function linkIn(mail: ReceivedMail): { url: string; token: string } {
  const match = /(https?:\/\/\S+\/reset-password\/([A-Za-z0-9_-]+))/.exec(mail.text);
  if (!match) throw new Error(`no reset link in: ${mail.text}`);
  return { url: match[1]!, token: match[2]! };
}

async function requestLink(email: string) {
  expect((await forgot(email)).statusCode).toBe(200);
  const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Reset your password');
  smtp.messages.splice(smtp.messages.indexOf(mail), 1);
  return linkIn(mail);
}

describe('forgot and reset password', () => {
  it('emails a link to PUBLIC_URL/reset-password/<token>; the token resets the password once', async () => {
    const user = await signUp(t, { name: 'Margaret' });
    // Only a verified address is greeted by name.
    await t.deps.db.update(users).set({ emailVerifiedAt: new Date() }).where(eq(users.id, user.id));
    const res = await forgot(user.email);
    expect(res.json()).toEqual({ message: FORGOT_PASSWORD_MESSAGE });

    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    expect(mail.from).toBe('latchkey@example.com');
    expect(mail.subject).toBe('Reset your password');
    expect(mail.text).toContain('Hello Margaret');
    expect(mail.text).toContain('expires in 1 hour');
    const { url, token } = linkIn(mail);
    expect(url).toBe(`${PUBLIC_URL}/reset-password/${token}`);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(mail.html).toContain(url);

    const done = await reset(token, NEW_PASSWORD);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ message: 'Password reset successful' });
    expect(done.body).not.toMatch(/token/);

    expect((await signIn(t, user.email, NEW_PASSWORD)).access_token).toBeTruthy();
    await expect(signIn(t, user.email, GOOD_PASSWORD)).rejects.toThrow(/401/);

    const again = await reset(token, 'yet another passphrase');
    expect(again.statusCode).toBe(400);
    expect(again.json().error).toBe('invalid_reset_token');
  });

  it('answers unknown addresses exactly as known ones, and sends them nothing', async () => {
    const user = await signUp(t);
    const known = await forgot(user.email);
    const ghost = uniqueEmail('ghost');
    const unknown = await forgot(ghost);
    expect(unknown.statusCode).toBe(known.statusCode);
    expect(unknown.body).toBe(known.body);
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.messages.filter((m) => m.to.includes(user.email) && m.subject === 'Reset your password')).toHaveLength(1);
    expect(smtp.messages.filter((m) => m.to.includes(ghost))).toHaveLength(0);
  });

  it('signs out every session and emails a "password changed" notice', async () => {
    const user = await signUp(t);
    const phone = await signIn(t, user.email);
    const laptop = await signIn(t, user.email);
    const { token } = await requestLink(user.email);
    expect((await reset(token, NEW_PASSWORD)).statusCode).toBe(200);

    for (const s of [phone, laptop]) {
      expect((await dashboard(t, s.access_token)).json().error).toBe('session_revoked');
      expect((await refresh(t, s.refresh_token)).statusCode).toBe(401);
    }
    const notice = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Your password was changed');
    expect(notice.text).toContain('signed out');
  });

  it('refuses a weak new password with a reason and leaves the token usable', async () => {
    const user = await signUp(t);
    const { token } = await requestLink(user.email);
    for (const [password, code] of [
      ['short', 'password_too_short'],
      ['password123', 'password_too_common'],
      ['x'.repeat(257), 'password_too_long'],
    ] as const) {
      const res = await reset(token, password);
      expect(res.statusCode, password).toBe(422);
      expect(res.json().error).toBe(code);
    }
    expect((await reset(token, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it('leaves an earlier link working when a newer one is asked for: whoever asked, the owner can use either', async () => {
    const user = await signUp(t);
    const first = await requestLink(user.email);
    const second = await requestLink(user.email);
    expect(first.token).not.toBe(second.token);
    expect((await reset(first.token, NEW_PASSWORD)).statusCode).toBe(200);
    expect((await reset(second.token, 'yet another passphrase')).json().error).toBe('invalid_reset_token');
  });

  it('lets exactly one of the links of parallel requests reset the password', async () => {
    const user = await signUp(t);
    await Promise.all([forgot(user.email), forgot(user.email), forgot(user.email)]);
    const mine = () => smtp.messages.filter((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    for (let i = 0; i < 100 && mine().length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    const tokens = mine().map((m) => linkIn(m).token);
    expect(tokens).toHaveLength(3);
    const results = await Promise.all(tokens.map((token, i) => reset(token, `parallel passphrase number ${i}`)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 400)).toHaveLength(2);
    for (const token of tokens) expect((await reset(token, 'yet another passphrase')).statusCode).toBe(400);
  });

  it('kills every other link of the user when one is used', async () => {
    const user = await signUp(t);
    const now = t.clock.now();
    const { token } = await requestLink(user.email);
    // A second live link beside the emailed one, as a race between two senders could leave.
    const other = 'b'.repeat(43);
    await t.deps.db.insert(oneTimeTokens).values({ type: 'password_reset', tokenHash: hashToken(other), userId: user.id, createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000) });
    expect((await reset(token, NEW_PASSWORD)).statusCode).toBe(200);
    expect((await reset(other, 'yet another passphrase')).json().error).toBe('invalid_reset_token');
  });

  it('refuses an expired link (one hour by default)', async () => {
    const user = await signUp(t);
    const { token } = await requestLink(user.email);
    t.clock.advance(3601);
    expect((await reset(token, NEW_PASSWORD)).json().error).toBe('invalid_reset_token');
    expect((await signIn(t, user.email)).access_token).toBeTruthy();
  });

  it('consumes a token once even when it is used in parallel', async () => {
    const user = await signUp(t);
    const { token } = await requestLink(user.email);
    const results = await Promise.all(
      ['first parallel passphrase', 'second parallel passphrase', 'third parallel passphrase'].map((p) => reset(token, p)),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 400)).toHaveLength(2);
  });

  it('stores only a hash of the reset token', async () => {
    const user = await signUp(t);
    const { token } = await requestLink(user.email);
    // Only the reset's: the sign-up's verification email may have minted its own by now.
    const rows = await t.deps.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.type, 'password_reset')));
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('builds the link from PUBLIC_URL, never from the request\'s Host or X-Forwarded-Host', async () => {
    const user = await signUp(t);
    await forgot(user.email, { host: 'evil.example', 'x-forwarded-host': 'evil.example' });
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    expect(linkIn(mail).url.startsWith(`${PUBLIC_URL}/reset-password/`)).toBe(true);
    expect(mail.text + mail.html).not.toContain('evil.example');
  });

  it('refuses unknown and malformed tokens and bad bodies with 4xx', async () => {
    expect((await reset('A'.repeat(43), NEW_PASSWORD)).json().error).toBe('invalid_reset_token');
    const long = await reset('A'.repeat(600), NEW_PASSWORD);
    expect(long.statusCode).toBe(400);
    expect(long.json().error).toBe('invalid_request');
    const huge = await reset('A'.repeat(3000), NEW_PASSWORD);
    expect(huge.statusCode).toBe(414);
    expect(huge.json().error).toBe('uri_too_long');
    const missing = await t.inject({ method: 'POST', url: '/api/reset-password/abc', payload: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().details[0].field).toBe('password');
    const wrongType = await t.inject({ method: 'POST', url: '/api/reset-password/abc', payload: { password: 123456789 } });
    expect(wrongType.statusCode).toBe(400);
    const forgotBad = await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: 'nope' } });
    expect(forgotBad.statusCode).toBe(400);
    const forgotMissing = await t.inject({ method: 'POST', url: '/api/forgot-password', payload: {} });
    expect(forgotMissing.statusCode).toBe(400);
    const forgotText = await t.inject({
      method: 'POST',
      url: '/api/forgot-password',
      payload: 'email=a@example.com',
      headers: { 'content-type': 'text/plain' },
    });
    expect(forgotText.statusCode).toBe(415);
  });

  it('keeps reset tokens out of the logs', async () => {
    const user = await signUp(t);
    const { token } = await requestLink(user.email);
    await t.inject({ method: 'GET', url: `/reset-password/${token}` });
    await reset(token, NEW_PASSWORD);
    const logs = t.logs.join('');
    // Matched routes are logged as their pattern, never with the token's value.
    expect(logs).toContain('/reset-password/:token');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(NEW_PASSWORD);
  });
});

describe('the reset page', () => {
  it('serves a form with no script, a strict CSP and no referrer', async () => {
    const user = await signUp(t);
    const { token } = await requestLink(user.email);
    const res = await t.inject({ method: 'GET', url: `/reset-password/${token}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(res.headers['content-security-policy']).not.toMatch(/unsafe-inline/);
    expect(res.body).toContain('<form method="post" action="">');
    expect(res.body).toContain('name="password"');
    expect(res.body).not.toContain('<script');
  });

  it('sets the new password when its form is posted, and then the link is spent', async () => {
    const user = await signUp(t);
    const { token } = await requestLink(user.email);
    const post = (body: string) =>
      t.inject({
        method: 'POST',
        url: `/reset-password/${token}`,
        payload: body,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    const mismatch = await post(`password=${encodeURIComponent(NEW_PASSWORD)}&password_confirm=other`);
    expect(mismatch.statusCode).toBe(422);
    expect(mismatch.body).toContain('do not match');
    const weak = await post('password=password123&password_confirm=password123');
    expect(weak.statusCode).toBe(422);
    expect(weak.body).toContain('too common');

    const ok = await post(`password=${encodeURIComponent(NEW_PASSWORD)}&password_confirm=${encodeURIComponent(NEW_PASSWORD)}`);
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('Your password has been changed');
    expect((await signIn(t, user.email, NEW_PASSWORD)).access_token).toBeTruthy();

    const spent = await t.inject({ method: 'GET', url: `/reset-password/${token}` });
    expect(spent.statusCode).toBe(400);
    expect(spent.body).toContain('invalid, has been used, or has expired');
  });

  it('escapes nothing it did not write: an unknown token shows the invalid-link page', async () => {
    const res = await t.inject({ method: 'GET', url: '/reset-password/%3Cscript%3Ealert(1)%3C%2Fscript%3E' });
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain('<script>');
  });
});
