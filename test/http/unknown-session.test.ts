import { randomUUID } from 'node:crypto';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, dashboard, signIn, signUp, startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

/** The real token's claims, signed with the server's real key, with a session id that was never created. */
async function withUnknownSession(accessToken: string): Promise<string> {
  const key = t.deps.keys.current;
  return new SignJWT({ ...decodeJwt(accessToken), sid: randomUUID(), jti: randomUUID() })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .sign(key.privateKey);
}

describe('an access token for a session that never existed', () => {
  it('is refused where the session or the user is read: the dashboard and logout', async () => {
    const user = await signUp(t);
    const real = await signIn(t, user.email);
    // The user's profile is in the server's memory now: the forged token must not ride on it.
    expect((await dashboard(t, real.access_token)).statusCode).toBe(200);
    const forged = await withUnknownSession(real.access_token);

    const read = await dashboard(t, forged);
    expect(read.statusCode, read.body).toBe(401);
    expect(['invalid_token', 'session_revoked']).toContain(read.json().error);

    const logout = await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(forged) });
    expect(logout.statusCode, logout.body).toBe(401);
    expect(['invalid_token', 'session_revoked']).toContain(logout.json().error);

    // The user's own session is untouched by either.
    expect((await dashboard(t, real.access_token)).statusCode).toBe(200);
    expect((await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(real.access_token) })).statusCode).toBe(200);
  });
});
