import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/core/secrets.js';
import { auditEvents, mailOutbox, oneTimeTokens, users } from '../../src/db/schema.js';
import { dashboard, GOOD_PASSWORD, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { readSample } from '../helpers/metrics.js';
import { freePort, TEST_REDIS_URL, uniqueRedisPrefix } from '../helpers/services.js';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../helpers/smtp.js';

// An owner on a network the account never signed in from (a phone, a hotel), while strangers' guesses lock
// the account: the right password gets the lock's answer like any other, and a code by email that, sent with
// the password, signs the owner in.

const CODE_MAIL = 'Your sign-in code';
const WRONG = 'a wrong password';
const CODE_IN_MAIL = /\b([2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4})\b/;

let smtp: TestSmtpServer;
let t: TestApp;

beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await startTestApp({
    env: {
      TRUST_PROXY: '127.0.0.1',
      SMTP_URL: smtp.url,
      ...(TEST_REDIS_URL ? { REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: uniqueRedisPrefix() } : {}),
      METRICS_PORT: String(await freePort()),
      LOCKOUT_THRESHOLD: '5',
      LOCKOUT_DURATION: '1h',
      RATE_LIMIT_LOCKED_SIGNIN: '20/1h',
    },
  });
});
afterAll(async () => {
  await t.close();
  await smtp.close();
});

// Each address is on a wide network (an IPv4 /24) of its own: no test spends another's share.
let lastNetwork = 0;
const newAddress = () => {
  lastNetwork += 1;
  return `10.${(lastNetwork >> 8) & 255}.${lastNetwork & 255}.7`;
};

const signin = (body: Record<string, unknown>, ip: string) =>
  t.inject({ method: 'POST', url: '/api/signin', payload: body, headers: { 'x-forwarded-for': ip, 'user-agent': 'signin-code-test' } });

/** An account, signed in to from `known` first if given, then locked by strangers' guesses. */
async function lockedAccount(known?: string): Promise<{ id: string; email: string }> {
  const email = uniqueEmail('owner');
  const res = await t.inject({ method: 'POST', url: '/api/signup', payload: { name: 'Owner', email, password: GOOD_PASSWORD }, headers: { 'x-forwarded-for': newAddress() } });
  expect(res.statusCode).toBe(201);
  if (known) expect((await signin({ email, password: GOOD_PASSWORD }, known)).statusCode).toBe(200);
  const answers = [];
  for (let i = 0; i < 6; i++) answers.push((await signin({ email, password: WRONG }, newAddress())).statusCode);
  expect(answers).toEqual([401, 401, 401, 401, 401, 429]);
  return { id: res.json().user.id, email };
}

const codeMails = (email: string) => smtp.messages.filter((m) => m.to.includes(email) && m.subject === CODE_MAIL);

/** Waits until `count` code emails reached the address (or a moment passed), then a moment more, and returns them. */
async function codeMailsTo(email: string, count: number): Promise<ReceivedMail[]> {
  for (let i = 0; i < 100 && codeMails(email).length < count; i++) await new Promise((r) => setTimeout(r, 50));
  // So that an email too many would have arrived too.
  await new Promise((r) => setTimeout(r, 400));
  return codeMails(email);
}

const codeIn = (mail: ReceivedMail) => CODE_IN_MAIL.exec(mail.text)![1]!;

/** Asks for a code with the right password from `ip` (answered as the lock answers), and reads it from the email. */
async function requestCode(email: string, ip: string): Promise<string> {
  const before = codeMails(email).length;
  const res = await signin({ email, password: GOOD_PASSWORD }, ip);
  expect(res.statusCode).toBe(429);
  const mails = await codeMailsTo(email, before + 1);
  expect(mails).toHaveLength(before + 1);
  return codeIn(mails.at(-1)!);
}

function expectLockAnswer(res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string } }) {
  expect(res.statusCode).toBe(429);
  expect(res.json().error).toBe('too_many_attempts');
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
}

const auditOf = (email: string, type: 'signin_succeeded' | 'signin_failed' | 'signin_code_requested') =>
  t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.email, email), eq(auditEvents.type, type)));

