import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../src/auth/secrets.js';
import { refreshTokens, sessions } from '../src/db/schema.js';
import { bearer, dashboard, refresh, signIn, signUp, startTestApp, type SignedUp, type TestApp } from './helpers/app.js';

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
      message: 'Token refreshed successfully',
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
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

  it('refuses a token used again within the reuse interval without ending the session', async () => {
    const first = await signIn(t, user.email);
    const next = (await refresh(t, first.refresh_token)).json();
    const again = await refresh(t, first.refresh_token);
    expect(again.statusCode).toBe(401);
    expect(again.json().error).toBe('refresh_token_already_used');
    expect((await refresh(t, next.refresh_token)).statusCode).toBe(200);
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

  it('never yields two successors from parallel refreshes with one token: one wins, the rest get 401', async () => {
    const first = await signIn(t, user.email);
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(t, first.refresh_token)));
    const ok = results.filter((r) => r.statusCode === 200);
    const losers = results.filter((r) => r.statusCode !== 200);
    expect(ok).toHaveLength(1);
    expect(losers).toHaveLength(9);
    for (const r of losers) {
      expect(r.statusCode).toBe(401);
      expect(r.json().error).toBe('refresh_token_already_used');
    }
    const sid = decodeJwt(first.access_token).sid as string;
    const live = await t.deps.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, sid));
    expect(live.filter((r) => r.rotatedAt === null)).toHaveLength(1);
    // The winner's successor keeps working: a racing client is not punished.
    expect((await refresh(t, ok[0]!.json().refresh_token)).statusCode).toBe(200);
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
