import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { rotateSigningKey } from '../../src/auth/keys/key-rotation.js';
import { sealPrivateJwk, signingKeySealer } from '../../src/auth/keys/key-store.js';
import { open, SealOpenError } from '../../src/core/secret-box.js';
import { signingKeys } from '../../src/db/schema.js';
import { dashboard, PUBLIC_URL, signIn, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestClock } from '../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { entry } from '../helpers/server-process.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const TTL = 900;
const SKEW = 30;
const LEAD = 300;

// Each test has its own database and data folder, and stops what it started.
let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const clean of cleanups.reverse()) await clean();
  cleanups = [];
});

async function fresh(): Promise<{ database: TestDatabase; dataDir: string }> {
  const database = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-keys-'));
  cleanups.push(() => database.drop(), () => rm(dataDir, { recursive: true, force: true }));
  return { database, dataDir };
}

async function accessToken(t: TestApp): Promise<string> {
  const user = await signUp(t);
  return (await signIn(t, user.email)).access_token;
}

const storedKeys = (t: TestApp) => t.deps.db.select().from(signingKeys);
const jwksOf = async (t: TestApp) => (await t.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as { keys: JWK[] };
const kidsOf = async (t: TestApp) => (await jwksOf(t)).keys.map((k) => k.kid).sort();

/** Accepted by the server itself and by a verifier holding the server's published JWKS. */
async function expectVerifies(t: TestApp, token: string) {
  expect((await dashboard(t, token)).statusCode).toBe(200);
  await jwtVerify(token, createLocalJWKSet(await jwksOf(t)), { issuer: PUBLIC_URL, audience: 'latchkey', currentDate: t.clock.now() });
}

// Several starts of the server per test, on a machine other test files share.
describe('private signing keys at rest', { timeout: 90_000 }, () => {
  it('are sealed: no private member in any column, and they open only with the secret and their own kid', async () => {
    const { database } = await fresh();
    const t = await startTestApp({ database });
    cleanups.push(() => t.close());
    const rows = await storedKeys(t);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    for (const column of Object.values(row)) {
      const text = typeof column === 'string' ? column : JSON.stringify(column);
      for (const member of PRIVATE_MEMBERS) expect(text).not.toContain(`"${member}":`);
    }
    // The sealed bytes hold no JSON in clear either.
    expect(Buffer.from(row.privateKeySealed!.split('.')[1]!, 'base64url').toString('latin1')).not.toContain('"d"');

    const opened = JSON.parse(open(signingKeySealer(database.secretKey), row.privateKeySealed!, row.kid).toString()) as JWK;
    expect(opened.d).toEqual(expect.any(String));
    expect(await calculateJwkThumbprint({ kty: opened.kty, crv: opened.crv, x: opened.x, y: opened.y })).toBe(row.kid);
    expect(() => open(signingKeySealer(randomBytes(32).toString('base64url')), row.privateKeySealed!, row.kid)).toThrow(SealOpenError);
    expect(() => open(signingKeySealer(database.secretKey), row.privateKeySealed!, 'another-kid')).toThrow(SealOpenError);

    // A rotation (as `keys rotate` will run it) with another secret adds no key that no instance could open.
    const stranger = { ...t.deps, sealingKey: signingKeySealer(randomBytes(32).toString('base64url')), secretSource: 'SECRET_KEY' };
    await expect(rotateSigningKey(stranger, { alg: 'ES256' })).rejects.toThrow(/SECRET_KEY: the signing keys in the database/);
    expect(await storedKeys(t)).toHaveLength(1);
  });

  it('without SECRET_KEY, are sealed with a secret generated into DATA_DIR, owner-only, and kept across restarts', async () => {
    const { database, dataDir } = await fresh();
    const clock = createTestClock();
    // SECRET_KEY empty is SECRET_KEY unset.
    const env = { SECRET_KEY: '' };
    const first = await startTestApp({ database, dataDir, clock, env });
    const kid = first.deps.keys.current.kid;
    const token = await accessToken(first);
    await first.close();

    const file = join(dataDir, 'secret-key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const secret = (await readFile(file, 'utf8')).trim();
    expect(Buffer.byteLength(secret)).toBeGreaterThanOrEqual(32);
    const second = await startTestApp({ database, dataDir, clock, env });
    cleanups.push(() => second.close());
    expect(second.deps.keys.current.kid).toBe(kid);
    await expectVerifies(second, token);
    const [row] = await storedKeys(second);
    // The file's content is the secret: setting SECRET_KEY to it is the same as keeping the file.
    expect(() => open(signingKeySealer(secret), row!.privateKeySealed!, row!.kid)).not.toThrow();
  });

  it('without SECRET_KEY and with no writable DATA_DIR, stop the start naming SECRET_KEY', async () => {
    const { database, dataDir } = await fresh();
    await writeFile(join(dataDir, 'not-a-folder'), '');
    const refused = await startTestApp({ database, dataDir: join(dataDir, 'not-a-folder', 'data'), env: { SECRET_KEY: '' } }).then(
      () => new Error('started'),
      (err: Error) => err,
    );
    expect(refused.name).toBe('ConfigError');
    expect(refused.message).toMatch(/SECRET_KEY: unset, and .*secret-key cannot be read or created \(ENOTDIR\); set SECRET_KEY/);
  });

  it('refuse an instance with another SECRET_KEY, naming SECRET_KEY; the same SECRET_KEY keeps the key', async () => {
    const { database, dataDir } = await fresh();
    const clock = createTestClock();
    const first = await startTestApp({ database, dataDir, clock });
    const kid = first.deps.keys.current.kid;
    // On PostgreSQL the first instance keeps running; the embedded database serves one process at a time.
    if (database.engine === 'pglite') await first.close();
    else cleanups.push(() => first.close());

    const other = { SECRET_KEY: randomBytes(32).toString('base64url') };
    const refused = await startTestApp({ database, dataDir, clock, env: other }).then(
      () => new Error('started'),
      (err: Error) => err,
    );
    expect(refused.name).toBe('ConfigError');
    expect(refused.message).toMatch(/SECRET_KEY: the signing keys in the database were encrypted with another secret/);

    // Started as a real process, it stops with that message and no stack trace; on PostgreSQL with two
    // server processes, whose supervisor stops too rather than starting new ones forever.
    const output = await runServerProcess({
      DATA_DIR: dataDir,
      ...other,
      ...(database.url ? { DATABASE_URL: database.url, WORKERS: '2' } : {}),
    });
    expect(output.code).toBe(1);
    expect(output.text).toContain('Latchkey cannot start.');
    expect(output.text).toContain('SECRET_KEY: the signing keys in the database were encrypted with another secret');
    expect(output.text).not.toContain('    at ');

    const again = await startTestApp({ database, dataDir, clock });
    cleanups.push(() => again.close());
    expect(again.deps.keys.current.kid).toBe(kid);
    expect(await storedKeys(again)).toHaveLength(1);
  });

  it('are never taken from the database alone: a key someone writes there is ignored while running and refused at start', async () => {
    const { database, dataDir } = await fresh();
    const clock = createTestClock();
    const t = await startTestApp({ database, dataDir, clock });
    // An attacker with write access to the database adds a key pair of their own, signing with it at
    // once, sealed under a secret of their own (they do not have this instance's).
    const pair = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(pair.publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const theirs = signingKeySealer(randomBytes(32).toString('base64url'));
    await t.deps.db.insert(signingKeys).values({
      kid,
      alg: 'ES256',
      publicJwk,
      privateKeySealed: sealPrivateJwk(await exportJWK(pair.privateKey), kid, theirs),
      createdAt: clock.now(),
      activatesAt: clock.now(),
    });
    await t.deps.keys.reload();
    expect(await kidsOf(t)).not.toContain(kid);
    const user = await signUp(t);
    const forged = await new SignJWT({ sid: '00000000-0000-4000-8000-000000000000', auth_time: Math.floor(clock.now().getTime() / 1000) })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(PUBLIC_URL)
      .setAudience('latchkey')
      .setSubject(user.id)
      .setJti('forged')
      .setIssuedAt(Math.floor(clock.now().getTime() / 1000))
      .setExpirationTime(Math.floor(clock.now().getTime() / 1000) + 600)
      .sign(pair.privateKey);
    expect((await dashboard(t, forged)).statusCode).toBe(401);
    // The server's own tokens are still signed with its own key.
    expect(decodeProtectedHeader(await accessToken(t)).kid).not.toBe(kid);
    expect(t.logs.join('')).toContain('does not open with this instance');
    await t.close();
    // At start, a key that this secret did not seal stops the server rather than being used.
    await expect(startTestApp({ database, dataDir, clock })).rejects.toThrow(/SECRET_KEY/);
  });
});

describeUnless(NO_POSTGRES)('instances starting together on an empty PostgreSQL database', { timeout: 90_000 }, () => {
  // A property kept from before (then: all settled on the oldest key; now: the keys' lock lets one create it).
  it('settle on one key', async () => {
    const { database } = await fresh();
    const started = await Promise.all([0, 1, 2].map(() => startTestApp({ database })));
    for (const t of started) cleanups.push(() => t.close());
    expect(new Set(started.map((t) => t.deps.keys.current.kid)).size).toBe(1);
    expect(await storedKeys(started[0]!)).toHaveLength(1);
  });
});

describe('a change of JWT_ALGORITHM between two starts', { timeout: 90_000 }, () => {
  /** A first start on the default ES256, which signs one token and stops. */
  async function startedOnceWithES256() {
    const { database, dataDir } = await fresh();
    const clock = createTestClock();
    const first = await startTestApp({ database, dataDir, clock });
    const es256 = first.deps.keys.current.kid;
    const before = await accessToken(first);
    await first.close();
    return { database, dataDir, clock, es256, before };
  }

  it('is a rotation: the old key signs until the new one is published long enough, and verifies until its tokens expire', async () => {
    const { database, dataDir, clock, es256, before } = await startedOnceWithES256();

    const t = await startTestApp({ database, dataDir, clock, env: { JWT_ALGORITHM: 'EdDSA' } });
    cleanups.push(() => t.close());
    const { keys } = await jwksOf(t);
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA']);
    const eddsa = keys.find((k) => k.alg === 'EdDSA')!.kid!;
    // Published, not signing yet: verifiers caching the JWKS get the new key first.
    const during = await accessToken(t);
    expect(decodeProtectedHeader(during)).toMatchObject({ alg: 'ES256', kid: es256 });

    clock.advance(LEAD);
    const after = await accessToken(t);
    expect(decodeProtectedHeader(after)).toMatchObject({ alg: 'EdDSA', kid: eddsa });
    for (const token of [before, during, after]) await expectVerifies(t, token);

    // `during` was signed at the restart and lives TTL: it verifies until then.
    clock.advance(TTL - LEAD - 1);
    await expectVerifies(t, during);
    clock.advance(LEAD + SKEW + 2);
    await t.deps.keys.maintain();
    expect((await storedKeys(t)).map((r) => r.kid)).toEqual([eddsa]);
    expect(await kidsOf(t)).toEqual([eddsa]);
    await expectVerifies(t, await accessToken(t));

    // A third start with the same setting rotates nothing.
    await t.close();
    cleanups.pop();
    const third = await startTestApp({ database, dataDir, clock, env: { JWT_ALGORITHM: 'EdDSA' } });
    cleanups.push(() => third.close());
    expect((await storedKeys(third)).map((r) => r.kid)).toEqual([eddsa]);
  });

  it('to HS256 retires the stored keys: their tokens verify until they expire, then the keys leave', async () => {
    const { database, dataDir, clock, es256, before } = await startedOnceWithES256();

    const t = await startTestApp({ database, dataDir, clock, env: { JWT_ALGORITHM: 'HS256', JWT_SECRET_KEY: 'k'.repeat(32) } });
    cleanups.push(() => t.close());
    expect(decodeProtectedHeader(await accessToken(t)).alg).toBe('HS256');
    expect((await dashboard(t, before)).statusCode).toBe(200);
    expect(await kidsOf(t)).toEqual([es256]);
    clock.advance(TTL + SKEW);
    await t.deps.keys.maintain();
    expect(await kidsOf(t)).toEqual([]);
    expect(await storedKeys(t)).toEqual([]);
  });
});

const ROOT = new URL('../..', import.meta.url).pathname;

function runServerProcess(env: Record<string, string>): Promise<{ code: number | null; text: string }> {
  const child = spawn(process.execPath, entry('main'), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', PORT: '0', HOST: '127.0.0.1', WORKERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Should it start after all, the test fails on its timeout; the process must not outlive it.
  cleanups.push(async () => void child.kill('SIGKILL'));
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  child.stderr.on('data', (d) => (text += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, text })));
}