describe('an owner on a new network during a lock', () => {
  it('gets in with the password and the code emailed to them, and is known from then on', async () => {
    const owner = await lockedAccount();
    const phone = newAddress();
    const code = await requestCode(owner.email, phone);
    const mail = codeMails(owner.email)[0]!;
    expect(mail.text).toContain('expires in 10 minutes');
    expect(mail.text).toContain('If this was not you, someone knows your password');

    const res = await signin({ email: owner.email, password: GOOD_PASSWORD, code }, phone);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'message', 'refresh_token', 'token_type', 'user']);
    expect(body.user.email).toBe(owner.email);
    expect((await dashboard(t, body.access_token)).statusCode).toBe(200);
    // The network is known now: the password alone signs in from it, while strangers stay locked out.
    expect((await signin({ email: owner.email, password: GOOD_PASSWORD }, phone)).statusCode).toBe(200);
    expectLockAnswer(await signin({ email: owner.email, password: WRONG }, newAddress()));

    expect(await auditOf(owner.email, 'signin_code_requested')).toHaveLength(1);
    const succeeded = await auditOf(owner.email, 'signin_succeeded');
    expect(succeeded).toHaveLength(2);
    const withCode = succeeded.filter((r) => r.details !== null);
    expect(withCode.map((r) => [r.details, r.ipAddress])).toEqual([[{ signinCode: true }, phone]]);
    expect(t.logs.join('')).not.toContain(code.replace('-', ''));
  });

  it('accepts the code in any letter case, with or without its hyphen', async () => {
    const owner = await lockedAccount();
    const phone = newAddress();
    const code = await requestCode(owner.email, phone);
    expect((await signin({ email: owner.email, password: GOOD_PASSWORD, code: code.replace('-', '').toLowerCase() }, phone)).statusCode).toBe(200);
  });

  it('gets a code on a known network its own failures locked too; replayed, the code gets the lock\'s answer', async () => {
    const home = newAddress();
    const owner = await lockedAccount(home);
    const lockHome = async () => {
      for (let i = 0; i < 5; i++) expect((await signin({ email: owner.email, password: WRONG }, home)).statusCode).toBe(401);
      expectLockAnswer(await signin({ email: owner.email, password: WRONG }, home));
    };
    await lockHome();
    const code = await requestCode(owner.email, home);
    expect((await signin({ email: owner.email, password: GOOD_PASSWORD, code }, home)).statusCode).toBe(200);
    // Locked again by its own failures, home sends the spent code: no session opens.
    await lockHome();
    expectLockAnswer(await signin({ email: owner.email, password: GOOD_PASSWORD, code }, home));
    const succeeded = await auditOf(owner.email, 'signin_succeeded');
    expect(succeeded.map((r) => r.details).sort()).toEqual([{ signinCode: true }, null]);
  });
});

