import { asc, eq } from 'drizzle-orm';
import { expect } from 'vitest';
import type { RawUserRow } from '../../src/auth/import/import-rows.js';
import { importUserBatch } from '../../src/auth/import/user-import.js';
import { users } from '../../src/db/schema.js';
import { importUsers, type ImportUsersOptions } from '../../src/import/import-users.js';
import type { TestApp } from './app.js';
import { makeHashes, type HashSpec } from './python-hashes.js';

export interface LegacyUser {
  id: number | string;
  name: string;
  email: string;
  password: string;
  hash: string;
  library: string;
}

/** Users of an old app, each with a password hash made by the library that app used. */
export function legacyUsers(prefix: string, specs: HashSpec[]): LegacyUser[] {
  const made = makeHashes(specs.map((spec, i) => ({ ...spec, password: `${prefix} old password ${i} ✓` })));
  return made.map((m, i) => ({
    id: i + 1,
    name: `${prefix} user ${i + 1}`,
    email: `${prefix}.user${i + 1}@legacy.example`,
    password: m.password,
    hash: m.hash,
    library: m.library,
  }));
}

/** Imports straight into the test app's database, as the command line does without a server. */
export function importInto(t: TestApp, source: AsyncIterable<RawUserRow>, options: Partial<ImportUsersOptions> & { dryRun?: boolean } = {}) {
  const { dryRun, ...rest } = options;
  return importUsers({
    source,
    apply: (batch) => importUserBatch(t.deps.db, batch, { dryRun, now: t.clock.now() }),
    now: () => t.clock.now(),
    ...rest,
  });
}

export async function storedUser(t: TestApp, email: string) {
  const [row] = await t.deps.db.select().from(users).where(eq(users.email, email));
  return row;
}

/** Every user row, to prove a run changed nothing. */
export function allUsers(t: TestApp) {
  return t.deps.db.select().from(users).orderBy(asc(users.email));
}

const signin = (t: TestApp, email: string, password: string) => t.inject({ method: 'POST', url: '/api/signin', payload: { email, password } });

/**
 * The imported user signs in over HTTP with the old password, after a wrong one is refused; the stored
 * hash is then argon2id, and the old password keeps working.
 */
export async function expectSignInUpgrades(t: TestApp, user: { email: string; password: string; hash: string; library?: string }) {
  const email = user.email.trim().toLowerCase();
  const what = `${user.library ?? ''} ${user.hash.slice(0, 22)}`;
  expect((await signin(t, email, `${user.password}?`)).statusCode, what).toBe(401);
  expect((await storedUser(t, email))?.passwordHash, what).toBe(user.hash);

  const res = await signin(t, user.email.trim(), user.password);
  expect(res.statusCode, `${what}: ${res.body}`).toBe(200);
  expect(res.json().user.email).toBe(email);
  const upgraded = (await storedUser(t, email))!.passwordHash;
  expect(upgraded, what).toMatch(/^\$argon2id\$/);

  expect((await signin(t, email, user.password)).statusCode, what).toBe(200);
  expect((await signin(t, email, `${user.password}?`)).statusCode, what).toBe(401);
  expect((await storedUser(t, email))!.passwordHash).toBe(upgraded);
}
