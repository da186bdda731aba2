import { eq, inArray } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { recordAuditEvent } from '../../src/core/audit.js';
import { auditEvents, refreshTokens, sessions, users } from '../../src/db/schema.js';
import { bearer, signIn, signUp, useMailingApp, type SignedUp, type Tokens } from '../helpers/app.js';

// What a user can read of their own account: its security events, a page at a time, and everything Latchkey
// holds about them as one JSON document.

const { t, smtp } = useMailingApp({ TRUST_PROXY: '127.0.0.1' });

const sidOf = (tokens: Tokens) => decodeJwt(tokens.access_token).sid as string;
const activity = (tokens: Tokens, query = '') => t.inject({ method: 'GET', url: `/api/me/activity${query}`, headers: bearer(tokens.access_token) });
const exported = (tokens: Tokens) => t.inject({ method: 'GET', url: '/api/me/export', headers: bearer(tokens.access_token) });
const wrongSignin = (user: SignedUp) =>
  t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: 'not the password at all' }, headers: { 'x-forwarded-for': '10.9.9.9', 'user-agent': 'guesser' } });

/** A user who signed in, failed once, signed in again from a second device, and ended the first session from it. */
async function busyUser(): Promise<{ user: SignedUp; first: Tokens; second: Tokens }> {
  const user = await signUp(t);
  const first = await signIn(t, user.email);
  expect((await wrongSignin(user)).statusCode).toBe(401);
  // A second later: the newest session is the second one.
  t.clock.advance(1);
  const second = await signIn(t, user.email);
  expect((await t.inject({ method: 'DELETE', url: `/api/me/sessions/${sidOf(first)}`, headers: bearer(second.access_token) })).statusCode).toBe(200);
  return { user, first, second };
}

