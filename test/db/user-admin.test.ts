import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listSigningKeys, rotateSigningKeys } from '../../src/auth/keys/key-admin.js';
import {
  createUserByOperator,
  deleteUser,
  disableUser,
  enableUser,
  findUser,
  listUserSessions,
  listUsers,
  revokeOneSession,
  revokeUserSessions,
  showUser,
} from '../../src/auth/users/user-admin.js';
import { setUserRole } from '../../src/auth/users/roles.js';
import { endUserSessions } from '../../src/auth/sessions/sessions.js';
import { auditEvents, events, users } from '../../src/db/schema.js';
import { migrationStatus } from '../../src/db/migrations.js';
import { ERRORS } from '../../src/errors.js';
import { FORGOT_PASSWORD_MESSAGE } from '../../src/http/routes/password-reset/forgot-password.js';
import { bearer, dashboard, GOOD_PASSWORD, refresh, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';

const ACTOR = 'test';
let t: TestApp;
let smtp: TestSmtpServer;

beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await startTestApp({ env: { SMTP_URL: smtp.url } });
});
afterAll(async () => {
  await t.close();
  await smtp.close();
});
beforeEach(() => {
  smtp.messages.length = 0;
});

const signin = (email: string, password = GOOD_PASSWORD) => t.inject({ method: 'POST', url: '/api/signin', payload: { email, password } });
const forgot = (email: string) => t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email } });

async function auditTypes(userIdOrEmail: string): Promise<string[]> {
  const column = userIdOrEmail.includes('@') ? auditEvents.email : auditEvents.userId;
  const rows = await t.deps.db.select({ type: auditEvents.type, details: auditEvents.details }).from(auditEvents).where(eq(column, userIdOrEmail));
  return rows.map((r) => r.type);
}

describe('the error catalogue', () => {
  it('has account_disabled (403) and user_not_found (404)', () => {
    expect(ERRORS.account_disabled.status).toBe(403);
    expect(ERRORS.user_not_found.status).toBe(404);
  });
});

describe('creating a user as an operator', () => {
  it('applies the sign-up password policy, stores the role, and the user signs in (an admin, to enrol a second factor)', async () => {
    const email = uniqueEmail('op');
    await expect(createUserByOperator(t.deps, { email, name: 'Op', password: 'short' }, ACTOR)).rejects.toMatchObject({ code: 'password_too_short' });
    await expect(createUserByOperator(t.deps, { email, name: 'Op', password: 'password123' }, ACTOR)).rejects.toMatchObject({ code: 'password_too_common' });
    const user = await createUserByOperator(t.deps, { email: `  ${email.toUpperCase()} `, name: ' Op Erator ', password: GOOD_PASSWORD, admin: true }, ACTOR);
    expect(user).toMatchObject({ email, name: 'Op Erator', role: 'admin', disabled_at: null, legacy_id: null });
    expect(JSON.stringify(user)).not.toContain('argon2');
    // The right password of an admin without a second factor gets the enrolment token (REQUIRE_MFA_FOR_ROLES).
    const first = await signin(email);
    expect([first.statusCode, first.json().error]).toEqual([403, 'mfa_enrollment_required']);
    await expect(createUserByOperator(t.deps, { email, name: 'Again', password: GOOD_PASSWORD }, ACTOR)).rejects.toMatchObject({ code: 'email_taken' });
    const [event] = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'user_created')));
    expect(event?.details).toEqual({ actor: ACTOR, role: 'admin', verified: false });
  });
});

