import { createLocalJWKSet, decodeJwt, exportJWK, exportSPKI, generateKeyPair, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, dashboard, PUBLIC_URL, signIn, signUp, startTestApp, type TestApp, type Tokens } from '../helpers/app.js';

let t: TestApp;
let valid: Tokens;
let claims: JWTPayload;

beforeAll(async () => {
  t = await startTestApp();
  const user = await signUp(t);
  valid = await signIn(t, user.email);
  claims = decodeJwt(valid.access_token);
});
afterAll(() => t.close());

const b64 = (value: object | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const parts = (token: string) => token.split('.') as [string, string, string];

/** Asserts the forged token is refused with 401 (never 500) and, in the same test, that the real one still works. */
async function expectRefused(forged: string) {
  const res = await dashboard(t, forged);
  expect(res.statusCode).toBe(401);
  expect(['invalid_token', 'token_expired']).toContain(res.json().error);
  expect((await dashboard(t, valid.access_token)).statusCode).toBe(200);
}

/** Signs arbitrary claims and header with the server's real key: only the named part is wrong. */
async function withRealKey(payload: JWTPayload, header: Record<string, unknown> = {}) {
  const key = t.deps.keys.current;
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }).sign(key.privateKey);
}

describe('access token forgeries are answered 401', () => {
  it.each(['none', 'None', 'NONE', 'nOnE'])('alg %s with no signature', async (alg) => {
    const [h] = parts(valid.access_token);
    const header = { ...JSON.parse(Buffer.from(h, 'base64url').toString()), alg };
    await expectRefused(`${b64(header)}.${b64(claims)}.`);
  });

  it('a stripped signature', async () => {
    const [h, p] = parts(valid.access_token);
    await expectRefused(`${h}.${p}.`);
    await expectRefused(`${h}.${p}`);
  });

  it('a truncated or altered signature', async () => {
    const [h, p, s] = parts(valid.access_token);
    await expectRefused(`${h}.${p}.${s.slice(0, -4)}`);
    await expectRefused(`${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`);
  });

  it('a changed payload under the original signature', async () => {
    const [h, , s] = parts(valid.access_token);
    await expectRefused(`${h}.${b64({ ...claims, sub: '00000000-0000-4000-8000-000000000000' })}.${s}`);
  });

  it('an all-zero ECDSA signature (psychic signature)', async () => {
    const [h, p] = parts(valid.access_token);
    await expectRefused(`${h}.${p}.${Buffer.alloc(64).toString('base64url')}`);
  });

  it('HS256 signed with the server\'s public key as the secret', async () => {
    const jwk = t.deps.keys.current.publicJwk!;
    const pem = await exportSPKI(t.deps.keys.current.publicKey as CryptoKey);
    for (const secret of [JSON.stringify(jwk), pem, jwk.x!]) {
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: t.deps.keys.current.kid, typ: 'at+jwt' })
        .sign(new TextEncoder().encode(secret));
      await expectRefused(forged);
    }
  });

  it('a foreign key, under the server\'s kid and under its own', async () => {
    const attacker = await generateKeyPair('ES256');
    for (const kid of [t.deps.keys.current.kid, 'attacker']) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(attacker.privateKey);
      await expectRefused(forged);
    }
  });

  it('an attacker key embedded in jwk, or pointed to by jku, x5u or x5c', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(attacker.publicKey);
    for (const header of [{ jwk }, { jku: 'http://127.0.0.1:1/jwks.json' }, { x5u: 'http://127.0.0.1:1/cert.pem' }, { x5c: ['MIIB'] }]) {
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header })
        .sign(attacker.privateKey);
      await expectRefused(forged);
    }
  });

  it('kid path traversal and SQL', async () => {
    const [, p, s] = parts(valid.access_token);
    for (const kid of ['../../../../etc/passwd', "' OR '1'='1", '"; DROP TABLE users; --', '', 'x'.repeat(2000)]) {
      await expectRefused(`${b64({ alg: 'ES256', kid, typ: 'at+jwt' })}.${p}.${s}`);
    }
  });

  it('a wrong issuer or audience, even when properly signed', async () => {
    await expectRefused(await withRealKey({ ...claims, iss: 'https://evil.example' }));
    await expectRefused(await withRealKey({ ...claims, aud: 'another-service' }));
  });

  it('expired, not yet valid, or without exp', async () => {
    const now = Math.floor(t.clock.now().getTime() / 1000);
    await expectRefused(await withRealKey({ ...claims, iat: now - 1000, exp: now - 10 }));
    await expectRefused(await withRealKey({ ...claims, nbf: now + 600 }));
    const { exp: _exp, ...noExp } = claims;
    await expectRefused(await withRealKey(noExp));
  });

  it('an iat in the future, beyond 30 s of clock skew', async () => {
    const now = Math.floor(t.clock.now().getTime() / 1000);
    await expectRefused(await withRealKey({ ...claims, iat: now + 120, exp: now + 120 + 900, auth_time: now + 120 }));
    // Within the skew it passes: instances' clocks differ a little.
    const close = await withRealKey({ ...claims, iat: now + 20, exp: now + 900, jti: 'skewed' });
    expect((await dashboard(t, close)).statusCode).toBe(200);
  });

  it('a lifetime longer than ACCESS_TOKEN_TTL: a key thief\'s ten-year token', async () => {
    const now = Math.floor(t.clock.now().getTime() / 1000);
    await expectRefused(await withRealKey({ ...claims, iat: now, exp: now + 10 * 365 * 86400 }));
    await expectRefused(await withRealKey({ ...claims, iat: now, exp: now + 900 + 31 }));
  });

  it('an auth_time after its own iat', async () => {
    const now = Math.floor(t.clock.now().getTime() / 1000);
    await expectRefused(await withRealKey({ ...claims, iat: now, exp: now + 900, auth_time: now + 600 }));
  });

  it('a missing sid, sub, jti, iat or auth_time', async () => {
    for (const claim of ['sid', 'sub', 'jti', 'iat', 'auth_time'] as const) {
      const { [claim]: _dropped, ...rest } = claims;
      await expectRefused(await withRealKey(rest));
    }
  });

  it('a token of another type (typ JWT, or no typ)', async () => {
    await expectRefused(await withRealKey(claims, { typ: 'JWT' }));
    await expectRefused(await withRealKey(claims, { typ: undefined }));
  });

  it('malformed tokens of every shape, and oversized ones', async () => {
    for (const forged of ['a', 'a.b', 'a.b.c', '...', `${b64('not json')}.${b64('{}')}.x`, `${b64({ alg: 'ES256' })}.${b64('[]')}.x`, 'x'.repeat(5000)]) {
      await expectRefused(forged);
    }
  });
});

