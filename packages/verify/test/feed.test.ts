import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Revocations } from '../src/feed.js';
import { createVerifier, LatchkeyFeedError, LatchkeyVerifyError, type Verifier, type VerifierOptions } from '../src/index.js';
import { AUDIENCE, ISSUER, jwksServer, makeKey, memoryLogger, sseServer, token, until, type TestKey } from './helpers.js';

/**
 * The revocation feed client against a scripted Server-Sent Events server speaking Latchkey's protocol
 * (GET with HTTP Basic, retry, session.revoked, user.not_before, heartbeat, ready, Last-Event-ID).
 */
describe('the revocation feed client', () => {
  let key: TestKey;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let sse: Awaited<ReturnType<typeof sseServer>>;
  let verifiers: Verifier[] = [];

  beforeAll(async () => {
    key = await makeKey('ES256');
    jwks = await jwksServer([key]);
  });
  afterAll(async () => {
    await jwks.close();
  });
  afterEach(async () => {
    for (const v of verifiers) v.close();
    verifiers = [];
    await sse?.close();
  });

  async function setUp(onConnect: (c: Parameters<typeof sse.state.onConnect>[0], n: number) => void, options: Partial<VerifierOptions> = {}) {
    sse = await sseServer();
    sse.state.onConnect = (c) => onConnect(c, sse.state.connections.length);
    const logger = memoryLogger();
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUrl: jwks.jwksUrl,
      // Backoff is tested on its own below; here a loaded machine must not stretch a reconnection past a test's wait.
      feed: { url: sse.feedUrl, clientId: 'orders-api', clientSecret: 's3cret:with:colons', maxBackoff: 0.2 },
      logger,
      ...options,
    });
    verifiers.push(verifier);
    return { verifier, logger };
  }

  async function codeOf(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => 'accepted',
      (e: unknown) => (e instanceof LatchkeyVerifyError ? e.code : String(e)),
    );
    return err;
  }

  it('authenticates, replays what is revoked, and is ready at the ready event', async () => {
    const now = Date.now();
    const { verifier } = await setUp((c) => {
      c.raw('retry: 1000\n\n');
      c.send('session.revoked', { sid: 'session-a', revoked_at: now - 1000 }, now - 1000);
      c.send('user.not_before', { sub: 'user-b', not_before: now - 500 }, now - 500);
      c.send('ready', { time: now });
    });
    await verifier.ready();
    const [request] = sse.state.connections;
    expect(request!.headers.authorization).toBe(`Basic ${Buffer.from('orders-api:s3cret:with:colons').toString('base64')}`);
    expect(request!.headers.accept).toBe('text/event-stream');
    expect(request!.headers['last-event-id']).toBeUndefined();

    expect(await codeOf(verifier.verify(await token(key, { claims: { sid: 'session-a' } })))).toBe('session_revoked');
    // user.not_before: a session opened before it is revoked, one opened after is not.
    const authBefore = Math.floor((now - 60_000) / 1000);
    expect(await codeOf(verifier.verify(await token(key, { claims: { sub: 'user-b', auth_time: authBefore } })))).toBe('session_revoked');
    expect(await codeOf(verifier.verify(await token(key, { claims: { sub: 'user-b', auth_time: Math.ceil(now / 1000) } })))).toBe('accepted');
    expect(await codeOf(verifier.verify(await token(key, { claims: { sub: 'user-c', sid: 'session-c' } })))).toBe('accepted');
  });

  it('refuses tokens (revocation_feed_stale) until the first replay is complete, unless failOpen', async () => {
    const { verifier } = await setUp((c) => c.send('heartbeat', { time: Date.now() }));
    await until(() => sse.state.connections.length === 1);
    const t = await token(key);
    expect(await codeOf(verifier.verify(t))).toBe('revocation_feed_stale');
    // A bad token is still told apart: the feed only matters for good ones.
    expect(await codeOf(verifier.verify(`${t}x`))).toBe('invalid_token');
  });

  it('applies a revocation to a token it has already verified and cached', async () => {
    let connection!: Parameters<typeof sse.state.onConnect>[0];
    const { verifier } = await setUp((c) => {
      connection = c;
      c.send('ready', { time: Date.now() });
    });
    await verifier.ready();
    const t = await token(key, { claims: { sid: 'session-live' } });
    const claims = await verifier.verify(t);
    expect(await verifier.verify(t)).toBe(claims);
    connection.send('session.revoked', { sid: 'session-live', revoked_at: Date.now() }, Date.now());
    await until(async () => (await codeOf(verifier.verify(t))) === 'session_revoked');
  });

  it('key.revoked: every token of that key is refused at once, cached or new; the JWKS is fetched once, for the key that replaces it', async () => {
    const revoked = await makeKey('ES256');
    const kept = await makeKey('ES256');
    const keys = await jwksServer([revoked, kept]);
    try {
      let connection!: Parameters<typeof sse.state.onConnect>[0];
      const { verifier } = await setUp(
        (c) => {
          connection = c;
          c.send('ready', { time: Date.now() });
        },
        { jwksUrl: keys.jwksUrl },
      );
      await verifier.ready();
      const cached = await token(revoked);
      await verifier.verify(cached);
      const fresh = await token(revoked);
      const fetches = keys.state.fetches;
      connection.send('key.revoked', { kid: revoked.kid, revoked_at: Date.now() }, Date.now());
      await until(async () => (await codeOf(verifier.verify(cached))) === 'invalid_token');
      // The event fetches the JWKS again at once, past the cooldown: the key that replaces a revoked one signs at once.
      await until(() => keys.state.fetches === fetches + 1);
      // The copy fetched still lists the revoked key: it is not taken back. Its tokens are refused before any look-up.
      for (let i = 0; i < 3; i++) expect(await codeOf(verifier.verify(await token(revoked)))).toBe('invalid_token');
      expect(await codeOf(verifier.verify(fresh))).toBe('invalid_token');
      expect(await codeOf(verifier.verify(await token(kept)))).toBe('accepted');
      expect(keys.state.fetches).toBe(fetches + 1);
      // A malformed key.revoked is ignored, like any event that cannot be read.
      connection.send('key.revoked', { kid: 5 }, Date.now());
      connection.send('heartbeat', { time: Date.now() });
      expect(await codeOf(verifier.verify(await token(kept)))).toBe('accepted');
    } finally {
      await keys.close();
    }
  });

  it('reconnects after the stream ends, resumes with Last-Event-ID, and takes overlapping events as a set', async () => {
    const now = Date.now();
    const { verifier } = await setUp((c, n) => {
      c.raw('retry: 20\n\n');
      if (n === 1) {
        c.send('session.revoked', { sid: 'session-1', revoked_at: now - 2000 }, now - 2000);
        c.send('session.revoked', { sid: 'session-2', revoked_at: now - 1000 }, now - 1000);
        c.send('ready', { time: now });
        c.send('heartbeat', { time: now });
        setTimeout(() => c.end(), 20);
      } else {
        // Everything since the id sent back, the last one seen again included.
        c.send('session.revoked', { sid: 'session-2', revoked_at: now - 1000 }, now - 1000);
        c.send('session.revoked', { sid: 'session-3', revoked_at: now }, now);
        c.send('ready', { time: now });
      }
    });
    await verifier.ready();
    const t3 = await token(key, { claims: { sid: 'session-3' } });
    await until(async () => (await codeOf(verifier.verify(t3))) === 'session_revoked');
    expect(sse.state.connections[1]!.headers['last-event-id']).toBe(String(now - 1000));
    for (const sid of ['session-1', 'session-2']) expect(await codeOf(verifier.verify(await token(key, { claims: { sid } })))).toBe('session_revoked');
  });

  it('backs off exponentially, up to maxBackoff, while the server fails', async () => {
    sse = await sseServer();
    sse.state.onConnect = (c) => {
      c.raw('retry: 20\n\n');
      c.send('ready', { time: Date.now() });
      // One healthy connection, then the server fails every attempt.
      setTimeout(() => c.end(), 10);
      sse.state.refuse = { status: 503, body: { error: 'database_unavailable', message: 'Unavailable.' } };
    };
    const logger = memoryLogger();
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUrl: jwks.jwksUrl,
      feed: { url: sse.feedUrl, clientId: 'c', clientSecret: 's', maxBackoff: 0.3 },
      logger,
    });
    verifiers.push(verifier);
    await verifier.ready();
    const start = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const times = sse.state.connectedAt.filter((t) => t >= start);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 20 ms doubling (jittered down to half), capped at 300 ms: about 7 attempts in 1.5 s, never a hot loop.
    expect(times.length).toBeGreaterThanOrEqual(4);
    expect(times.length).toBeLessThanOrEqual(12);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(140);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(450);
    expect(gaps.at(-1)!).toBeGreaterThan(gaps[0]!);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('reconnecting'))).toBe(true);
  });

  for (const [status, code] of [
    [401, 'invalid_client'],
    [403, 'insufficient_scope'],
  ] as const) {
    it(`surfaces ${status} ${code}: logged as an error, ready() rejects, and no hot loop`, async () => {
      sse = await sseServer();
      sse.state.refuse = { status, body: { error: code, message: 'Refused.' } };
      const logger = memoryLogger();
      const verifier = createVerifier({
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksUrl: jwks.jwksUrl,
        feed: { url: sse.feedUrl, clientId: 'c', clientSecret: 'wrong' },
        logger,
      });
      verifiers.push(verifier);
      const err = await verifier.ready().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LatchkeyFeedError);
      expect(err).toMatchObject({ status, code });
      expect((err as Error).message).toContain(`${status} ${code}`);
      expect(logger.lines.filter((l) => l.level === 'error')).toEqual([expect.objectContaining({ details: expect.objectContaining({ status, code }) })]);
      await new Promise((r) => setTimeout(r, 500));
      // The first retry waits at least half a second (from the default retry of 1 s).
      expect(sse.state.connections.length).toBe(1);
      expect(await codeOf(verifier.verify(await token(key)))).toBe('revocation_feed_stale');
    });
  }

  it('fails closed when the feed goes silent, says so, reconnects, and recovers', async () => {
    let recover = false;
    const { verifier, logger } = await setUp(
      (c, n) => {
        c.raw('retry: 20\n\n');
        // The first connection says ready, then nothing: not even heartbeats. The next ones, once told to.
        if (n === 1) c.send('session.revoked', { sid: 'gone', revoked_at: Date.now() }, 'first');
        if (n === 1 || recover) c.send('ready', { time: Date.now() });
      },
      { maxStaleness: 0.3 },
    );
    await verifier.ready();
    const t = await token(key);
    expect(await codeOf(verifier.verify(t))).toBe('accepted');
    await new Promise((r) => setTimeout(r, 400));
    const err = await verifier.verify(t).catch((e: LatchkeyVerifyError) => e);
    expect(err).toMatchObject({ code: 'revocation_feed_stale', status: 503 });
    expect((err as Error).message).toMatch(/silent.*fail closed/);
    expect(logger.lines.some((l) => l.level === 'warn' && /fail closed/.test(l.message))).toBe(true);
    // The silent connection was dropped and a new one opened, resuming after the last id.
    await until(() => sse.state.connections.length >= 2);
    expect(sse.state.connections[1]!.headers['last-event-id']).toBe('first');
    recover = true;
    await until(async () => (await codeOf(verifier.verify(t))) === 'accepted', 15_000);
  });

  it('with failOpen, accepts tokens while the feed is stale, and logs it', async () => {
    const { verifier, logger } = await setUp((c) => c.send('ready', { time: Date.now() }), { maxStaleness: 0.2, failOpen: true });
    await verifier.ready();
    await new Promise((r) => setTimeout(r, 300));
    sse.state.onConnect = () => {}; // the reconnection stays silent
    expect(await codeOf(verifier.verify(await token(key)))).toBe('accepted');
    expect(logger.lines.some((l) => l.level === 'warn' && /failOpen/.test(l.message))).toBe(true);
  });

  it('stays fresh on heartbeats alone, and ignores events it cannot read', async () => {
    let timer: NodeJS.Timeout | undefined;
    const { verifier, logger } = await setUp(
      (c) => {
        c.send('ready', { time: Date.now() });
        c.raw('event: session.revoked\ndata: {not json\n\n');
        c.send('user.not_before', { sub: 42 });
        c.send('something.new', { future: true });
        timer = setInterval(() => c.send('heartbeat', { time: Date.now() }), 50);
      },
      { maxStaleness: 0.3 },
    );
    try {
      await verifier.ready();
      const t = await token(key);
      for (let i = 0; i < 8; i++) {
        expect(await codeOf(verifier.verify(t))).toBe('accepted');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(sse.state.connections.length).toBe(1);
      expect(logger.lines.filter((l) => l.message.includes('could not be read'))).toHaveLength(2);
    } finally {
      clearInterval(timer);
    }
  });

  it('stops at close()', async () => {
    const { verifier } = await setUp((c) => {
      c.raw('retry: 10\n\n');
      c.send('ready', { time: Date.now() });
      setTimeout(() => c.end(), 5);
    });
    await verifier.ready();
    verifier.close();
    const seen = sse.state.connections.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(sse.state.connections.length).toBe(seen);
  });
});

