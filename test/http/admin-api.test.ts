import { randomBytes, randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeServiceClient, rotateServiceClientSecret } from '../../src/auth/service-clients/service-clients.js';
import { insertUser } from '../../src/auth/users/users.js';
import { decodeJwt } from 'jose';
import { auditEvents, mailOutbox, users } from '../../src/db/schema.js';
import { dashboard, GOOD_PASSWORD, refresh, signIn, signUp, startTestApp, uniqueEmail, useTwoInstances, type TestApp } from '../helpers/app.js';
import { serviceClients, type Credentials } from '../helpers/service-clients.js';
import { alteredSecret } from '../helpers/sse.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const { client, auth, call, onePerScope } = serviceClients(() => t, 'admin-test');

type Method = 'GET' | 'POST' | 'DELETE';
/** Every admin route, for a user id (and, where a session is named, a session id no session has). */
const ROUTES = (id: string, sid = '00000000-0000-4000-8000-000000000000'): [Method, string][] => [
  ['GET', '/api/admin/users'],
  ['GET', `/api/admin/users/${id}`],
  ['DELETE', `/api/admin/users/${id}`],
  ['POST', `/api/admin/users/${id}/disable`],
  ['POST', `/api/admin/users/${id}/enable`],
  ['POST', `/api/admin/users/${id}/sessions/revoke`],
  ['POST', `/api/admin/users/${id}/sessions/${sid}/revoke`],
  ['POST', `/api/admin/users/${id}/verify-email`],
  ['POST', `/api/admin/users/${id}/send-verification`],
  ['POST', `/api/admin/users/${id}/send-reset`],
  ['POST', `/api/admin/users/${id}/mfa/reset`],
];


const signin = (email: string, password = GOOD_PASSWORD) => t.inject({ method: 'POST', url: '/api/signin', payload: { email, password } });

async function auditOf(type: string, userId: string) {
  const rows = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, type));
  return rows.filter((r) => r.userId === userId || (r.details as { userId?: string } | null)?.userId === userId);
}

let admin: Credentials;
let reader: Credentials;
let feedOnly: Credentials;
beforeAll(async () => {
  ({ admin, reader, feedOnly } = await onePerScope());
});

