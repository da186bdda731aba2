import { afterAll, beforeAll, expect, it } from 'vitest';
import { GOOD_PASSWORD, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestClock } from '../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { basic, openSse } from '../helpers/sse.js';
import { createServiceClient, removeServiceClient } from '../../src/auth/service-clients/service-clients.js';
import { createOAuthClient, removeOAuthClient, rotateOAuthClientSecret } from '../../src/auth/oauth/clients.js';
import { hostAndPort, TEST_REDIS_URL, uniqueRedisPrefix } from '../helpers/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { anyOf, describeUnless, NO_POSTGRES, NO_REDIS } from '../helpers/skip.js';

interface Instance {
  t: TestApp;
  url: string;
}

async function call(i: Instance, method: string, path: string, opts: { token?: string; body?: object; ip?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body) headers['content-type'] = 'application/json';
  if (opts.ip) headers['x-forwarded-for'] = opts.ip;
  const res = await fetch(`${i.url}${path}`, { method, headers, body: opts.body ? JSON.stringify(opts.body) : undefined });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/** Polls until `check` holds, for at most `ms`; returns how long it took, or throws. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (Date.now() - start <= ms) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

describeUnless(anyOf(NO_POSTGRES, NO_REDIS))('several instances on one PostgreSQL and one Redis', () => {
  let database: TestDatabase;
  let pgProxy: TcpProxy;
  const clock = createTestClock();
  const prefix = uniqueRedisPrefix();
  const instances: Instance[] = [];

  async function startInstance(env: Record<string, string> = {}): Promise<Instance> {
    const t = await startTestApp({
      database,
      clock,
      env: { REDIS_URL: TEST_REDIS_URL!, REDIS_KEY_PREFIX: prefix, TRUST_PROXY: '127.0.0.1', LOCKOUT_THRESHOLD: '5', ...env },
    });
    const instance = { t, url: await t.listen() };
    instances.push(instance);
    return instance;
  }

  let a: Instance;
  let b: Instance;
  beforeAll(async () => {
    database = await createTestDatabase();
    pgProxy = await startTcpProxy(...hostAndPort(database.url!));
    a = await startInstance();
    // B reaches PostgreSQL through a proxy the tests can cut.
    b = await startInstance({ DATABASE_URL: pgProxy.via(database.url!) });
  });
  afterAll(async () => {
    for (const i of instances) await i.t.close();
    await pgProxy.close();
    await database.drop();
  });

  async function session(on: Instance) {
    const user = await signUp(on.t);
    const res = await call(on, 'POST', '/api/signin', { body: { email: user.email, password: GOOD_PASSWORD } });
    expect(res.status).toBe(200);
    return { user, access: res.body.access_token!, refresh: res.body.refresh_token! };
  }

  it('share one signing key: a token from one is accepted by the other', async () => {
    expect(a.t.deps.keys.current.kid).toBe(b.t.deps.keys.current.kid);
    const s = await session(a);
    expect((await call(b, 'GET', '/api/dashboard', { token: s.access })).status).toBe(200);
    expect((await call(b, 'POST', '/api/refresh', { token: s.refresh })).status).toBe(200);
  });

  it('refuse a session logged out on another instance within one second', async () => {
    const s = await session(a);
    expect((await call(b, 'GET', '/api/dashboard', { token: s.access })).status).toBe(200);
    expect((await call(a, 'POST', '/api/logout', { token: s.access })).status).toBe(200);
    await within(1000, async () => (await call(b, 'GET', '/api/dashboard', { token: s.access })).status === 401);
    expect((await call(b, 'GET', '/api/dashboard', { token: s.access })).body.error).toBe('session_revoked');
  });

  it('refuse sessions revoked by refresh-token reuse on another instance', async () => {
    const s = await session(b);
    const next = await call(b, 'POST', '/api/refresh', { token: s.refresh });
    clock.advance(11);
    expect((await call(a, 'POST', '/api/refresh', { token: s.refresh })).body.error).toBe('refresh_token_reused');
    await within(1000, async () => (await call(b, 'GET', '/api/dashboard', { token: next.body.access_token })).status === 401);
  });

  it('share throttling: failures spread over instances lock the account together', async () => {
    const user = await signUp(a.t);
    const results = [];
    for (let i = 0; i < 6; i++) {
      const on = i % 2 === 0 ? a : b;
      results.push((await call(on, 'POST', '/api/signin', { body: { email: user.email, password: 'a wrong password' }, ip: `10.9.0.${i}` })).status);
    }
    expect(results).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('bring a newly started instance up to date with earlier revocations', async () => {
    const s = await session(a);
    expect((await call(a, 'POST', '/api/logout', { token: s.access })).status).toBe(200);
    const late = await startInstance();
    expect((await call(late, 'GET', '/api/dashboard', { token: s.access })).body.error).toBe('session_revoked');
  });

  it('stream a logout on one instance on the revocation feed of another; a client removed on one is cut off on the other', async () => {
    const creds = await createServiceClient(a.t.deps, { name: 'feed-across', scopes: ['revocations:read'] }, 'test');
    const feed = await openSse(`${b.url}/api/revocations/stream`, { authorization: basic(creds.client_id, creds.client_secret) });
    try {
      expect(feed.status).toBe(200);
      await feed.next((e) => e.event === 'ready');
      const s = await session(a);
      const sid = (JSON.parse(Buffer.from(s.access.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
      expect((await call(a, 'POST', '/api/logout', { token: s.access })).status).toBe(200);
      const event = await feed.next((e) => e.event === 'session.revoked' && e.json.sid === sid, 1_000);
      expect(event.json.revoked_at).toBe(clock.now().getTime());

      await removeServiceClient(a.t.deps, creds.client_id, 'test');
      await expect(Promise.race([feed.ended.then(() => 'ended'), new Promise((r) => setTimeout(() => r('open'), 1_000))])).resolves.toBe('ended');
    } finally {
      feed.close();
    }
  });

  it('drop an OAuth client they keep in memory when its secret is rotated or it is removed on another instance', async () => {
    const client = await createOAuthClient(a.t.deps, { name: 'kept-across', redirectUris: ['https://app.example/cb'] }, 'test');
    const introspect = (secret: string) =>
      fetch(`${b.url}/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, secret) },
        body: 'token=nothing',
      }).then((r) => r.status);
    // B authenticates the client once: it now holds the row, with the secret's hash (read after any change it heard of:
    // on this stopped clock, a read in the same millisecond as the last notice is never kept).
    clock.advance(1);
    expect(await introspect(client.client_secret!)).toBe(200);
    expect(await introspect(client.client_secret!)).toBe(200);
    const rotated = await rotateOAuthClientSecret(a.t.deps, client.client_id, 'test');
    await within(1_000, async () => (await introspect(client.client_secret!)) === 401);
    expect(await introspect(rotated.client_secret!)).toBe(200);
    await removeOAuthClient(a.t.deps, client.client_id, 'test');
    await within(1_000, async () => (await introspect(rotated.client_secret!)) === 401);
  });

  it('catch up on revocations missed while cut off from PostgreSQL, and recover by themselves', async () => {
    const s = await session(a);
    expect((await call(b, 'GET', '/api/dashboard', { token: s.access })).status).toBe(200);
    await pgProxy.stop();
    try {
      const down = await call(b, 'POST', '/api/signin', { body: { email: s.user.email, password: GOOD_PASSWORD } });
      expect(down.status).toBe(503);
      expect(down.body.error).toBe('database_unavailable');
      expect((await call(b, 'GET', '/readyz')).status).toBe(503);
      expect((await call(a, 'POST', '/api/logout', { token: s.access })).status).toBe(200);
    } finally {
      await pgProxy.start();
    }
    await within(5000, async () => (await call(b, 'GET', '/readyz')).status === 200);
    await within(5000, async () => (await call(b, 'GET', '/api/dashboard', { token: s.access })).status === 401);
    expect((await call(b, 'POST', '/api/signin', { body: { email: s.user.email, password: GOOD_PASSWORD } })).status).toBe(200);
  });
});
