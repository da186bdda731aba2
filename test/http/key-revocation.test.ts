import { eq } from 'drizzle-orm';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSigningKeys, revokeSigningKey, rotateSigningKeys } from '../../src/auth/keys/key-admin.js';
import { rotateSigningKey } from '../../src/auth/keys/key-rotation.js';
import { openKeyRow, signingKeySealer } from '../../src/auth/keys/key-store.js';
import type { KeySet } from '../../src/auth/keys/keys.js';
import { signAccessToken } from '../../src/auth/sessions/access-tokens.js';
import { createServiceClient } from '../../src/auth/service-clients/service-clients.js';
import { AppError } from '../../src/errors.js';
import { auditEvents, signingKeys } from '../../src/db/schema.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { dashboard, refresh, signIn, signUp, startTestApp, useTwoInstances, type TestApp } from '../helpers/app.js';
import { basic, openSse } from '../helpers/sse.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

// The emergency revocation of a signing key (src/auth/keys/key-admin.ts, revokeSigningKey): the key leaves the
// JWKS, its tokens are refused (cached ones too), a new key signs at once when it was signing, sessions live on.

const TTL = 900;
const SKEW = 30;

const jwksOf = async (t: TestApp) => (await t.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as { keys: JWK[] };
const kidsOf = async (t: TestApp) => (await jwksOf(t)).keys.map((k) => k.kid!).sort();
const kidOf = (token: string) => decodeProtectedHeader(token).kid!;

async function signedIn(t: TestApp) {
  const user = await signUp(t);
  return signIn(t, user.email);
}

/** A token that verifies here now, so that it is also in the instance's cache of verified tokens. */
async function verifiedToken(t: TestApp) {
  const tokens = await signedIn(t);
  expect((await dashboard(t, tokens.access_token)).statusCode).toBe(200);
  return tokens;
}

/** The audit rows of the revocations of `kid`. */
const revokedAudits = async (t: TestApp, kid: string) =>
  (await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, 'signing_key_revoked'))).filter((a) => (a.details as { kid?: string }).kid === kid);