describe('finding and listing users', () => {
  it('finds by id or by email in any case, and says user_not_found otherwise', async () => {
    const u = await signUp(t);
    expect((await findUser(t.deps.db, u.id)).email).toBe(u.email);
    expect((await findUser(t.deps.db, u.email.toUpperCase())).id).toBe(u.id);
    for (const ref of ['nobody@example.com', '00000000-0000-4000-8000-000000000000', 'not-an-id'])
      await expect(findUser(t.deps.db, ref)).rejects.toMatchObject({ code: 'user_not_found' });
  });

  it('pages by offset and by the last id seen, in creation order', async () => {
    for (let i = 0; i < 5; i++) {
      await signUp(t);
      t.clock.advance(1);
    }
    const all = (await listUsers(t.deps, { limit: 1000 })).users;
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect([...all].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id))).toEqual(all);

    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await listUsers(t.deps, { limit: 2, after });
      seen.push(...page.users.map((u) => u.id));
      if (!page.next_after) break;
      after = page.next_after;
    }
    expect(seen).toEqual(all.map((u) => u.id));
    expect((await listUsers(t.deps, { limit: 2, offset: 2 })).users.map((u) => u.id)).toEqual(all.slice(2, 4).map((u) => u.id));
    await expect(listUsers(t.deps, { limit: 2, after: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({ code: 'user_not_found' });
  });

  it('shows a user with their live sessions', async () => {
    const u = await signUp(t);
    await signIn(t, u.email);
    await signIn(t, u.email);
    expect(await showUser(t.deps, u.email)).toMatchObject({ id: u.id, active_sessions: 2 });
  });
});

describe('disabling a user', () => {
  it('ends every session and access token; sign-in says account_disabled only after the right password', async () => {
    const u = await signUp(t);
    const tokens = await signIn(t, u.email);
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(200);

    const result = await disableUser(t.deps, u.email, ACTOR);
    expect(result).toMatchObject({ changed: true, sessions_ended: 1, user: { id: u.id } });
    expect(result.user.disabled_at).not.toBeNull();

    const killed = await dashboard(t, tokens.access_token);
    expect(killed.statusCode).toBe(401);
    expect(killed.json().error).toBe('session_revoked');
    expect((await refresh(t, tokens.refresh_token)).json().error).toBe('invalid_refresh_token');

    const right = await signin(u.email);
    expect(right.statusCode).toBe(403);
    expect(right.json()).toEqual({ error: 'account_disabled', message: ERRORS.account_disabled.message });
    // A guesser learns nothing: the same answer as for any wrong password.
    const wrong = await signin(u.email, 'not the password at all');
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error).toBe('invalid_credentials');

    expect(await disableUser(t.deps, u.id, ACTOR)).toMatchObject({ changed: false, sessions_ended: 0 });
    expect(await auditTypes(u.id)).toEqual(expect.arrayContaining(['user_disabled', 'signin_failed']));
  });

  it('sends no reset link, answering as for any address, and kills links sent before', async () => {
    const u = await signUp(t);
    expect((await forgot(u.email)).statusCode).toBe(200);
    const mail = await smtp.waitFor((m) => m.to.includes(u.email) && m.subject === 'Reset your password');
    const token = /reset-password\/([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;

    await disableUser(t.deps, u.id, ACTOR);
    smtp.messages.length = 0;
    const res = await forgot(u.email);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: FORGOT_PASSWORD_MESSAGE });
    await new Promise((r) => setTimeout(r, 600));
    expect(smtp.messages.filter((m) => m.to.includes(u.email) && m.subject === 'Reset your password')).toEqual([]);

    const reset = await t.inject({ method: 'POST', url: `/api/reset-password/${token}`, payload: { password: 'a brand new passphrase' } });
    expect(reset.statusCode).toBe(400);
    expect(reset.json().error).toBe('invalid_reset_token');
  });

  it('can be undone: the user signs in again, and the sessions it ended stay ended', async () => {
    const u = await signUp(t);
    const before = await signIn(t, u.email);
    await disableUser(t.deps, u.id, ACTOR);
    t.clock.advance(2);
    expect(await enableUser(t.deps, u.email, ACTOR)).toMatchObject({ changed: true, user: { disabled_at: null } });
    expect(await enableUser(t.deps, u.email, ACTOR)).toMatchObject({ changed: false });
    expect((await signin(u.email)).statusCode).toBe(200);
    expect((await dashboard(t, before.access_token)).statusCode).toBe(401);
    expect(await auditTypes(u.id)).toEqual(expect.arrayContaining(['user_disabled', 'user_enabled']));
  });
});

