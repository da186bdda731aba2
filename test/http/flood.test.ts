import { pbkdf2 } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkQueue } from '../../src/core/work-queue.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';

describe('the password-hashing queue', () => {
  it('runs at most its concurrency, queues at most its bound, and refuses the rest at once with server_busy', async () => {
    const queue = createWorkQueue(2, 3);
    let running = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const job = () =>
      new Promise<void>((resolve) => {
        running += 1;
        most = Math.max(most, running);
        releases.push(() => {
          running -= 1;
          resolve();
        });
      });
    expect(queue.full).toBe(false);
    const accepted = Array.from({ length: 5 }, () => queue.run(job));
    expect(queue.full).toBe(true);
    await expect(queue.run(job)).rejects.toMatchObject({ code: 'server_busy', retryAfter: 1 });
    expect(queue.active).toBe(2);
    expect(queue.queued).toBe(3);
    while (releases.length > 0 || running > 0) {
      releases.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(accepted);
    expect(queue.full).toBe(false);
    expect(most).toBe(2);
    expect(queue.active).toBe(0);
  });
});

describe('a sign-in flood', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      env: {
        TRUST_PROXY: '127.0.0.1',
        // Hashing at its real cost: the queue is what this suite is about.
        ARGON2_MEMORY_KIB: '19456',
        ARGON2_TIME_COST: '2',
        PASSWORD_HASH_CONCURRENCY: '1',
        PASSWORD_HASH_QUEUE: '1',
        LOCKOUT_THRESHOLD: '5',
        LOCKOUT_DURATION: '10m',
      },
    });
  });
  afterAll(() => t.close());

  let address = 0;
  const from = () => ({ 'x-forwarded-for': `10.77.${(address >> 8) & 255}.${++address & 255}` });

  it('gets 503 server_busy with Retry-After at once past the queue, and those attempts count toward no lock', async () => {
    const user = await signUp(t);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: 'a wrong guess' }, headers: from() })),
    );
    const busy = results.filter((r) => r.statusCode === 503);
    expect(busy.length).toBeGreaterThan(0);
    for (const r of busy) {
      expect(r.json().error).toBe('server_busy');
      expect(r.headers['retry-after']).toBe('1');
    }
    expect(results.filter((r) => r.statusCode === 401).length + busy.length).toBe(5);
    // Only the checked guesses counted: the owner still has the rest of the five before a lock.
    const checked = 5 - busy.length;
    for (let i = checked; i < 5; i++) {
      const res = await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: 'a wrong guess' }, headers: from() });
      expect(res.statusCode, `attempt ${i + 1}`).toBe(401);
    }
  });

  it('never makes token signing or verification wait behind work on libuv\'s thread pool', async () => {
    const user = await signUp(t);
    const { refresh_token } = await signIn(t, user.email);
    // Every thread of the pool (4) busy for a long while, as queued password hashes would keep them.
    let blockersDone = 0;
    const blockers = Array.from({ length: 4 }, () => new Promise<void>((resolve) => pbkdf2('x', 'y', 3_000_000, 32, 'sha256', () => resolve())).then(() => (blockersDone += 1)));
    await new Promise((r) => setTimeout(r, 50));
    // A refresh signs a new token; the dashboard verifies it for the first time.
    const refreshed = await t.inject({ method: 'POST', url: '/api/refresh', headers: bearer(refresh_token) });
    expect(refreshed.statusCode).toBe(200);
    const dashboard = await t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(refreshed.json().access_token) });
    expect(dashboard.statusCode).toBe(200);
    // Both answered while the pool was still saturated.
    expect(blockersDone).toBe(0);
    await Promise.all(blockers);
  });
});

describe('the global budget', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_SIGNIN_GLOBAL: '3/1m', RATE_LIMIT_SIGNUP_GLOBAL: '2/1m' } });
  });
  afterAll(() => t.close());

  it('answers 503 server_busy to sign-ins and sign-ups past it, whatever the address', async () => {
    const signin = (i: number) =>
      t.inject({ method: 'POST', url: '/api/signin', payload: { email: uniqueEmail(), password: 'whatever it is' }, headers: { 'x-forwarded-for': `10.88.0.${i}` } });
    for (let i = 1; i <= 3; i++) expect((await signin(i)).statusCode).toBe(401);
    const over = await signin(4);
    expect(over.statusCode).toBe(503);
    expect(over.json().error).toBe('server_busy');
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    const signup = (i: number) =>
      t.inject({ method: 'POST', url: '/api/signup', payload: { name: 'N', email: uniqueEmail(), password: GOOD_PASSWORD }, headers: { 'x-forwarded-for': `10.89.0.${i}` } });
    for (let i = 1; i <= 2; i++) expect((await signup(i)).statusCode).toBe(201);
    expect((await signup(3)).json().error).toBe('server_busy');
  });
});
