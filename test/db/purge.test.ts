import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { and, count, eq, inArray } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKnownClient } from '../../src/auth/throttle/known-clients.js';
import { purgeExpiredRows } from '../../src/auth/maintenance/purge.js';
import { loadConfig } from '../../src/config.js';
import { createRevocationList, loadRecentRevocations } from '../../src/auth/sessions/revocations.js';
import { mailOutbox, oneTimeTokens, refreshTokens, sessions } from '../../src/db/schema.js';
import { bearer, dashboard, refresh, signIn, signUp, startTestApp, type TestApp, type Tokens } from '../helpers/app.js';

const HOUR = 3600;
const DAY = 86_400;

const purge = (t: TestApp) => purgeExpiredRows(t.deps.db, t.deps.clock, t.deps.config);
const sessionOf = (tokens: Tokens) => decodeJwt(tokens.access_token).sid as string;
const tokensOf = async (t: TestApp, sessionId: string) =>
  (await t.deps.db.select({ n: count() }).from(refreshTokens).where(eq(refreshTokens.sessionId, sessionId)))[0]!.n;
const sessionExists = async (t: TestApp, sessionId: string) =>
  (await t.deps.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, sessionId))).length === 1;
const ago = (t: TestApp, seconds: number) => new Date(t.clock.now().getTime() - seconds * 1000);

describe('refresh tokens of a live session', () => {
  // One refresh a minute, tokens living an hour: what reuse detection needs is the last hour of the chain.
  const STEP = 60;
  const REFRESHES = 3_000;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { REFRESH_TOKEN_TTL: '1h' } });
  });
  afterAll(() => t.close());

  it(`stay bounded after ${REFRESHES} refreshes, while retries, replays and the live token work as before`, async () => {
    const user = await signUp(t);
    const chain: Tokens[] = [await signIn(t, user.email)];
    for (let i = 1; i <= REFRESHES; i++) {
      t.clock.advance(STEP);
      const res = await refresh(t, chain[i - 1]!.refresh_token);
      if (res.statusCode !== 200) throw new Error(`refresh ${i}: ${res.statusCode} ${res.body}`);
      chain.push(res.json());
    }
    const sid = sessionOf(chain[0]!);
    expect(await tokensOf(t, sid)).toBe(REFRESHES + 1);

    // The last answer was lost: its client retries a moment after this pass.
    const lost = (await refresh(t, chain[REFRESHES]!.refresh_token)).json() as Tokens;
    const purged = await purge(t);
    const kept = await tokensOf(t, sid);
    // The live token and the spent ones that could still be valid (REFRESH_TOKEN_TTL / STEP), plus the clock margin.
    expect(kept).toBeGreaterThanOrEqual(HOUR / STEP);
    expect(kept).toBeLessThanOrEqual(HOUR / STEP + 4);
    expect(purged.refreshTokens).toBe(REFRESHES + 2 - kept);
    // Nothing kept has been expired for long.
    const rows = await t.deps.db.select({ expiresAt: refreshTokens.expiresAt }).from(refreshTokens).where(eq(refreshTokens.sessionId, sid));
    for (const row of rows) expect(row.expiresAt.getTime()).toBeGreaterThan(ago(t, 2 * 60).getTime());

    t.clock.advance(5);
    const retry = await refresh(t, chain[REFRESHES]!.refresh_token);
    expect(retry.statusCode).toBe(200);
    expect(retry.json().refresh_token).toBe(lost.refresh_token);

    // A token spent hours ago expired long before: gone, and refused like any unknown token.
    expect((await refresh(t, chain[10]!.refresh_token)).json().error).toBe('invalid_refresh_token');
    expect((await dashboard(t, lost.access_token)).statusCode).toBe(200);

    // A token spent ten minutes ago could still be valid: kept, and its replay still revokes the session.
    const replay = await refresh(t, chain[REFRESHES - 10]!.refresh_token);
    expect(replay.json().error).toBe('refresh_token_reused');
    expect((await dashboard(t, lost.access_token)).json().error).toBe('session_revoked');
    expect((await refresh(t, lost.refresh_token)).json().error).toBe('invalid_refresh_token');
  }, 120_000);
});

