import { connect } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateOpaqueToken, hashToken } from '../../src/core/secrets.js';
import { createServiceClient, removeServiceClient, rotateServiceClientSecret, type ServiceScope } from '../../src/auth/service-clients/service-clients.js';
import { oneTimeTokens, serviceClients, users } from '../../src/db/schema.js';
import { bearer, dashboard, refresh, signIn, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { alteredSecret, basic, openSse, type SseStream } from '../helpers/sse.js';

const FEED = '/api/revocations/stream';
let t: TestApp;
let base: string;
const open: SseStream[] = [];

beforeAll(async () => {
  t = await startTestApp({ env: { REVOCATION_FEED_HEARTBEAT: '1s' } });
  base = await t.listen();
});
afterAll(async () => {
  for (const s of open) s.close();
  // No client secret in any line the server logged (the Basic headers included).
  expect(t.logs.join('')).not.toMatch(/lks_/);
  await t?.close();
});

let counter = 0;
async function client(scopes: ServiceScope[] = ['revocations:read']) {
  counter += 1;
  return createServiceClient(t.deps, { name: `feed-${counter}`, scopes }, 'test');
}

async function feed(credentials: { client_id: string; client_secret: string }, headers: Record<string, string> = {}) {
  const s = await openSse(`${base}${FEED}`, { authorization: basic(credentials.client_id, credentials.client_secret), ...headers });
  open.push(s);
  return s;
}

async function logout(access: string) {
  const res = await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(access) });
  expect(res.statusCode).toBe(200);
}

/** A signed-in user, and their session id (the access token's `sid`). */
async function session() {
  const user = await signUp(t);
  const tokens = await signIn(t, user.email);
  const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as { sid: string };
  return { user, tokens, sid: claims.sid };
}

describe('service client authentication', () => {
  it('answers 401 invalid_client with WWW-Authenticate to every bad credential, 403 insufficient_scope to a client without the scope, never 5xx', async () => {
    const good = await client();
    const other = await client(['users:read']);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const cases: [string | undefined, number, string][] = [
      [undefined, 401, 'invalid_client'],
      ['', 401, 'invalid_client'],
      ['Basic', 401, 'invalid_client'],
      ['Basic !!!not base64!!!', 401, 'invalid_client'],
      [`Basic ${b64('no colon here')}`, 401, 'invalid_client'],
      [`Basic ${b64(`${good.client_id}`)}`, 401, 'invalid_client'],
      [`Basic ${b64(`${good.client_id}:`)}`, 401, 'invalid_client'],
      [`Basic ${b64(`${good.client_id}:${'x'.repeat(8000)}`)}`, 401, 'invalid_client'],
      [`Basic ${b64(`lkc_${'A'.repeat(22)}:${good.client_secret}`)}`, 401, 'invalid_client'],
      [`Basic ${b64(`${good.client_id}:${alteredSecret(good.client_secret)}`)}`, 401, 'invalid_client'],
      [`Basic ${b64(`${good.client_id}:${other.client_secret}`)}`, 401, 'invalid_client'],
      [`Basic ${b64(`${good.client_id}\u0000:${good.client_secret}`)}`, 401, 'invalid_client'],
      [`Bearer ${good.client_secret}`, 401, 'invalid_client'],
      [basic(other.client_id, other.client_secret), 403, 'insufficient_scope'],
    ];
    for (const [authorization, status, code] of cases) {
      const res = await t.inject({ method: 'GET', url: FEED, headers: authorization === undefined ? {} : { authorization } });
      expect(res.statusCode, String(authorization).slice(0, 60)).toBe(status);
      expect(res.json().error).toBe(code);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      if (status === 401) expect(res.headers['www-authenticate']).toBe('Basic realm="latchkey"');
    }
  });

  it('stores no secret in clear', async () => {
    const made = await client();
    const rows = await t.deps.db.select().from(serviceClients);
    expect(JSON.stringify(rows)).not.toContain(made.client_secret);
    expect(JSON.stringify(rows)).not.toContain(made.client_secret.slice(4));
    expect(rows.find((r) => r.clientId === made.client_id)?.secretHash).toBe(hashToken(made.client_secret));
  });
});

