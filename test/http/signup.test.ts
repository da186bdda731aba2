import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../src/db/schema.js';
import { GOOD_PASSWORD, signIn, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  // At the default hashing parameters, which the first test checks (test apps hash cheaply otherwise).
  t = await startTestApp({ env: { ARGON2_MEMORY_KIB: '19456', ARGON2_TIME_COST: '2' } });
});
afterAll(() => t.close());

const signup = (payload: unknown, headers: Record<string, string> = {}) =>
  t.inject({ method: 'POST', url: '/api/signup', payload: payload as string, headers });

describe('POST /api/signup', () => {
  it('creates a user and answers 201 with the user, never the password', async () => {
    const email = uniqueEmail();
    const res = await signup({ name: '  Ada Lovelace ', email, password: GOOD_PASSWORD });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.message).toBe('User created successfully');
    expect(body.user).toEqual({ id: expect.any(String), name: 'Ada Lovelace', email, email_verified: false, created_at: expect.any(String) });
    expect(res.body).not.toContain(GOOD_PASSWORD);
    expect(res.body).not.toMatch(/argon2|password_hash/);

    const [row] = await t.deps.db.select().from(users).where(eq(users.id, body.user.id));
    expect(row?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
  });

  it('answers 409 to an email already used, in any letter case', async () => {
    const email = uniqueEmail();
    expect((await signup({ name: 'A', email, password: GOOD_PASSWORD })).statusCode).toBe(201);
    const again = await signup({ name: 'B', email: email.toUpperCase(), password: GOOD_PASSWORD });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toBe('email_taken');
  });

  it('stores the email lower-cased so sign-in works in any case', async () => {
    const email = uniqueEmail('MiXeD');
    await signup({ name: 'Mixed', email, password: GOOD_PASSWORD });
    const tokens = await signIn(t, email.toLowerCase());
    expect(tokens.access_token).toBeTruthy();
  });

  it('lets exactly one of many simultaneous sign-ups of one address win', async () => {
    const email = uniqueEmail('race');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => signup({ name: `Racer ${i}`, email, password: GOOD_PASSWORD })),
    );
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes.filter((c) => c === 201)).toHaveLength(1);
    expect(codes.filter((c) => c === 409)).toHaveLength(7);
    const rows = await t.deps.db.select().from(users).where(eq(users.email, email.toLowerCase()));
    expect(rows).toHaveLength(1);
  });

  it.each([
    ['missing name', { email: 'a@example.com', password: GOOD_PASSWORD }, 'name'],
    ['missing email', { name: 'A', password: GOOD_PASSWORD }, 'email'],
    ['missing password', { name: 'A', email: 'a@example.com' }, 'password'],
    ['name of the wrong type', { name: 42, email: 'a@example.com', password: GOOD_PASSWORD }, 'name'],
    ['password of the wrong type', { name: 'A', email: 'a@example.com', password: 12345678901 }, 'password'],
    ['email that is not one', { name: 'A', email: 'not-an-email', password: GOOD_PASSWORD }, 'email'],
    ['blank name', { name: '   ', email: 'a@example.com', password: GOOD_PASSWORD }, 'name'],
    ['name too long', { name: 'n'.repeat(101), email: 'a@example.com', password: GOOD_PASSWORD }, 'name'],
    ['email too long', { name: 'A', email: `${'e'.repeat(250)}@example.com`, password: GOOD_PASSWORD }, 'email'],
  ])('answers 400 invalid_request to %s, naming the field', async (_, payload, field) => {
    const res = await signup(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', details: [expect.objectContaining({ field })] });
  });

  it('answers 400 malformed_json to a body that is not JSON', async () => {
    const res = await signup('{"name": "A", ', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('malformed_json');
  });

  it('answers 400 to an empty JSON body', async () => {
    const res = await signup('', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('malformed_json');
  });

  it('answers 415 to a body that is not sent as JSON', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await signup('name=A&email=a@example.com&password=x', { 'content-type': type });
      expect(res.statusCode, type).toBe(415);
      expect(res.json().error).toBe('unsupported_media_type');
    }
  });

  it('answers 413 to an oversized body, before any work', async () => {
    const res = await signup({ name: 'A', email: uniqueEmail(), password: GOOD_PASSWORD, filler: 'x'.repeat(20_000) });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toBe('payload_too_large');
  });

  it('ignores unknown fields and never stores them', async () => {
    const email = uniqueEmail();
    const res = await signup({ name: 'A', email, password: GOOD_PASSWORD, role: 'admin', id: '00000000-0000-0000-0000-000000000000' });
    expect(res.statusCode).toBe(201);
    expect(res.json().user.id).not.toBe('00000000-0000-0000-0000-000000000000');
    const [row] = await t.deps.db.select().from(users).where(eq(users.email, email));
    expect(row?.role).toBe('user');
  });

  it('refuses a prototype-poisoning body', async () => {
    const res = await signup('{"name":"A","email":"p@example.com","password":"x","__proto__":{"admin":true}}', {
      'content-type': 'application/json',
    });
    expect(res.statusCode).toBe(400);
  });

  describe('password policy', () => {
    it.each([
      ['too short', 'short12', 'password_too_short'],
      ['too long (257 characters)', 'x'.repeat(257), 'password_too_long'],
      ['common', 'password123', 'password_too_common'],
      ['common in another letter case', 'PassWord123', 'password_too_common'],
      ['common once NFKC-normalised (fullwidth)', 'ｐａｓｓｗｏｒｄ１２３', 'password_too_common'],
    ])('refuses a password that is %s with 422 and a reason, creating nothing', async (_, password, code) => {
      const email = uniqueEmail();
      const res = await signup({ name: 'A', email, password });
      expect(res.statusCode).toBe(422);
      expect(res.json().error).toBe(code);
      expect(res.json().message).toEqual(expect.any(String));
      expect(await t.deps.db.select().from(users).where(eq(users.email, email))).toHaveLength(0);
    });

    it('accepts 8 characters, 256 characters and any characters at all, without composition rules', async () => {
      for (const password of ['zq8vmk2p', 'ü'.repeat(256), '🔑 lange Wörter ohne Ziffern']) {
        const email = uniqueEmail();
        expect((await signup({ name: 'A', email, password })).statusCode, password).toBe(201);
        expect((await signIn(t, email, password)).access_token).toBeTruthy();
      }
    });

    it('checks the common-password list by default (PASSWORD_CHECK_COMMON=true)', async () => {
      expect(t.deps.config.password.checkCommon).toBe(true);
      const res = await signup({ name: 'A', email: uniqueEmail(), password: 'password123' });
      expect(res.statusCode).toBe(422);
      expect(res.json().error).toBe('password_too_common');
    });

    it('with PASSWORD_CHECK_COMMON=false accepts a common password, and still applies the length rules', async () => {
      const off = await startTestApp({ env: { PASSWORD_CHECK_COMMON: 'false' } });
      try {
        const signupOff = (password: string, email = uniqueEmail()) =>
          off.inject({ method: 'POST', url: '/api/signup', payload: { name: 'A', email, password } });
        const email = uniqueEmail();
        expect((await signupOff('password123', email)).statusCode).toBe(201);
        expect((await signIn(off, email, 'password123')).access_token).toBeTruthy();
        for (const [password, code] of [
          ['short12', 'password_too_short'],
          ['x'.repeat(257), 'password_too_long'],
        ] as const) {
          const res = await signupOff(password);
          expect(res.statusCode, code).toBe(422);
          expect(res.json().error).toBe(code);
        }
      } finally {
        await off.close();
      }
    });
  });

  it.each(['/api/register', '/auth/signup'])('is answered at the seeds\' alias %s', async (url) => {
    const email = uniqueEmail();
    const res = await t.inject({ method: 'POST', url, payload: { name: 'Alias', email, password: GOOD_PASSWORD } });
    expect(res.statusCode).toBe(201);
    expect(res.json().user.email).toBe(email);
    const dup = await t.inject({ method: 'POST', url, payload: { name: 'Alias', email, password: GOOD_PASSWORD } });
    expect(dup.statusCode).toBe(409);
  });
});
