import { pbkdf2 } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createWorkQueue } from '../../src/core/work-queue.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { TEST_REDIS_URL, uniqueRedisPrefix } from '../helpers/services.js';

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

// The attacker of these tests holds one IPv6 /48 (65,536 /64s, each with a per-address budget of its own) or one
// IPv4 /24, and sends as fast as it likes; the owner signs in from another network meanwhile.
// Counted in Redis wherever the suite has one (CI does), in this process always.
const stores: [string, string | undefined][] = [['in memory', undefined], ...(TEST_REDIS_URL ? [['in Redis', TEST_REDIS_URL] as [string, string]] : [])];

describe.each(stores)('the global budget against a flood from one network, %s', (_store, redisUrl) => {
  // A fresh budget for each test: a test that spent it must not make the next one fail.
  let t: TestApp;
  beforeEach(async () => {
    t = await startTestApp({
      env: {
        TRUST_PROXY: '127.0.0.1',
        ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: uniqueRedisPrefix() } : {}),
        RATE_LIMIT_SIGNIN: '3/1m',
        RATE_LIMIT_SIGNIN_GLOBAL: '10/1m',
        RATE_LIMIT_SIGNIN_NETWORK: '4/1m',
        RATE_LIMIT_SIGNUP: '100/1m',
        RATE_LIMIT_SIGNUP_GLOBAL: '6/1m',
        RATE_LIMIT_SIGNUP_NETWORK: '3/1m',
        LOCKOUT_THRESHOLD: '5',
        LOCKOUT_DURATION: '10m',
        RATE_LIMIT_LOCKED_SIGNIN: '2/1h',
      },
    });
  });
  afterEach(() => t.close());

  let next = 0;
  // Each request from a /64 of its own in the attacker's /48.
  const fromTheSlash48 = (prefix: string) => ({ 'x-forwarded-for': `${prefix}:${(++next).toString(16)}::1` });
  const signin = (payload: unknown, headers: Record<string, string>) =>
    t.inject({ method: 'POST', url: '/api/signin', payload: payload as object, headers: { 'content-type': 'application/json', ...headers } });

  it('is not spent by sign-ins refused before any password check: 300 empty or broken bodies, then the owner gets in', async () => {
    const owner = await signUp(t);
    const broken: unknown[] = [{}, { email: owner.email }, { password: 'no email at all' }, { email: 'not an email', password: 'x' }, '{"email":'];
    const answers = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const res = await signin(broken[i % broken.length], fromTheSlash48('2001:db8:4801'));
      answers.set(res.statusCode, (answers.get(res.statusCode) ?? 0) + 1);
    }
    expect(Object.fromEntries(answers)).toEqual({ 400: 300 });
    const res = await signin({ email: owner.email, password: GOOD_PASSWORD }, { 'x-forwarded-for': '198.51.100.7' });
    expect(res.statusCode).toBe(200);
  });

  // A locked account's password is still checked for a network the owner may be on (its sign-in code,
  // src/auth/sessions/sign-in.ts), within RATE_LIMIT_LOCKED_SIGNIN per wide network; past that, unchecked.
  it('is spent by guesses at a locked account only within their network\'s RATE_LIMIT_LOCKED_SIGNIN', async () => {
    const victim = await signUp(t);
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await signin({ email: victim.email, password: `guess ${i}` }, fromTheSlash48(`2001:db8:${(0x4810 + i).toString(16)}`))).statusCode);
    for (let i = 5; i < 40; i++) codes.push((await signin({ email: victim.email, password: `guess ${i}` }, fromTheSlash48('2001:db8:4820'))).statusCode);
    // Five checked guesses lock it; the 35 after are all refused alike, two of them checked.
    expect(codes.filter((c) => c === 401)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(35);
    const owner = await signUp(t);
    expect((await signin({ email: owner.email, password: GOOD_PASSWORD }, { 'x-forwarded-for': '198.51.100.8' })).statusCode).toBe(200);
    // 5 + 2 + the owner's 1 spent of 10: two checks are left, then the budget refuses.
    const stranger = () => signin({ email: uniqueEmail(), password: 'a wrong guess' }, { 'x-forwarded-for': `192.0.2.${++next % 250}` });
    expect([(await stranger()).statusCode, (await stranger()).statusCode, (await stranger()).statusCode]).toEqual([401, 401, 503]);
  });

  it('gives one network only its share of it: wrong passwords from one /48, then from one /24, and another network still signs in', async () => {
    for (const from of [() => fromTheSlash48('2001:db8:4802'), () => ({ 'x-forwarded-for': `203.0.113.${++next % 250}` })]) {
      const codes: number[] = [];
      for (let i = 0; i < 30; i++) codes.push((await signin({ email: uniqueEmail(), password: 'a wrong guess' }, from())).statusCode);
      expect(codes.filter((c) => c === 401)).toHaveLength(4);
      expect(codes.filter((c) => c === 503)).toHaveLength(26);
    }
    const owner = await signUp(t);
    expect((await signin({ email: owner.email, password: GOOD_PASSWORD }, { 'x-forwarded-for': '2001:db8:9999::1' })).statusCode).toBe(200);
  });

  it('refuses guesses past the share unchecked, so they count toward no lock of the account they aim at', async () => {
    const victim = await signUp(t);
    const codes: number[] = [];
    for (let i = 0; i < 30; i++) codes.push((await signin({ email: victim.email, password: `guess ${i}` }, fromTheSlash48('2001:db8:4803'))).statusCode);
    expect(codes.filter((c) => c === 401)).toHaveLength(4);
    expect(codes.filter((c) => c === 503)).toHaveLength(26);
    // Four guesses counted of the five that lock: the owner, from a new network, is not locked out.
    expect((await signin({ email: victim.email, password: GOOD_PASSWORD }, { 'x-forwarded-for': '198.51.100.9' })).statusCode).toBe(200);
  });

  it('does the same for sign-ups: broken bodies spend nothing, one network gets its share only', async () => {
    const signup = (payload: unknown, headers: Record<string, string>) =>
      t.inject({ method: 'POST', url: '/api/signup', payload: payload as object, headers: { 'content-type': 'application/json', ...headers } });
    for (let i = 0; i < 50; i++) expect((await signup({ name: 'x' }, fromTheSlash48('2001:db8:4804'))).statusCode).toBe(400);
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) codes.push((await signup({ name: 'Flood', email: uniqueEmail(), password: GOOD_PASSWORD }, fromTheSlash48('2001:db8:4805'))).statusCode);
    expect(codes).toEqual([201, 201, 201, 503, 503, 503, 503, 503, 503, 503]);
    expect((await signup({ name: 'Owner', email: uniqueEmail(), password: GOOD_PASSWORD }, { 'x-forwarded-for': '198.51.100.10' })).statusCode).toBe(201);
  });
});
