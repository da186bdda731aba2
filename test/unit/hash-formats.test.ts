import { beforeAll, expect, it } from 'vitest';
import { HASH_LIMITS, parsePasswordHash, verifyLegacyHash } from '../../src/auth/passwords/hash-formats.js';
import { createPasswordHasher } from '../../src/auth/passwords/passwords.js';
import { loadConfig } from '../../src/config.js';
import { hasWerkzeug, makeHashes, missingPythonLibraries, pythonChecks, type MadeHash } from '../helpers/python-hashes.js';
import { describeUnless } from '../helpers/skip.js';

const policy = loadConfig({}).password;
const hasher = createPasswordHasher(policy.argon2, policy.hashing);

const missing = missingPythonLibraries();
// A machine without them skips these tests (npm test on a fresh clone); CI must have them.
if (missing && process.env.CI) throw new Error(`These tests check hashes made by the real libraries, and ${missing}.`);

describeUnless(missing)('hashes made by werkzeug and Python bcrypt', () => {
  let made: MadeHash[];
  const LONG = 'a'.repeat(72);

  beforeAll(() => {
    made = makeHashes([
      { kind: 'werkzeug', password: 'scrypt default pw' },
      { kind: 'werkzeug', password: 'pbkdf2 default pw', method: 'pbkdf2' },
      { kind: 'werkzeug', password: 'pbkdf2 sha512 pw', method: 'pbkdf2:sha512:50000' },
      { kind: 'werkzeug', password: 'scrypt small pw', method: 'scrypt:16384:8:1' },
      { kind: 'werkzeug', password: 'ünïcödé ﬁ pässwörd', method: 'pbkdf2:sha256:1000' },
      { kind: 'bcrypt', password: 'bcrypt 2b pw', rounds: 10 },
      { kind: 'bcrypt', password: 'bcrypt 2a pw', rounds: 10, prefix: '2a' },
      { kind: 'bcrypt', password: LONG, rounds: 4 },
      ...(hasWerkzeug(2) ? [{ kind: 'werkzeug' as const, password: 'werkzeug 2.2 default', werkzeug: 2 as const }] : []),
    ]);
  });

  it('are recognised, within the limits, in the formats each library writes', () => {
    const schemes = made.map((m) => [m.hash.split('$')[0] || m.hash.slice(0, 4), parsePasswordHash(m.hash).ok]);
    expect(schemes.slice(0, 8)).toEqual([
      ['scrypt:32768:8:1', true],
      ['pbkdf2:sha256:1000000', true],
      ['pbkdf2:sha512:50000', true],
      ['scrypt:16384:8:1', true],
      ['pbkdf2:sha256:1000', true],
      ['$2b$', true],
      ['$2a$', true],
      ['$2b$', true],
    ]);
    if (made[8]) expect(made[8].hash).toMatch(/^pbkdf2:sha256:260000\$/);
  });

  it('verify with the right password only, through the password hasher as sign-in uses it', async () => {
    for (const { password, hash, library } of made) {
      expect(await hasher.verify(hash, password), `${library} ${hash.slice(0, 20)}`).toBe(true);
      expect(await hasher.verify(hash, `${password}x`), library).toBe(false);
      expect(await hasher.verify(hash, password.slice(0, -1)), library).toBe(false);
      expect(hasher.needsRehash(hash), library).toBe(true);
    }
  });

  it('check the password exactly as typed: the old app hashed its bytes without normalising them', async () => {
    const unicode = made[4]!;
    expect(await verifyLegacyHash(unicode.hash, 'ünïcödé ﬁ pässwörd')).toBe(true);
    expect(await verifyLegacyHash(unicode.hash, 'ünïcödé fi pässwörd')).toBe(false);
    expect(await verifyLegacyHash(unicode.hash, 'ünïcödé ﬁ pässwörd'.normalize('NFD'))).toBe(false);
  });

  it('accept $2y$ as Python bcrypt does, and refuse a password past bcrypt\'s 72 bytes rather than truncate it', async () => {
    const b = made[5]!;
    const as2y = `$2y$${b.hash.slice(4)}`;
    expect(pythonChecks('bcrypt-check', [{ password: b.password, hash: as2y }])).toEqual([true]);
    expect(await hasher.verify(as2y, b.password)).toBe(true);

    const long = made[7]!;
    // The real library matches any suffix after 72 bytes; Latchkey never lets a password differ after them.
    expect(pythonChecks('bcrypt-check', [{ password: `${LONG}suffix`, hash: long.hash }])).toEqual([true]);
    expect(await hasher.verify(long.hash, LONG)).toBe(true);
    expect(await hasher.verify(long.hash, `${LONG}suffix`)).toBe(false);
    expect(await hasher.verify(b.hash, `${b.password}\u0000anything`)).toBe(false);
  });

  it('agree with werkzeug\'s own check on every hash and a wrong password', async () => {
    const werkzeug = made.filter((m) => m.library.startsWith('werkzeug'));
    const pairs = werkzeug.flatMap((m) => [m, { password: `${m.password}!`, hash: m.hash }]);
    const theirs = pythonChecks('werkzeug-check', pairs);
    const ours = await Promise.all(pairs.map((p) => verifyLegacyHash(p.hash, p.password)));
    expect(ours).toEqual(theirs);
  });
});

