import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessions } from '../../src/db/schema.js';
import { bearer, dashboard, refresh, signIn, signUp, startTestApp, type SignedUp, type TestApp } from '../helpers/app.js';

let t: TestApp;
let user: SignedUp;
beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t, { name: 'Linus' });
});
afterAll(() => t.close());

const logout = (token: string, url = '/api/logout', extra: object = {}) =>
  t.inject({ method: 'POST', url, headers: bearer(token), ...extra });

describe('GET /api/dashboard', () => {
  it('greets the owner of the access token', async () => {
    const { access_token } = await signIn(t, user.email);
    const res = await dashboard(t, access_token);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      message: 'Welcome Linus!',
      user: { id: user.id, name: 'Linus', email: user.email, email_verified: false, created_at: expect.any(String) },
    });
  });

  it('answers 401 missing_token without a token, and ignores a token in the query string', async () => {
    const { access_token } = await signIn(t, user.email);
    for (const url of ['/api/dashboard', `/api/dashboard?access_token=${access_token}`, `/api/dashboard?token=${access_token}`]) {
      const res = await t.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(401);
      expect(res.json().error).toBe('missing_token');
      // RFC 6750: a challenge without an error code when no token was sent.
      expect(res.headers['www-authenticate']).toBe('Bearer realm="latchkey"');
    }
  });

  it.each([
    ['Basic credentials', 'Basic dXNlcjpwYXNz'],
    ['a bare token without a scheme', 'eyJhbGciOiJFUzI1NiJ9.e30.sig'],
    ['an empty bearer', 'Bearer '],
    ['garbage', 'Bearer not.a.jwt'],
  ])('answers 401 invalid_token to %s', async (_, authorization) => {
    const res = await t.inject({ method: 'GET', url: '/api/dashboard', headers: { authorization } });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_token');
    expect(res.headers['www-authenticate']).toBe('Bearer realm="latchkey", error="invalid_token", error_description="The access token is invalid."');
  });

  it('answers 401 once the access token has expired (15 minutes), even one verified before', async () => {
    const { access_token } = await signIn(t, user.email);
    expect((await dashboard(t, access_token)).statusCode).toBe(200);
    t.clock.advance(15 * 60 + 1);
    const res = await dashboard(t, access_token);
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('token_expired');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey", error="invalid_token", error_description="The access token has expired\."$/);
  });

  it.each(['/api/protected', '/auth/user'])('is answered at the seeds\' alias %s', async (url) => {
    const { access_token } = await signIn(t, user.email);
    const res = await t.inject({ method: 'GET', url, headers: bearer(access_token) });
    expect(res.statusCode).toBe(200);
    expect(res.json().user.email).toBe(user.email);
    expect((await t.inject({ method: 'GET', url })).statusCode).toBe(401);
  });
});

describe('POST /api/logout', () => {
  it('revokes the session: its access token and refresh token stop working at once', async () => {
    const tokens = await signIn(t, user.email);
    // Verified once, so remembered: revocation must still win.
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(200);
    const res = await logout(tokens.access_token);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: 'Logout successful. Tokens revoked.' });

    const after = await dashboard(t, tokens.access_token);
    expect(after.statusCode).toBe(401);
    expect(after.json().error).toBe('session_revoked');
    expect((await refresh(t, tokens.refresh_token)).statusCode).toBe(401);
    expect((await logout(tokens.access_token)).statusCode).toBe(401);

    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.id, decodeJwt(tokens.access_token).sid as string));
    expect(row?.revokedReason).toBe('logout');
  });

  it('revokes every access token of the session, including ones issued by refresh', async () => {
    const first = await signIn(t, user.email);
    const second = (await refresh(t, first.refresh_token)).json();
    expect((await logout(second.access_token)).statusCode).toBe(200);
    expect((await dashboard(t, first.access_token)).statusCode).toBe(401);
    expect((await dashboard(t, second.access_token)).statusCode).toBe(401);
    expect((await refresh(t, second.refresh_token)).statusCode).toBe(401);
  });

  it('leaves the user\'s other sessions alive', async () => {
    const phone = await signIn(t, user.email);
    const laptop = await signIn(t, user.email);
    expect((await logout(phone.access_token)).statusCode).toBe(200);
    expect((await dashboard(t, laptop.access_token)).statusCode).toBe(200);
    expect((await refresh(t, laptop.refresh_token)).statusCode).toBe(200);
  });

  it('accepts the seed\'s `{}` body sent as JSON or as text', async () => {
    const a = await signIn(t, user.email);
    expect((await logout(a.access_token, '/api/logout', { payload: {} })).statusCode).toBe(200);
    const b = await signIn(t, user.email);
    const text = await logout(b.access_token, '/api/logout', { payload: '{}', headers: { ...bearer(b.access_token), 'content-type': 'text/plain' } });
    expect(text.statusCode).toBe(200);
  });

  it('refuses a refresh token in place of the access token', async () => {
    const tokens = await signIn(t, user.email);
    const res = await logout(tokens.refresh_token);
    expect(res.statusCode).toBe(401);
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(200);
  });

  it('answers 401 without a token', async () => {
    const res = await t.inject({ method: 'POST', url: '/api/logout' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('missing_token');
  });

  it('is answered at the seed\'s alias /auth/logout', async () => {
    const tokens = await signIn(t, user.email);
    expect((await logout(tokens.access_token, '/auth/logout')).statusCode).toBe(200);
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
  });
});