describe('a token rotated just before it expired', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A retry window longer than the purge's clock margin, so that the window itself is what keeps the token.
    t = await startTestApp({ env: { REFRESH_TOKEN_TTL: '1h', REFRESH_REUSE_INTERVAL: '5m' } });
  });
  afterAll(() => t.close());

  it('stays through its retry window although expired, then goes', async () => {
    const user = await signUp(t);
    const first = await signIn(t, user.email);
    t.clock.advance(HOUR - 1);
    const lost = (await refresh(t, first.refresh_token)).json() as Tokens;
    t.clock.advance(4 * 60);
    await purge(t);
    const retry = await refresh(t, first.refresh_token);
    expect(retry.statusCode).toBe(200);
    expect(retry.json().refresh_token).toBe(lost.refresh_token);

    t.clock.advance(3 * 60);
    expect((await purge(t)).refreshTokens).toBe(1);
    expect(await tokensOf(t, sessionOf(first))).toBe(1);
    expect((await refresh(t, lost.refresh_token)).statusCode).toBe(200);
  });
});

describe('ended sessions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { SESSION_MAX_AGE: '3d', REFRESH_TOKEN_TTL: '1h', ACCESS_TOKEN_TTL: '15m' } });
  });
  afterAll(() => t.close());

  it('lose their tokens once the revocation list no longer needs them, and go a day after they ended', async () => {
    const user = await signUp(t);
    const loggedOut = await signIn(t, user.email);
    const abandoned = await signIn(t, user.email);
    expect((await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(loggedOut.access_token) })).statusCode).toBe(200);
    const [outId, oldId] = [sessionOf(loggedOut), sessionOf(abandoned)];

    // Five minutes on, its access token could still be alive: a restarting instance must reload the revocation.
    t.clock.advance(5 * 60);
    await purge(t);
    expect(await tokensOf(t, outId)).toBe(1);
    const reloaded = createRevocationList(t.clock, t.deps.config.ttl.accessToken);
    await loadRecentRevocations(t.deps.db, t.clock, t.deps.config.ttl.accessToken, reloaded);
    expect(reloaded.isSessionRevoked(outId)).toBe(true);

    // Past ACCESS_TOKEN_TTL + 60 s (and the clock margin): its tokens go, the session row stays.
    t.clock.advance(15 * 60);
    await purge(t);
    expect(await tokensOf(t, outId)).toBe(0);
    expect(await sessionExists(t, outId)).toBe(true);

    // A day after the logout the session goes; the network still counts as the owner's (from the audit log).
    // The other session is alive, but its token expired unused: gone.
    t.clock.advance(DAY);
    expect((await purge(t)).sessions).toBe(1);
    expect(await sessionExists(t, outId)).toBe(false);
    expect(await isKnownClient(t.deps, user.id, '127.0.0.1/32', t.deps.config.ttl.sessionMaxAge)).toBe(true);
    expect(await tokensOf(t, oldId)).toBe(0);
    expect(await sessionExists(t, oldId)).toBe(true);

    // Past SESSION_MAX_AGE the other session has ended, and a day later it goes; a session opened now stays, with its token, and works.
    t.clock.advance(3 * DAY);
    const live = await signIn(t, user.email);
    expect((await purge(t)).sessions).toBe(1);
    expect(await sessionExists(t, oldId)).toBe(false);
    expect(await tokensOf(t, sessionOf(live))).toBe(1);
    const next = await refresh(t, live.refresh_token);
    expect(next.statusCode).toBe(200);
    expect((await dashboard(t, next.json().access_token)).statusCode).toBe(200);
  });
});

