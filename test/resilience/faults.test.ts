import { and, eq, isNotNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailOutbox } from '../../src/db/schema.js';
import { GOOD_PASSWORD, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { insertUser } from '../../src/auth/users/users.js';

// Users stored directly, with no sign-up email of their own: these tests count the reset email alone.
const quietUser = (t: TestApp) => insertUser(t.deps.db, t.clock.now(), { name: 'Quiet', email: uniqueEmail('quiet'), passwordHash: 'not-a-hash' });
import { createTestDatabase } from '../helpers/database.js';
import { hostAndPort, TEST_REDIS_URL, uniqueRedisPrefix } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { describeUnless, NO_POSTGRES, NO_REDIS } from '../helpers/skip.js';

const resetMailsTo = (smtp: TestSmtpServer, email: string) =>
  smtp.messages.filter((m) => m.to.includes(email) && m.subject === 'Reset your password');

describe('with SMTP down', () => {
  let smtp: TestSmtpServer;
  let proxy: TcpProxy;
  let t: TestApp;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    proxy = await startTcpProxy(...hostAndPort(smtp.url));
    t = await startTestApp({ env: { SMTP_URL: proxy.via(smtp.url) } });
  });
  afterAll(async () => {
    await t.close();
    await proxy.close();
    await smtp.close();
  });

  it('keeps the reset email and sends it, once, when SMTP is back', async () => {
    const user = await quietUser(t);
    await proxy.stop();
    const res = await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } });
    expect(res.statusCode).toBe(200);
    // Delivery is attempted and fails; the message stays queued with its error.
    await expect.poll(async () => (await t.deps.db.select().from(mailOutbox).where(isNotNull(mailOutbox.lastError))).length).toBe(1);
    expect(resetMailsTo(smtp, user.email)).toHaveLength(0);

    await proxy.start();
    t.clock.advance(60);
    await t.deps.outbox.runOnce();
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
    expect(mail.text).toMatch(/reset-password\/[A-Za-z0-9_-]{43}/);
    t.clock.advance(60);
    await t.deps.outbox.runOnce();
    expect(resetMailsTo(smtp, user.email)).toHaveLength(1);

    // Once sent, only what it was and whom it was for stay in the database, never the link.
    const rows = await t.deps.db.select().from(mailOutbox);
    expect(rows.map((r) => [r.sentAt !== null, r.message])).toEqual([[true, { kind: 'password_reset', userId: user.id }]]);
    expect(JSON.stringify(rows)).not.toContain('reset-password');
  });

  it('gives up, erasing the row, once the reset email is older than a link may live', async () => {
    const user = await quietUser(t);
    await proxy.stop();
    let id: number | undefined;
    try {
      await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } });
      // A queued reset email is the intent: it names the user, not the address, and holds no link.
      const failedForUser = and(isNotNull(mailOutbox.lastError), sql`${mailOutbox.message}->>'userId' = ${user.id}`);
      await expect.poll(async () => ([id] = (await t.deps.db.select().from(mailOutbox).where(failedForUser)).map((r) => r.id)), { timeout: 5000 }).toHaveLength(1);
      t.clock.advance(3601);
      await expect
        .poll(async () => {
          await t.deps.outbox.runOnce();
          return (await t.deps.db.select().from(mailOutbox).where(and(eq(mailOutbox.id, id!), isNotNull(mailOutbox.abandonedAt)))).length;
        })
        .toBe(1);
    } finally {
      await proxy.start();
    }
    const [row] = await t.deps.db.select().from(mailOutbox).where(eq(mailOutbox.id, id!));
    expect(row?.message).toBeNull();
    expect(row?.sentAt).toBeNull();
    expect(resetMailsTo(smtp, user.email)).toHaveLength(0);
  });
});

describeUnless(NO_POSTGRES)('several outbox workers', () => {
  it('never send one email twice', async () => {
    const smtp = await startSmtpServer();
    const database = await createTestDatabase();
    const instances = await Promise.all([0, 1, 2].map(() => startTestApp({ database, env: { SMTP_URL: smtp.url } })));
    try {
      const [first] = instances;
      const users = [];
      for (let i = 0; i < 30; i++) users.push(await quietUser(first!));
      // Requests land on all three instances, as behind a load balancer; every worker competes for every email.
      await Promise.all(
        users.map((u, i) => instances[i % 3]!.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: u.email } })),
      );
      await Promise.all(instances.map((i) => i.deps.outbox.runOnce()));
      for (const u of users) await smtp.waitFor((m) => m.to.includes(u.email) && m.subject === 'Reset your password');
      await Promise.all(instances.map((i) => i.deps.outbox.runOnce()));
      for (const u of users) expect(resetMailsTo(smtp, u.email), u.email).toHaveLength(1);
      expect(smtp.messages.filter((m) => m.subject === 'Reset your password')).toHaveLength(30);
    } finally {
      for (const i of instances) await i.close();
      await database.drop();
      await smtp.close();
    }
  });
});

describeUnless(NO_REDIS)('with Redis down', () => {
  let proxy: TcpProxy;
  let t: TestApp;
  beforeAll(async () => {
    proxy = await startTcpProxy(...hostAndPort(TEST_REDIS_URL!));
    t = await startTestApp({
      env: { REDIS_URL: proxy.via(TEST_REDIS_URL!), REDIS_KEY_PREFIX: uniqueRedisPrefix(), LOCKOUT_THRESHOLD: '3' },
    });
  });
  afterAll(async () => {
    await t.close();
    await proxy.close();
  });

  it('keeps serving, still throttles from memory, and uses Redis again when it returns', async () => {
    await expect.poll(() => t.deps.redis?.status).toBe('ready');
    const user = await signUp(t);
    await proxy.stop();
    try {
      await expect.poll(() => t.deps.redis?.status).not.toBe('ready');
      const ok = await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD } });
      expect(ok.statusCode).toBe(200);
      const other = uniqueEmail();
      const codes = [];
      for (let i = 0; i < 4; i++) {
        codes.push((await t.inject({ method: 'POST', url: '/api/signin', payload: { email: other, password: 'a wrong password' } })).statusCode);
      }
      expect(codes).toEqual([401, 401, 401, 429]);
    } finally {
      await proxy.start();
    }
    await expect.poll(() => t.deps.redis?.status, { timeout: 5000 }).toBe('ready');
    const back = await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD } });
    expect(back.statusCode).toBe(200);
    const keys = await t.deps.redis!.keys(`${t.deps.config.redis.keyPrefix}*`);
    expect(keys.length).toBeGreaterThan(0);
  });
});

describe('the outbox', () => {
  it('queues one email per committed change and none for a refused one', async () => {
    const t = await startTestApp();
    try {
      const user = await quietUser(t);
      const count = async () => (await t.deps.db.select().from(mailOutbox)).length;
      await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } });
      await expect.poll(count).toBe(1);
      const bad = await t.inject({ method: 'POST', url: '/api/reset-password/not-a-real-token', payload: { password: 'a brand new passphrase' } });
      expect(bad.statusCode).toBe(400);
      expect(await count()).toBe(1);
    } finally {
      await t.close();
    }
  });
});