describe('the revocation list', () => {
  it('keeps each sid and not-before once, the latest, and drops what can no longer block a token', () => {
    const r = new Revocations();
    r.revokeSession('s', 1000);
    r.revokeSession('s', 1000);
    r.revokeSession('s', 500);
    r.setNotBefore('u', 2000);
    r.setNotBefore('u', 5000);
    r.setNotBefore('u', 3000);
    expect(r.size).toBe(2);
    expect(r.isRevoked('s', 'x', 0)).toBe(true);
    expect(r.isRevoked('t', 'u', 4)).toBe(true);
    expect(r.isRevoked('t', 'u', 5)).toBe(false);
    r.prune(1001);
    expect(r.isRevoked('s', 'x', 0)).toBe(false);
    expect(r.size).toBe(1);
    r.prune(5001);
    expect(r.size).toBe(0);
  });

  it('keeps a revoked key until its tokens can no longer be alive', () => {
    const r = new Revocations();
    expect(r.isKeyRevoked('k')).toBe(false);
    r.revokeKey('k', 1000);
    r.revokeKey('k', 2000);
    expect(r.isKeyRevoked('k')).toBe(true);
    expect(r.size).toBe(1);
    r.prune(1000);
    expect(r.isKeyRevoked('k')).toBe(true);
    r.prune(1001);
    expect(r.isKeyRevoked('k')).toBe(false);
  });
});