describe('a burst of credential changes, and Last-Event-IDs an attacker chose', () => {
  const lastIdOf = (s: SseStream) => [...s.events].reverse().find((e) => e.id !== undefined)?.id;

  it('150 sign-outs everywhere of one user at once: new tokens work at once, the not-before and every id stay at the clock, a resume gets what came since', async () => {
    const admin = await client(['admin']);
    const creds = await client();
    const s = await feed(creds);
    await s.next((e) => e.event === 'ready');
    const { user, tokens: before } = await session();
    // As fast as an admin client can send them (one at a time on the embedded engine's one connection).
    const burst = await Promise.all(
      Array.from({ length: 150 }, () =>
        t.inject({ method: 'POST', url: `/api/admin/users/${user.id}/sessions/revoke`, headers: { authorization: basic(admin.client_id, admin.client_secret) } }),
      ),
    );
    expect(burst.filter((r) => r.statusCode !== 200).map((r) => r.body)).toEqual([]);
    const now = t.clock.now().getTime();

    // The user signs in at once, and the new tokens work (they were refused while the not-before ran ahead).
    expect((await dashboard(t, before.access_token)).statusCode).toBe(401);
    const fresh = await signIn(t, user.email);
    expect.soft((await dashboard(t, fresh.access_token)).json()).toMatchObject({ user: { id: user.id } });
    expect.soft((await refresh(t, fresh.refresh_token)).statusCode).toBe(200);
    const [row] = await t.deps.db.select({ notBefore: users.notBefore }).from(users).where(eq(users.id, user.id));
    expect.soft(row!.notBefore!.getTime()).toBeLessThanOrEqual(now);
    // Opened after the change, in its second: its auth_time is the next whole second, not before the not-before
    // (so every verifier takes it), and no more than a second ahead.
    const claims = JSON.parse(Buffer.from(fresh.access_token.split('.')[1]!, 'base64url').toString()) as { auth_time: number; iat: number };
    expect.soft(claims.auth_time * 1000).toBeGreaterThanOrEqual(row!.notBefore!.getTime());
    expect.soft(claims.auth_time).toBeLessThanOrEqual(claims.iat + 1);

    // The feed says so, and no id it sent lies ahead of the clock.
    const told = await s.next((e) => e.event === 'user.not_before' && e.json.sub === user.id);
    expect.soft(Number(told.json.not_before)).toBeLessThanOrEqual(now);
    const lastId = lastIdOf(s)!;
    expect.soft(Number(lastId)).toBeLessThanOrEqual(now);
    s.close();

    // A logout while the consumer is away reaches it when it resumes with its Last-Event-ID.
    const away = await session();
    await logout(away.tokens.access_token);
    const resumed = await feed(creds, { 'last-event-id': lastId });
    await resumed.next((e) => e.event === 'ready');
    expect(resumed.events.some((e) => e.event === 'session.revoked' && e.json.sid === away.sid)).toBe(true);
  });

  it('a Last-Event-ID from the future, or not one the feed sends, replays all it holds: nothing is skipped, nothing fails', async () => {
    const creds = await client();
    const gone = await session();
    await logout(gone.tokens.access_token);
    const now = t.clock.now().getTime();
    const ids = [String(now + 150_000), String(now + 3_600_000), '999999999999999', '9'.repeat(40), '1e300', '-1', 'yesterday', '0x7fffffff', ''];
    for (const id of ids) {
      const s = await feed(creds, { 'last-event-id': id });
      expect(s.status, id).toBe(200);
      await s.next((e) => e.event === 'ready');
      expect(s.events.some((e) => e.event === 'session.revoked' && e.json.sid === gone.sid), `Last-Event-ID ${id}`).toBe(true);
      s.close();
    }
    // An id of the past replays from a minute before it: the logout above is in it.
    const s = await feed(creds, { 'last-event-id': String(now - 1) });
    await s.next((e) => e.event === 'ready');
    expect(s.events.some((e) => e.json.sid === gone.sid)).toBe(true);
  });
});

