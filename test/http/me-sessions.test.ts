import { and, eq, inArray } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, events, sessions } from '../../src/db/schema.js';
import { bearer, dashboard, refresh, signIn, signUp, startTestApp, useTwoInstances, type SignedUp, type TestApp, type Tokens } from '../helpers/app.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

// A user's own sessions: the list, ending one of them, and logout's scopes (this one, the others, all).

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const sidOf = (tokens: Tokens) => decodeJwt(tokens.access_token).sid as string;
const list = (tokens: Tokens) => t.inject({ method: 'GET', url: '/api/me/sessions', headers: bearer(tokens.access_token) });
const end = (tokens: Tokens, id: string) => t.inject({ method: 'DELETE', url: `/api/me/sessions/${id}`, headers: bearer(tokens.access_token) });
const logout = (tokens: Tokens, query = '', url = '/api/logout') => t.inject({ method: 'POST', url: `${url}${query}`, headers: bearer(tokens.access_token) });

/** A user signed in `count` times, from as many user agents. */
async function userWithSessions(count: number): Promise<{ user: SignedUp; sessions: Tokens[] }> {
  const user = await signUp(t);
  const opened: Tokens[] = [];
  for (let i = 0; i < count; i++) {
    const res = await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: user.password }, headers: { 'user-agent': `device-${i}` } });
    expect(res.statusCode).toBe(200);
    opened.push(res.json());
    // Each a second after the one before, so that "newest first" has one answer.
    t.clock.advance(1);
  }
  return { user, sessions: opened };
}

async function expectEnded(tokens: Tokens) {
  const res = await dashboard(t, tokens.access_token);
  expect(res.statusCode).toBe(401);
  expect(res.json().error).toBe('session_revoked');
  expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401);
}

async function expectLive(tokens: Tokens) {
  expect((await dashboard(t, tokens.access_token)).statusCode).toBe(200);
}

const auditOf = (userId: string, type: 'session_revoked' | 'sessions_revoked' | 'logout') =>
  t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, userId), eq(auditEvents.type, type)));

describe('GET /api/me/sessions', () => {
  it('lists the live sessions of the caller, newest first, the current one marked, never a token', async () => {
    const { user, sessions: [first, second, third] } = await userWithSessions(3);
    const res = await list(second!);
    expect(res.statusCode).toBe(200);
    const listed = res.json().sessions;
    expect(listed.map((s: { id: string }) => s.id)).toEqual([sidOf(third!), sidOf(second!), sidOf(first!)]);
    expect(listed.map((s: { current: boolean }) => s.current)).toEqual([false, true, false]);
    expect(listed[0]).toEqual({
      id: sidOf(third!),
      created_at: expect.any(String),
      last_used_at: expect.any(String),
      expires_at: expect.any(String),
      ip_address: '127.0.0.1',
      user_agent: 'device-2',
      current: false,
    });
    expect(listed[0].last_used_at).toBe(listed[0].created_at);
    expect(res.body).not.toContain(first!.refresh_token);
    expect(res.body).not.toContain(user.password);
  });

  it('says when a session was last used: its last refresh', async () => {
    const { sessions: [only] } = await userWithSessions(1);
    t.clock.advance(60);
    const refreshed: Tokens = (await refresh(t, only!.refresh_token)).json();
    const [session] = (await list(refreshed)).json().sessions;
    expect(new Date(session.last_used_at).getTime() - new Date(session.created_at).getTime()).toBe(61_000);
  });

  it('leaves out ended sessions and other users\' sessions', async () => {
    const { sessions: [a, b] } = await userWithSessions(2);
    const other = await userWithSessions(1);
    expect((await logout(a!)).statusCode).toBe(200);
    const listed = (await list(b!)).json().sessions;
    expect(listed.map((s: { id: string }) => s.id)).toEqual([sidOf(b!)]);
    expect(JSON.stringify(listed)).not.toContain(sidOf(other.sessions[0]!));
  });

  it('answers 401 without a token or with a refresh token', async () => {
    const { sessions: [a] } = await userWithSessions(1);
    expect((await t.inject({ method: 'GET', url: '/api/me/sessions' })).json().error).toBe('missing_token');
    expect((await t.inject({ method: 'GET', url: '/api/me/sessions', headers: bearer(a!.refresh_token) })).statusCode).toBe(401);
  });
});

