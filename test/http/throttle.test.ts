import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../../src/db/schema.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { TEST_REDIS_URL, uniqueRedisPrefix } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { describeUnless, NO_REDIS } from '../helpers/skip.js';

let smtp: TestSmtpServer;
beforeAll(async () => {
  smtp = await startSmtpServer();
});
afterAll(() => smtp.close());

// Redis is exercised wherever the suite has one (CI does); in-process counters always.
const stores: [string, string | undefined][] = [['in memory', undefined], ...(TEST_REDIS_URL ? [['in Redis', TEST_REDIS_URL] as [string, string]] : [])];

// Every request of this file comes from an address of its own unless a test says otherwise.
let lastAddress = 0;
const newAddress = () => {
  lastAddress += 1;
  return `10.${(lastAddress >> 16) & 255}.${(lastAddress >> 8) & 255}.${lastAddress & 255}`;
};

const from = (ip: string) => ({ 'x-forwarded-for': ip, 'user-agent': 'throttle-test' });
const post = (t: TestApp, url: string, payload: object, ip: string) =>
  t.inject({ method: 'POST', url, payload, headers: from(ip) });

describe.each(stores)('throttling %s', (_store, redisUrl) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      env: {
        TRUST_PROXY: '127.0.0.1',
        SMTP_URL: smtp.url,
        ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: uniqueRedisPrefix() } : {}),
        RATE_LIMIT_SIGNIN: '4/1m',
        RATE_LIMIT_SIGNUP: '3/1h',
        RATE_LIMIT_REFRESH: '3/1m',
        RATE_LIMIT_FORGOT: '3/1h',
        RATE_LIMIT_RESET: '3/1h',
        RESET_MAIL_LIMIT: '2/1h',
        RESET_MAIL_ACCOUNT_LIMIT: '3/1h',
        RATE_LIMIT_SIGNUP_EMAIL: '3/1h',
        LOCKOUT_THRESHOLD: '5',
        LOCKOUT_DURATION: '1s',
      },
    });
  });
  afterAll(() => t.close());

  const register = async () => {
    const email = uniqueEmail();
    const res = await post(t, '/api/signup', { name: 'Locked Out', email, password: GOOD_PASSWORD }, newAddress());
    expect(res.statusCode).toBe(201);
    return { email };
  };

  it.each([
    ['/api/signin', () => ({ email: uniqueEmail(), password: 'whatever password' }), 4],
    ['/api/signup', () => ({ name: 'A', email: uniqueEmail(), password: GOOD_PASSWORD }), 3],
    ['/api/refresh', () => ({ refresh_token: 'x' }), 3],
    ['/api/forgot-password', () => ({ email: uniqueEmail() }), 3],
    ['/api/reset-password/some-token', () => ({ password: 'a brand new passphrase' }), 3],
  ])('limits %s per client address, with 429 and Retry-After', async (url, body, budget) => {
    const ip = newAddress();
    for (let i = 0; i < budget; i++) expect((await post(t, url, body(), ip)).statusCode).not.toBe(429);
    const over = await post(t, url, body(), ip);
    expect(over.statusCode).toBe(429);
    expect(over.json().error).toBe('too_many_requests');
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another address still has its budget.
    expect((await post(t, url, body(), newAddress())).statusCode).not.toBe(429);
  });

  it('locks an account after 5 failures from any mix of addresses, the same for unknown emails', async () => {
    const user = await register();
    const ghost = uniqueEmail('ghost');
    const attempt = (email: string, password = 'a wrong password') => post(t, '/api/signin', { email, password }, newAddress());
    const known: [number, string][] = [];
    const unknown: [number, string][] = [];
    for (let i = 0; i < 7; i++) {
      const a = await attempt(user.email);
      const b = await attempt(ghost);
      known.push([a.statusCode, a.json().error]);
      unknown.push([b.statusCode, b.json().error]);
    }
    expect(known).toEqual([
      ...Array(5).fill([401, 'invalid_credentials']),
      [429, 'too_many_attempts'],
      [429, 'too_many_attempts'],
    ]);
    expect(unknown).toEqual(known);
    // While locked, even the right password is not checked.
    const locked = await attempt(user.email, GOOD_PASSWORD);
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('1');
  });

  it('locks for longer each time: 1 s, then 2 s', async () => {
    const user = await register();
    const fail = () => post(t, '/api/signin', { email: user.email, password: 'a wrong password' }, newAddress());
    for (let i = 0; i < 5; i++) await fail();
    expect((await fail()).headers['retry-after']).toBe('1');
    await new Promise((r) => setTimeout(r, 1_100));
    for (let i = 0; i < 5; i++) expect((await fail()).statusCode).toBe(401);
    expect((await fail()).headers['retry-after']).toBe('2');
  });

  it('lets a locked account reset its password, and the reset unlocks it', async () => {
    const user = await register();
    for (let i = 0; i < 6; i++) await post(t, '/api/signin', { email: user.email, password: 'a wrong password' }, newAddress());
    expect((await post(t, '/api/signin', { email: user.email, password: GOOD_PASSWORD }, newAddress())).statusCode).toBe(429);

    expect((await post(t, '/api/forgot-password', { email: user.email }, newAddress())).statusCode).toBe(200);
    // (The right password above got a sign-in code emailed too: the reset email is the other one.)
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    const token = /reset-password\/([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
    expect((await post(t, `/api/reset-password/${token}`, { password: 'a brand new passphrase' }, newAddress())).statusCode).toBe(200);
    expect((await post(t, '/api/signin', { email: user.email, password: 'a brand new passphrase' }, newAddress())).statusCode).toBe(200);
  });

  it('sends at most RESET_MAIL_LIMIT reset emails per address and client network, answering the same every time', async () => {
    const user = await register();
    const ip = newAddress();
    const answers = [];
    // Three requests: the address's own budget for forgot-password (RATE_LIMIT_FORGOT) is three.
    for (let i = 0; i < 3; i++) answers.push((await post(t, '/api/forgot-password', { email: user.email }, ip)).body);
    expect(new Set(answers).size).toBe(1);
    expect(await resetMailsTo(user.email, 2)).toBe(2);
  });

  it('never lets strangers use up the owner\'s reset mail, nor flood the mailbox from many networks', async () => {
    const user = await register();
    const owner = newAddress();
    expect((await post(t, '/api/signin', { email: user.email, password: GOOD_PASSWORD }, owner)).statusCode).toBe(200);
    // Strangers on three networks ask 2 + 2 + 2 times: the address's quota for unknown clients (3) stops them.
    for (let n = 0; n < 3; n++) {
      const stranger = newAddress();
      for (let i = 0; i < 2; i++) expect((await post(t, '/api/forgot-password', { email: user.email }, stranger)).statusCode).toBe(200);
    }
    expect(await resetMailsTo(user.email, 3)).toBe(3);
    // The owner, from a network they signed in from, still gets theirs.
    expect((await post(t, '/api/forgot-password', { email: user.email }, owner)).statusCode).toBe(200);
    expect(await resetMailsTo(user.email, 4)).toBe(4);
  });

  it('leaves the owner on a new network a working reset link, however strangers time their requests', async () => {
    const user = await register();
    // The owner, on a network the account never signed in from, asks first; strangers on new networks follow,
    // one by one, until the quota of unknown networks together (3) is spent, and go on asking.
    expect((await post(t, '/api/forgot-password', { email: user.email }, newAddress())).statusCode).toBe(200);
    expect(await resetMailsTo(user.email, 1)).toBe(1);
    for (let n = 0; n < 4; n++) {
      expect((await post(t, '/api/forgot-password', { email: user.email }, newAddress())).statusCode).toBe(200);
      await resetMailsTo(user.email, Math.min(n + 2, 3));
    }
    // The owner asking again from yet another new network gets nothing more: the quota is spent.
    expect((await post(t, '/api/forgot-password', { email: user.email }, newAddress())).statusCode).toBe(200);
    const links = smtp.messages
      .filter((m) => m.to.includes(user.email) && m.subject === 'Reset your password')
      .map((m) => /reset-password\/([A-Za-z0-9_-]+)/.exec(m.text)![1]!);
    expect(links).toHaveLength(3);
    // But no request after the owner's spoiled the link already in the mailbox, nor any other: each one works.
    for (const token of links) expect((await t.inject({ method: 'GET', url: `/reset-password/${token}` })).statusCode).toBe(200);
    expect((await post(t, `/api/reset-password/${links[0]!}`, { password: 'a brand new passphrase' }, newAddress())).statusCode).toBe(200);
    // The reset used one of them, and with it every other.
    for (const token of links.slice(1)) expect((await post(t, `/api/reset-password/${token}`, { password: 'yet another passphrase' }, newAddress())).json().error).toBe('invalid_reset_token');
  });

  it('counts only sign-ups that pass validation and the password policy toward the per-email limit', async () => {
    const email = uniqueEmail();
    for (let i = 0; i < 5; i++) {
      const refused = await post(t, '/api/signup', { name: 'Owner', email, password: 'password123' }, newAddress());
      expect(refused.statusCode).toBe(422);
    }
    expect((await post(t, '/api/signup', { name: 'Owner', email, password: GOOD_PASSWORD }, newAddress())).statusCode).toBe(201);
  });

  it('counts IPv6 clients per /64: addresses of one prefix share a budget', async () => {
    const prefix = `2001:db8:${lastAddress.toString(16)}:${(lastAddress + 1).toString(16)}`;
    lastAddress += 2;
    const body = () => ({ email: uniqueEmail(), password: 'whatever password' });
    for (let i = 1; i <= 4; i++) expect((await post(t, '/api/signin', body(), `${prefix}::${i}`)).statusCode).toBe(401);
    const over = await post(t, '/api/signin', body(), `${prefix}:ffff:ffff:ffff:ffff`);
    expect(over.statusCode).toBe(429);
    // The IPv4-mapped form of an address is that address.
    const v4 = newAddress();
    for (let i = 0; i < 4; i++) await post(t, '/api/signin', body(), v4);
    expect((await post(t, '/api/signin', body(), `::ffff:${v4}`)).statusCode).toBe(429);
    expect((await post(t, '/api/signin', body(), `2001:db8:ffff:${lastAddress.toString(16)}::1`)).statusCode).toBe(401);
  });
});

