import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { signingKeys } from '../../src/db/schema.js';
import { PUBLIC_URL, signIn, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestClock } from '../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

const TTL = 900;
const SKEW = 30;
const LEAD = 300;
const INTERVAL = 3600;

interface Instance {
  t: TestApp;
  url: string;
}

async function jwksOf(i: Instance): Promise<{ keys: JWK[] }> {
  return (await fetch(`${i.url}/.well-known/jwks.json`)).json() as Promise<{ keys: JWK[] }>;
}
const kidsOf = async (i: Instance) => (await jwksOf(i)).keys.map((k) => k.kid!).sort();

async function accessToken(i: Instance): Promise<string> {
  const user = await signUp(i.t);
  return (await signIn(i.t, user.email)).access_token;
}

/** Polls until `check` holds, for at most `ms` (a NOTIFY takes a moment to arrive); throws otherwise. */
async function within(ms: number, check: () => Promise<boolean>): Promise<void> {
  const start = Date.now();
  while (Date.now() - start <= ms) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

describeUnless(NO_POSTGRES)('a key rotation with two instances on one PostgreSQL', () => {
  let database: TestDatabase;
  const clock = createTestClock();
  const instances: Instance[] = [];
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    database = await createTestDatabase();
    for (let n = 0; n < 2; n++) {
      const t = await startTestApp({ database, clock, env: { KEY_ROTATION_INTERVAL: String(INTERVAL) } });
      instances.push({ t, url: await t.listen() });
    }
    [a, b] = instances as [Instance, Instance];
  });
  afterAll(async () => {
    for (const i of instances) await i.t.close();
    await database.drop();
  });

  /** Accepted by both instances, and by a verifier holding either instance's published JWKS. */
  async function expectVerifiesEverywhere(token: string) {
    for (const i of [a, b]) {
      const res = await fetch(`${i.url}/api/dashboard`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      await jwtVerify(token, createLocalJWKSet(await jwksOf(i)), { issuer: PUBLIC_URL, audience: 'latchkey', currentDate: clock.now() });
    }
  }

  it('publishes the new key everywhere before it signs, and keeps the old one until its last token expires', async () => {
    const old = a.t.deps.keys.current.kid;
    expect(b.t.deps.keys.current.kid).toBe(old);
    const before = await accessToken(a);
    const rotatedAt = clock.now().getTime();

    const next = await a.t.deps.keys.rotate();
    expect(next).not.toBe(old);
    // B learns of it by NOTIFY, with no restart: both JWKS publish it while the old key still signs.
    await within(2000, async () => (await kidsOf(b)).includes(next));
    expect(await kidsOf(a)).toEqual([old, next].sort());
    expect(await kidsOf(b)).toEqual([old, next].sort());

    clock.advance(LEAD - 1);
    const during = [await accessToken(a), await accessToken(b)];
    for (const token of during) expect(decodeProtectedHeader(token).kid).toBe(old);

    clock.advance(1);
    const after = [await accessToken(a), await accessToken(b)];
    for (const token of after) expect(decodeProtectedHeader(token).kid).toBe(next);
    for (const token of [before, ...during, ...after]) await expectVerifiesEverywhere(token);

    // The last tokens of the old key (signed just before the new one activated) verify until they expire.
    clock.advance(TTL - 2);
    for (const token of during) await expectVerifiesEverywhere(token);
    expect(await kidsOf(b)).toEqual([old, next].sort());

    // Past the new key's activation by the token lifetime plus clock skew, the old key is gone.
    clock.advance(SKEW + 2);
    expect(clock.now().getTime()).toBe(rotatedAt + (LEAD + TTL + SKEW) * 1000);
    await a.t.deps.keys.maintain();
    expect((await a.t.deps.db.select().from(signingKeys)).map((r) => r.kid)).toEqual([next]);
    expect(await kidsOf(a)).toEqual([next]);
    expect(await kidsOf(b)).toEqual([next]);
    for (const i of [a, b]) expect(i.t.deps.keys.byKid(old)).toBeUndefined();
    await expectVerifiesEverywhere(await accessToken(b));
  });

  it('rotates on schedule once, however many instances check at the same time', async () => {
    const current = a.t.deps.keys.current.kid;
    const [row] = await a.t.deps.db.select().from(signingKeys);
    expect(row!.kid).toBe(current);
    // Not due yet: nothing happens.
    await Promise.all([a.t.deps.keys.maintain(), b.t.deps.keys.maintain()]);
    expect(await a.t.deps.db.select().from(signingKeys)).toHaveLength(1);

    // Due a rotation interval after the current key was published.
    clock.advance((row!.createdAt.getTime() + INTERVAL * 1000 - clock.now().getTime()) / 1000);
    const before = await accessToken(b);
    await Promise.all([a.t.deps.keys.maintain(), b.t.deps.keys.maintain()]);
    const rows = await a.t.deps.db.select().from(signingKeys);
    expect(rows).toHaveLength(2);
    const next = rows.find((r) => r.kid !== current)!;
    expect(next.activatesAt.getTime() - clock.now().getTime()).toBe(LEAD * 1000);
    await within(2000, async () => (await kidsOf(a)).includes(next.kid) && (await kidsOf(b)).includes(next.kid));

    clock.advance(LEAD);
    const after = await accessToken(a);
    expect(decodeProtectedHeader(after).kid).toBe(next.kid);
    for (const token of [before, after]) await expectVerifiesEverywhere(token);
  });
});

describe('the automatic schedule, in real time', () => {
  it('rotates by itself when KEY_ROTATION_INTERVAL is short', async () => {
    const t = await startTestApp({ realClock: systemClock, env: { KEY_ROTATION_INTERVAL: '2s' } });
    try {
      const first = t.deps.keys.current.kid;
      // Every tick (a second here) checks whether the newest key is due; the next one signs a second after.
      await within(15_000, async () => t.deps.keys.current.kid !== first);
      const next = t.deps.keys.current.kid;
      expect(t.deps.keys.jwks().keys.map((k) => k.kid)).toEqual(expect.arrayContaining([first, next]));
    } finally {
      await t.close();
    }
  }, 60_000);
});