describe('the revocation feed', () => {
  it('opens with retry, replays a revocation made before it connected, says ready, then streams a logout within a second', async () => {
    const before = await session();
    await logout(before.tokens.access_token);
    const s = await feed(await client());
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(s.headers.get('cache-control')).toBe('no-store');
    expect(s.headers.get('x-accel-buffering')).toBe('no');
    const replayed = await s.next((e) => e.event === 'session.revoked' && e.json.sid === before.sid);
    // Its id is when the server learned of it (here, at once).
    expect(replayed.id).toBe(String(replayed.json.revoked_at));
    await s.next((e) => e.event === 'ready');
    expect(s.text().startsWith('retry: 1000\n')).toBe(true);
    // The replay comes before ready.
    const readyAt = s.events.findIndex((e) => e.event === 'ready');
    expect(s.events.indexOf(replayed)).toBeLessThan(readyAt);

    const live = await session();
    const started = Date.now();
    await logout(live.tokens.access_token);
    const event = await s.next((e) => e.event === 'session.revoked' && e.json.sid === live.sid, 1_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(s.events.indexOf(event)).toBeGreaterThan(readyAt);
    expect(event.json).toEqual({ sid: live.sid, revoked_at: t.clock.now().getTime() });
    expect(event.id).toBe(String(t.clock.now().getTime()));
    expect(event.json.revoked_at).toBe(t.clock.now().getTime());
  });

  it('streams user.not_before after a password reset', async () => {
    const s = await feed(await client());
    await s.next((e) => e.event === 'ready');
    const { user } = await session();
    const token = generateOpaqueToken();
    const now = t.clock.now();
    await t.deps.db.insert(oneTimeTokens).values({ type: 'password_reset', tokenHash: hashToken(token), userId: user.id, createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000) });
    const reset = await t.inject({ method: 'POST', url: `/api/reset-password/${token}`, payload: { password: 'a brand new passphrase' } });
    expect(reset.statusCode).toBe(200);
    const event = await s.next((e) => e.event === 'user.not_before' && e.json.sub === user.id, 1_000);
    // The time of the reset: every token whose auth_time (seconds) * 1000 is below it is dead.
    expect(event.json.not_before).toBe(now.getTime());
    // Its id: when the server learned it, by its clock.
    expect(event.id).toBe(String(t.clock.now().getTime()));
    expect(s.events.some((e) => e.event === 'session.revoked')).toBe(true);
  });

  it('resumes with Last-Event-ID: replays from a minute before it, what happened while away included; a malformed one replays all', async () => {
    const creds = await client();
    const old = await session();
    await logout(old.tokens.access_token);
    t.clock.advance(120);
    const recent = await session();
    await logout(recent.tokens.access_token);
    const first = await feed(creds);
    await first.next((e) => e.event === 'ready');
    expect(first.events.some((e) => e.json.sid === old.sid)).toBe(true);
    // Replayed oldest first: the last id is the newest revocation.
    const lastId = [...first.events].reverse().find((e) => e.id !== undefined)!.id!;
    expect(lastId).toBe(String(t.clock.now().getTime()));
    first.close();

    const away = await session();
    await logout(away.tokens.access_token);
    const resumed = await feed(creds, { 'last-event-id': lastId });
    await resumed.next((e) => e.event === 'ready');
    expect(resumed.events.some((e) => e.json.sid === away.sid)).toBe(true);
    // Two minutes before the last id: not replayed again.
    expect(resumed.events.some((e) => e.json.sid === old.sid)).toBe(false);
    for (const e of resumed.events) if (e.id !== undefined) expect(Number(e.id)).toBeGreaterThanOrEqual(Number(lastId) - 60_000);

    const malformed = await feed(creds, { 'last-event-id': 'yesterday' });
    await malformed.next((e) => e.event === 'ready');
    expect(malformed.events.some((e) => e.json.sid === old.sid)).toBe(true);
  });

  it('sends a heartbeat with the time, without an id', async () => {
    const s = await feed(await client());
    const beat = await s.next((e) => e.event === 'heartbeat', 2_500);
    expect(beat.id).toBeUndefined();
    expect(beat.json).toEqual({ time: t.clock.now().getTime() });
  });

  it('closes the streams of a client removed or rotated; the old secret is refused at once', async () => {
    const rotated = await client();
    const removed = await client();
    const a = await feed(rotated);
    const b = await feed(removed);
    await a.next((e) => e.event === 'ready');
    await b.next((e) => e.event === 'ready');

    const fresh = await rotateServiceClientSecret(t.deps, rotated.client_id, 'test');
    await expect(Promise.race([a.ended.then(() => 'ended'), new Promise((r) => setTimeout(() => r('open'), 1_000))])).resolves.toBe('ended');
    expect((await t.inject({ method: 'GET', url: FEED, headers: { authorization: basic(rotated.client_id, rotated.client_secret) } })).statusCode).toBe(401);
    const again = await feed(fresh);
    expect(again.status).toBe(200);
    again.close();

    await removeServiceClient(t.deps, removed.name, 'test');
    await expect(Promise.race([b.ended.then(() => 'ended'), new Promise((r) => setTimeout(() => r('open'), 1_000))])).resolves.toBe('ended');
    expect((await t.inject({ method: 'GET', url: FEED, headers: { authorization: basic(removed.client_id, removed.client_secret) } })).json().error).toBe('invalid_client');
  });

  it('caps the streams of one client: the eleventh gets 429 too_many_streams', async () => {
    const creds = await client();
    const streams = [];
    for (let i = 0; i < 10; i++) streams.push(await feed(creds));
    expect(streams.every((s) => s.status === 200)).toBe(true);
    const refused = await t.inject({ method: 'GET', url: FEED, headers: { authorization: basic(creds.client_id, creds.client_secret) } });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toBe('too_many_streams');
    expect(refused.headers['retry-after']).toBeDefined();
    streams[0]!.close();
    // The server sees the close, then the slot is free again.
    await new Promise((r) => setTimeout(r, 200));
    const another = await feed(creds);
    expect(another.status).toBe(200);
    for (const s of [...streams, another]) s.close();
  });

  it('closes the stream of a consumer that does not read once it has a mebibyte waiting, and lets the others be', async () => {
    const creds = await client();
    const reader = await feed(creds);
    await reader.next((e) => e.event === 'ready');
    // A consumer that sends its request and never reads a byte of the answer (paused, it sees no close either).
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    socket.on('error', () => {});
    socket.write(`GET ${FEED} HTTP/1.1\r\nhost: x\r\nauthorization: ${basic(creds.client_id, creds.client_secret)}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    socket.pause();
    const cutOff = () => t.logs.some((l) => l.includes('not keeping up') && l.includes(creds.client_id));
    // Revocations at about 2 MB/s, far more than the paused socket's buffers hold, until the server gives up on
    // it; slow enough that the reader (in this process, sharing its event loop) keeps up on a loaded machine.
    const at = t.clock.now();
    let added = 0;
    while (added < 200_000 && !cutOff()) {
      for (let i = 0; i < 1_000; i++, added++) t.deps.revocations.add(`00000000-0000-4000-8000-${String(added).padStart(12, '0')}`, at);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(cutOff()).toBe(true);
    // The reader took them all and is still served.
    const last = `00000000-0000-4000-8000-${String(added - 1).padStart(12, '0')}`;
    const lastEvent = await reader.next((e) => e.json.sid === last, 20_000);
    const after = reader.events.indexOf(lastEvent);
    await reader.next((e) => e.event === 'heartbeat' && reader.events.indexOf(e) > after, 3_000);
    socket.destroy();
  }, 60_000);
});

describe('shutdown', () => {
  it('ends open streams at once, so a stop is not held up', async () => {
    const other = await startTestApp({ database: t.database, env: { REVOCATION_FEED_HEARTBEAT: '1s' } });
    const url = await other.listen();
    const creds = await createServiceClient(other.deps, { name: 'shutdown', scopes: ['revocations:read'] }, 'test');
    const s = await openSse(`${url}${FEED}`, { authorization: basic(creds.client_id, creds.client_secret) });
    await s.next((e) => e.event === 'ready');
    // Were the stream not ended, the close would wait on it for good (it has a heartbeat every second), and the
    // test would time out.
    await other.close();
    await s.ended;
  });
});
