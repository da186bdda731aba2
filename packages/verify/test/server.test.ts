import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, signIn, signUp, startTestApp, type TestApp } from '../../../test/helpers/app.js';
import { createVerifier, LatchkeyVerifyError, type Verifier, type VerifierOptions } from '../src/index.js';
import { memoryLogger, sseServer, until } from './helpers.js';

/** The SDK against a real Latchkey (embedded engine, or PostgreSQL with TEST_DATABASE_URL), its tokens and its JWKS. */
describe('@latchkey/verify against a running Latchkey', () => {
  let t: TestApp;
  let url: string;
  const verifiers: Verifier[] = [];

  function make(options: Partial<VerifierOptions> = {}) {
    const v = createVerifier({
      issuer: PUBLIC_URL,
      audience: 'latchkey',
      jwksUrl: `${url}/.well-known/jwks.json`,
      // The server under test runs on a clock the test moves; the verifier reads the same one.
      now: () => t.clock.now().getTime(),
      logger: memoryLogger(),
      ...options,
    });
    verifiers.push(v);
    return v;
  }

  async function accessToken(): Promise<{ token: string; userId: string }> {
    const user = await signUp(t);
    return { token: (await signIn(t, user.email)).access_token, userId: user.id };
  }

  async function codeOf(p: Promise<unknown>): Promise<string> {
    return p.then(
      () => 'accepted',
      (e: unknown) => (e instanceof LatchkeyVerifyError ? e.code : String(e)),
    );
  }

  beforeAll(async () => {
    t = await startTestApp();
    url = await t.listen();
  });
  afterAll(async () => {
    for (const v of verifiers) v.close();
    await t?.close();
  });

  it("verifies the server's access token and answers its claims", async () => {
    const verifier = make();
    await verifier.ready();
    const { token, userId } = await accessToken();
    const claims = await verifier.verify(token);
    expect(claims).toMatchObject({ iss: PUBLIC_URL, aud: 'latchkey', sub: userId });
    for (const claim of ['sid', 'jti']) expect(typeof claims[claim]).toBe('string');
    for (const claim of ['iat', 'exp', 'auth_time']) expect(typeof claims[claim]).toBe('number');
    expect(claims.exp - claims.iat).toBe(900);
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: 'at+jwt', alg: 'ES256', kid: t.deps.keys.current.kid });
    // The server agrees.
    expect((await t.inject({ method: 'GET', url: '/api/dashboard', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
  });

  it('refuses the same token with another issuer or audience, or a lifetime bound below its own', async () => {
    const { token } = await accessToken();
    expect(await codeOf(make({ issuer: 'https://other.example' }).verify(token))).toBe('invalid_token');
    expect(await codeOf(make({ audience: 'billing' }).verify(token))).toBe('invalid_token');
    expect(await codeOf(make({ maxTokenLifetime: 300 }).verify(token))).toBe('invalid_token');
  });

  it('follows a key rotation: the new key is fetched at its first token, the old one still verifies', async () => {
    // Keys are re-fetched for an unknown kid only: the max-age refresh is pushed out of the way.
    const verifier = make({ jwksCacheMaxAge: 86_400 });
    await verifier.ready();
    const before = await accessToken();
    await verifier.verify(before.token);
    const old = t.deps.keys.current.kid;

    // `keys rotate`: published now, signing once verifiers have had the JWKS max-age (5 minutes) to see it.
    const next = await t.deps.keys.rotate();
    expect(next).not.toBe(old);
    t.clock.advance(300);
    const after = await accessToken();
    expect(decodeProtectedHeader(after.token).kid).toBe(next);
    expect((await verifier.verify(after.token)).sub).toBe(after.userId);
    expect((await verifier.verify(before.token)).sub).toBe(before.userId);
  });

  it('holds back a JWKS fetch for an unknown kid within the cooldown, and fetches after it', async () => {
    t.clock.advance(1); // after the previous test's key activated: a tie in activation time is broken by kid
    const verifier = make({ jwksCacheMaxAge: 86_400 });
    await verifier.ready();
    // A key that signs at once (no publication lead): the verifier fetched the JWKS a moment ago.
    const next = await t.deps.keys.rotate({ publishLead: 0 });
    const { token } = await accessToken();
    expect(decodeProtectedHeader(token).kid).toBe(next);
    expect(await codeOf(verifier.verify(token))).toBe('invalid_token');
    t.clock.advance(30);
    expect(await codeOf(verifier.verify(token))).toBe('accepted');
  });

  it('a cached token is still refused once the feed revokes its session or its user', async () => {
    const sse = await sseServer();
    let live!: Parameters<typeof sse.state.onConnect>[0];
    sse.state.onConnect = (c) => {
      live = c;
      c.send('ready', { time: t.clock.now().getTime() });
    };
    try {
      const verifier = make({ feed: { url: sse.feedUrl, clientId: 'api', clientSecret: 'secret' }, maxStaleness: 3600 });
      await verifier.ready();
      const a = await accessToken();
      const b = await accessToken();
      const claimsA = await verifier.verify(a.token);
      const claimsB = await verifier.verify(b.token);
      expect(await verifier.verify(a.token)).toBe(claimsA);

      // What the server's endpoint will send at a logout.
      const now = t.clock.now().getTime();
      live.send('session.revoked', { sid: claimsA.sid, revoked_at: now }, now);
      await until(async () => (await codeOf(verifier.verify(a.token))) === 'session_revoked');
      expect(await codeOf(verifier.verify(b.token))).toBe('accepted');
      // And at a password reset: every session the user opened before it.
      live.send('user.not_before', { sub: claimsB.sub, not_before: now + 1 }, now + 1);
      await until(async () => (await codeOf(verifier.verify(b.token))) === 'session_revoked');
    } finally {
      await sse.close();
    }
  });

  it('refuses an expired token with token_expired, from the cache and new', async () => {
    const verifier = make();
    const { token } = await accessToken();
    await verifier.verify(token);
    t.clock.advance(900);
    expect(await codeOf(verifier.verify(token))).toBe('token_expired');
    expect(await codeOf(make().verify(token))).toBe('token_expired');
    expect((await t.inject({ method: 'GET', url: '/api/dashboard', headers: { authorization: `Bearer ${token}` } })).json().error).toBe('token_expired');
  });
});
