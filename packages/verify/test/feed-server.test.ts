import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { runOperation } from '../../../src/control/operations.js';
import { bearer, PUBLIC_URL, signIn, signUp, startTestApp, type TestApp } from '../../../test/helpers/app.js';
import { basic } from '../../../test/helpers/sse.js';
import { startTcpProxy } from '../../../test/helpers/tcp-proxy.js';
import { createVerifier, LatchkeyVerifyError, type Verifier } from '../src/index.js';
import { memoryLogger } from './helpers.js';

/** The last value of `fn` once `ok` holds, or when `ms` have passed. */
async function poll<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The verifier's revocation feed against Latchkey's own `GET /api/revocations/stream` (embedded engine, or
 * PostgreSQL with TEST_DATABASE_URL): logouts and credential changes reach it while it runs (how fast is for
 * the benchmark), and what was revoked before it connected is replayed to it.
 */
describe('@latchkey/verify feed against a running Latchkey', () => {
  let t: TestApp;
  let url: string;
  let client: { client_id: string; client_secret: string };
  const verifiers: Verifier[] = [];

  /** A verifier of this Latchkey, its feed at `feedBase` (Latchkey itself unless given). */
  function make(feedBase = url) {
    const v = createVerifier({
      issuer: PUBLIC_URL,
      audience: 'latchkey',
      jwksUrl: `${url}/.well-known/jwks.json`,
      feed: { url: `${feedBase.replace(/\/$/, '')}/api/revocations/stream`, clientId: client.client_id, clientSecret: client.client_secret },
      logger: memoryLogger(),
    });
    verifiers.push(v);
    return v;
  }

  async function session() {
    const user = await signUp(t);
    return { user, token: (await signIn(t, user.email)).access_token };
  }

  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (e: unknown) => (e instanceof LatchkeyVerifyError ? e.code : String(e)),
    );

  beforeAll(async () => {
    // Real time: the feed's times and the verifier's pruning both read the wall clock.
    t = await startTestApp({ realClock: systemClock });
    url = await t.listen();
    client = (await runOperation(t.deps as never, 'services.create', { name: 'app-service', scopes: ['revocations:read'] }, { actor: 'test' })) as typeof client;
  });
  afterAll(async () => {
    for (const v of verifiers) v.close();
    await t?.close();
  });

  it('refuses a token once its logout reaches the feed, and keeps accepting the user\'s other sessions', async () => {
    const verifier = make();
    await verifier.ready();
    const a = await session();
    const other = await signIn(t, a.user.email);
    expect(await outcome(verifier.verify(a.token))).toBe('accepted');

    expect((await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(a.token) })).statusCode).toBe(200);
    const code = await poll(() => outcome(verifier.verify(a.token)), (c) => c === 'session_revoked', 3_000);
    expect(code).toBe('session_revoked');
    expect(await outcome(verifier.verify(other.access_token))).toBe('accepted');
  });

  it("refuses every older token of a user whose credentials changed (a disabled account)", async () => {
    const verifier = make();
    await verifier.ready();
    const a = await session();
    const second = await signIn(t, a.user.email);
    for (const token of [a.token, second.access_token]) expect(await outcome(verifier.verify(token))).toBe('accepted');

    await runOperation(t.deps as never, 'users.disable', { user: a.user.email }, { actor: 'test' });
    for (const token of [a.token, second.access_token]) {
      expect(await poll(() => outcome(verifier.verify(token)), (c) => c === 'session_revoked', 3_000)).toBe('session_revoked');
    }
  });

  it('learns at connection what was revoked before it connected', async () => {
    const a = await session();
    expect((await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(a.token) })).statusCode).toBe(200);
    const late = make();
    await late.ready();
    // ready() waits for the server's replay: the logout is known before the first verification.
    expect(await outcome(late.verify(a.token))).toBe('session_revoked');
  });

  it("after 150 sign-outs everywhere of one user in a burst, accepts the user's new token at once, and still hears a logout made while its feed was cut", async () => {
    // The feed goes through a proxy the test can cut: the verifier reconnects with its Last-Event-ID.
    const proxy = await startTcpProxy('127.0.0.1', Number(new URL(url).port));
    try {
      const verifier = make(proxy.via(url));
      await verifier.ready();
      const admin = (await runOperation(t.deps as never, 'services.create', { name: 'burst-admin', scopes: ['admin'] }, { actor: 'test' })) as typeof client;
      const a = await session();
      const bystander = await session();
      // Fifteen at a time: all 150 at once queue for the pool's connections, each waiting on the user's row, and on
      // a loaded machine the last ones wait past the pool's 5 s and get 503 database_unavailable, as designed.
      const burst = [];
      for (let i = 0; i < 150; i += 15) {
        burst.push(
          ...(await Promise.all(
            Array.from({ length: 15 }, () =>
              t.inject({ method: 'POST', url: `/api/admin/users/${a.user.id}/sessions/revoke`, headers: { authorization: basic(admin.client_id, admin.client_secret) } }),
            ),
          )),
        );
      }
      expect(burst.filter((r) => r.statusCode !== 200).map((r) => r.body)).toEqual([]);

      // The user signs in again at once: Latchkey and the verifier both take the new token.
      const fresh = await signIn(t, a.user.email);
      expect.soft((await t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(fresh.access_token) })).statusCode).toBe(200);
      expect.soft(await outcome(verifier.verify(fresh.access_token))).toBe('accepted');
      expect(await poll(() => outcome(verifier.verify(a.token)), (c) => c === 'session_revoked', 3_000)).toBe('session_revoked');

      // Cut, a logout meanwhile, back: the reconnection's Last-Event-ID must not skip it.
      await proxy.stop();
      expect((await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(bystander.token) })).statusCode).toBe(200);
      await proxy.start();
      expect(await poll(() => outcome(verifier.verify(bystander.token)), (c) => c === 'session_revoked', 15_000)).toBe('session_revoked');
      expect(await outcome(verifier.verify(fresh.access_token))).toBe('accepted');
    } finally {
      await proxy.close();
    }
  }, 30_000);

  // After the tests that verify tokens of the current key: this one revokes it.
  it('refuses every token of a signing key revoked on Latchkey once key.revoked reaches it, and takes the new key\'s at once', async () => {
    const verifier = make();
    await verifier.ready();
    const a = await session();
    expect(await outcome(verifier.verify(a.token))).toBe('accepted');
    const done = (await runOperation(t.deps as never, 'keys.revoke', { kid: t.deps.keys.current.kid }, { actor: 'test' })) as { new_key: { kid: string } };
    expect(await poll(() => outcome(verifier.verify(a.token)), (c) => c === 'invalid_token', 3_000)).toBe('invalid_token');
    // The replacement signs at once: the verifier fetched the JWKS again on the event, within its cooldown.
    const b = await session();
    expect(JSON.parse(Buffer.from(b.token.split('.')[0]!, 'base64url').toString()).kid).toBe(done.new_key.kid);
    expect(await poll(() => outcome(verifier.verify(b.token)), (c) => c === 'accepted', 3_000)).toBe('accepted');
  });

  it('refuses to start its feed with a wrong secret, and says so', async () => {
    const v = createVerifier({
      issuer: PUBLIC_URL,
      audience: 'latchkey',
      jwksUrl: `${url}/.well-known/jwks.json`,
      feed: { url: `${url}/api/revocations/stream`, clientId: client.client_id, clientSecret: `lks_${'A'.repeat(43)}` },
      logger: memoryLogger(),
    });
    verifiers.push(v);
    await expect(v.ready()).rejects.toMatchObject({ code: 'invalid_client' });
  });
});