describe('granting and taking back the role admin', () => {
  it('changes the role at once, audits who did it and from what, and says when nothing changed', async () => {
    const user = await signUp(t, { email: uniqueEmail('role') });
    expect(await setUserRole(t.deps, user.email.toUpperCase(), 'admin', ACTOR)).toMatchObject({ changed: true, user: { id: user.id, role: 'admin' } });
    expect(await setUserRole(t.deps, user.id, 'admin', ACTOR)).toMatchObject({ changed: false, user: { role: 'admin' } });
    expect(await setUserRole(t.deps, user.id, 'user', ACTOR)).toMatchObject({ changed: true, user: { role: 'user' } });
    const rows = await t.deps.db.select({ details: auditEvents.details }).from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'user_role_changed'))).orderBy(auditEvents.id);
    expect(rows.map((r) => r.details)).toEqual([
      { actor: ACTOR, from: 'user', to: 'admin' },
      { actor: ACTOR, from: 'admin', to: 'user' },
    ]);
    await expect(setUserRole(t.deps, uniqueEmail('nobody'), 'admin', ACTOR)).rejects.toMatchObject({ code: 'user_not_found' });
  });
});

describe('deleting a user', () => {
  it('ends their sessions, removes them, and keeps the audit trail by email', async () => {
    const u = await signUp(t);
    const tokens = await signIn(t, u.email);
    const result = await deleteUser(t.deps, u.id, ACTOR);
    expect(result).toMatchObject({ sessions_ended: 1, user: { id: u.id, email: u.email } });
    expect((await dashboard(t, tokens.access_token)).json().error).toBe('session_revoked');
    expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401);
    expect(await t.deps.db.select().from(users).where(eq(users.id, u.id))).toEqual([]);
    expect((await signin(u.email)).json().error).toBe('invalid_credentials');
    expect(await auditTypes(u.email)).toContain('user_deleted');
    await expect(deleteUser(t.deps, u.id, ACTOR)).rejects.toMatchObject({ code: 'user_not_found' });
  });
});

describe('deleting a user while their requests are in flight', () => {
  const sidOf = (accessToken: string) => (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;

  it('a logout let in before the delete committed ends well, and its audit event is kept without the user id', async () => {
    // The interleaving a race makes, made certain: the row goes after the token was accepted (this instance
    // has not heard of the delete yet) and before the logout records its audit event.
    const u = await signUp(t);
    const tokens = await signIn(t, u.email);
    await t.deps.db.delete(users).where(eq(users.id, u.id));
    const res = await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(tokens.access_token) });
    expect(res.statusCode, res.body).toBe(200);
    const rows = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'logout'), eq(auditEvents.sessionId, sidOf(tokens.access_token))));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.userId).toBeNull();
  });

  it('racing the delete, sign-ins, refreshes, logouts, reset requests and a sign-out everywhere answer 2xx or 4xx, never 5xx', async () => {
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 200,
        (err: { code?: string }) => (err.code === 'user_not_found' ? 404 : 500),
      );
    for (let round = 0; round < 4; round++) {
      const u = await signUp(t);
      const [a, b] = [await signIn(t, u.email), await signIn(t, u.email)];
      const answers = await Promise.all([
        signin(u.email).then((r) => r.statusCode),
        refresh(t, b.refresh_token).then((r) => r.statusCode),
        t.inject({ method: 'POST', url: '/api/logout', headers: bearer(a.access_token) }).then((r) => r.statusCode),
        forgot(u.email).then((r) => r.statusCode),
        outcome(revokeUserSessions(t.deps, u.id, ACTOR)),
        outcome(deleteUser(t.deps, u.id, ACTOR)),
        signin(u.email).then((r) => r.statusCode),
      ]);
      expect(answers.filter((status) => status >= 500), `round ${round}: ${answers.join(' ')}`).toEqual([]);
      // Whatever the order, the user is gone and nothing of theirs works.
      expect(await t.deps.db.select().from(users).where(eq(users.id, u.id))).toEqual([]);
      expect((await signin(u.email)).json().error).toBe('invalid_credentials');
      for (const tokens of [a, b]) expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
    }
  });

  it('ending the sessions of a user deleted since it was looked up says the user was not found', async () => {
    // What a sign-out everywhere meets when the delete commits between its look-up and its transaction.
    const u = await signUp(t);
    await signIn(t, u.email);
    await t.deps.db.delete(users).where(eq(users.id, u.id));
    const ended = await t.deps.db.transaction((tx) => endUserSessions(tx, u.id, 'operator', t.clock.now()));
    expect(ended).toMatchObject({ userFound: false, sessionIds: [] });
    const live = await signUp(t);
    expect(await t.deps.db.transaction((tx) => endUserSessions(tx, live.id, 'operator', t.clock.now()))).toMatchObject({ userFound: true });
  });
});