describe('revoking the current signing key', () => {
  let t: TestApp;
  let database: TestDatabase;
  let dataDir: string;
  // A data folder of its own, so that a restart on the embedded engine finds the same database.
  const start = () => startTestApp({ database, dataDir, ...(t ? { clock: t.clock } : {}) });
  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'latchkey-key-revocation-'));
    t = await start();
  });
  afterAll(async () => {
    await t?.close();
    await database?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('takes it out of the JWKS and refuses its tokens at once, cached or not; a new key signs at once; sessions live on', async () => {
    const old = t.deps.keys.current.kid;
    const cached = await verifiedToken(t);
    const unseen = await signedIn(t);
    expect(kidOf(cached.access_token)).toBe(old);

    const done = await revokeSigningKey(t.deps, old, 'admin:test');
    expect(done).toMatchObject({ kid: old, already_revoked: false, revoked_at: t.clock.now().toISOString() });
    const fresh = done.new_key!;
    expect(fresh).toMatchObject({ state: 'current', alg: 'ES256', activates_at: t.clock.now().toISOString(), revoked_at: null });
    expect(fresh.kid).not.toBe(old);

    expect(await kidsOf(t)).toEqual([fresh.kid]);
    for (const token of [cached.access_token, unseen.access_token]) {
      const res = await dashboard(t, token);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('invalid_token');
    }
    // No publication lead: the next token is the new key's, and verifies.
    const next = await signedIn(t);
    expect(kidOf(next.access_token)).toBe(fresh.kid);
    expect((await dashboard(t, next.access_token)).statusCode).toBe(200);
    // Refresh tokens are not signed by the key: the session lives on, with a token of the new key.
    const refreshed = await refresh(t, cached.refresh_token);
    expect(refreshed.statusCode).toBe(200);
    expect(kidOf(refreshed.json().access_token)).toBe(fresh.kid);
    expect((await dashboard(t, refreshed.json().access_token)).statusCode).toBe(200);

    // Listed as revoked (and retired); audited with the actor and the new key.
    const listed = await listSigningKeys(t.deps);
    expect(listed.find((k) => k.kid === old)).toMatchObject({ state: 'revoked', revoked_at: done.revoked_at, retired_at: done.revoked_at });
    const audits = await revokedAudits(t, old);
    expect(audits).toHaveLength(1);
    expect(audits[0]!.details).toEqual({ actor: 'admin:test', kid: old, new_kid: fresh.kid });
  });

  it('is never loaded again, by a reload, the schedule or a restart, until its row leaves with its last token', async () => {
    const [revoked] = (await listSigningKeys(t.deps)).filter((k) => k.state === 'revoked');
    await t.deps.keys.reload();
    await t.deps.keys.maintain();
    expect(t.deps.keys.byKid(revoked!.kid)).toBeUndefined();
    expect(await t.deps.keys.findKey!(revoked!.kid)).toBeUndefined();
    expect(await kidsOf(t)).not.toContain(revoked!.kid);

    await t.close();
    t = await start();
    expect(t.deps.keys.byKid(revoked!.kid)).toBeUndefined();
    expect(await kidsOf(t)).not.toContain(revoked!.kid);
    // And it learns at start that the key's tokens are dead (the revocation feed replays it).
    expect(t.deps.revocations.isKeyRevoked(revoked!.kid)).toBe(true);

    // Its row stays while a token it signed could still be alive, then goes with the schedule.
    t.clock.advance(TTL + SKEW);
    await t.deps.keys.maintain();
    expect((await t.deps.db.select().from(signingKeys)).map((r) => r.kid)).not.toContain(revoked!.kid);
  });

  it('answers a revoked key again already_revoked, changing nothing; an unknown kid key_not_found', async () => {
    const current = t.deps.keys.current.kid;
    await revokeSigningKey(t.deps, current, 'cli');
    const signing = t.deps.keys.current.kid;
    const rows = await t.deps.db.select().from(signingKeys);
    const again = await revokeSigningKey(t.deps, current, 'cli');
    expect(again).toMatchObject({ kid: current, already_revoked: true, new_key: null });
    expect(t.deps.keys.current.kid).toBe(signing);
    expect(await t.deps.db.select().from(signingKeys)).toEqual(rows);
    expect(await revokedAudits(t, current)).toHaveLength(1);

    for (const kid of ['A'.repeat(43), 'nope', '', "' or 1=1 --", '../../etc/passwd']) {
      const err = await revokeSigningKey(t.deps, kid, 'cli').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('key_not_found');
    }
  });

  it('revokes a key that does not sign now without making one: a published next key', async () => {
    const current = t.deps.keys.current.kid;
    const next = await rotateSigningKeys(t.deps, 'cli');
    expect(next.state).toBe('next');
    const done = await revokeSigningKey(t.deps, next.kid, 'cli');
    expect(done.new_key).toBeNull();
    expect(t.deps.keys.current.kid).toBe(current);
    expect(await kidsOf(t)).toEqual([current]);
    expect((await listSigningKeys(t.deps)).filter((k) => k.state !== 'revoked').map((k) => k.kid)).toEqual([current]);
  });

  it('an instance that has not heard of a key made elsewhere reads the keys when a token names it; a malformed kid reads nothing', async () => {
    // A key made as another instance makes one (signing at once), its notice not heard here (the embedded engine has none).
    const ctx = { ...t.deps, sealingKey: signingKeySealer(t.database.secretKey), secretSource: 'SECRET_KEY' };
    const row = (await rotateSigningKey(ctx, { alg: 'ES256', publishLead: 0 }))!;
    const key = (await openKeyRow(row, ctx.sealingKey)).key;
    const user = await signUp(t);
    const sessionId = decodeJwt((await signIn(t, user.email)).access_token).sid as string;
    const elsewhere = { signingKeyAt: () => key } as unknown as KeySet;
    const now = t.clock.now();
    const { token } = signAccessToken(
      elsewhere,
      { issuer: t.deps.config.jwt.issuer, audience: t.deps.config.jwt.audience },
      { userId: user.id, sessionId, sessionCreatedAt: now, emailVerified: false, amr: ['pwd'] },
      now,
      new Date(now.getTime() + 60_000),
    );
    // On PostgreSQL its notice may have come first; on the embedded engine there is none.
    if (!t.database.url) expect(t.deps.keys.byKid(row.kid)).toBeUndefined();
    expect((await dashboard(t, token)).statusCode).toBe(200);
    expect(t.deps.keys.byKid(row.kid)).toBeDefined();

    expect(await t.deps.keys.findKey!('not-a-kid')).toBeUndefined();
    expect(await t.deps.keys.findKey!(row.kid)).toBe(t.deps.keys.byKid(row.kid));
  });
});

