import { describe, expect, it } from 'vitest';
import { commonPasswordCount, isCommonPassword } from '../../src/auth/passwords/common-passwords.js';
import { assertPasswordAcceptable, createPasswordHasher, passwordLength } from '../../src/auth/passwords/passwords.js';
import { loadConfig } from '../../src/config.js';

const policy = loadConfig({}).password;
const hasher = createPasswordHasher(policy.argon2, policy.hashing);

describe('password policy', () => {
  it('knows at least 10,000 common passwords', () => {
    expect(commonPasswordCount()).toBeGreaterThanOrEqual(10_000);
    for (const p of ['123456', 'password', 'qwerty123', 'iloveyou', 'Password1']) expect(isCommonPassword(p), p).toBe(true);
    expect(isCommonPassword('correct horse battery staple')).toBe(false);
  });

  it('counts characters after NFKC, not bytes or UTF-16 units', () => {
    expect(passwordLength('🔑🔑🔑🔑')).toBe(4);
    expect(passwordLength('ﬁ')).toBe(2);
    expect(() => assertPasswordAcceptable('🔑'.repeat(8), policy)).not.toThrow();
    expect(() => assertPasswordAcceptable('🔑'.repeat(7), policy)).toThrow(/at least 8/);
  });
});

describe('argon2id hashing', () => {
  it('uses OWASP parameters and a fresh salt per hash', async () => {
    const a = await hasher.hash('same password');
    const b = await hasher.hash('same password');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(a).not.toBe(b);
    expect(await hasher.verify(a, 'same password')).toBe(true);
    expect(await hasher.verify(b, 'same password')).toBe(true);
  });

  it('answers false, not an error, to a malformed hash', async () => {
    expect(await hasher.verify('not-a-hash', 'x')).toBe(false);
  });

  it('flags hashes made with weaker parameters for an upgrade', async () => {
    const weak = createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 }, policy.hashing);
    const old = await weak.hash('some password');
    expect(hasher.needsRehash(old)).toBe(true);
    expect(hasher.needsRehash(await hasher.hash('some password'))).toBe(false);
  });
});