describe('reset tokens and emails', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { PURGE_INTERVAL: '1s' } });
  });
  afterAll(() => t.close());

  const hash = () => randomBytes(32).toString('base64url');

  it('used or expired reset tokens go; an unused one still valid stays', async () => {
    const user = await signUp(t);
    const [used, expired, valid] = [hash(), hash(), hash()];
    const now = t.clock.now();
    await t.deps.db.insert(oneTimeTokens).values([
      { type: 'password_reset', tokenHash: used, userId: user.id, createdAt: ago(t, 600), expiresAt: new Date(now.getTime() + HOUR * 1000), usedAt: ago(t, 120) },
      { type: 'password_reset', tokenHash: expired, userId: user.id, createdAt: ago(t, HOUR + 120), expiresAt: ago(t, 120) },
      { type: 'password_reset', tokenHash: valid, userId: user.id, createdAt: ago(t, 600), expiresAt: new Date(now.getTime() + HOUR * 1000) },
    ]);
    await purge(t);
    const left = await t.deps.db.select({ h: oneTimeTokens.tokenHash }).from(oneTimeTokens).where(inArray(oneTimeTokens.tokenHash, [used, expired, valid]));
    expect(left.map((r) => r.h)).toEqual([valid]);
  });

  it('sent and abandoned emails go a day later; recent and pending ones stay', async () => {
    const now = t.clock.now();
    const later = new Date(now.getTime() + DAY * 1000);
    const row = (fields: Partial<typeof mailOutbox.$inferInsert>) => ({ message: null, createdAt: ago(t, 2 * DAY), expiresAt: later, nextAttemptAt: later, ...fields });
    const inserted = await t.deps.db
      .insert(mailOutbox)
      .values([
        row({ sentAt: ago(t, DAY + 120) }),
        row({ abandonedAt: ago(t, DAY + 120) }),
        row({ sentAt: ago(t, HOUR) }),
        row({ abandonedAt: ago(t, HOUR) }),
        // Not due before tomorrow: the outbox leaves it alone meanwhile.
        row({ message: { kind: 'not_due_yet' } }),
      ])
      .returning({ id: mailOutbox.id });
    const ids = inserted.map((r) => r.id);
    await purge(t);
    const left = await t.deps.db.select({ id: mailOutbox.id }).from(mailOutbox).where(inArray(mailOutbox.id, ids));
    expect(left.map((r) => r.id).sort((a, b) => a - b)).toEqual(ids.slice(2));
  });

  it('every PURGE_INTERVAL (5 minutes by default), without being asked', async () => {
    expect(loadConfig({}).purgeInterval).toBe(300);
    const user = await signUp(t);
    const expired = hash();
    await t.deps.db.insert(oneTimeTokens).values({ type: 'password_reset', tokenHash: expired, userId: user.id, createdAt: ago(t, 2 * HOUR), expiresAt: ago(t, HOUR) });
    const present = async () => (await t.deps.db.select().from(oneTimeTokens).where(eq(oneTimeTokens.tokenHash, expired))).length;
    for (let i = 0; i < 100 && (await present()) > 0; i++) await sleep(100);
    expect(await present()).toBe(0);
  });
});

describe('several instances purging at once', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('share the work: every doomed row deleted once, and nothing else', async () => {
    const user = await signUp(t);
    const n = 2_500;
    const doomed = Array.from({ length: n }, () => ({
      type: 'password_reset',
      tokenHash: randomBytes(32).toString('base64url'),
      userId: user.id,
      createdAt: ago(t, 2 * HOUR),
      expiresAt: ago(t, HOUR),
    }));
    for (let i = 0; i < n; i += 500) await t.deps.db.insert(oneTimeTokens).values(doomed.slice(i, i + 500));
    const valid = randomBytes(32).toString('base64url');
    await t.deps.db.insert(oneTimeTokens).values({ type: 'password_reset', tokenHash: valid, userId: user.id, createdAt: ago(t, 60), expiresAt: new Date(t.clock.now().getTime() + HOUR * 1000) });

    const passes = await Promise.all([purge(t), purge(t), purge(t)]);
    expect(passes.reduce((sum, p) => sum + p.oneTimeTokens, 0)).toBe(n);
    const left = await t.deps.db.select({ h: oneTimeTokens.tokenHash }).from(oneTimeTokens).where(and(eq(oneTimeTokens.userId, user.id), eq(oneTimeTokens.type, 'password_reset')));
    expect(left.map((r) => r.h)).toEqual([valid]);
  });
});