describe('DELETE /api/me/sessions/:id', () => {
  it('ends another session of the caller\'s at once, audited as the user\'s own act, with its session.revoked event', async () => {
    const { user, sessions: [phone, laptop] } = await userWithSessions(2);
    await expectLive(phone!);
    const res = await end(laptop!, sidOf(phone!));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: expect.any(String) });
    await expectEnded(phone!);
    await expectLive(laptop!);

    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.id, sidOf(phone!)));
    expect(row?.revokedReason).toBe('logout');
    const audited = await auditOf(user.id, 'session_revoked');
    expect(audited.map((a) => [a.sessionId, a.details])).toEqual([[sidOf(phone!), { actor: 'user' }]]);
    const revokedEvents = await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'session.revoked')));
    expect(revokedEvents.map((e) => e.data)).toEqual([expect.objectContaining({ sid: sidOf(phone!), reason: 'logout' })]);
  });

  it('ends the caller\'s own current session too, as logout does; an id in capitals names the same session', async () => {
    const { sessions: [a] } = await userWithSessions(1);
    expect((await end(a!, sidOf(a!).toUpperCase())).statusCode).toBe(200);
    await expectEnded(a!);
  });

  it('answers 404 session_not_found to another user\'s session, which stays live and unaudited', async () => {
    const { sessions: [mine] } = await userWithSessions(1);
    const victim = await userWithSessions(1);
    const res = await end(mine!, sidOf(victim.sessions[0]!));
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('session_not_found');
    await expectLive(victim.sessions[0]!);
    expect((await refresh(t, victim.sessions[0]!.refresh_token)).statusCode).toBe(200);
    expect(await auditOf(victim.user.id, 'session_revoked')).toEqual([]);
  });

  it.each([
    ['an unknown id', '00000000-0000-4000-8000-000000000000'],
    ['a malformed id', 'not-a-session'],
    ['an id with SQL in it', "x' OR '1'='1"],
  ])('answers 404 session_not_found to %s, the same as to another user\'s', async (_, id) => {
    const { sessions: [mine] } = await userWithSessions(1);
    const res = await end(mine!, encodeURIComponent(id));
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'session_not_found', message: 'No live session has this id.' });
    await expectLive(mine!);
  });

  it('answers 404 to a session already ended', async () => {
    const { sessions: [a, b] } = await userWithSessions(2);
    expect((await end(b!, sidOf(a!))).statusCode).toBe(200);
    expect((await end(b!, sidOf(a!))).json().error).toBe('session_not_found');
  });

  it('ends a session once when two requests race for it: one 200, one 404, one audit row', async () => {
    const { user, sessions: [a, b, c] } = await userWithSessions(3);
    const answers = await Promise.all([end(b!, sidOf(a!)), end(c!, sidOf(a!))]);
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 404]);
    expect(await auditOf(user.id, 'session_revoked')).toHaveLength(1);
    await expectEnded(a!);
  });

  it('answers 401 without a token', async () => {
    const res = await t.inject({ method: 'DELETE', url: '/api/me/sessions/00000000-0000-4000-8000-000000000000' });
    expect(res.statusCode).toBe(401);
  });
});

