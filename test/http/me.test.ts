import { and, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditEvents, events, users } from '../../src/db/schema.js';
import { bearer, dashboard, GOOD_PASSWORD, refresh, signIn, signUp, tokenAnswer, uniqueEmail, useMailingApp, useTwoInstances } from '../helpers/app.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';
import type { ReceivedMail } from '../helpers/smtp.js';

// The signed-in user's own account: the profile, the password, the address, the account itself. Every
// sensitive change takes the password, and a wrong one counts as a failed sign-in.

const NEW_PASSWORD = 'a brand new passphrase';
const linkIn = (mail: ReceivedMail, path: string) => new RegExp(`/${path}/([A-Za-z0-9_-]+)`).exec(mail.text)![1]!;

describe('/api/me', () => {
  const { t, smtp } = useMailingApp({ LOCKOUT_THRESHOLD: '3' });
  const me = (token: string, method: 'GET' | 'PATCH' | 'DELETE' = 'GET', payload?: Record<string, unknown>) =>
    t.inject({ method, url: '/api/me', headers: bearer(token), ...(payload ? { payload } : {}) });
  const post = (url: string, token: string, payload: Record<string, unknown>) => t.inject({ method: 'POST', url, headers: bearer(token), payload });
  const eventsOf = (userId: string, type: string) => t.deps.db.select().from(events).where(and(eq(events.userId, userId), eq(events.type, type)));
  const mailTo = (email: string, subject: string) => smtp.waitFor((m) => m.to.includes(email) && m.subject === subject);

  it('reads and renames the account; the new name shows at once, on the dashboard too', async () => {
    const user = await signUp(t, { name: 'Ada' });
    const { access_token } = await signIn(t, user.email);
    expect((await me(access_token)).json()).toEqual({ user: { id: user.id, name: 'Ada', email: user.email, email_verified: false, created_at: expect.any(String), mfa: { totp: false, passkeys: 0, recovery_codes_left: 0 } } });
    expect((await dashboard(t, access_token)).json().user.name).toBe('Ada');
    const renamed = await me(access_token, 'PATCH', { name: '  Ada Lovelace ' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json().user.name).toBe('Ada Lovelace');
    expect((await me(access_token)).json().user.name).toBe('Ada Lovelace');
    expect((await dashboard(t, access_token)).json().user.name).toBe('Ada Lovelace');
    const [event] = await eventsOf(user.id, 'user.updated');
    expect(event!.data).toMatchObject({ name: 'Ada Lovelace', changes: ['name'] });
    const audit = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'profile_updated')));
    expect(audit).toHaveLength(1);
  });

  it('refuses bad names and requests without a live token', async () => {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    for (const name of ['', '   ', 'a\nb', 'x'.repeat(101), 42]) {
      const res = await me(access_token, 'PATCH', { name });
      expect(res.statusCode, JSON.stringify(name)).toBe(400);
      expect(res.json().details[0].field).toBe('name');
    }
    expect((await t.inject({ method: 'GET', url: '/api/me' })).statusCode).toBe(401);
    expect((await me('not-a-token')).statusCode).toBe(401);
    await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(access_token) });
    expect((await me(access_token)).json().error).toBe('session_revoked');
  });

  describe('POST /api/me/password', () => {
    it('changes the password: every session ends, the caller gets new tokens, a notice is mailed', async () => {
      const user = await signUp(t);
      const other = await signIn(t, user.email);
      const mine = await signIn(t, user.email);
      const res = await post('/api/me/password', mine.access_token, { current_password: GOOD_PASSWORD, new_password: NEW_PASSWORD });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(tokenAnswer('Password changed. Every other session was signed out.'));
      const fresh = res.json();
      for (const old of [other, mine]) {
        expect((await dashboard(t, old.access_token)).json().error).toBe('session_revoked');
        expect((await refresh(t, old.refresh_token)).statusCode).toBe(401);
      }
      expect((await dashboard(t, fresh.access_token)).statusCode).toBe(200);
      expect((await refresh(t, fresh.refresh_token)).statusCode).toBe(200);
      expect((await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD } })).statusCode).toBe(401);
      await signIn(t, user.email, NEW_PASSWORD);
      const notice = await mailTo(user.email, 'Your password was changed');
      expect(notice.text).not.toContain(NEW_PASSWORD);
      expect(await eventsOf(user.id, 'user.password_changed')).toHaveLength(1);
      expect((await eventsOf(user.id, 'session.revoked')).length).toBeGreaterThanOrEqual(2);
    });

    it('refuses a wrong current password with 401, counted as failed sign-ins up to the lock', async () => {
      const user = await signUp(t);
      const { access_token } = await signIn(t, user.email);
      const tries = [];
      for (let i = 0; i < 4; i++) tries.push((await post('/api/me/password', access_token, { current_password: 'a wrong password', new_password: NEW_PASSWORD })).statusCode);
      expect(tries).toEqual([401, 401, 401, 429]);
      // Locked: even the right one waits now.
      expect((await post('/api/me/password', access_token, { current_password: GOOD_PASSWORD, new_password: NEW_PASSWORD })).statusCode).toBe(429);
      const failed = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'signin_failed')));
      expect(failed).toHaveLength(3);
      // The session lives on, and the password did not change.
      expect((await dashboard(t, access_token)).statusCode).toBe(200);
    });

    it('checks the new password as sign-up does, leaving everything as it was', async () => {
      const user = await signUp(t);
      const { access_token } = await signIn(t, user.email);
      const short = await post('/api/me/password', access_token, { current_password: GOOD_PASSWORD, new_password: 'short' });
      expect(short.statusCode).toBe(422);
      expect(short.json().error).toBe('password_too_short');
      expect((await post('/api/me/password', access_token, { current_password: GOOD_PASSWORD, new_password: 'password123' })).json().error).toBe('password_too_common');
      expect((await post('/api/me/password', access_token, { current_password: GOOD_PASSWORD })).statusCode).toBe(400);
      expect((await dashboard(t, access_token)).statusCode).toBe(200);
    });
  });

  describe('POST /api/me/email', () => {
    it('changes the address only once the new one confirms; the old one is told, and the new one is verified', async () => {
      const user = await signUp(t);
      const { access_token } = await signIn(t, user.email);
      const next = uniqueEmail('moved');
      const res = await post('/api/me/email', access_token, { email: next.toUpperCase(), password: GOOD_PASSWORD });
      expect(res.statusCode).toBe(202);
      const confirm = await mailTo(next, 'Confirm your new email address');
      const notice = await mailTo(user.email, 'Your email address is being changed');
      expect(notice.text).toContain(next);
      expect(notice.text).toContain('/cancel-email-change/');
      expect((await me(access_token)).json().user.email).toBe(user.email);

      const token = linkIn(confirm, 'verify-email');
      expect((await t.inject({ method: 'GET', url: `/verify-email/${token}` })).statusCode).toBe(200);
      const done = await t.inject({ method: 'POST', url: '/api/verify-email', payload: { token } });
      expect(done.json()).toEqual({ message: 'Your email address has been changed, and is verified.', user: expect.objectContaining({ email: next, email_verified: true }) });
      expect((await me(access_token)).json().user).toMatchObject({ email: next, email_verified: true });
      await signIn(t, next);
      expect((await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD } })).statusCode).toBe(401);
      const [event] = await eventsOf(user.id, 'user.updated');
      expect(event!.data).toMatchObject({ email: next, changes: ['email', 'email_verified'] });
    });

    it('answers alike for an address another account has; that owner is told, no link is sent, and nothing changes', async () => {
      const owner = await signUp(t);
      const user = await signUp(t);
      const { access_token } = await signIn(t, user.email);
      const free = await post('/api/me/email', access_token, { email: uniqueEmail('free'), password: GOOD_PASSWORD });
      const taken = await post('/api/me/email', access_token, { email: owner.email, password: GOOD_PASSWORD });
      expect(taken.statusCode).toBe(202);
      expect(taken.json()).toEqual(free.json());
      const told = await mailTo(owner.email, 'Someone tried to use your email address');
      expect(told.text).not.toMatch(/verify-email|cancel-email-change/);
      await t.deps.outbox.runOnce();
      expect(smtp.messages.filter((m) => m.to.includes(owner.email) && m.subject === 'Confirm your new email address')).toHaveLength(0);
    });

    it('leaves exactly one owner when two accounts confirm the same new address at once', async () => {
      const target = uniqueEmail('contested');
      const [a, b] = [await signUp(t), await signUp(t)];
      for (const u of [a, b]) {
        const { access_token } = await signIn(t, u.email);
        expect((await post('/api/me/email', access_token, { email: target, password: GOOD_PASSWORD })).statusCode).toBe(202);
      }
      await expect.poll(() => smtp.messages.filter((m) => m.to.includes(target)).length, { timeout: 5000 }).toBe(2);
      const tokens = smtp.messages.filter((m) => m.to.includes(target)).map((m) => linkIn(m, 'verify-email'));
      const answers = await Promise.all(tokens.map((token) => t.inject({ method: 'POST', url: '/api/verify-email', payload: { token } })));
      expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 409]);
      expect(answers.find((r) => r.statusCode === 409)!.json().error).toBe('email_taken');
      const owners = await t.deps.db.select().from(users).where(eq(users.email, target));
      expect(owners).toHaveLength(1);
    });

    it('is undone from the old address: the address comes back and every session ends', async () => {
      const user = await signUp(t);
      const session = await signIn(t, user.email);
      const next = uniqueEmail('stolen');
      await post('/api/me/email', session.access_token, { email: next, password: GOOD_PASSWORD });
      const token = linkIn(await mailTo(next, 'Confirm your new email address'), 'verify-email');
      const cancel = linkIn(await mailTo(user.email, 'Your email address is being changed'), 'cancel-email-change');
      expect((await t.inject({ method: 'POST', url: '/api/verify-email', payload: { token } })).statusCode).toBe(200);
      const page = await t.inject({ method: 'GET', url: `/cancel-email-change/${cancel}` });
      expect(page.statusCode).toBe(200);
      const undone = await t.inject({ method: 'POST', url: `/cancel-email-change/${cancel}` });
      expect(undone.statusCode).toBe(200);
      expect(undone.body).toContain('undone');
      const [row] = await t.deps.db.select().from(users).where(eq(users.id, user.id));
      expect(row!.email).toBe(user.email);
      expect((await dashboard(t, session.access_token)).json().error).toBe('session_revoked');
      expect((await t.inject({ method: 'POST', url: '/api/cancel-email-change', payload: { token: cancel } })).json().error).toBe('invalid_verification_token');
    });

    it('is cancelled before it is confirmed: the confirmation link dies', async () => {
      const user = await signUp(t);
      const session = await signIn(t, user.email);
      const next = uniqueEmail('never');
      await post('/api/me/email', session.access_token, { email: next, password: GOOD_PASSWORD });
      const token = linkIn(await mailTo(next, 'Confirm your new email address'), 'verify-email');
      const cancel = linkIn(await mailTo(user.email, 'Your email address is being changed'), 'cancel-email-change');
      const res = await t.inject({ method: 'POST', url: '/api/cancel-email-change', payload: { token: cancel } });
      expect(res.json().message).toMatch(/^The email change was cancelled/);
      expect((await t.inject({ method: 'POST', url: '/api/verify-email', payload: { token } })).json().error).toBe('invalid_verification_token');
    });

    it('needs the password, and refuses the address the account already has', async () => {
      const user = await signUp(t);
      const { access_token } = await signIn(t, user.email);
      expect((await post('/api/me/email', access_token, { email: uniqueEmail(), password: 'a wrong password' })).json().error).toBe('invalid_credentials');
      const same = await post('/api/me/email', access_token, { email: ` ${user.email.toUpperCase()}`, password: GOOD_PASSWORD });
      expect(same.statusCode).toBe(400);
      expect(same.json().details[0].field).toBe('email');
      expect((await post('/api/me/email', access_token, { email: 'not an address', password: GOOD_PASSWORD })).statusCode).toBe(400);
    });
  });

  it('refuses each new body in its bad forms (missing, wrong type, too long, malformed) with 400, changing nothing', async () => {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    const long = 'x'.repeat(2000);
    const cases: [string, 'POST' | 'PATCH' | 'DELETE', Record<string, unknown>][] = [
      ['/api/me/password', 'POST', {}],
      ['/api/me/password', 'POST', { current_password: GOOD_PASSWORD }],
      ['/api/me/password', 'POST', { current_password: 42, new_password: NEW_PASSWORD }],
      ['/api/me/password', 'POST', { current_password: GOOD_PASSWORD, new_password: long }],
      ['/api/me/email', 'POST', { email: uniqueEmail() }],
      ['/api/me/email', 'POST', { email: 42, password: GOOD_PASSWORD }],
      ['/api/me/email', 'POST', { email: `${'a'.repeat(250)}@example.com`, password: GOOD_PASSWORD }],
      ['/api/me/email', 'POST', { email: 'two@@example.com', password: GOOD_PASSWORD }],
      ['/api/me', 'DELETE', {}],
      ['/api/me', 'DELETE', { password: 42 }],
      ['/api/me', 'PATCH', {}],
      ['/api/verify-email', 'POST', { token: 42 }],
      ['/api/verify-email', 'POST', { email: user.email, code: 123456 }],
      ['/api/verify-email/resend', 'POST', { email: 42 }],
      ['/api/verify-email/resend', 'POST', { email: 'not an address' }],
      ['/api/cancel-email-change', 'POST', { token: '' }],
      ['/api/cancel-email-change', 'POST', {}],
    ];
    for (const [url, method, payload] of cases) {
      const res = await t.inject({ method, url, headers: bearer(access_token), payload });
      expect(res.statusCode, `${method} ${url} ${JSON.stringify(payload).slice(0, 80)}`).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
    const malformed = await t.inject({ method: 'POST', url: '/api/me/password', headers: { ...bearer(access_token), 'content-type': 'application/json' }, payload: '{"current_password":' });
    expect(malformed.json().error).toBe('malformed_json');
    // Nothing was written: the account, its address and its session are as they were.
    expect((await me(access_token)).json().user).toMatchObject({ email: user.email, name: user.name });
    await signIn(t, user.email);
  });

  describe('DELETE /api/me', () => {
    it('deletes the account with its password: tokens die, user.deleted goes out, a goodbye is mailed', async () => {
      const user = await signUp(t);
      const { access_token, refresh_token } = await signIn(t, user.email);
      expect((await me(access_token, 'DELETE', { password: 'a wrong password' })).json().error).toBe('invalid_credentials');
      expect((await me(access_token, 'DELETE')).statusCode).toBe(400);
      const res = await me(access_token, 'DELETE', { password: GOOD_PASSWORD });
      expect(res.statusCode).toBe(200);
      expect((await dashboard(t, access_token)).statusCode).toBe(401);
      expect((await refresh(t, refresh_token)).statusCode).toBe(401);
      expect(await t.deps.db.select().from(users).where(eq(users.id, user.id))).toHaveLength(0);
      expect(await eventsOf(user.id, 'user.deleted')).toHaveLength(1);
      await mailTo(user.email, 'Your account was deleted');
      const audit = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.email, user.email), eq(auditEvents.type, 'user_deleted')));
      expect(audit[0]!.details).toMatchObject({ actor: 'user' });
    });
  });
});

describeUnless(NO_POSTGRES)('the profile on two instances of one PostgreSQL', () => {
  const { a, b } = useTwoInstances();

  it('shows a new name on the other instance at once, though it had the old one in memory', async () => {
    const user = await signUp(a, { name: 'Before' });
    const { access_token } = await signIn(a, user.email);
    expect((await dashboard(b, access_token)).json().user.name).toBe('Before');
    const renamed = await a.inject({ method: 'PATCH', url: '/api/me', headers: bearer(access_token), payload: { name: 'After' } });
    expect(renamed.statusCode).toBe(200);
    // The notice crosses PostgreSQL: within moments, not within the cache's 30 seconds (the clock does not move).
    await expect.poll(async () => (await b.inject({ method: 'GET', url: '/api/me', headers: bearer(access_token) })).json().user.name, { timeout: 5000 }).toBe('After');
    expect((await dashboard(b, access_token)).json().user.name).toBe('After');
  });
});