describe('searching users', () => {
  const tag = `pg${randomBytes(4).toString('hex')}`;
  const ids: string[] = [];

  beforeAll(async () => {
    // 120 users created at the same instant (ties broken by id), without hashing 120 passwords.
    const now = t.clock.now();
    for (let i = 0; i < 120; i++) {
      const user = await insertUser(t.deps.db, now, { name: `Page ${i}`, email: `${tag}.${i}@example.com`, passwordHash: 'not-a-hash' });
      ids.push(user.id);
    }
    // Some with creation times in microseconds, which a JavaScript Date cannot hold.
    const some = ids.filter((_, i) => i % 3 === 0);
    await t.deps.db
      .update(users)
      .set({ createdAt: sql`${users.createdAt} + interval '1 microsecond' * (ascii(right(${users.name}, 1)) % 7)` })
      .where(inArray(users.id, some));
  });

  async function allPages(query: string, headers = auth(reader)) {
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    for (let n = 0; n < 20; n++) {
      const url: string = `/api/admin/users?${query}${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await call('GET', url, headers);
      expect(res.statusCode).toBe(200);
      const body = res.json() as { users: { id: string; created_at: string }[]; next_cursor: string | null };
      sizes.push(body.users.length);
      seen.push(...body.users.map((u) => u.id));
      cursor = body.next_cursor;
      if (!cursor) return { seen, sizes };
    }
    throw new Error('more pages than there are users');
  }

  it('pages through every match once, in a stable order, 50 a page by default', async () => {
    const { seen, sizes } = await allPages(`email=${tag}`);
    expect(sizes).toEqual([50, 50, 20]);
    expect(new Set(seen).size).toBe(120);
    expect(new Set(seen)).toEqual(new Set(ids));
    // The same again: the same order.
    expect((await allPages(`email=${tag}`)).seen).toEqual(seen);
    // Other page sizes give the same sequence.
    expect((await allPages(`email=${tag}&limit=7`, auth(admin))).seen).toEqual(seen);
    const big = await allPages(`email=${tag}&limit=200`);
    expect(big.sizes).toEqual([120]);
    expect(big.seen).toEqual(seen);
  });

  it('searches by a case-insensitive substring of the email, and treats % and _ as plain characters', async () => {
    const res = await call('GET', `/api/admin/users?email=${tag.toUpperCase()}.11`, auth(reader));
    expect(res.json().users.map((u: { email: string }) => u.email).sort()).toEqual([`${tag}.11@example.com`, `${tag}.110@example.com`, `${tag}.111@example.com`, `${tag}.112@example.com`, `${tag}.113@example.com`, `${tag}.114@example.com`, `${tag}.115@example.com`, `${tag}.116@example.com`, `${tag}.117@example.com`, `${tag}.118@example.com`, `${tag}.119@example.com`].sort());
    expect((await call('GET', `/api/admin/users?email=${encodeURIComponent(`${tag}.%`)}`, auth(reader))).json().users).toEqual([]);
    expect((await call('GET', `/api/admin/users?email=${encodeURIComponent(`${tag}_1`)}`, auth(reader))).json().users).toEqual([]);
    const exact = (await call('GET', `/api/admin/users?email=${encodeURIComponent(` ${tag}.42@example.com `)}`, auth(reader))).json();
    expect(exact.users).toHaveLength(1);
    expect(exact.next_cursor).toBeNull();
  });

  it('shows public fields only, never a password hash', async () => {
    const res = await call('GET', `/api/admin/users?email=${tag}.5@&limit=1`, auth(reader));
    const [user] = res.json().users;
    expect(Object.keys(user).sort()).toEqual(
      ['created_at', 'disabled_at', 'email', 'email_verified', 'email_verified_at', 'id', 'legacy_id', 'name', 'password_changed_at', 'role'].sort(),
    );
    expect(res.body).not.toContain('not-a-hash');
    expect(res.body).not.toMatch(/password_hash|passwordHash/);
  });

  it('keeps paging right when the user a cursor names is deleted meanwhile', async () => {
    const first = (await call('GET', `/api/admin/users?email=${tag}&limit=30`, auth(admin))).json();
    const last = first.users.at(-1).id;
    expect((await call('DELETE', `/api/admin/users/${last}`, auth(admin))).statusCode).toBe(200);
    const second = (await call('GET', `/api/admin/users?email=${tag}&limit=30&cursor=${first.next_cursor}`, auth(admin))).json();
    const all = (await allPages(`email=${tag}`)).seen;
    expect([...first.users.map((u: { id: string }) => u.id).slice(0, -1), ...second.users.map((u: { id: string }) => u.id)]).toEqual(all.slice(0, 59));
  });

  it('refuses bad query parameters with 400 invalid_request', async () => {
    const bad = [
      'limit=0',
      'limit=201',
      'limit=-1',
      'limit=1.5',
      'limit=abc',
      'limit=',
      'limit=0050',
      'email=',
      'email=%20%20',
      `email=${'a'.repeat(255)}`,
      'email=a%00b',
      'cursor=',
      'cursor=***',
      `cursor=${'A'.repeat(201)}`,
      `cursor=${Buffer.from('nonsense').toString('base64url')}`,
      `cursor=${Buffer.from(`2024-13-45T99:00:00.000000Z|${randomUUID()}`).toString('base64url')}`,
      `cursor=${Buffer.from(`2024-01-01T00:00:00.000000Z|${randomUUID()}|x`).toString('base64url')}`,
      // Times JavaScript's Date would take (rolling them over) that name no instant PostgreSQL can store.
      ...['2024-02-30', '2023-02-29', '0000-01-01', '2024-04-31'].map((day) => `cursor=${Buffer.from(`${day}T00:00:00.000000Z|${randomUUID()}`).toString('base64url')}`),
    ];
    for (const query of bad) {
      const res = await call('GET', `/api/admin/users?${query}`, auth(reader));
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error, query).toBe('invalid_request');
      // Each refusal names its field: none is left for the database to refuse.
      expect(res.json().details?.[0]?.field, query).toMatch(/^(limit|email|cursor)$/);
    }
    // A cursor of a leap day is one.
    const leap = await call('GET', `/api/admin/users?cursor=${Buffer.from(`2024-02-29T23:59:59.999999Z|${randomUUID()}`).toString('base64url')}`, auth(reader));
    expect(leap.statusCode).toBe(200);
    // Without a good credential, input is not even looked at.
    expect((await call('GET', '/api/admin/users?limit=0')).statusCode).toBe(401);
  });
});

describe('managing one user', () => {
  it('gets a user by id, with their live sessions; 404 user_not_found for an unknown id', async () => {
    const user = await signUp(t);
    await signIn(t, user.email);
    const res = await call('GET', `/api/admin/users/${user.id}`, auth(reader));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: user.id, email: user.email, name: user.name, role: 'user', disabled_at: null, active_sessions: 1 });
    expect(res.body).not.toContain('argon2');
    const upper = await call('GET', `/api/admin/users/${user.id.toUpperCase()}`, auth(reader));
    expect(upper.json().id).toBe(user.id);
    const missing = await call('GET', `/api/admin/users/${randomUUID()}`, auth(reader));
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toBe('user_not_found');
  });

  it('disables: access tokens refused at once, sign-in answers account_disabled; enables: sign-in works again', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(200);

    const res = await call('POST', `/api/admin/users/${user.id}/disable`, auth(admin));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ changed: true, sessions_ended: 1, user: { id: user.id } });
    expect(res.json().user.disabled_at).not.toBeNull();
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
    expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401);
    const refused = await signin(user.email);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toBe('account_disabled');
    // Again: nothing to do.
    expect((await call('POST', `/api/admin/users/${user.id}/disable`, auth(admin))).json()).toMatchObject({ changed: false, sessions_ended: 0 });
    const [event] = await auditOf('user_disabled', user.id);
    expect(event?.details).toMatchObject({ actor: `service:${admin.name}`, sessionsEnded: 1 });

    const enabled = await call('POST', `/api/admin/users/${user.id}/enable`, auth(admin));
    expect(enabled.json()).toMatchObject({ changed: true, user: { id: user.id, disabled_at: null } });
    expect((await signin(user.email)).statusCode).toBe(200);
    // The sessions disabling ended stay ended.
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
    expect((await call('POST', `/api/admin/users/${user.id}/enable`, auth(admin))).json().changed).toBe(false);
    expect((await auditOf('user_enabled', user.id))[0]?.details).toMatchObject({ actor: `service:${admin.name}` });
  });

  it('revokes every session: refresh and access tokens refused, sign-in still works', async () => {
    const user = await signUp(t);
    const a = await signIn(t, user.email);
    const b = await signIn(t, user.email);
    // A body (what some clients always send) or another Content-Type is ignored.
    const res = await t.inject({
      method: 'POST',
      url: `/api/admin/users/${user.id}/sessions/revoke`,
      headers: { ...auth(admin), 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ sessions_ended: 2, user: { id: user.id } });
    for (const tokens of [a, b]) {
      expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401);
      expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
    }
    expect((await call('GET', `/api/admin/users/${user.id}`, auth(reader))).json().active_sessions).toBe(0);
    expect((await signin(user.email)).statusCode).toBe(200);
    expect((await auditOf('sessions_revoked', user.id))[0]?.details).toMatchObject({ actor: `service:${admin.name}`, sessionsEnded: 2 });
  });

  it('deletes: tokens refused, sign-in fails, 404 after', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    const res = await call('DELETE', `/api/admin/users/${user.id}`, auth(admin));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ sessions_ended: 1, user: { id: user.id, email: user.email } });
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
    expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401);
    const refused = await signin(user.email);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error).toBe('invalid_credentials');
    for (const [method, url] of ROUTES(user.id).slice(1)) {
      const gone = await call(method, url, auth(admin));
      expect(gone.statusCode, `${method} ${url}`).toBe(404);
      expect(gone.json().error).toBe('user_not_found');
    }
    expect((await auditOf('user_deleted', user.id))[0]?.details).toMatchObject({ actor: `service:${admin.name}`, userId: user.id });
  });

  it('marks an address verified, or queues a verification email, and says when there was nothing to do', async () => {
    const user = await signUp(t);
    const sent = await call('POST', `/api/admin/users/${user.id}/send-verification`, auth(admin));
    expect(sent.json()).toMatchObject({ sent: true, user: { id: user.id, email_verified: false } });
    expect((await auditOf('verification_email_requested', user.id))[0]?.details).toEqual({ actor: `service:${admin.name}`, sent: true });
    const verified = await call('POST', `/api/admin/users/${user.id}/verify-email`, auth(admin));
    expect(verified.json()).toMatchObject({ changed: true, user: { email_verified: true, email_verified_at: expect.any(String) } });
    expect((await call('POST', `/api/admin/users/${user.id}/verify-email`, auth(admin))).json().changed).toBe(false);
    expect((await call('POST', `/api/admin/users/${user.id}/send-verification`, auth(admin))).json().sent).toBe(false);
    expect((await call('GET', `/api/admin/users/${user.id}`, auth(admin))).json().email_verified).toBe(true);
    expect((await auditOf('email_verified', user.id))[0]?.details).toMatchObject({ actor: `service:${admin.name}` });
  });

  it('refuses a malformed id with 400 invalid_request, on every route', async () => {
    const bad = ['not-a-uuid', '123', `${randomUUID()}0`, `${randomUUID().slice(0, -1)}g`, `urn:uuid:${randomUUID()}`, 'x'.repeat(1000), '%00', '%20'];
    for (const id of bad) {
      for (const [method, url] of ROUTES(id).slice(1)) {
        const res = await call(method, url, auth(admin));
        expect(res.statusCode, `${method} ${url}`).toBe(400);
        expect(res.json().error).toBe('invalid_request');
      }
    }
  });
});

describe('creating users, reset links and one session', () => {
  const intentsOf = async (userId: string) =>
    (await t.deps.db.select().from(mailOutbox)).map((r) => r.message as Record<string, unknown> | null).filter((m) => m?.userId === userId);

  it('searches by a case-insensitive substring of the email or the name', async () => {
    const tag = `q${randomBytes(4).toString('hex')}`;
    const byName = await signUp(t, { name: `Grace ${tag.toUpperCase()} Hopper` });
    const byEmail = await signUp(t, { email: `${tag}@example.com` });
    const found = (await call('GET', `/api/admin/users?q=${tag}`, auth(reader))).json().users.map((u: { id: string }) => u.id);
    expect(found.sort()).toEqual([byName.id, byEmail.id].sort());
    expect((await call('GET', `/api/admin/users?q=${encodeURIComponent(` ${tag.toUpperCase()} HOP `)}`, auth(reader))).json().users.map((u: { id: string }) => u.id)).toEqual([byName.id]);
    // With email too, both must hold.
    expect((await call('GET', `/api/admin/users?q=${tag}&email=${tag}@`, auth(reader))).json().users.map((u: { id: string }) => u.id)).toEqual([byEmail.id]);
    for (const q of ['', '%20', 'a%00b', 'a'.repeat(255)]) expect((await call('GET', `/api/admin/users?q=${q}`, auth(reader))).statusCode, q).toBe(400);
  });

  it('creates a user with a password, as the command line does: audited, signs in', async () => {
    const email = uniqueEmail('created');
    const res = await call('POST', '/api/admin/users', auth(admin), { email, name: 'Made By API', password: GOOD_PASSWORD, admin: true, verified: true });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ invited: false, user: { email, name: 'Made By API', role: 'admin', email_verified: true } });
    expect(res.body).not.toMatch(/argon2|password_hash/);
    // The password is right; an admin must then set up a second factor (REQUIRE_MFA_FOR_ROLES).
    expect((await signin(email)).json().error).toBe('mfa_enrollment_required');
    expect((await auditOf('user_created', res.json().user.id))[0]?.details).toEqual({ actor: `service:${admin.name}`, role: 'admin', verified: true });
    const again = await call('POST', '/api/admin/users', auth(admin), { email: email.toUpperCase(), name: 'Again', password: GOOD_PASSWORD });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toBe('email_taken');
    const weak = await call('POST', '/api/admin/users', auth(admin), { email: uniqueEmail('weak'), name: 'Weak', password: 'password' });
    expect(weak.statusCode).toBe(422);
  });

  it('creates a user with an invitation: no password works until the link is followed; the intent holds no token', async () => {
    const email = uniqueEmail('invited');
    const res = await call('POST', '/api/admin/users', auth(admin), { email, name: 'Invited', invite: true });
    expect(res.statusCode, res.body).toBe(201);
    const { user, invited } = res.json();
    expect(invited).toBe(true);
    expect(user).toMatchObject({ email, role: 'user', email_verified: false });
    expect((await signin(email)).statusCode).toBe(401);
    // An intent (or, once sent, its receipt): never a link or a token.
    const intents = await intentsOf(user.id);
    expect(intents).toEqual([expect.objectContaining({ kind: 'password_reset', userId: user.id })]);
    expect(JSON.stringify(intents)).not.toMatch(/token|reset-password/);
    expect((await auditOf('user_created', user.id))[0]?.details).toEqual({ actor: `service:${admin.name}`, role: 'user', verified: false, invited: true });
  });

  it('refuses a creation with both a password and an invitation, neither, or an invitation said verified; a reader may not create', async () => {
    const bodies = [
      { email: uniqueEmail('both'), name: 'Both', password: GOOD_PASSWORD, invite: true },
      { email: uniqueEmail('neither'), name: 'Neither' },
      { email: uniqueEmail('neither'), name: 'Neither', invite: false },
      { email: uniqueEmail('verified'), name: 'Verified', invite: true, verified: true },
      { email: 'not an address', name: 'Bad', invite: true },
      { email: uniqueEmail('noname'), name: '', invite: true },
    ];
    for (const body of bodies) {
      const res = await call('POST', '/api/admin/users', auth(admin), body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
      expect(res.json().details?.[0]?.field).toMatch(/password|verified|email|name/);
    }
    expect((await call('POST', '/api/admin/users', auth(reader), { email: uniqueEmail('r'), name: 'R', invite: true })).statusCode).toBe(403);
    expect((await call('POST', '/api/admin/users', {}, { email: uniqueEmail('r'), name: 'R', invite: true })).statusCode).toBe(401);
  });

  it('queues a reset email for a user, whatever the mail limits; none for a disabled one', async () => {
    const user = await signUp(t);
    const sent = await call('POST', `/api/admin/users/${user.id}/send-reset`, auth(admin));
    expect(sent.json()).toMatchObject({ sent: true, user: { id: user.id } });
    expect(await intentsOf(user.id)).toContainEqual({ kind: 'password_reset', userId: user.id });
    expect((await auditOf('password_reset_requested', user.id))[0]?.details).toEqual({ actor: `service:${admin.name}`, sent: true });
    await call('POST', `/api/admin/users/${user.id}/disable`, auth(admin));
    expect((await call('POST', `/api/admin/users/${user.id}/send-reset`, auth(admin))).json().sent).toBe(false);
  });

  it('revokes one session of a user, and never another user\'s', async () => {
    const user = await signUp(t);
    const other = await signUp(t);
    const [one, two, theirs] = [await signIn(t, user.email), await signIn(t, user.email), await signIn(t, other.email)];
    const sid = (tokens: { access_token: string }) => decodeJwt(tokens.access_token).sid as string;
    const res = await call('POST', `/api/admin/users/${user.id}/sessions/${sid(one).toUpperCase()}/revoke`, auth(admin));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ session_id: sid(one), user: { id: user.id } });
    expect((await refresh(t, one.refresh_token)).statusCode).toBe(401);
    expect((await dashboard(t, one.access_token)).statusCode).toBe(401);
    expect((await dashboard(t, two.access_token)).statusCode).toBe(200);
    expect((await auditOf('session_revoked', user.id))[0]).toMatchObject({ sessionId: sid(one), details: { actor: `service:${admin.name}` } });
    // Again: it is no longer live. Another user's session by this user's path: not found, and left alone.
    for (const [owner, session] of [[user.id, sid(one)], [user.id, sid(theirs)], [user.id, randomUUID()]] as const) {
      const refused = await call('POST', `/api/admin/users/${owner}/sessions/${session}/revoke`, auth(admin));
      expect(refused.statusCode).toBe(404);
      expect(refused.json().error).toBe('session_not_found');
    }
    expect((await refresh(t, theirs.refresh_token)).statusCode).toBe(200);
    expect((await call('POST', `/api/admin/users/${user.id}/sessions/not-a-session/revoke`, auth(admin))).statusCode).toBe(400);
  });
});

describe('who may call the admin API', () => {
  let victim: { id: string; email: string };
  beforeAll(async () => {
    victim = await signUp(t);
  });

  it('answers 401 invalid_client with WWW-Authenticate to every bad credential, on every route', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const headers: (string | undefined)[] = [
      undefined,
      '',
      'Basic',
      'Basic !!!',
      `Basic ${b64(admin.client_id)}`,
      `Basic ${b64(`${admin.client_id}:`)}`,
      `Basic ${b64(`${admin.client_id}:${reader.client_secret}`)}`,
      `Basic ${b64(`${admin.client_id}:${alteredSecret(admin.client_secret)}`)}`,
      `Basic ${b64(`lkc_${'A'.repeat(22)}:${admin.client_secret}`)}`,
      `Basic ${b64(`${admin.client_id}:${'x'.repeat(8000)}`)}`,
      `Bearer ${admin.client_secret}`,
    ];
    for (const authorization of headers) {
      for (const [method, url] of ROUTES(victim.id)) {
        const res = await call(method, url, authorization === undefined ? {} : { authorization });
        expect(res.statusCode, `${method} ${url} ${String(authorization).slice(0, 40)}`).toBe(401);
        expect(res.json().error).toBe('invalid_client');
        expect(res.headers['www-authenticate']).toBe('Basic realm="latchkey"');
      }
    }
    // A user's own access token is no admin credential.
    const tokens = await signIn(t, victim.email);
    expect((await call('GET', `/api/admin/users/${victim.id}`, { authorization: `Bearer ${tokens.access_token}` })).statusCode).toBe(401);
  });

  it('answers 403 insufficient_scope: a revocations:read client everywhere, a users:read client on every change', async () => {
    for (const [method, url] of ROUTES(victim.id)) {
      const res = await call(method, url, auth(feedOnly));
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json().error).toBe('insufficient_scope');
    }
    for (const [method, url] of ROUTES(victim.id).slice(2)) {
      const res = await call(method, url, auth(reader));
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json().error).toBe('insufficient_scope');
      expect(res.json().message).toContain('"admin"');
    }
    // Nothing was changed by the refused calls.
    const res = await call('GET', `/api/admin/users/${victim.id}`, auth(reader));
    expect(res.json()).toMatchObject({ id: victim.id, disabled_at: null });
    // Scopes are checked before the id: a reader learns nothing from a bad id on a write route.
    expect((await call('DELETE', '/api/admin/users/nope', auth(reader))).statusCode).toBe(403);
  });

  it('refuses a client once removed, and an old secret once rotated', async () => {
    const removed = await client(['admin']);
    expect((await call('GET', `/api/admin/users/${victim.id}`, auth(removed))).statusCode).toBe(200);
    await removeServiceClient(t.deps, removed.client_id, 'test');
    const res = await call('POST', `/api/admin/users/${victim.id}/disable`, auth(removed));
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_client');

    const rotating = await client(['users:read']);
    const rotated = await rotateServiceClientSecret(t.deps, rotating.client_id, 'test');
    expect((await call('GET', '/api/admin/users?limit=1', auth(rotating))).statusCode).toBe(401);
    expect((await call('GET', '/api/admin/users?limit=1', auth({ ...rotated }))).statusCode).toBe(200);
  });
});

describe('the OpenAPI document', () => {
  it('documents every admin route under the admin tag, with HTTP Basic and its errors', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.tags.map((tag: { name: string }) => tag.name)).toContain('admin');
    expect(doc.components.securitySchemes.serviceClient).toMatchObject({ type: 'http', scheme: 'basic' });
    for (const [method, url] of ROUTES('{id}', '{sid}')) {
      const op = doc.paths[url]?.[method.toLowerCase()];
      expect(op, `${method} ${url}`).toBeDefined();
      expect(op.tags).toEqual(['admin']);
      expect(op.security).toEqual([{ serviceClient: [] }]);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403']));
      if (url.includes('{id}')) {
        expect(op.parameters.find((p: { name: string }) => p.name === 'id').schema).toMatchObject({ format: 'uuid' });
        expect(Object.keys(op.responses)).toContain('404');
      }
    }
    const search = doc.paths['/api/admin/users'].get;
    expect(search.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['cursor', 'email', 'limit', 'q']);
    expect(JSON.stringify(doc.paths['/api/admin/users'])).not.toMatch(/password_hash/);
  });
});

describeUnless(NO_POSTGRES)('two instances on one PostgreSQL', () => {
  const { a, b } = useTwoInstances();
  let ops: Credentials;
  beforeAll(async () => {
    ops = await serviceClients(() => a, 'admin-test-instances').client(['admin']);
  });

  /** Polls until `check` holds; generous, the machine may be loaded. */
  async function eventually(check: () => Promise<boolean>, ms = 10_000) {
    const start = Date.now();
    while (Date.now() - start <= ms) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`condition not met within ${ms} ms`);
  }

  it.each(['disable', 'sessions/revoke', 'delete'])('%s through one instance: the other refuses the user\'s access tokens', async (action) => {
    const user = await signUp(b);
    const tokens = await signIn(b, user.email);
    expect((await dashboard(b, tokens.access_token)).statusCode).toBe(200);
    const res =
      action === 'delete'
        ? await a.inject({ method: 'DELETE', url: `/api/admin/users/${user.id}`, headers: auth(ops) })
        : await a.inject({ method: 'POST', url: `/api/admin/users/${user.id}/${action}`, headers: auth(ops) });
    expect(res.statusCode).toBe(200);
    expect(res.json().sessions_ended).toBe(1);
    await eventually(async () => (await dashboard(b, tokens.access_token)).statusCode === 401);
    expect((await refresh(b, tokens.refresh_token)).statusCode).toBe(401);
  });
});