describe('JWKS', () => {
  it('publishes public keys only, each with one alg and use sig', async () => {
    const res = await t.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    const { keys } = res.json();
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) });
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(secret);
    }
  });

  it('lets another service verify access tokens on its own', async () => {
    const jwks = (await t.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    const { payload, protectedHeader } = await jwtVerify(valid.access_token, createLocalJWKSet(jwks), {
      issuer: PUBLIC_URL,
      audience: 'latchkey',
      typ: 'at+jwt',
      currentDate: t.clock.now(),
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.sub).toBe(claims.sub);
  });
});

describe.each([
  ['EdDSA', { JWT_ALGORITHM: 'EdDSA' }, 'OKP'],
  ['RS256', { JWT_ALGORITHM: 'RS256' }, 'RSA'],
  ['HS256', { JWT_ALGORITHM: 'HS256', JWT_SECRET_KEY: 'k'.repeat(32) }, undefined],
])('JWT_ALGORITHM=%s', (alg, env, kty) => {
  let other: TestApp;
  beforeAll(async () => {
    other = await startTestApp({ env });
  });
  afterAll(() => other.close());

  it('signs with that algorithm and verifies its own tokens', async () => {
    const user = await signUp(other);
    const tokens = await signIn(other, user.email);
    const [h] = parts(tokens.access_token);
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toMatchObject({ alg, typ: 'at+jwt' });
    expect((await other.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(tokens.access_token) })).statusCode).toBe(200);
    // A token of the ES256 server is foreign here.
    expect((await other.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(valid.access_token) })).statusCode).toBe(401);

    const { keys } = (await other.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    if (kty) {
      expect(keys.map((k: { kty: string; alg: string }) => [k.kty, k.alg])).toEqual([[kty, alg]]);
    } else {
      // The HS256 secret is never published.
      expect(keys).toEqual([]);
    }
  });
});