describe('GET /api/me/activity', () => {
  it('lists the caller\'s security events, newest first, failures marked, without details', async () => {
    const { user, second } = await busyUser();
    const other = await signUp(t);
    await wrongSignin(other);
    const res = await activity(second);
    expect(res.statusCode).toBe(200);
    const { events, next_cursor } = res.json();
    expect(next_cursor).toBeNull();
    expect(events.map((e: { type: string; outcome: string }) => [e.type, e.outcome])).toEqual([
      ['session_revoked', 'success'],
      ['signin_succeeded', 'success'],
      ['signin_failed', 'failure'],
      ['signin_succeeded', 'success'],
      ['signup', 'success'],
    ]);
    expect(Object.keys(events[2]).sort()).toEqual(['created_at', 'ip_address', 'outcome', 'type', 'user_agent']);
    expect(events[2]).toMatchObject({ ip_address: '10.9.9.9', user_agent: 'guesser' });
    expect(res.body).not.toContain('actor');
    expect(res.body).not.toContain(user.email);
  });

  it('leaves out what is not the user\'s to see: the operator\'s own events', async () => {
    const { user, second } = await busyUser();
    await recordAuditEvent(t.deps.db, t.deps.clock, { type: 'webhook_added', userId: user.id, details: { url: 'https://hooks.example.com/x' } });
    const types = (await activity(second)).json().events.map((e: { type: string }) => e.type);
    expect(types).not.toContain('webhook_added');
    expect(types).toHaveLength(5);
  });

  it('pages by an opaque cursor, no event twice, until next_cursor is null', async () => {
    const { second } = await busyUser();
    const all = (await activity(second)).json().events;
    const seen: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await activity(second, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = res.json();
      expect(page.events.length).toBeLessThanOrEqual(2);
      seen.push(...page.events);
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(all);
  });

  it.each([
    ['a cursor that is not one it gave', '?cursor=Z2FyYmFnZQ', 'cursor'],
    ['a cursor of zero', `?cursor=${Buffer.from('0').toString('base64url')}`, 'cursor'],
    ['a cursor past any id', `?cursor=${Buffer.from('9'.repeat(30)).toString('base64url')}`, 'cursor'],
    ['a cursor with other characters', '?cursor=a%2Bb', 'cursor'],
    ['a limit of 0', '?limit=0', 'limit'],
    ['a limit over 100', '?limit=101', 'limit'],
    ['a limit that is no number', '?limit=ten', 'limit'],
  ])('answers 400 invalid_request to %s', async (_, query, field) => {
    const user = await signUp(t);
    const res = await activity(await signIn(t, user.email), query);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
    expect(res.json().details.map((d: { field: string }) => d.field)).toEqual([field]);
  });

  it('answers 401 without a token', async () => {
    expect((await t.inject({ method: 'GET', url: '/api/me/activity' })).json().error).toBe('missing_token');
  });
});

describe('GET /api/me/export', () => {
  it('is a JSON attachment of the account, its sessions live and ended, its events and emails', async () => {
    const { user, first, second } = await busyUser();
    const res = await exported(second);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-disposition']).toBe('attachment; filename="latchkey-export.json"');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const doc = res.json();
    expect(Object.keys(doc).sort()).toEqual(['emails', 'events', 'exported_at', 'sessions', 'user']);
    expect(doc.user).toEqual({
      id: user.id,
      name: user.name,
      email: user.email,
      role: 'user',
      created_at: expect.any(String),
      email_verified: false,
      email_verified_at: null,
      password_changed_at: expect.any(String),
      disabled_at: null,
      legacy_id: null,
    });
    expect(doc.sessions.map((s: { id: string; revoked_reason: string | null }) => [s.id, s.revoked_reason])).toEqual([
      [sidOf(second), null],
      [sidOf(first), 'logout'],
    ]);
    expect(doc.sessions[1].revoked_at).toEqual(expect.any(String));
    const revoked = doc.events.find((e: { type: string }) => e.type === 'session_revoked');
    expect(revoked).toMatchObject({ session_id: sidOf(first), details: { actor: 'user' }, outcome: 'success' });
    expect(doc.events).toHaveLength(5);
  });

  it('holds no password hash, no token or its hash, nor anything of another user', async () => {
    const { user, first, second } = await busyUser();
    const stranger = await signUp(t);
    const strangerTokens = await signIn(t, stranger.email);
    const body = (await exported(second)).body;
    const [row] = await t.deps.db.select().from(users).where(eq(users.id, user.id));
    const hashes = await t.deps.db.select({ h: refreshTokens.tokenHash }).from(refreshTokens).where(inArray(refreshTokens.sessionId, [sidOf(first), sidOf(second)]));
    expect(hashes.length).toBeGreaterThan(1);
    for (const secret of [row!.passwordHash, ...hashes.map((r) => r.h), first.refresh_token, second.refresh_token, first.access_token, user.password]) {
      expect(body).not.toContain(secret);
    }
    expect(body).not.toMatch(/password_hash|passwordHash|token_hash/);
    for (const theirs of [stranger.email, stranger.id, sidOf(strangerTokens)]) expect(body).not.toContain(theirs);
  });

  it('lists the emails sent to the user, without their body, link or code', async () => {
    const user = await signUp(t);
    await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: user.password }, headers: { 'x-forwarded-for': '10.1.1.1' } });
    // From a new network: a new sign-in notice, rendered when queued.
    const tokens: Tokens = (
      await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: user.password }, headers: { 'x-forwarded-for': '10.2.2.2' } })
    ).json();
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'New sign-in to your account');
    // A reset email, rendered when sent: its link is made then.
    expect((await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } })).statusCode).toBe(200);
    const reset = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    const token = /reset-password\/([A-Za-z0-9_-]{43})/.exec(reset.text)![1]!;
    // Received before the outbox marks its row sent.
    const unsent = async () => (await exported(tokens)).json().emails.filter((e: { sent_at: string | null }) => e.sent_at === null);
    await expect.poll(unsent).toEqual([]);

    const res = await exported(tokens);
    const emails = res.json().emails;
    // Sign-up's verification, the reset and the new sign-in notice, in whatever order the outbox sent them.
    expect(emails.map((e: { kind: string; subject: string | null }) => [e.kind, e.subject]).sort()).toEqual([
      ['email_verification', null],
      ['notice', 'New sign-in to your account'],
      ['password_reset', null],
    ]);
    expect(emails.every((e: { sent_at: string | null }) => e.sent_at !== null)).toBe(true);
    expect(res.body).not.toContain(token);
    expect(res.body).not.toContain('reset-password');
  });

  it('keeps no secret an event\'s details might name by mistake', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    await recordAuditEvent(t.deps.db, t.deps.clock, { type: 'password_changed', userId: user.id, details: { resetToken: 'a-token-that-must-not-leave', signinCode: true, actor: 'user' } });
    const res = await exported(tokens);
    expect(res.body).not.toContain('a-token-that-must-not-leave');
    expect(res.json().events[0].details).toEqual({ signinCode: true, actor: 'user' });
  });

  it('answers 401 without a token', async () => {
    expect((await t.inject({ method: 'GET', url: '/api/me/export' })).statusCode).toBe(401);
  });

  it('of a new account: its one session as stored, and every event the audit log holds of it', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    const doc = (await exported(tokens)).json();
    expect(doc.sessions.map((s: { id: string }) => s.id)).toEqual([sidOf(tokens)]);
    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.id, sidOf(tokens)));
    expect(doc.sessions[0].expires_at).toBe(row!.expiresAt.toISOString());
    expect(await t.deps.db.select().from(auditEvents).where(eq(auditEvents.userId, user.id))).toHaveLength(doc.events.length);
  });
});
