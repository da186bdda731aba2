import { afterAll, beforeAll, expect, it } from 'vitest';
import { createServiceClient } from '../../src/auth/service-clients/service-clients.js';
import { bearer, GOOD_PASSWORD, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { hostAndPort } from '../helpers/services.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';
import { basic, openSse } from '../helpers/sse.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

// Two instances on one PostgreSQL; B reaches it through a proxy that can cut B's listening connection quietly,
// as a dropped NAT entry or a proxy's idle timeout does: no error, no end, nothing heard.
describeUnless(NO_POSTGRES)('an instance whose listening connection is cut quietly', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let a: TestApp;
  let b: TestApp;
  let bUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    proxy = await startTcpProxy(...hostAndPort(database.url!));
    // A heartbeat of a second: B proves its listening connection every second.
    const env = { REVOCATION_FEED_HEARTBEAT: '1s' };
    a = await startTestApp({ database, env });
    b = await startTestApp({ database, clock: a.clock, env: { ...env, DATABASE_URL: proxy.via(database.url!) } });
    bUrl = await b.listen();
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await proxy?.close();
    await database?.drop();
  });

  async function session() {
    const user = await signUp(a);
    const res = await a.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD } });
    expect(res.statusCode).toBe(200);
    return res.json() as { access_token: string };
  }
  const onB = async (token: string) => (await b.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(token) })).statusCode;
  const logoutOnA = async (token: string) => expect((await a.inject({ method: 'POST', url: '/api/logout', headers: bearer(token) })).statusCode).toBe(200);

  async function eventually(check: () => Promise<boolean>, ms = 15_000) {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`not so after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('notices it no longer hears, reconnects, and refuses a token logged out on the other instance', async () => {
    const { access_token } = await session();
    expect(await onB(access_token)).toBe(200);

    expect(proxy.silence('LISTEN latchkey_revocations')).toBe(1);
    await logoutOnA(access_token);
    // Without a check of its own, B would accept this token until it expires: nothing tells it the connection is dead.
    await eventually(async () => (await onB(access_token)) === 401);
    expect(b.logs.join('')).toContain('stopped hearing its own notices');

    // Listening again on a new connection: a later logout reaches B by its notice, the list no longer stale.
    await eventually(async () => !b.deps.revocations.isStale());
    const next = await session();
    expect(await onB(next.access_token)).toBe(200);
    await logoutOnA(next.access_token);
    await eventually(async () => (await onB(next.access_token)) === 401);
    expect(b.logs.join('')).toContain('revocation feed listening again');
  }, 60_000);

  it('while it may be missing revocations, checks access tokens against the database', async () => {
    const { access_token } = await session();
    expect(await onB(access_token)).toBe(200);
    // Stale and deaf at once, as between a quiet cut and its discovery: only the database knows of the logout.
    expect(proxy.silence('LISTEN latchkey_revocations')).toBe(1);
    b.deps.revocations.setStale(true);
    await logoutOnA(access_token);
    expect(await onB(access_token)).toBe(401);
    // A live session still passes meanwhile.
    const other = await session();
    expect(await onB(other.access_token)).toBe(200);
    await eventually(async () => !b.deps.revocations.isStale());
  }, 60_000);

  it('its revocation feed sends no heartbeat while it may be missing revocations, so consumers stop trusting it', async () => {
    const creds = await createServiceClient(a.deps, { name: 'quiet-feed', scopes: ['revocations:read'] }, 'test');
    const feed = await openSse(`${bUrl}/api/revocations/stream`, { authorization: basic(creds.client_id, creds.client_secret) });
    try {
      expect(feed.status).toBe(200);
      await feed.next((e) => e.event === 'ready');
      await feed.next((e) => e.event === 'heartbeat', 5_000);
      b.deps.revocations.setStale(true);
      // The tick that may already be under way sends its heartbeat; after it, none for three periods.
      await new Promise((r) => setTimeout(r, 1_500));
      const before = feed.events.filter((e) => e.event === 'heartbeat').length;
      await new Promise((r) => setTimeout(r, 3_000));
      expect(feed.events.filter((e) => e.event === 'heartbeat').length).toBe(before);
      b.deps.revocations.setStale(false);
      const last = feed.events.length;
      await feed.next((e) => e.event === 'heartbeat' && feed.events.indexOf(e) >= last, 5_000);
    } finally {
      feed.close();
    }
  }, 30_000);
});