describe.each(stores)('an owner under attack, %s', (_store, redisUrl) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      env: {
        TRUST_PROXY: '127.0.0.1',
        ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: uniqueRedisPrefix() } : {}),
        LOCKOUT_THRESHOLD: '5',
        LOCKOUT_DURATION: '10m',
        RATE_LIMIT_LOCKED_SIGNIN: '5/1h',
      },
    });
  });
  afterAll(() => t.close());

  it('keeps the owner signing in from their own network while strangers\' guesses keep the account locked', async () => {
    const email = uniqueEmail();
    expect((await post(t, '/api/signup', { name: 'Owner', email, password: GOOD_PASSWORD }, newAddress())).statusCode).toBe(201);
    const user = { email };
    const owner = newAddress();
    const signin = (password: string, ip: string) => post(t, '/api/signin', { email: user.email, password }, ip);
    expect((await signin(GOOD_PASSWORD, owner)).statusCode).toBe(200);
    const strangers = [];
    for (let i = 0; i < 6; i++) strangers.push((await signin('a wrong password', newAddress())).statusCode);
    expect(strangers).toEqual([401, 401, 401, 401, 401, 429]);
    // From a new network, the right password gets the lock's answer (and its owner a sign-in code by email).
    expect((await signin(GOOD_PASSWORD, newAddress())).statusCode).toBe(429);
    // The owner's network is not locked by them.
    for (let i = 0; i < 3; i++) expect((await signin(GOOD_PASSWORD, owner)).statusCode).toBe(200);
    // But it locks by its own failures.
    const own = [];
    for (let i = 0; i < 6; i++) own.push((await signin('another wrong one', owner)).statusCode);
    expect(own).toEqual([401, 401, 401, 401, 401, 429]);
    expect((await signin(GOOD_PASSWORD, owner)).statusCode).toBe(429);
  });


  // Here, where a lock lasts 10 minutes: with the 1 s lock above, a loaded machine that takes over a second to
  // answer the 100 lets a second round of guesses through once the first lock has expired, as it should.
  it('counts parallel guesses before checking them: 100 at once yield 5 answered checks, the rest the lock\'s answer', async () => {
    const email = uniqueEmail();
    expect((await post(t, '/api/signup', { name: 'Owner', email, password: GOOD_PASSWORD }, newAddress())).statusCode).toBe(201);
    const addresses = Array.from({ length: 100 }, () => newAddress());
    const results = await Promise.all(addresses.map((ip, i) => post(t, '/api/signin', { email, password: `guess number ${i}` }, ip)));
    expect(results.filter((r) => r.statusCode === 401)).toHaveLength(5);
    const locked = results.filter((r) => r.statusCode === 429);
    expect(locked).toHaveLength(95);
    expect(new Set(locked.map((r) => r.body)).size).toBe(1);
    const failures = await t.deps.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.email, email), eq(auditEvents.type, 'signin_failed')));
    // Five checks told their outcome; during the lock, each wide network (an IPv4 /24) had at most 5 more
    // checked (RATE_LIMIT_LOCKED_SIGNIN), answered as the rest.
    expect(failures.filter((f) => !(f.details as { locked?: boolean } | null)?.locked)).toHaveLength(5);
    const wideNetworks = new Set(addresses.map((ip) => ip.split('.').slice(0, 3).join('.')));
    expect(failures.length - 5).toBeLessThanOrEqual(5 * wideNetworks.size);
  });

  it('counts a forwarded address that is no IP address as one stranger, never as a network holding the owner\'s', async () => {
    const email = uniqueEmail();
    expect((await post(t, '/api/signup', { name: 'Owner', email, password: GOOD_PASSWORD }, newAddress())).statusCode).toBe(201);
    expect((await post(t, '/api/signin', { email, password: GOOD_PASSWORD }, newAddress())).statusCode).toBe(200);
    for (let i = 0; i < 6; i++) await post(t, '/api/signin', { email, password: 'a wrong password' }, newAddress());
    // Spelled as networks that contain the owner's address, or as any text: all strangers, all locked out.
    for (const forged of ['0.0.0.0/0', '10.0.0.0/8', '0/0', '::/0', 'not an address']) {
      const res = await post(t, '/api/signin', { email, password: GOOD_PASSWORD }, forged);
      expect(res.statusCode, forged).toBe(429);
      expect(res.json().error).toBe('too_many_attempts');
    }
  });
});

