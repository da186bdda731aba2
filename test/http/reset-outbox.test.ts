import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/core/secrets.js';
import { mailOutbox, oneTimeTokens, users } from '../../src/db/schema.js';
import { passwordChangedEmail } from '../../src/auth/reset/emails.js';
import { PUBLIC_URL, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/database.js';
import { hostAndPort } from '../helpers/services.js';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { itUnless, NO_POSTGRES, ON_POSTGRES } from '../helpers/skip.js';

const NEW_PASSWORD = 'a brand new passphrase';

const forgot = (t: TestApp, email: string) => t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email } });
const reset = (t: TestApp, token: string) => t.inject({ method: 'POST', url: `/api/reset-password/${token}`, payload: { password: NEW_PASSWORD } });
const isResetMailTo = (email: string) => (m: ReceivedMail) => m.to.includes(email) && m.subject === 'Reset your password';

function tokenIn(mail: ReceivedMail): string {
  const token = /\/reset-password\/([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
  if (!token) throw new Error('no reset link in the email');
  return token;
}

/** The forms a reset token could take in stored bytes: the link, its text, its 32 raw bytes, and those in base64 and hex. */
function formsOf(token: string): Buffer[] {
  const raw = Buffer.from(token, 'base64url');
  const hex = raw.toString('hex');
  return [`${PUBLIC_URL}/reset-password/${token}`, token, raw.toString('base64'), hex, hex.toUpperCase()]
    .map((s) => Buffer.from(s, 'utf8'))
    .concat(raw);
}

/** Forgot-password, the email, the reset page and the reset itself (once), as a user goes through them. */
async function resetThroughEmail(t: TestApp, smtp: TestSmtpServer) {
  const user = await signUp(t);
  expect((await forgot(t, user.email)).statusCode).toBe(200);
  const token = tokenIn(await smtp.waitFor(isResetMailTo(user.email)));
  expect((await t.inject({ method: 'GET', url: `/reset-password/${token}` })).statusCode).toBe(200);
  expect((await reset(t, token)).statusCode).toBe(200);
  expect((await reset(t, token)).statusCode).toBe(400);
  await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Your password was changed');
  return { user, token };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('the raw reset token never reaches the database', () => {
  itUnless(NO_POSTGRES)('on PostgreSQL: nothing the server sends it holds the token or the link', async () => {
    const database = await createTestDatabase();
    const proxy = await startTcpProxy(...hostAndPort(database.url!), { record: true });
    const smtp = await startSmtpServer();
    try {
      const t = await startTestApp({ database, env: { DATABASE_URL: proxy.via(database.url!), SMTP_URL: smtp.url } });
      const { user, token } = await resetThroughEmail(t, smtp).finally(() => t.close());
      const sent = proxy.sentUpstream();
      // The recording saw the reset's own traffic: the user's address and the token's hash went through it.
      expect(sent.some((bytes) => bytes.includes(user.email))).toBe(true);
      expect(sent.some((bytes) => bytes.includes(hashToken(token)))).toBe(true);
      for (const form of formsOf(token)) expect(sent.some((bytes) => bytes.includes(form)), form.toString('hex').slice(0, 16)).toBe(false);
    } finally {
      await proxy.close();
      await smtp.close();
      await database.drop();
    }
  });

  itUnless(ON_POSTGRES)('on the embedded engine: no file under DATA_DIR holds it once the server is closed', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'latchkey-reset-'));
    const smtp = await startSmtpServer();
    try {
      const t = await startTestApp({ dataDir, env: { SMTP_URL: smtp.url } });
      const { user, token } = await resetThroughEmail(t, smtp).finally(() => t.close());
      const contents = await Promise.all((await filesUnder(dataDir)).map((f) => readFile(f)));
      // The scan reads what the reset wrote: the user's address and the token's hash are on disk.
      expect(contents.some((bytes) => bytes.includes(user.email))).toBe(true);
      expect(contents.some((bytes) => bytes.includes(hashToken(token)))).toBe(true);
      for (const form of formsOf(token)) expect(contents.some((bytes) => bytes.includes(form)), form.toString('hex').slice(0, 16)).toBe(false);
    } finally {
      await smtp.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a reset email', () => {
  let smtp: TestSmtpServer;
  let smtpProxy: TcpProxy;
  let t: TestApp;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    smtpProxy = await startTcpProxy(...hostAndPort(smtp.url));
    t = await startTestApp({ env: { SMTP_URL: smtpProxy.via(smtp.url) } });
  });
  afterAll(async () => {
    await t.close();
    await smtpProxy.close();
    await smtp.close();
  });

  const intentOf = (userId: string) => sql`${mailOutbox.message}->>'userId' = ${userId} AND ${mailOutbox.message}->>'kind' = 'password_reset'`;
  const tokenHashesOf = async (userId: string) =>
    (await t.deps.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.type, 'password_reset')))).map((r) => r.tokenHash);

  /** Forgot-password while SMTP is down; resolves once the first delivery attempt has failed, with its outbox row. */
  async function requestWhileSmtpDown(email: string, userId: string) {
    await smtpProxy.stop();
    try {
      expect((await forgot(t, email)).statusCode).toBe(200);
      const failed = () => t.deps.db.select().from(mailOutbox).where(and(intentOf(userId), isNotNull(mailOutbox.lastError)));
      await expect.poll(async () => (await failed()).length, { timeout: 5000 }).toBe(1);
      return (await failed())[0]!;
    } finally {
      await smtpProxy.start();
    }
  }

  async function untilAbandoned(id: number) {
    await expect
      .poll(async () => {
        await t.deps.outbox.runOnce();
        const [row] = await t.deps.db.select().from(mailOutbox).where(eq(mailOutbox.id, id));
        return row?.abandonedAt ? row : undefined;
      })
      .toBeTruthy();
    const [row] = await t.deps.db.select().from(mailOutbox).where(eq(mailOutbox.id, id));
    return row!;
  }

  it('is queued as an intent with no link; each attempt mints a token, and the one emailed works, once', async () => {
    const user = await signUp(t);
    const row = await requestWhileSmtpDown(user.email, user.id);
    expect(row.message).toEqual({ kind: 'password_reset', userId: user.id });
    const undelivered = await tokenHashesOf(user.id);
    expect(undelivered).toHaveLength(1);

    t.clock.advance(60);
    await t.deps.outbox.runOnce();
    const token = tokenIn(await smtp.waitFor(isResetMailTo(user.email)));
    // The retry minted a new token; the one that was never delivered is a hash no one holds the token of.
    expect(undelivered).not.toContain(hashToken(token));
    expect((await tokenHashesOf(user.id)).sort()).toEqual([...undelivered, hashToken(token)].sort());
    expect((await reset(t, token)).statusCode).toBe(200);
    expect((await reset(t, token)).json().error).toBe('invalid_reset_token');
  });

  it('carries a link whose lifetime counts from when it was emailed, not from the request', async () => {
    const user = await signUp(t);
    await requestWhileSmtpDown(user.email, user.id);
    t.clock.advance(1800);
    await t.deps.outbox.runOnce();
    const token = tokenIn(await smtp.waitFor(isResetMailTo(user.email)));
    t.clock.advance(2700);
    expect((await reset(t, token)).statusCode).toBe(200);
  });

  it('is not sent once its intent is older than RESET_TOKEN_TTL, even with SMTP back', async () => {
    const user = await signUp(t);
    const queued = await requestWhileSmtpDown(user.email, user.id);
    expect(queued.message).toEqual({ kind: 'password_reset', userId: user.id });
    t.clock.advance(3601);
    const row = await untilAbandoned(queued.id);
    expect(row.message).toBeNull();
    expect(row.sentAt).toBeNull();
    t.clock.advance(60);
    await t.deps.outbox.runOnce();
    expect(smtp.messages.filter(isResetMailTo(user.email))).toHaveLength(0);
  });

  it('is dropped when its user was deleted meanwhile', async () => {
    const user = await signUp(t);
    const queued = await requestWhileSmtpDown(user.email, user.id);
    await t.deps.db.delete(users).where(eq(users.id, user.id));
    t.clock.advance(60);
    const row = await untilAbandoned(queued.id);
    expect(row.message).toBeNull();
    expect(row.sentAt).toBeNull();
    expect(smtp.messages.filter(isResetMailTo(user.email))).toHaveLength(0);
  });

  it('goes out next to a row queued by an earlier version (a rendered notice), both from the same table', async () => {
    const old = await signUp(t);
    const user = await signUp(t);
    const now = t.clock.now();
    const day = new Date(now.getTime() + 86_400_000);
    await t.deps.db.insert(mailOutbox).values([
      { message: passwordChangedEmail({ ...old, emailVerifiedAt: null }), createdAt: now, expiresAt: day, nextAttemptAt: now },
      { message: { kind: 'password_reset', userId: user.id }, createdAt: now, expiresAt: day, nextAttemptAt: now },
    ]);
    await t.deps.outbox.runOnce();
    const notice = await smtp.waitFor((m) => m.to.includes(old.email) && m.subject === 'Your password was changed');
    expect(notice.subject).toBe('Your password was changed');
    expect(notice.text).toContain('signed out');
    const token = tokenIn(await smtp.waitFor(isResetMailTo(user.email)));
    expect((await reset(t, token)).statusCode).toBe(200);
  });

  it('once sent, keeps only what it was and whom it went to: never the link, nor a notice\'s text', async () => {
    const old = await signUp(t);
    const user = await signUp(t);
    const now = t.clock.now();
    const day = new Date(now.getTime() + 86_400_000);
    const [notice, intent] = await t.deps.db
      .insert(mailOutbox)
      .values([
        { message: passwordChangedEmail({ ...old, emailVerifiedAt: null }), createdAt: now, expiresAt: day, nextAttemptAt: now },
        { message: { kind: 'password_reset', userId: user.id }, createdAt: now, expiresAt: day, nextAttemptAt: now },
      ])
      .returning({ id: mailOutbox.id });
    await t.deps.outbox.runOnce();
    const token = tokenIn(await smtp.waitFor(isResetMailTo(user.email)));
    const rows = async () => t.deps.db.select().from(mailOutbox).where(inArray(mailOutbox.id, [notice!.id, intent!.id])).orderBy(mailOutbox.id);
    // The worker marks its rows sent once the batch is delivered, after the server accepted them.
    await expect.poll(async () => (await rows()).map((r) => [r.sentAt !== null, r.message])).toEqual([
      [true, { to: old.email, subject: 'Your password was changed' }],
      [true, { kind: 'password_reset', userId: user.id }],
    ]);
    const stored = JSON.stringify(await t.deps.db.select().from(mailOutbox));
    expect(stored).not.toContain(token);
    expect(stored).not.toContain('reset-password');
    expect(stored).not.toContain('signed out');
  });
});