describe('POST /api/logout?scope=', () => {
  it('local, the default, ends this session only', async () => {
    for (const query of ['', '?scope=local']) {
      const { sessions: [a, b] } = await userWithSessions(2);
      const res = await logout(a!, query);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ message: 'Logout successful. Tokens revoked.' });
      await expectEnded(a!);
      await expectLive(b!);
    }
  });

  it('others ends every other session of the user, on their events and audit rows; this one and other users\' stay', async () => {
    const { user, sessions: [a, b, c] } = await userWithSessions(3);
    const stranger = await userWithSessions(1);
    const res = await logout(b!, '?scope=others');
    expect(res.statusCode).toBe(200);
    expect(res.json().message).toContain('2 ended');
    await expectEnded(a!);
    await expectEnded(c!);
    await expectLive(b!);
    expect((await refresh(t, b!.refresh_token)).statusCode).toBe(200);
    await expectLive(stranger.sessions[0]!);

    const audited = await auditOf(user.id, 'session_revoked');
    expect(audited.map((r) => r.sessionId).sort()).toEqual([sidOf(a!), sidOf(c!)].sort());
    expect(audited.every((r) => JSON.stringify(r.details) === JSON.stringify({ actor: 'user', scope: 'others' }))).toBe(true);
    const revoked = await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'session.revoked')));
    expect(revoked.map((e) => (e.data as { sid: string }).sid).sort()).toEqual([sidOf(a!), sidOf(c!)].sort());
    // Nothing else left to end: the same answer, none ended.
    expect((await logout(b!, '?scope=others')).json().message).toContain('0 ended');
  });

  it('global ends every session of the user, this one included, and a new sign-in works', async () => {
    const { user, sessions: [a, b] } = await userWithSessions(2);
    const res = await logout(a!, '?scope=global');
    expect(res.statusCode).toBe(200);
    expect(res.json().message).toContain('2 ended');
    await expectEnded(a!);
    await expectEnded(b!);
    const [audited] = await auditOf(user.id, 'sessions_revoked');
    expect(audited?.details).toEqual({ actor: 'user', scope: 'global', sessionsEnded: 2 });
    const rows = await t.deps.db.select().from(sessions).where(inArray(sessions.id, [sidOf(a!), sidOf(b!)]));
    expect(rows.map((r) => r.revokedReason)).toEqual(['logout', 'logout']);
    await expectLive(await signIn(t, user.email));
  });

  it('is answered with the scope at the seed\'s alias /auth/logout', async () => {
    const { sessions: [a, b] } = await userWithSessions(2);
    expect((await logout(a!, '?scope=others', '/auth/logout')).statusCode).toBe(200);
    await expectEnded(b!);
    await expectLive(a!);
  });

  it.each(['everywhere', 'LOCAL', ''])('answers 400 invalid_request to the scope %j, and ends nothing', async (scope) => {
    const { sessions: [a] } = await userWithSessions(1);
    const res = await logout(a!, `?scope=${scope}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
    expect(res.json().details.map((d: { field: string }) => d.field)).toContain('scope');
    await expectLive(a!);
  });

  it('answers 401 session_revoked to a scope from a session ended meanwhile, ending nothing', async () => {
    const { sessions: [a, b] } = await userWithSessions(2);
    // Ended in the database only, as another instance would before its notice arrives.
    await t.deps.db.update(sessions).set({ revokedAt: t.clock.now(), revokedReason: 'logout' }).where(eq(sessions.id, sidOf(a!)));
    for (const scope of ['others', 'global']) {
      const res = await logout(a!, `?scope=${scope}`);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('session_revoked');
    }
    await expectLive(b!);
  });
});

describeUnless(NO_POSTGRES)('two instances on one PostgreSQL', () => {
  const { a: one, b: other } = useTwoInstances();

  async function refusedOn(app: TestApp, tokens: Tokens) {
    for (let i = 0; i < 200; i++) {
      if ((await dashboard(app, tokens.access_token)).statusCode === 401) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  it.each([
    ['DELETE /api/me/sessions/:id', (app: TestApp, caller: Tokens, target: Tokens) => app.inject({ method: 'DELETE', url: `/api/me/sessions/${sidOf(target)}`, headers: bearer(caller.access_token) })],
    ['logout?scope=others', (app: TestApp, caller: Tokens) => app.inject({ method: 'POST', url: '/api/logout?scope=others', headers: bearer(caller.access_token) })],
    ['logout?scope=global', (app: TestApp, caller: Tokens) => app.inject({ method: 'POST', url: '/api/logout?scope=global', headers: bearer(caller.access_token) })],
  ])('%s through one instance: the other refuses the ended session\'s access token', async (_, act) => {
    const user = await signUp(one);
    const target = await signIn(other, user.email);
    const caller = await signIn(one, user.email);
    expect((await dashboard(other, target.access_token)).statusCode).toBe(200);
    expect((await act(one, caller, target)).statusCode).toBe(200);
    expect(await refusedOn(other, target)).toBe(true);
    expect((await refresh(other, target.refresh_token)).statusCode).toBe(401);
  });

  it('keeps each instance\'s list of a user\'s sessions true: a session opened or ended on the other shows at once', async () => {
    const user = await signUp(one);
    const viewer = await signIn(other, user.email);
    const list = async () =>
      // Sorted: the clock stands still, so the two sessions opened at the same instant.
      ((await other.inject({ method: 'GET', url: '/api/me/sessions', headers: bearer(viewer.access_token) })).json().sessions as { id: string }[]).map((s) => s.id).sort();
    // Read once, so that the other instance holds the list in memory; the clock does not move from here on.
    expect(await list()).toEqual([sidOf(viewer)]);
    const opened = await signIn(one, user.email);
    await expect.poll(list, { timeout: 5000 }).toEqual([sidOf(opened), sidOf(viewer)].sort());
    const ended = await one.inject({ method: 'DELETE', url: `/api/me/sessions/${sidOf(opened)}`, headers: bearer(viewer.access_token) });
    expect(ended.statusCode).toBe(200);
    await expect.poll(list, { timeout: 5000 }).toEqual([sidOf(viewer)]);
  });
});