/** Waits until `atLeast` reset emails reached the address (or a moment passed), then counts them. */
async function resetMailsTo(email: string, atLeast: number): Promise<number> {
  const count = () => smtp.messages.filter((m) => m.to.includes(email) && m.subject === 'Reset your password').length;
  for (let i = 0; i < 100 && count() < atLeast; i++) await new Promise((r) => setTimeout(r, 50));
  // A moment more, so that an email too many would have arrived too.
  await new Promise((r) => setTimeout(r, 400));
  return count();
}

describe('client addresses', () => {
  it('ignores X-Forwarded-For unless TRUST_PROXY says so', async () => {
    const strict = await startTestApp({ env: { RATE_LIMIT_FORGOT: '2/1h' } });
    try {
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await post(strict, '/api/forgot-password', { email: uniqueEmail() }, `10.0.0.${i}`)).statusCode);
      expect(codes).toEqual([200, 200, 429]);
    } finally {
      await strict.close();
    }
  });
});

describe('the audit log', () => {
  it('records security events with time, user, address and user agent', async () => {
    const t = await startTestApp({ env: { TRUST_PROXY: 'true' } });
    try {
      const user = await signUp(t);
      await post(t, '/api/signin', { email: user.email, password: 'a wrong password' }, '198.51.100.7');
      const tokens = (await post(t, '/api/signin', { email: user.email, password: GOOD_PASSWORD }, '198.51.100.7')).json();
      const next = await t.inject({ method: 'POST', url: '/api/refresh', headers: { ...bearer(tokens.refresh_token), ...from('198.51.100.7') } });
      t.clock.advance(11);
      await t.inject({ method: 'POST', url: '/api/refresh', headers: { ...bearer(tokens.refresh_token), ...from('198.51.100.7') } });
      const other = await signIn(t, user.email);
      await t.inject({ method: 'POST', url: '/api/logout', headers: { ...bearer(other.access_token), ...from('198.51.100.8') } });
      expect(next.statusCode).toBe(200);

      const rows = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.userId, user.id));
      const types = rows.map((r) => r.type);
      expect(types).toEqual(expect.arrayContaining(['signup', 'signin_failed', 'signin_succeeded', 'logout']));
      const failed = rows.find((r) => r.type === 'signin_failed')!;
      expect(failed).toMatchObject({ email: user.email, ipAddress: '198.51.100.7', userAgent: 'throttle-test' });
      expect(failed.occurredAt).toBeInstanceOf(Date);
      const reused = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, 'refresh_token_reused'));
      expect(reused).toHaveLength(1);
      expect(reused[0]!.ipAddress).toBe('198.51.100.7');
      expect(JSON.stringify(rows)).not.toContain(GOOD_PASSWORD);
    } finally {
      await t.close();
    }
  });

  it('forgets events older than AUDIT_RETENTION', async () => {
    const { purgeAuditEvents } = await import('../../src/core/audit.js');
    const t = await startTestApp({ env: { AUDIT_RETENTION: '1d' } });
    try {
      const user = await signUp(t);
      t.clock.advance(2 * 86400);
      await signIn(t, user.email);
      expect(await purgeAuditEvents(t.deps.db, t.clock, t.deps.config.auditRetention)).toBe(1);
      const left = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.userId, user.id));
      expect(left.map((r) => r.type)).toEqual(['signin_succeeded']);
    } finally {
      await t.close();
    }
  });
});

describeUnless(NO_REDIS)('a freshly started instance with Redis', () => {
  it('counts its very first requests in Redis, not in its own memory', async () => {
    const prefix = uniqueRedisPrefix();
    const t = await startTestApp({ env: { REDIS_URL: TEST_REDIS_URL!, REDIS_KEY_PREFIX: prefix, TRUST_PROXY: '127.0.0.1', RATE_LIMIT_SIGNIN: '4/1m' } });
    try {
      expect(t.deps.redis?.status).toBe('ready');
      const ip = newAddress();
      expect((await post(t, '/api/signin', { email: uniqueEmail(), password: 'not the password' }, ip)).statusCode).toBe(401);
      expect(await t.deps.redis!.get(`${prefix}addr:signin:${ip}/32`)).toBe("1");
    } finally {
      await t.close();
    }
  });
});
