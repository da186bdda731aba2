import { sql } from 'drizzle-orm';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_PASSWORD, PUBLIC_URL, type SignedUp, signUp, startTestApp, type TestApp, tokenAnswer, uniqueEmail } from '../helpers/app.js';

let t: TestApp;
let user: SignedUp;
beforeAll(async () => {
  t = await startTestApp();
  user = await signUp(t, { name: 'Grace Hopper' });
});
afterAll(() => t.close());

const signin = (payload: unknown, url = '/api/signin') => t.inject({ method: 'POST', url, payload: payload as object });

describe('POST /api/signin', () => {
  it('answers the seed\'s body with a token pair, the user and no-store', async () => {
    const res = await signin({ email: user.email, password: GOOD_PASSWORD });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toEqual({
      ...tokenAnswer('Sign-in successful'),
      user: { id: user.id, name: 'Grace Hopper', email: user.email, email_verified: false, created_at: expect.any(String) },
    });
    // An opaque refresh token of 256 random bits, not a JWT.
    expect(body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('issues an ES256 access token with kid, typ at+jwt and every required claim', async () => {
    const { access_token } = (await signin({ email: user.email, password: GOOD_PASSWORD })).json();
    const header = decodeProtectedHeader(access_token);
    expect(header).toEqual({ alg: 'ES256', kid: t.deps.keys.current.kid, typ: 'at+jwt' });
    const claims = decodeJwt(access_token);
    expect(claims).toEqual({
      iss: PUBLIC_URL,
      aud: 'latchkey',
      sub: user.id,
      sid: expect.any(String),
      jti: expect.any(String),
      iat: expect.any(Number),
      auth_time: claims.iat,
      email_verified: false,
      amr: ['pwd'],
      aal: 'aal1',
      exp: (claims.iat as number) + 900,
    });
  });

  // A time PostgreSQL writes itself has microseconds; the one Latchkey read back has milliseconds.
  it('signs in a user whose password time and not-before were written by SQL (an operator, a restore, a seed)', async () => {
    const written = await signUp(t, { email: uniqueEmail('sql-times') });
    await t.deps.db.execute(
      sql`UPDATE users SET password_changed_at = now() - interval '1.234567 seconds', not_before = now() - interval '2.345678 seconds' WHERE id = ${written.id}`,
    );
    const res = await signin({ email: written.email, password: GOOD_PASSWORD });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('opens a fresh session on every sign-in', async () => {
    const a = (await signin({ email: user.email, password: GOOD_PASSWORD })).json();
    const b = (await signin({ email: user.email, password: GOOD_PASSWORD })).json();
    expect(decodeJwt(a.access_token).sid).not.toBe(decodeJwt(b.access_token).sid);
    expect(a.refresh_token).not.toBe(b.refresh_token);
  });

  it('gives unknown email and wrong password the same status, body and headers', async () => {
    const wrong = await signin({ email: user.email, password: 'not the right password' });
    const unknown = await signin({ email: uniqueEmail('nobody'), password: 'not the right password' });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.body).toBe(unknown.body);
    expect(wrong.json()).toEqual({ error: 'invalid_credentials', message: 'Invalid email or password.' });
    const comparable = (h: Record<string, unknown>) => {
      const { date: _d, 'x-request-id': _r, ...rest } = h;
      return rest;
    };
    expect(comparable(wrong.headers)).toEqual(comparable(unknown.headers));
  });

  it('never truncates or alters a password: a change after character 72 or a trailing space fails', async () => {
    const long = `${'a1b2c3d4'.repeat(9)}-tail`; // 77 characters
    const u = await signUp(t, { password: long });
    expect((await signin({ email: u.email, password: long })).statusCode).toBe(200);
    expect((await signin({ email: u.email, password: `${long.slice(0, 76)}X` })).statusCode).toBe(401);
    expect((await signin({ email: u.email, password: `${long} ` })).statusCode).toBe(401);
    expect((await signin({ email: u.email, password: long.slice(0, 72) })).statusCode).toBe(401);
  });

  it('treats canonically equal Unicode passwords as one (NFKC)', async () => {
    const u = await signUp(t, { password: 'ﬁne ﬁsh ﬂoat by' }); // ligatures
    expect((await signin({ email: u.email, password: 'fine fish float by' })).statusCode).toBe(200);
  });

  it.each([
    ['missing password', { email: 'a@example.com' }],
    ['missing email', { password: GOOD_PASSWORD }],
    ['password of the wrong type', { email: 'a@example.com', password: ['x'] }],
    ['an overlong password', { email: 'a@example.com', password: 'x'.repeat(5000) }],
  ])('answers 400 to %s', async (_, payload) => {
    const res = await signin(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('answers 415 to a form post', async () => {
    const res = await t.inject({
      method: 'POST',
      url: '/api/signin',
      payload: `email=${encodeURIComponent(user.email)}&password=x`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.statusCode).toBe(415);
  });

  it.each(['/api/login', '/auth/login'])('is answered at the seeds\' alias %s', async (url) => {
    const res = await signin({ email: user.email, password: GOOD_PASSWORD }, url);
    expect(res.statusCode).toBe(200);
    expect(res.json().token_type).toBe('Bearer');
    expect((await signin({ email: user.email, password: 'wrong password!' }, url)).statusCode).toBe(401);
  });
});
