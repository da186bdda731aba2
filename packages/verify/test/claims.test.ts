import { createHmac } from 'node:crypto';
import { CompactSign } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, LatchkeyVerifyError, type Verifier, type VerifierOptions } from '../src/index.js';
import { AUDIENCE, b64url, ISSUER, jwksServer, makeKey, memoryLogger, token, type TestKey } from './helpers.js';

/** Crafted tokens, signed with keys of our own served from a JWKS of our own: everything Latchkey never issues. */
describe('token checks against a JWKS of our own', () => {
  let es256: TestKey;
  let other: TestKey;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let verifier: Verifier;
  const verifiers: Verifier[] = [];

  function make(options: Partial<VerifierOptions> = {}) {
    const v = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: jwks.jwksUrl, logger: memoryLogger(), ...options });
    verifiers.push(v);
    return v;
  }

  async function refused(v: Verifier, t: string): Promise<string> {
    const err = await v.verify(t).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LatchkeyVerifyError);
    return (err as LatchkeyVerifyError).code;
  }

  beforeAll(async () => {
    es256 = await makeKey('ES256');
    other = await makeKey('ES256'); // never published
    const rs = await makeKey('RS256');
    const ed = await makeKey('EdDSA');
    const ps = await makeKey('PS256');
    jwks = await jwksServer([es256, rs, ed, ps]);
    verifier = make();
    await verifier.ready();
  });
  afterAll(async () => {
    for (const v of verifiers) v.close();
    await jwks.close();
  });

  it('accepts a well-formed token and answers its claims', async () => {
    const t = await token(es256, { claims: { sub: 'user-42', sid: 'session-7' } });
    const claims = await verifier.verify(t);
    expect(claims).toMatchObject({ iss: ISSUER, aud: AUDIENCE, sub: 'user-42', sid: 'session-7' });
    expect(typeof claims.jti).toBe('string');
    expect(typeof claims.auth_time).toBe('number');
    expect(Object.isFrozen(claims)).toBe(true);
    // A second time from the cache: the same claims.
    expect(await verifier.verify(t)).toBe(claims);
  });

  it('verifies each algorithm Latchkey may sign with, pinned by the key', async () => {
    for (const alg of ['RS256', 'EdDSA', 'PS256']) {
      const key = await makeKey(alg);
      jwks.state.keys.push(key.jwk);
      const v = make();
      expect((await v.verify(await token(key))).sub).toBe('user-1');
    }
  });

  it('takes the JWKS from the issuer by default', async () => {
    const v = make({ issuer: jwks.url, jwksUrl: undefined });
    expect((await v.verify(await token(es256, { claims: { iss: jwks.url } }))).iss).toBe(jwks.url);
  });

  it('refuses a wrong issuer or audience', async () => {
    expect(await refused(verifier, await token(es256, { claims: { iss: 'https://evil.example' } }))).toBe('invalid_token');
    expect(await refused(verifier, await token(es256, { claims: { aud: 'another-api' } }))).toBe('invalid_token');
    expect(await refused(verifier, await token(es256, { omit: ['aud'] }))).toBe('invalid_token');
    // An audience list holding ours is an audience of ours.
    expect((await verifier.verify(await token(es256, { claims: { aud: ['another-api', AUDIENCE] } }))).sub).toBe('user-1');
  });

  it('refuses a typ other than at+jwt, and a critical header it does not know', async () => {
    expect(await refused(verifier, await token(es256, { header: { typ: 'JWT' } }))).toBe('invalid_token');
    expect(await refused(verifier, await token(es256, { header: { typ: undefined } }))).toBe('invalid_token');
    expect((await verifier.verify(await token(es256, { header: { typ: 'application/AT+JWT' } }))).sub).toBe('user-1');
    const now = Math.floor(Date.now() / 1000);
    const payload = new TextEncoder().encode(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'u', sid: 's', jti: 'j', auth_time: now, iat: now, exp: now + 60, x: 1 }));
    const critical = await new CompactSign(payload)
      .setProtectedHeader({ alg: 'ES256', kid: es256.kid, typ: 'at+jwt', crit: ['x'], x: 1 } as never)
      .sign(es256.privateKey, { crit: { x: true } });
    expect(await refused(verifier, critical)).toBe('invalid_token');
  });

  it("refuses an algorithm other than the key's, none, and HS256 made with the public key", async () => {
    const good = await token(es256);
    const [, payload, signature] = good.split('.');
    const header = (h: object) => b64url({ kid: es256.kid, typ: 'at+jwt', ...h });
    expect(await refused(verifier, `${header({ alg: 'ES384' })}.${payload}.${signature}`)).toBe('invalid_token');
    expect(await refused(verifier, `${header({ alg: 'none' })}.${payload}.`)).toBe('invalid_token');
    expect(await refused(verifier, `${header({ alg: 'none' })}.${payload}.${signature}`)).toBe('invalid_token');
    const hsInput = `${header({ alg: 'HS256' })}.${payload}`;
    const hs = createHmac('sha256', JSON.stringify(es256.jwk)).update(hsInput).digest('base64url');
    expect(await refused(verifier, `${hsInput}.${hs}`)).toBe('invalid_token');
    // The key embedded in the header, or named by jku, is never used.
    const embedded = await token(other, { header: { kid: es256.kid, jwk: other.jwk, jku: `${jwks.url}/evil.json` } });
    expect(await refused(verifier, embedded)).toBe('invalid_token');
  });

  it('refuses a stripped or altered signature, a key nobody published, and garbage', async () => {
    const good = await token(es256);
    const [h, p, s] = good.split('.') as [string, string, string];
    expect(await refused(verifier, `${h}.${p}.`)).toBe('invalid_token');
    expect(await refused(verifier, `${h}.${p}`)).toBe('invalid_token');
    expect(await refused(verifier, `${h}.${b64url({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })}.${s}`)).toBe(
      'invalid_token',
    );
    // The psychic signature (r = s = 0).
    expect(await refused(verifier, `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`)).toBe('invalid_token');
    expect(await refused(verifier, await token(other))).toBe('invalid_token');
    for (const junk of ['', 'abc', 'a.b.c', '...', `${h}.${p}.${s}.x`, `${h}.${p}.${s}=`, `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`])
      expect(await refused(verifier, junk)).toBe('invalid_token');
    expect(await refused(verifier, 42 as unknown as string)).toBe('invalid_token');
  });

  it('refuses a token longer than 4 KiB before parsing it', async () => {
    const long = await token(es256, { claims: { padding: 'x'.repeat(4200) } });
    expect(long.length).toBeGreaterThan(4096);
    expect(await refused(verifier, long)).toBe('invalid_token');
    expect((await make({ maxTokenLength: 8192 }).verify(long)).sub).toBe('user-1');
  });

  it('refuses an expired token with token_expired, also from the cache', async () => {
    expect(await refused(verifier, await token(es256, { now: Date.now() - 901_000 }))).toBe('token_expired');
    let now = Date.now();
    const v = make({ now: () => now });
    const t = await token(es256, { now, lifetime: 60 });
    await v.verify(t);
    now += 60_000;
    expect(await refused(v, t)).toBe('token_expired');
  });

  it('refuses iat or auth_time in the future beyond the tolerance, and a future nbf', async () => {
    expect(await refused(verifier, await token(es256, { now: Date.now() + 31_000 }))).toBe('invalid_token');
    expect((await verifier.verify(await token(es256, { now: Date.now() + 20_000 }))).sub).toBe('user-1');
    expect(await refused(make({ clockTolerance: 5 }), await token(es256, { now: Date.now() + 20_000 }))).toBe('invalid_token');
    const now = Math.floor(Date.now() / 1000);
    expect(await refused(verifier, await token(es256, { claims: { auth_time: now + 60 } }))).toBe('invalid_token');
    expect(await refused(verifier, await token(es256, { claims: { nbf: now + 60 } }))).toBe('invalid_token');
  });

  it('refuses a lifetime over maxTokenLifetime plus the tolerance', async () => {
    expect((await verifier.verify(await token(es256, { lifetime: 930 }))).sub).toBe('user-1');
    expect(await refused(verifier, await token(es256, { lifetime: 931 }))).toBe('invalid_token');
    expect(await refused(verifier, await token(es256, { lifetime: 86_400 }))).toBe('invalid_token');
    expect((await make({ maxTokenLifetime: 3600 }).verify(await token(es256, { lifetime: 3600 }))).sub).toBe('user-1');
  });

  it('refuses to start with a bound that would disable its check (NaN, Infinity, negative, not a number)', () => {
    // `exp - iat > NaN` and `iat > now + NaN` are false: such a verifier would accept any lifetime or issue time.
    for (const name of ['clockTolerance', 'maxTokenLifetime', 'maxTokenLength', 'maxStaleness', 'cacheSize', 'jwksCacheMaxAge', 'jwksCooldown', 'jwksTimeout']) {
      for (const value of [Number.NaN, Number.POSITIVE_INFINITY, -5, '30']) {
        expect(() => make({ [name]: value }), `${name}: ${String(value)}`).toThrow(new RegExp(`^${name} must be`));
      }
    }
  });

  it('refuses a token without one of the claims Latchkey always sets', async () => {
    for (const claim of ['sub', 'sid', 'jti', 'iat', 'exp', 'auth_time'])
      expect(await refused(verifier, await token(es256, { omit: [claim] })), claim).toBe('invalid_token');
    expect(await refused(verifier, await token(es256, { claims: { sid: 12 as unknown as string } }))).toBe('invalid_token');
  });

  it('ignores published keys without alg, with an algorithm it refuses, or sharing a kid', async () => {
    const bare = await makeKey('ES256');
    const hs = await makeKey('ES256');
    const twin = await makeKey('ES256', 'twin');
    const twin2 = await makeKey('ES256', 'twin');
    const { alg: _alg, ...withoutAlg } = bare.jwk;
    jwks.state.keys.push(withoutAlg, { ...hs.jwk, alg: 'HS256' }, twin.jwk, twin2.jwk, { kty: 'oct', k: 'c2VjcmV0', kid: 'oct', alg: 'HS256' });
    const v = make();
    await v.ready();
    for (const k of [bare, hs, twin]) expect(await refused(v, await token(k))).toBe('invalid_token');
    expect(await refused(v, await token(hs, { header: { alg: 'HS256' } }).catch(() => 'x.y.z'))).toBe('invalid_token');
    jwks.state.keys = jwks.state.keys.filter((k) => k.kid !== bare.kid && k.kid !== hs.kid && k.kid !== 'twin' && k.kid !== 'oct');
  });

  it('fetches again for an unknown kid, at most once per cooldown', async () => {
    let now = Date.now();
    const v = make({ now: () => now });
    await v.ready();
    const fetches = jwks.state.fetches;
    const later = await makeKey('ES256');
    // Within the cooldown of the first fetch: no fetch at all.
    expect(await refused(v, await token(later, { now }))).toBe('invalid_token');
    expect(jwks.state.fetches).toBe(fetches);
    // After it, not published yet: one fetch, then the cooldown holds back the next ones.
    now += 30_000;
    expect(await refused(v, await token(later, { now }))).toBe('invalid_token');
    expect(await refused(v, await token(later, { now }))).toBe('invalid_token');
    expect(jwks.state.fetches).toBe(fetches + 1);
    jwks.state.keys.push(later.jwk);
    now += 29_000;
    expect(await refused(v, await token(later, { now }))).toBe('invalid_token');
    expect(jwks.state.fetches).toBe(fetches + 1);
    now += 1_000;
    expect((await v.verify(await token(later, { now }))).sub).toBe('user-1');
    expect(jwks.state.fetches).toBe(fetches + 2);
  });

  it('refreshes the JWKS in the background after its max-age, without holding a verification', async () => {
    let now = Date.now();
    const v = make({ now: () => now });
    await v.ready();
    const fetches = jwks.state.fetches;
    now += 301_000;
    expect((await v.verify(await token(es256, { now }))).sub).toBe('user-1');
    await new Promise((r) => setTimeout(r, 50));
    expect(jwks.state.fetches).toBe(fetches + 1);
  });

  it('answers jwks_unavailable while no key set can be fetched, and ready() rejects', async () => {
    jwks.state.status = 503;
    try {
      const logger = memoryLogger();
      const v = make({ logger });
      await expect(v.ready()).rejects.toThrow(/503/);
      expect(await refused(v, await token(es256))).toBe('jwks_unavailable');
      expect(logger.lines.some((l) => l.message.includes('JWKS'))).toBe(true);
    } finally {
      jwks.state.status = 200;
    }
  });
});
