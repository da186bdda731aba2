import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { hostAndPort, TEST_REDIS_URL, uniqueRedisPrefix } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { anyOf, describeUnless, NO_POSTGRES, NO_REDIS } from '../helpers/skip.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);
const CLIENTS = 12;

interface Call {
  at: number;
  path: string;
  status: number;
}

describeUnless(anyOf(NO_POSTGRES, NO_REDIS))(`soak: ${CLIENTS} clients for ${SECONDS} s on two instances, with faults`, () => {
  let database: TestDatabase;
  let smtp: TestSmtpServer;
  let smtpProxy: TcpProxy;
  let redisProxy: TcpProxy;
  const apps: TestApp[] = [];
  const bases: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    smtp = await startSmtpServer();
    smtpProxy = await startTcpProxy(...hostAndPort(smtp.url));
    redisProxy = await startTcpProxy(...hostAndPort(TEST_REDIS_URL!));
    const prefix = uniqueRedisPrefix();
    for (let i = 0; i < 2; i++) {
      const t = await startTestApp({
        database,
        realClock: systemClock,
        env: { SMTP_URL: smtpProxy.via(smtp.url), REDIS_URL: redisProxy.via(TEST_REDIS_URL!), REDIS_KEY_PREFIX: prefix, MAIL_RETRY_MAX_DELAY: '2s' },
      });
      apps.push(t);
      bases.push(await t.listen());
    }
  });
  afterAll(async () => {
    for (const t of apps) await t.close();
    await smtpProxy.close();
    await redisProxy.close();
    await smtp.close();
    await database.drop();
  });

  it('keeps every promise: accounts usable, sessions in one state, no 5xx outside the faults', { timeout: (SECONDS + 90) * 1000 }, async () => {
    const start = Date.now();
    const deadline = start + SECONDS * 1000;
    const calls: Call[] = [];
    const faults: [number, number][] = [];
    const accounts = new Map<string, string>(); // email -> current password
    const problems: string[] = [];

    async function call(path: string, opts: { body?: object; token?: string } = {}) {
      const base = bases[Math.floor(Math.random() * bases.length)]!;
      const headers: Record<string, string> = {};
      if (opts.body) headers['content-type'] = 'application/json';
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      const res = await fetch(`${base}${path}`, {
        method: opts.body || path !== '/api/dashboard' ? 'POST' : 'GET',
        headers,
        body: opts.body ? JSON.stringify(opts.body) : undefined,
      });
      const body = (await res.json()) as Record<string, string>;
      calls.push({ at: Date.now(), path: path.replace(/reset-password\/.*/, 'reset-password/:token'), status: res.status });
      return { status: res.status, body };
    }
    const expectStatus = (what: string, got: number, want: number) => {
      if (got !== want) problems.push(`${what}: ${got}, expected ${want}`);
    };

    async function client(n: number) {
      for (let round = 0; Date.now() < deadline; round++) {
        const email = `soak.${n}.${round}.${randomBytes(3).toString('hex')}@example.com`;
        let password = `soak passphrase ${randomBytes(6).toString('hex')}`;
        const signup = await call('/api/signup', { body: { name: `Soak ${n}`, email, password } });
        expectStatus('signup', signup.status, 201);
        if (signup.status !== 201) continue;
        accounts.set(email, password);

        let tokens = (await call('/api/signin', { body: { email, password } })).body;
        for (let i = 0; i < 3; i++) {
          const next = await call('/api/refresh', { token: tokens.refresh_token });
          expectStatus('refresh', next.status, 200);
          if (next.status === 200) tokens = next.body;
        }
        expectStatus('dashboard', (await call('/api/dashboard', { token: tokens.access_token })).status, 200);

        if (round % 2 === 0) {
          expectStatus('logout', (await call('/api/logout', { token: tokens.access_token })).status, 200);
          // Revoked on both instances within a second.
          await new Promise((r) => setTimeout(r, 1000));
          expectStatus('dashboard after logout', (await call('/api/dashboard', { token: tokens.access_token })).status, 401);
          expectStatus('refresh after logout', (await call('/api/refresh', { token: tokens.refresh_token })).status, 401);
        } else {
          const sent = smtp.messages.length;
          expectStatus('forgot', (await call('/api/forgot-password', { body: { email } })).status, 200);
          const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Reset your password' && smtp.messages.indexOf(m) >= sent, 30_000).catch(() => undefined);
          if (!mail) {
            problems.push(`no reset email for ${email}`);
            continue;
          }
          const token = /reset-password\/([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
          password = `soak new passphrase ${randomBytes(6).toString('hex')}`;
          const reset = await call(`/api/reset-password/${token}`, { body: { password } });
          expectStatus('reset', reset.status, 200);
          if (reset.status === 200) accounts.set(email, password);
          await new Promise((r) => setTimeout(r, 1000));
          expectStatus('dashboard after reset', (await call('/api/dashboard', { token: tokens.access_token })).status, 401);
        }
      }
    }

    async function inject(at: number, length: number, proxy: TcpProxy) {
      await new Promise((r) => setTimeout(r, at * SECONDS * 1000));
      const from = Date.now();
      await proxy.stop();
      await new Promise((r) => setTimeout(r, length * SECONDS * 1000));
      await proxy.start();
      faults.push([from, Date.now() + 2000]);
    }

    let progress = 0;
    const ticker = setInterval(() => {
      progress += 5;
      process.stdout.write(`soak: ${progress}s, ${calls.length} requests, ${accounts.size} accounts\n`);
    }, 5000);
    try {
      await Promise.all([
        ...Array.from({ length: CLIENTS }, (_, n) => client(n)),
        inject(0.25, 0.2, redisProxy),
        inject(0.55, 0.2, smtpProxy),
      ]);
    } finally {
      clearInterval(ticker);
    }

    const serverErrors = calls.filter((c) => c.status >= 500);
    const outsideFaults = serverErrors.filter((c) => !faults.some(([a, b]) => c.at >= a && c.at <= b));
    const summary = `${calls.length} requests, ${accounts.size} accounts, ${serverErrors.length} 5xx (${outsideFaults.length} outside faults)`;
    process.stdout.write(`soak: ${summary}\n`);

    expect(calls.length).toBeGreaterThan(CLIENTS * 10);
    expect(faults).toHaveLength(2);
    expect(outsideFaults, summary).toEqual([]);
    expect(problems, summary).toEqual([]);

    // Every account that got its 201 signs in with its latest password.
    for (const [email, password] of accounts) {
      const res = await call('/api/signin', { body: { email, password } });
      expect(res.status, email).toBe(200);
    }
    // No session is in two states: at most one live refresh token each, none alive in a revoked session.
    const [live] = await apps[0]!.deps.db.execute<{ n: number }>(sql`
      select count(*)::int as n from (
        select session_id from refresh_tokens where rotated_at is null group by session_id having count(*) > 1
      ) twice`).then((r) => (r as unknown as { rows: { n: number }[] }).rows);
    expect(live?.n).toBe(0);
  });
});