describe('what a stranger gets from a lock', () => {
  it('the same answer for a wrong password as for the right one, and no email', async () => {
    const owner = await lockedAccount();
    const stranger = await signin({ email: owner.email, password: WRONG }, newAddress());
    const withCode = await signin({ email: owner.email, password: WRONG, code: 'ABCD-EFGH' }, newAddress());
    expect(await codeMailsTo(owner.email, 1)).toEqual([]);
    const right = await signin({ email: owner.email, password: GOOD_PASSWORD }, newAddress());
    for (const res of [stranger, withCode, right]) expectLockAnswer(res);
    expect(withCode.body).toBe(stranger.body);
    expect(right.body).toBe(stranger.body);
    expect(right.json().message).toMatch(/a sign-in code has been emailed to you: send it as "code"/);
    expect(Object.keys(right.headers).sort()).toEqual(Object.keys(stranger.headers).sort());
    expect(await codeMailsTo(owner.email, 1)).toHaveLength(1);
  });

  it('the same answer for a wrong code, an expired one, another user\'s, and one from another network', async () => {
    const [owner, other] = [await lockedAccount(), await lockedAccount()];
    const phone = newAddress();
    const code = await requestCode(owner.email, phone);
    const othersCode = await requestCode(other.email, phone);
    const stranger = await signin({ email: owner.email, password: WRONG }, newAddress());
    const answers = [
      await signin({ email: owner.email, password: GOOD_PASSWORD, code: othersCode }, phone),
      await signin({ email: owner.email, password: GOOD_PASSWORD, code }, newAddress()),
      await signin({ email: owner.email, password: GOOD_PASSWORD, code: code === 'ABCD-EFGH' ? 'ABCD-EFGJ' : 'ABCD-EFGH' }, phone),
    ];
    for (const res of answers) expect(res.body).toBe(stranger.body);
    // Three wrong tries leave the code working, until it expires (10 minutes from its email).
    t.clock.advance(599);
    expect((await signin({ email: owner.email, password: GOOD_PASSWORD, code }, phone)).statusCode).toBe(200);
    t.clock.advance(2);
    const late = await signin({ email: other.email, password: GOOD_PASSWORD, code: othersCode }, phone);
    expect(late.body).toBe((await signin({ email: other.email, password: WRONG }, newAddress())).body);
    expect(await auditOf(other.email, 'signin_succeeded')).toEqual([]);
    const failed = await auditOf(owner.email, 'signin_failed');
    expect(failed.filter((r) => (r.details as { reason?: string } | null)?.reason === 'invalid_signin_code')).toHaveLength(3);
  });

  it('spends a code at its fifth wrong try', async () => {
    const owner = await lockedAccount();
    const phone = newAddress();
    const code = await requestCode(owner.email, phone);
    const wrong = code === 'ABCD-EFGH' ? 'ABCD-EFGJ' : 'ABCD-EFGH';
    for (let i = 0; i < 5; i++) expectLockAnswer(await signin({ email: owner.email, password: GOOD_PASSWORD, code: wrong }, phone));
    expectLockAnswer(await signin({ email: owner.email, password: GOOD_PASSWORD, code }, phone));
    expect(await auditOf(owner.email, 'signin_succeeded')).toEqual([]);
  });

  it('one session for one code used many times at once', async () => {
    const owner = await lockedAccount();
    const phone = newAddress();
    const code = await requestCode(owner.email, phone);
    const results = await Promise.all(Array.from({ length: 10 }, () => signin({ email: owner.email, password: GOOD_PASSWORD, code }, phone)));
    const succeeded = await auditOf(owner.email, 'signin_succeeded');
    // Exactly one opened its session with the code. Another may have come in after it through the network the
    // code made known, with the password alone (as any request from there does): it says so in its audit row.
    expect(succeeded.filter((r) => r.details !== null)).toHaveLength(1);
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(succeeded.length);
    for (const res of results.filter((r) => r.statusCode !== 200)) expectLockAnswer(res);
  });

  it('at most one email per account for a flood of right passwords (SIGNIN_CODE_MAIL_LIMIT), whose code works', async () => {
    const owner = await lockedAccount();
    const phone = newAddress();
    const flood = await Promise.all(Array.from({ length: 10 }, (_, i) => signin({ email: owner.email, password: GOOD_PASSWORD }, i % 2 ? phone : newAddress())));
    for (const res of flood) expectLockAnswer(res);
    for (let i = 0; i < 5; i++) expectLockAnswer(await signin({ email: owner.email, password: GOOD_PASSWORD }, phone));
    const mails = await codeMailsTo(owner.email, 2);
    expect(mails).toHaveLength(1);
    // The one code works from the network it was asked from (whichever of the flood's that was).
    const [row] = await t.deps.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, owner.id), eq(oneTimeTokens.type, 'signin_code')));
    const from = (row!.payload as { network: string }).network.replace('/32', '');
    expect((await signin({ email: owner.email, password: GOOD_PASSWORD, code: codeIn(mails[0]!) }, from)).statusCode).toBe(200);
  });

  it('a disabled account: the lock\'s answer to the right password too, and no email', async () => {
    const owner = await lockedAccount();
    await t.deps.db.update(users).set({ disabledAt: t.clock.now() }).where(eq(users.id, owner.id));
    const stranger = await signin({ email: owner.email, password: WRONG }, newAddress());
    const right = await signin({ email: owner.email, password: GOOD_PASSWORD }, newAddress());
    expect(right.body).toBe(stranger.body);
    expect(await codeMailsTo(owner.email, 1)).toEqual([]);
  });

  it('nothing of the code in a copy of the database: an HMAC no one can try codes against without SECRET_KEY', async () => {
    const owner = await lockedAccount();
    const code = await requestCode(owner.email, newAddress());
    const tokens = await t.deps.db.select().from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, owner.id), eq(oneTimeTokens.type, 'signin_code')));
    expect(tokens).toHaveLength(1);
    // The code's row, the outbox (an intent of ids, erased once sent) and the audit log, as a copy has them.
    const copy = JSON.stringify([tokens, await t.deps.db.select().from(mailOutbox), await t.deps.db.select().from(auditEvents)]);
    expect(copy).toContain(tokens[0]!.tokenHash);
    for (const form of [code, code.replace('-', ''), code.toLowerCase()]) {
      expect(copy).not.toContain(form);
      expect(copy).not.toContain(hashToken(form));
    }
  });

  it('no metric that moves otherwise for the right password than for a wrong one', async () => {
    const owner = await lockedAccount();
    const counters = async () => {
      const text = await t.deps.metricsRegistry!.registry.metrics();
      return ['latchkey_signin_attempts_total', 'latchkey_throttled_total'].map((name) => readSample(text, name, {}));
    };
    const before = await counters();
    expectLockAnswer(await signin({ email: owner.email, password: WRONG }, newAddress()));
    const afterWrong = await counters();
    expectLockAnswer(await signin({ email: owner.email, password: GOOD_PASSWORD }, newAddress()));
    expect(await codeMailsTo(owner.email, 1)).toHaveLength(1);
    const afterRight = await counters();
    expect(afterRight.map((n, i) => n - afterWrong[i]!)).toEqual(afterWrong.map((n, i) => n - before[i]!));
    const locked = readSample(await t.deps.metricsRegistry!.registry.metrics(), 'latchkey_signin_attempts_total', { outcome: 'locked' });
    expect(locked).toBeGreaterThanOrEqual(2);
  });
});

describe('bad input', () => {
  let owner: { email: string };
  beforeAll(async () => {
    owner = await lockedAccount();
  });

  it.each([['ABC'], ['ABCD-EFG0'], ['ABCD--EFGH'], ['ABCDEFGHJ'], [''], [12345678], [null], [' ABCD-EFGH']])(
    'refuses the code %j with 400 invalid_request, locked or not',
    async (code) => {
      for (const email of [owner.email, uniqueEmail('shape')]) {
        const res = await signin({ email, password: GOOD_PASSWORD, code }, newAddress());
        expect(res.statusCode).toBe(400);
        expect(res.json().error).toBe('invalid_request');
      }
    },
  );
});
