import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hashToken } from '../../src/core/secrets.js';
import { oneTimeTokens, sessions, users } from '../../src/db/schema.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, useTwoInstances, type SignedUp, type TestApp } from '../helpers/app.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

const NEW_PASSWORD = 'an entirely new passphrase';

/** A usable reset link for the user, made as forgot-password makes one (only its hash is stored). */
async function resetLinkFor(t: TestApp, user: SignedUp): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  const now = t.deps.clock.now();
  await t.deps.db.insert(oneTimeTokens).values({ type: 'password_reset', tokenHash: hashToken(token), userId: user.id, createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000) });
  return token;
}

function resetPassword(t: TestApp, token: string) {
  return t.inject({ method: 'POST', url: `/api/reset-password/${token}`, payload: { password: NEW_PASSWORD } });
}

function signin(t: TestApp, email: string, password: string) {
  return t.inject({ method: 'POST', url: '/api/signin', payload: { email, password } });
}

/** Every way a session could still be used: its refresh token and its access token, on every instance. */
async function expectDead(instances: TestApp[], tokens: { access_token: string; refresh_token: string }) {
  for (const t of instances) {
    const dash = await t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(tokens.access_token) });
    expect(dash.statusCode).toBe(401);
  }
  const again = await instances[0]!.inject({ method: 'POST', url: '/api/refresh', headers: bearer(tokens.refresh_token) });
  expect(again.statusCode).toBe(401);
}

/**
 * Sign-in loops with the old password on every instance while one instance resets the password;
 * returns every pair of tokens the loops obtained, before and during the reset.
 */
async function raceSigninsAgainstReset(instances: TestApp[], resetOn: TestApp, user: SignedUp, loopsPerInstance: number) {
  const obtained: { access_token: string; refresh_token: string }[] = [];
  let stop = false;
  let attempts = 0;
  const loop = async (t: TestApp) => {
    while (!stop) {
      attempts += 1;
      const res = await signin(t, user.email, GOOD_PASSWORD);
      if (res.statusCode === 200) obtained.push(res.json());
      else expect(res.json().error).toBe('invalid_credentials');
    }
  };
  const loops = instances.flatMap((t) => Array.from({ length: loopsPerInstance }, () => loop(t)));
  // The loops are under way (several sign-ins done) before the reset starts.
  while (attempts < 2 * loops.length) await new Promise((r) => setTimeout(r, 5));
  const reset = await resetPassword(resetOn, await resetLinkFor(resetOn, user));
  stop = true;
  await Promise.all(loops);
  expect(reset.statusCode).toBe(200);
  return obtained;
}

async function liveSessionsOf(t: TestApp, userId: string) {
  const rows = await t.deps.db.select().from(sessions).where(eq(sessions.userId, userId));
  return rows.filter((s) => s.revokedAt === null);
}