describeUnless(missing)('hostile and malformed hashes', () => {
  const hex = (bytes: number) => 'ab'.repeat(bytes);

  it('are refused with a reason, never computed', () => {
    const cases: [string, string][] = [
      [`pbkdf2:sha256:${HASH_LIMITS.pbkdf2MaxIterations + 1}$salt$${hex(32)}`, 'hash_over_limit'],
      [`pbkdf2:sha256:99999999999$salt$${hex(32)}`, 'invalid_hash'],
      [`pbkdf2:sha512:2000000$salt$${hex(64)}`, 'hash_over_limit'],
      [`scrypt:1048576:8:1$salt$${hex(64)}`, 'hash_over_limit'],
      [`scrypt:32768:8:4$salt$${hex(64)}`, 'hash_over_limit'],
      [`scrypt:32768:64:1$salt$${hex(64)}`, 'hash_over_limit'],
      [`scrypt:1000:8:1$salt$${hex(64)}`, 'invalid_hash'],
      [`$2b$${HASH_LIMITS.bcryptMaxCost + 1}$${'a'.repeat(53)}`, 'hash_over_limit'],
      [`$2b$31$${'a'.repeat(53)}`, 'hash_over_limit'],
      [`$2b$03$${'a'.repeat(53)}`, 'invalid_hash'],
      [`$2x$10$${'a'.repeat(53)}`, 'unsupported_hash'],
      [`$argon2id$v=19$m=4194304,t=3,p=1$c2FsdHNhbHRzYWx0$${'a'.repeat(43)}`, 'hash_over_limit'],
      [`$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$${'a'.repeat(43)}`, 'unsupported_hash'],
      [`pbkdf2:md5:1000$salt$${hex(16)}`, 'unsupported_hash'],
      [`pbkdf2:sha256$salt$${hex(32)}`, 'invalid_hash'],
      [`pbkdf2:sha256:1000$salt$${hex(32).toUpperCase()}`, 'invalid_hash'],
      [`pbkdf2:sha256:1000$$${hex(32)}`, 'invalid_hash'],
      [`sha256$salt$${hex(32)}`, 'unsupported_hash'],
      ['$6$rounds=5000$salt$hash', 'unsupported_hash'],
      ['hunter2', 'unsupported_hash'],
      ["' OR 1=1; --", 'unsupported_hash'],
      [`pbkdf2:sha256:1000$salt$${'a'.repeat(100_000)}`, 'invalid_hash'],
    ];
    for (const [hash, reason] of cases) {
      const check = parsePasswordHash(hash);
      expect(check.ok ? 'ok' : check.reason, hash.slice(0, 40)).toBe(reason);
      if (!check.ok) expect(check.detail).not.toContain(hash.slice(-20));
    }
  });

  it('verify nothing, at once, when one reaches the database anyway', async () => {
    const started = performance.now();
    expect(await hasher.verify(`pbkdf2:sha256:999999999$salt$${hex(32)}`, 'password')).toBe(false);
    expect(await hasher.verify(`scrypt:4194304:8:1$salt$${hex(64)}`, 'password')).toBe(false);
    expect(await hasher.verify(`$2b$31$${'a'.repeat(53)}`, 'password')).toBe(false);
    expect(await hasher.verify('garbage', 'password')).toBe(false);
    expect(performance.now() - started).toBeLessThan(100);
  });
});
