import { pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcrypt';

/**
 * The most work a stored hash may ask of one sign-in. Whoever can write a hash (an import file, a copy of
 * an old database) could otherwise make every attempt on that account burn seconds of CPU or gigabytes of
 * memory. Each limit admits the defaults of the libraries that made the hashes, with some room.
 */
export const HASH_LIMITS = {
  // werkzeug 3.1's default; 2.3 used 600,000 and 2.0 260,000.
  pbkdf2MaxIterations: 1_000_000,
  // werkzeug's scrypt:32768:8:1 needs 128·N·r = 32 MiB and N·r·p = 2^18 units of work.
  scryptMaxMemoryBytes: 64 * 1024 * 1024,
  scryptMaxWork: 2 ** 19,
  // Python's bcrypt and Flask-Bcrypt default to 12; each step doubles the time.
  bcryptMaxCost: 13,
  argon2MaxMemoryKib: 65_536,
  argon2MaxPasses: 8,
  argon2MaxParallelism: 8,
} as const;

export type ParsedHash =
  | { scheme: 'argon2id' }
  | { scheme: 'pbkdf2'; digest: 'sha256' | 'sha512'; iterations: number; salt: string; hex: string }
  | { scheme: 'scrypt'; n: number; r: number; p: number; salt: string; hex: string }
  | { scheme: 'bcrypt'; cost: number; hash: string };

export type HashProblem = 'unsupported_hash' | 'hash_over_limit' | 'invalid_hash';

export type HashCheck = { ok: true; hash: ParsedHash } | { ok: false; reason: HashProblem; detail: string };

const bad = (reason: HashProblem, detail: string): HashCheck => ({ ok: false, reason, detail });

// werkzeug's salts are letters and digits; anything printable but `$` (its separator) is accepted.
const WERKZEUG_SALT = /^[!-#%-~]{1,128}$/;
const DECIMAL = /^[1-9][0-9]{0,9}$/;
const BCRYPT = /^\$(2[abxy])\$([0-9]{2})\$[./A-Za-z0-9]{53}$/;
// Parameters in any order: the reference implementation writes m,t,p and node-argon2 m,p,t.
const ARGON2ID = /^\$argon2id\$v=19\$([mtp]=[0-9]{1,10},[mtp]=[0-9]{1,10},[mtp]=[0-9]{1,10})\$[A-Za-z0-9+/]{11,86}\$[A-Za-z0-9+/]{16,86}$/;
const MAX_HASH_LENGTH = 512;

/**
 * Recognises a stored password hash and checks it against HASH_LIMITS, without computing anything.
 * Formats: argon2id (Latchkey's own), werkzeug's `pbkdf2:sha256|sha512:<iterations>$salt$hex` and
 * `scrypt:<N>:<r>:<p>$salt$hex`, bcrypt `$2a$`, `$2b$`, `$2y$`. The reasons never quote the hash.
 */
export function parsePasswordHash(hash: string): HashCheck {
  if (hash.length > MAX_HASH_LENGTH) return bad('invalid_hash', `longer than ${MAX_HASH_LENGTH} characters`);
  if (hash.startsWith('$argon2')) return parseArgon2(hash);
  if (hash.startsWith('$2')) return parseBcrypt(hash);
  if (hash.startsWith('pbkdf2:') || hash.startsWith('scrypt:')) return parseWerkzeug(hash);
  if (/^\$(1|5|6|apr1|sha1|md5)\$/.test(hash)) return bad('unsupported_hash', 'a crypt(3) hash (MD5 or SHA-crypt), which Latchkey does not verify');
  if (/^(sha1|sha256|sha512|md5|plain)\$/.test(hash)) return bad('unsupported_hash', 'a plain salted werkzeug digest (before werkzeug 2.3), which Latchkey does not verify');
  return bad('unsupported_hash', 'not a password hash format Latchkey knows (argon2id, werkzeug pbkdf2 or scrypt, bcrypt)');
}

function parseArgon2(hash: string): HashCheck {
  const m = ARGON2ID.exec(hash);
  if (!m) return hash.startsWith('$argon2id$') ? bad('invalid_hash', 'a malformed argon2id hash') : bad('unsupported_hash', 'argon2i and argon2d hashes are not accepted; only argon2id');
  const params = Object.fromEntries(m[1]!.split(',').map((kv) => [kv[0], Number(kv.slice(2))]));
  const [memory, passes, lanes] = [params.m, params.t, params.p];
  if (memory === undefined || passes === undefined || lanes === undefined) return bad('invalid_hash', 'a malformed argon2id hash');
  if (memory > HASH_LIMITS.argon2MaxMemoryKib || passes > HASH_LIMITS.argon2MaxPasses || lanes > HASH_LIMITS.argon2MaxParallelism)
    return bad('hash_over_limit', `argon2id m=${memory},t=${passes},p=${lanes} is above the limits (m ≤ ${HASH_LIMITS.argon2MaxMemoryKib}, t ≤ ${HASH_LIMITS.argon2MaxPasses}, p ≤ ${HASH_LIMITS.argon2MaxParallelism})`);
  if (memory < 8 * lanes || passes < 1 || lanes < 1) return bad('invalid_hash', 'argon2id parameters out of range');
  return { ok: true, hash: { scheme: 'argon2id' } };
}

function parseBcrypt(hash: string): HashCheck {
  const m = BCRYPT.exec(hash);
  if (!m) return bad('invalid_hash', 'a malformed bcrypt hash');
  // crypt_blowfish's $2x$ marks hashes made by its sign-extension bug: no correct implementation matches them.
  if (m[1] === '2x') return bad('unsupported_hash', 'a $2x$ bcrypt hash (crypt_blowfish\'s buggy variant)');
  const cost = Number(m[2]);
  if (cost < 4) return bad('invalid_hash', `bcrypt cost ${cost} is below 4`);
  if (cost > HASH_LIMITS.bcryptMaxCost) return bad('hash_over_limit', `bcrypt cost ${cost} is above the limit of ${HASH_LIMITS.bcryptMaxCost}`);
  // $2y$ (PHP) and $2b$ are the same algorithm; the native library knows only $2a$ and $2b$.
  return { ok: true, hash: { scheme: 'bcrypt', cost, hash: m[1] === '2y' ? `$2b$${hash.slice(4)}` : hash } };
}

// werkzeug's check_password_hash splits on the first two `$`: method, salt, hex digest.
function parseWerkzeug(hash: string): HashCheck {
  const first = hash.indexOf('$');
  const second = hash.indexOf('$', first + 1);
  if (first < 0 || second < 0) return bad('invalid_hash', 'a werkzeug hash needs method$salt$digest');
  const [method, ...args] = hash.slice(0, first).split(':');
  const salt = hash.slice(first + 1, second);
  const hex = hash.slice(second + 1);
  if (!WERKZEUG_SALT.test(salt)) return bad('invalid_hash', 'a werkzeug salt of 1 to 128 printable characters is expected');
  const numbers = (values: string[]) => (values.every((v) => DECIMAL.test(v)) ? values.map(Number) : undefined);

  if (method === 'pbkdf2') {
    // werkzeug always writes the digest and the iterations; without them the default of its version applied.
    if (args.length !== 2) return bad('invalid_hash', 'a werkzeug pbkdf2 hash needs pbkdf2:<digest>:<iterations>');
    const digest = args[0];
    if (digest !== 'sha256' && digest !== 'sha512') return bad('unsupported_hash', 'werkzeug pbkdf2 is accepted with sha256 or sha512 only');
    const [iterations] = numbers([args[1]!]) ?? [];
    if (iterations === undefined) return bad('invalid_hash', 'pbkdf2 iterations must be a positive whole number');
    if (iterations > HASH_LIMITS.pbkdf2MaxIterations)
      return bad('hash_over_limit', `pbkdf2 with ${iterations} iterations is above the limit of ${HASH_LIMITS.pbkdf2MaxIterations}`);
    const keyBytes = digest === 'sha256' ? 32 : 64;
    if (!isLowerHex(hex, keyBytes)) return bad('invalid_hash', `a ${digest} digest of ${keyBytes * 2} lower-case hex digits is expected`);
    return { ok: true, hash: { scheme: 'pbkdf2', digest, iterations, salt, hex } };
  }

  if (method !== 'scrypt') return bad('unsupported_hash', 'werkzeug pbkdf2 or scrypt is expected');
  // werkzeug always writes N, r and p (scrypt:32768:8:1 by default).
  const params = args.length === 3 ? numbers(args) : undefined;
  if (!params) return bad('invalid_hash', 'a werkzeug scrypt hash needs scrypt:<N>:<r>:<p>');
  const [n, r, p] = params as [number, number, number];
  if (n < 2 || (n & (n - 1)) !== 0) return bad('invalid_hash', 'scrypt N must be a power of two');
  if (128 * n * r > HASH_LIMITS.scryptMaxMemoryBytes || n * r * p > HASH_LIMITS.scryptMaxWork)
    return bad('hash_over_limit', `scrypt N=${n}, r=${r}, p=${p} is above the limits (128·N·r ≤ 64 MiB, N·r·p ≤ 2^19)`);
  if (!isLowerHex(hex, 64)) return bad('invalid_hash', 'a scrypt digest of 128 lower-case hex digits is expected');
  return { ok: true, hash: { scheme: 'scrypt', n, r, p, salt, hex } };
}

// werkzeug writes lower-case hex and compares the text: an upper-case digest never matched there either.
function isLowerHex(text: string, bytes: number): boolean {
  return text.length === bytes * 2 && /^[0-9a-f]+$/.test(text);
}

/** True for a hash made elsewhere than by Latchkey's argon2id hasher: it is replaced at the next sign-in. */
export function isLegacyHash(hash: string): boolean {
  return !hash.startsWith('$argon2id$');
}

const BCRYPT_MAX_PASSWORD_BYTES = 72;

/**
 * Checks a password against a werkzeug or bcrypt hash, in constant time, on libuv's thread pool. A hash
 * that is malformed or above HASH_LIMITS verifies nothing. The password is checked exactly as typed (not
 * NFKC-normalised, as Latchkey's own hashes are): the old system hashed the bytes it was given.
 */
export async function verifyLegacyHash(stored: string, password: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (!parsed.ok) return false;
  const hash = parsed.hash;
  const secret = Buffer.from(password, 'utf8');
  switch (hash.scheme) {
    case 'pbkdf2': {
      // werkzeug derives from the salt's text as UTF-8, and stores the key in hex.
      const [salt, key] = [Buffer.from(hash.salt, 'utf8'), Buffer.from(hash.hex, 'hex')];
      const derived = await new Promise<Buffer>((resolve, reject) =>
        pbkdf2(secret, salt, hash.iterations, key.length, hash.digest, (err, out) => (err ? reject(err) : resolve(out))),
      );
      return timingSafeEqual(derived, key);
    }
    case 'scrypt': {
      const { n: N, r, p } = hash;
      const [salt, key] = [Buffer.from(hash.salt, 'utf8'), Buffer.from(hash.hex, 'hex')];
      // OpenSSL needs 128·r·(N + p + 2) bytes; the limit above keeps that under 65 MiB.
      const maxmem = 128 * r * (N + p + 2) + 1024 * 1024;
      const derived = await new Promise<Buffer>((resolve, reject) =>
        scrypt(secret, salt, key.length, { N, r, p, maxmem }, (err, out) => (err ? reject(err) : resolve(out))),
      );
      return timingSafeEqual(derived, key);
    }
    case 'bcrypt':
      // bcrypt reads 72 bytes and stops at a NUL: a longer password, or one with a NUL, would match on a
      // prefix. Latchkey never accepts a password that differs after its 72nd byte, so such a user resets.
      if (secret.length > BCRYPT_MAX_PASSWORD_BYTES || secret.includes(0)) return false;
      return bcrypt.compare(password, hash.hash);
    case 'argon2id':
      return false;
  }
}