describe('a password reset ends every session opened with the old password', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  /** Holds the next sign-ins between their (successful) password check and what follows it. */
  function holdAfterPasswordCheck() {
    const realVerify = t.deps.passwords.verify.bind(t.deps.passwords);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let checked!: () => void;
    const passwordChecked = new Promise<void>((r) => (checked = r));
    const spy = vi.spyOn(t.deps.passwords, 'verify').mockImplementation(async (hash, password) => {
      const ok = await realVerify(hash, password);
      checked();
      await gate;
      return ok;
    });
    return { passwordChecked, release: () => (release(), spy.mockRestore()) };
  }

  it('refuses a sign-in whose password check straddled the reset', async () => {
    const user = await signUp(t);
    const hold = holdAfterPasswordCheck();
    const pending = signin(t, user.email, GOOD_PASSWORD);
    await hold.passwordChecked;
    expect((await resetPassword(t, await resetLinkFor(t, user))).statusCode).toBe(200);
    hold.release();
    const res = await pending;
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_credentials');
    expect(await liveSessionsOf(t, user.id)).toHaveLength(0);
  });

  it('never lets the upgrade of an old hash at sign-in undo a reset that landed meanwhile', async () => {
    const user = await signUp(t);
    // A hash made with weaker argon2 parameters than the configured ones: the next sign-in upgrades it.
    const weak = await argon2.hash(GOOD_PASSWORD, { type: argon2.argon2id, memoryCost: 8192, timeCost: 1 });
    await t.deps.db.update(users).set({ passwordHash: weak }).where(eq(users.id, user.id));
    const hold = holdAfterPasswordCheck();
    const pending = signin(t, user.email, GOOD_PASSWORD);
    await hold.passwordChecked;
    expect((await resetPassword(t, await resetLinkFor(t, user))).statusCode).toBe(200);
    hold.release();
    expect((await pending).statusCode).toBe(401);
    expect((await signin(t, user.email, GOOD_PASSWORD)).statusCode).toBe(401);
    expect((await signin(t, user.email, NEW_PASSWORD)).statusCode).toBe(200);
  });

  it('leaves no live session of the old password after sign-in loops race a reset, round after round', async () => {
    for (let round = 0; round < 3; round++) {
      const user = await signUp(t);
      const obtained = await raceSigninsAgainstReset([t], t, user, 4);
      expect(obtained.length).toBeGreaterThan(0);
      expect(await liveSessionsOf(t, user.id)).toHaveLength(0);
      for (const tokens of obtained) await expectDead([t], tokens);
    }
  });

  it('lets the new password sign in at once, in the same second as the reset', async () => {
    const user = await signUp(t);
    const before = await signIn(t, user.email);
    expect((await resetPassword(t, await resetLinkFor(t, user))).statusCode).toBe(200);
    // The test clock has not moved: the new session is opened within the reset's second.
    const after = await signIn(t, user.email, NEW_PASSWORD);
    // Its auth_time is the next whole second, so that it is not before the not-before (the reset's own time).
    expect((decodeJwt(after.access_token).auth_time as number) * 1000).toBeGreaterThanOrEqual(t.clock.now().getTime());
    expect((await t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(after.access_token) })).statusCode).toBe(200);
    const next = await t.inject({ method: 'POST', url: '/api/refresh', headers: bearer(after.refresh_token) });
    expect(next.statusCode).toBe(200);
    expect((await t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(next.json().access_token) })).statusCode).toBe(200);
    await expectDead([t], before);
  });

  it('refuses access tokens of sessions older than the not-before, whichever session list knows them', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    // As another instance's notice would: only the user's not-before, no session id.
    t.deps.revocations.addNotBefore(user.id, new Date(t.clock.now().getTime() + 1000));
    const res = await t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(tokens.access_token) });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('session_revoked');
  });

  it('ends a session opened between two resets within one millisecond', async () => {
    const user = await signUp(t);
    expect((await resetPassword(t, await resetLinkFor(t, user))).statusCode).toBe(200);
    const between = await signIn(t, user.email, NEW_PASSWORD);
    expect((await resetPassword(t, await resetLinkFor(t, user))).statusCode).toBe(200);
    await expectDead([t], between);
  });

  it('refuses a sign-in whose password check straddled a second reset within the same millisecond', async () => {
    // The test clock stands still: the second reset leaves the not-before where the first put it, and only
    // the password's own time tells the sign-in that its password is no longer the user's.
    const user = await signUp(t);
    expect((await resetPassword(t, await resetLinkFor(t, user))).statusCode).toBe(200);
    const hold = holdAfterPasswordCheck();
    const pending = signin(t, user.email, NEW_PASSWORD);
    await hold.passwordChecked;
    expect((await resetPassword(t, await resetLinkFor(t, user))).statusCode).toBe(200);
    hold.release();
    const res = await pending;
    expect(res.statusCode, res.body).toBe(401);
    expect(await liveSessionsOf(t, user.id)).toHaveLength(0);
  });
});

describeUnless(NO_POSTGRES)('across two instances on one PostgreSQL', () => {
  const { a, b } = useTwoInstances();

  it('leaves no live session of the old password when sign-ins on both instances race a reset on one', async () => {
    for (let round = 0; round < 3; round++) {
      const user = await signUp(a);
      const obtained = await raceSigninsAgainstReset([a, b], b, user, 2);
      expect(obtained.length).toBeGreaterThan(0);
      expect(await liveSessionsOf(a, user.id)).toHaveLength(0);
      // The other instance learns of the reset through its feed: poll briefly for the notice.
      for (let i = 0; i < 40 && (await a.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(obtained.at(-1)!.access_token) })).statusCode === 200; i++)
        await new Promise((r) => setTimeout(r, 25));
      for (const tokens of obtained) await expectDead([a, b], tokens);
    }
  });
});