describe('revoking a user\'s sessions', () => {
  it('ends every access and refresh token; the user may sign in again', async () => {
    const u = await signUp(t);
    const a = await signIn(t, u.email);
    const b = await signIn(t, u.email);
    expect(await revokeUserSessions(t.deps, u.email, ACTOR)).toMatchObject({ sessions_ended: 2 });
    for (const tokens of [a, b]) {
      expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
      expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401);
    }
    t.clock.advance(2);
    expect((await signin(u.email)).statusCode).toBe(200);
    expect(await auditTypes(u.id)).toContain('sessions_revoked');
  });
});

describe('listing and ending one session', () => {
  const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).sid;

  it('lists the live sessions without a token; ending one leaves the others, audited, with one session.revoked event', async () => {
    const u = await signUp(t);
    const a = await signIn(t, u.email);
    t.clock.advance(1);
    const b = await signIn(t, u.email);
    const listed = await listUserSessions(t.deps, u.email);
    expect(listed.user.id).toBe(u.id);
    expect(listed.sessions.map((s) => s.id)).toEqual([sidOf(a.access_token), sidOf(b.access_token)]);
    expect(JSON.stringify(listed)).not.toContain(a.refresh_token);

    expect(await revokeOneSession(t.deps, sidOf(a.access_token).toUpperCase(), ACTOR)).toMatchObject({ session_id: sidOf(a.access_token), user: { id: u.id } });
    expect((await dashboard(t, a.access_token)).statusCode).toBe(401);
    expect((await refresh(t, a.refresh_token)).statusCode).toBe(401);
    expect((await dashboard(t, b.access_token)).statusCode).toBe(200);
    expect((await listUserSessions(t.deps, u.id)).sessions.map((s) => s.id)).toEqual([sidOf(b.access_token)]);
    const [audited] = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, u.id), eq(auditEvents.type, 'session_revoked')));
    expect(audited).toMatchObject({ sessionId: sidOf(a.access_token), details: { actor: ACTOR } });
    const revokedEvents = await t.deps.db.select().from(events).where(and(eq(events.userId, u.id), eq(events.type, 'session.revoked')));
    expect(revokedEvents.map((e) => e.data)).toEqual([{ sid: sidOf(a.access_token), sub: u.id, reason: 'operator' }]);

    for (const id of [sidOf(a.access_token), '00000000-0000-4000-8000-000000000000', 'not-a-session'])
      await expect(revokeOneSession(t.deps, id, ACTOR)).rejects.toMatchObject({ code: 'session_not_found' });
    expect(await t.deps.db.select().from(events).where(and(eq(events.userId, u.id), eq(events.type, 'session.revoked')))).toHaveLength(1);
  });
});

describe('signing keys and migrations', () => {
  it('lists the keys with their state; a rotation publishes the next one', async () => {
    const before = await listSigningKeys(t.deps);
    expect(before.filter((k) => k.state === 'current')).toHaveLength(1);
    const fresh = await rotateSigningKeys(t.deps, ACTOR);
    expect(fresh.state).toBe('next');
    expect(new Date(fresh.activates_at).getTime()).toBeGreaterThan(t.clock.now().getTime());
    const after = await listSigningKeys(t.deps);
    expect(after.map((k) => k.kid)).toContain(fresh.kid);
    expect(after.find((k) => k.kid === before.find((b) => b.state === 'current')!.kid)!.state).toBe('current');
    expect(JSON.stringify(after)).not.toMatch(/"d"|private/);
  });

  it('says every migration shipped is applied', async () => {
    const states = await migrationStatus(t.deps.db);
    expect(states.map((s) => s.name)).toContain('0003_users_disabled_legacy_id');
    expect(states.every((s) => s.applied)).toBe(true);
  });
});