describe('the revocation feed', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await startTestApp();
    base = await t.listen();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('streams key.revoked at once, and replays it to a stream opened later', async () => {
    const creds = await createServiceClient(t.deps, { name: 'keys-feed', scopes: ['revocations:read'] }, 'test');
    const headers = { authorization: basic(creds.client_id, creds.client_secret) };
    const live = await openSse(`${base}/api/revocations/stream`, headers);
    try {
      await live.next((e) => e.event === 'ready');
      const kid = t.deps.keys.current.kid;
      await revokeSigningKey(t.deps, kid, 'cli');
      const event = await live.next((e) => e.event === 'key.revoked', 2_000);
      expect(event.json).toEqual({ kid, revoked_at: t.clock.now().getTime() });
      expect(event.id).toBe(String(t.clock.now().getTime()));

      const later = await openSse(`${base}/api/revocations/stream`, headers);
      try {
        const replayed = await later.next((e) => e.event === 'key.revoked' && e.json.kid === kid);
        const ready = await later.next((e) => e.event === 'ready');
        expect(later.events.indexOf(replayed)).toBeLessThan(later.events.indexOf(ready));
      } finally {
        later.close();
      }
    } finally {
      live.close();
    }
  });
});

describeUnless(NO_POSTGRES)('two instances on one PostgreSQL', () => {
  const { a, b } = useTwoInstances();

  /** Polls until `check` holds (a NOTIFY takes a moment to arrive); generous, the machine may be loaded. */
  async function eventually(check: () => Promise<boolean>, ms = 10_000) {
    const start = Date.now();
    while (Date.now() - start <= ms) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`condition not met within ${ms} ms`);
  }

  it('revoked on one: the other refuses its tokens, cached ones too, and accepts the new key\'s at once, notice or not', async () => {
    const old = a.deps.keys.current.kid;
    expect(b.deps.keys.current.kid).toBe(old);
    // Known to B's cache of verified tokens before the revocation.
    const before = await signedIn(a);
    expect((await dashboard(b, before.access_token)).statusCode).toBe(200);

    const done = await revokeSigningKey(a.deps, old, 'cli');
    // Straight away, with no wait for B's notice: a token of the new key verifies on B (it reads the keys for a
    // kid it does not know yet, if the notice has not come first), and from then on B refuses the old key's.
    const after = await signedIn(a);
    expect(kidOf(after.access_token)).toBe(done.new_key!.kid);
    expect((await dashboard(b, after.access_token)).statusCode).toBe(200);
    expect((await dashboard(a, after.access_token)).statusCode).toBe(200);
    for (const i of [a, b]) expect((await dashboard(i, before.access_token)).statusCode).toBe(401);
    expect(await kidsOf(b)).toEqual([done.new_key!.kid]);
    // B signs with the new key too; its tokens verify on A.
    const fromB = await signedIn(b);
    expect(kidOf(fromB.access_token)).toBe(done.new_key!.kid);
    expect((await dashboard(a, fromB.access_token)).statusCode).toBe(200);
    // The session of the old token lives on: a refresh on B gives a token of the new key.
    const refreshed = await refresh(b, before.refresh_token);
    expect(refreshed.statusCode).toBe(200);
    expect(kidOf(refreshed.json().access_token)).toBe(done.new_key!.kid);
  });

  it('the notice alone tells the other instance: its list and its key set drop the key', async () => {
    const old = a.deps.keys.current.kid;
    const before = await verifiedToken(b);
    await revokeSigningKey(a.deps, old, 'cli');
    await eventually(async () => b.deps.revocations.isKeyRevoked(old) && b.deps.keys.byKid(old) === undefined);
    expect((await dashboard(b, before.access_token)).statusCode).toBe(401);
    expect(b.deps.keys.current.kid).toBe(a.deps.keys.current.kid);
  });
});
