import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/core/secrets.js';
import { refreshTokens, sessions } from '../../src/db/schema.js';
import { bearer, dashboard, refresh, type SignedUp, signIn, signUp, startTestApp, type TestApp, tokenAnswer } from '../helpers/app.js';

let t: TestApp;
let user: SignedUp;
beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t);
});
afterAll(() => t.close());

describe('POST /api/refresh', () => {
  it('rotates: answers a new pair in the same session, and stores only hashes', async () => {
    const first = await signIn(t, user.email);
    const res = await refresh(t, first.refresh_token);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const next = res.json();
    expect(next).toEqual({
      ...tokenAnswer('Token refreshed successfully'),
    });
    expect(next.refresh_token).not.toBe(first.refresh_token);
    expect(decodeJwt(next.access_token).sid).toBe(decodeJwt(first.access_token).sid);
    expect((await dashboard(t, next.access_token)).statusCode).toBe(200);

    const stored = await t.deps.db.select().from(refreshTokens);
    const hashes = stored.map((r) => r.tokenHash);
    expect(hashes).toContain(hashToken(next.refresh_token));
    expect(JSON.stringify(stored)).not.toContain(next.refresh_token);
  });

  it('takes the refresh token from the body as well as from the header', async () => {
    const first = await signIn(t, user.email);
    const res = await t.inject({ method: 'POST', url: '/api/refresh', payload: { refresh_token: first.refresh_token } });
    expect(res.statusCode).toBe(200);
  });

  it('accepts the seeds\' bodyless and text bodies when the token is in the header', async () => {
    const first = await signIn(t, user.email);
    const res = await t.inject({
      method: 'POST',
      url: '/api/refresh',
      headers: { ...bearer(first.refresh_token), 'content-type': 'text/plain' },
      payload: '{}',
    });
    expect(res.statusCode).toBe(200);
  });

  it('follows a chain: each successor works exactly once', async () => {
    let tokens = await signIn(t, user.email);
    for (let i = 0; i < 5; i++) {
      const res = await refresh(t, tokens.refresh_token);
      expect(res.statusCode).toBe(200);
      tokens = res.json();
    }
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(200);
  });

  it('answers a retry within the reuse interval with the same successor: a lost answer logs nobody out', async () => {
    const first = await signIn(t, user.email);
    const lost = (await refresh(t, first.refresh_token)).json();
    t.clock.advance(5);
    const retry = await refresh(t, first.refresh_token);
    expect(retry.statusCode).toBe(200);
    const again = retry.json();
    expect(again.refresh_token).toBe(lost.refresh_token);
    expect(again.access_token).not.toBe(lost.access_token);
    expect((await dashboard(t, again.access_token)).statusCode).toBe(200);
    // The one successor carries the session on.
    const next = await refresh(t, again.refresh_token);
    expect(next.statusCode).toBe(200);
    expect((await dashboard(t, next.json().access_token)).statusCode).toBe(200);
  });

  it('revokes the session when a grandparent comes back, even within the reuse interval', async () => {
    const first = await signIn(t, user.email);
    const second = (await refresh(t, first.refresh_token)).json();
    const third = (await refresh(t, second.refresh_token)).json();
    t.clock.advance(2);
    const replay = await refresh(t, first.refresh_token);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error).toBe('refresh_token_reused');
    expect((await refresh(t, third.refresh_token)).json().error).toBe('invalid_refresh_token');
    expect((await dashboard(t, third.access_token)).json().error).toBe('session_revoked');
  });

  it('revokes the session when a parent comes back after its successor was used, even within the interval', async () => {
    const first = await signIn(t, user.email);
    const second = (await refresh(t, first.refresh_token)).json();
    (await refresh(t, second.refresh_token)).json();
    const replay = await refresh(t, second.refresh_token);
    // `second` is the direct parent of the live token: a retry, answered.
    expect(replay.statusCode).toBe(200);
    // `first`'s successor (`second`) is spent: theft.
    expect((await refresh(t, first.refresh_token)).json().error).toBe('refresh_token_reused');
  });

  it('with REFRESH_REUSE_INTERVAL=0 every reuse revokes', async () => {
    const strict = await startTestApp({ env: { REFRESH_REUSE_INTERVAL: '0' } });
    try {
      const u = await signUp(strict);
      const first = await signIn(strict, u.email);
      strict.clock.advance(1);
      const next = (await refresh(strict, first.refresh_token)).json();
      strict.clock.advance(1);
      expect((await refresh(strict, first.refresh_token)).json().error).toBe('refresh_token_reused');
      expect((await refresh(strict, next.refresh_token)).json().error).toBe('invalid_refresh_token');
    } finally {
      await strict.close();
    }
  });

  it('revokes the whole session when a rotated token comes back later (theft)', async () => {
    const first = await signIn(t, user.email);
    const next = (await refresh(t, first.refresh_token)).json();
    t.clock.advance(11);
    const replay = await refresh(t, first.refresh_token);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error).toBe('refresh_token_reused');
    // The legitimate successor and every access token of the session are dead now.
    expect((await refresh(t, next.refresh_token)).json().error).toBe('invalid_refresh_token');
    expect((await dashboard(t, next.access_token)).json().error).toBe('session_revoked');
    expect((await dashboard(t, first.access_token)).json().error).toBe('session_revoked');
    const sid = decodeJwt(first.access_token).sid as string;
    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.id, sid));
    expect(row?.revokedReason).toBe('refresh_token_reuse');
  });

  it('gives every one of parallel refreshes with one token the same successor: no fork, no logout', async () => {
    const first = await signIn(t, user.email);
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(t, first.refresh_token)));
    for (const r of results) expect(r.statusCode).toBe(200);
    const successors = new Set(results.map((r) => r.json().refresh_token as string));
    expect(successors.size).toBe(1);
    const sid = decodeJwt(first.access_token).sid as string;
    const rows = await t.deps.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, sid));
    expect(rows).toHaveLength(2);
    expect(rows.filter((r) => r.rotatedAt === null).map((r) => r.tokenHash)).toEqual([hashToken([...successors][0]!)]);
    for (const r of results) expect((await dashboard(t, r.json().access_token)).statusCode).toBe(200);
    expect((await refresh(t, [...successors][0]!)).statusCode).toBe(200);
  });

  it('keeps the successor only encrypted, under a key the database does not hold', async () => {
    const first = await signIn(t, user.email);
    const next = (await refresh(t, first.refresh_token)).json();
    const [parent] = await t.deps.db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hashToken(first.refresh_token)));
    expect(parent?.successorHash).toBe(hashToken(next.refresh_token));
    expect(parent?.successorSealed).toBeTruthy();
    const everything = JSON.stringify(await t.deps.db.select().from(refreshTokens));
    expect(everything).not.toContain(next.refresh_token);
    expect(everything).not.toContain(Buffer.from(next.refresh_token, 'base64url').toString('hex'));
    // Presenting the stored hash (all a database copy gives) opens nothing.
    expect((await refresh(t, hashToken(first.refresh_token))).json().error).toBe('invalid_refresh_token');
  });

  it('refuses an access token presented as a refresh token', async () => {
    const { access_token } = await signIn(t, user.email);
    const res = await refresh(t, access_token);
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_refresh_token');
  });

  it('refuses unknown, missing and malformed refresh tokens with 401 or 400', async () => {
    expect((await refresh(t, 'not-a-token')).json().error).toBe('invalid_refresh_token');
    const none = await t.inject({ method: 'POST', url: '/api/refresh' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error).toBe('missing_refresh_token');
    const wrongType = await t.inject({ method: 'POST', url: '/api/refresh', payload: { refresh_token: 42 } });
    expect(wrongType.statusCode).toBe(400);
    const tooLong = await t.inject({ method: 'POST', url: '/api/refresh', payload: { refresh_token: 'x'.repeat(600) } });
    expect(tooLong.statusCode).toBe(400);
    const badJson = await t.inject({
      method: 'POST',
      url: '/api/refresh',
      payload: '{"refresh_token":',
      headers: { 'content-type': 'application/json' },
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error).toBe('malformed_json');
  });

  it('refuses an expired refresh token (7 days by default)', async () => {
    const first = await signIn(t, user.email);
    t.clock.advance(7 * 86400 + 1);
    const res = await refresh(t, first.refresh_token);
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_refresh_token');
  });

  it('ends a session at its absolute maximum age, however often it is refreshed', async () => {
    let tokens = await signIn(t, user.email);
    // 30 days of refreshing every 6 days: the refresh token never expires, the session does.
    for (let day = 6; day < 30; day += 6) {
      t.clock.advance(6 * 86400);
      const res = await refresh(t, tokens.refresh_token);
      expect(res.statusCode, `day ${day}`).toBe(200);
      tokens = res.json();
      const { exp } = decodeJwt(tokens.access_token);
      expect((exp as number) * 1000).toBeLessThanOrEqual(t.clock.now().getTime() + 900_000);
    }
    t.clock.advance(6 * 86400);
    const res = await refresh(t, tokens.refresh_token);
    expect(res.statusCode).toBe(401);
  });
});
