import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, rowsOf, type Database, type Db } from '../../src/db/client.js';
import { deleteAuditEventsBefore, insertAuditEvent } from '../../src/db/queries/audit-events.js';
import { deleteEventsBefore, insertEventsWithDeliveries } from '../../src/db/queries/events.js';
import { selectSigninAddresses } from '../../src/db/queries/known-clients.js';
import { notify } from '../../src/db/queries/notify.js';
import { deleteSweepPage, mailSweep, PURGE_BATCH, refreshTokensSweep, sessionsSweep } from '../../src/db/queries/purge.js';
import { selectNotBeforesSince, selectSessionsRevokedSince } from '../../src/db/queries/revocations.js';
import {
  deleteServiceClient,
  insertServiceClient,
  selectServiceClientById,
  selectServiceClientByRef,
  selectServiceClients,
  selectServiceClientSecrets,
  updateServiceClientSecret,
} from '../../src/db/queries/service-clients.js';
import {
  claimRefreshToken,
  countLiveSessions,
  insertSession,
  lockSessionOwner,
  markSessionRevoked,
  markUserSessionsRevoked,
  selectSpentToken,
  type NewSession,
} from '../../src/db/queries/sessions.js';
import { deleteKeyRows, insertKeyRow, lockSigningKeys, retireKeys, selectKeyRows } from '../../src/db/queries/signing-keys.js';
import { insertImportedUsers, selectLegacyIds } from '../../src/db/queries/user-import.js';
import {
  advanceNotBefore,
  deleteUserRow,
  insertUserRow,
  markUserDisabled,
  markUserEnabled,
  replacePasswordHash,
  searchUsersPage,
  selectUserByEmail,
  selectUserById,
  selectUsersPage,
  type UserRow,
} from '../../src/db/queries/users.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// Every query module against a real engine: the embedded one, and PostgreSQL when TEST_DATABASE_URL is set.
let database: TestDatabase;
let opened: Database;
let db: Db;
const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

beforeAll(async () => {
  database = await createTestDatabase();
  opened = await openDatabase({ databaseUrl: database.url, dataDir: 'memory://', poolSize: 4, embeddedImage: database.image });
  await opened.migrate();
  db = opened.db;
});

afterAll(async () => {
  await opened?.close();
  await database?.drop();
});

let n = 0;
async function newUser(fields: Partial<{ email: string; now: Date }> = {}): Promise<UserRow> {
  n += 1;
  const user = await insertUserRow(db, { name: `User ${n}`, email: fields.email ?? `q${n}@example.com`, passwordHash: `hash-${n}`, role: 'user', now: fields.now ?? at(n) });
  return user!;
}

function newSession(user: Pick<UserRow, 'id' | 'notBefore' | 'passwordChangedAt'>, overrides: Partial<NewSession> = {}): NewSession {
  return {
    sessionId: randomUUID(),
    userId: user.id,
    notBefore: user.notBefore,
    passwordChangedAt: user.passwordChangedAt,
    createdAt: T0,
    expiresAt: at(3_600),
    ipAddress: '192.0.2.1',
    userAgent: 'test',
    refreshTokenHash: `rt-${randomUUID()}`,
    now: T0,
    refreshTokenExpiresAt: at(600),
    amr: ['pwd'],
    ...overrides,
  };
}

async function count(table: string, where = 'TRUE'): Promise<number> {
  const [row] = rowsOf<{ n: number | string }>(await db.execute(`SELECT count(*) AS n FROM ${table} WHERE ${where}`));
  return Number(row?.n);
}

describe('users', () => {
  it('inserts once per email, then finds by email and by id', async () => {
    const user = await newUser({ email: 'ada@example.com' });
    expect(user).toMatchObject({ name: expect.any(String), email: 'ada@example.com', role: 'user', disabledAt: null, notBefore: null });
    expect(user.passwordChangedAt).toEqual(user.createdAt);
    const again = await insertUserRow(db, { name: 'Other', email: 'ada@example.com', passwordHash: 'x', role: 'admin', now: T0 });
    expect(again).toBeUndefined();
    expect((await selectUserByEmail(db, 'ada@example.com'))?.id).toBe(user.id);
    expect((await selectUserById(db, user.id))?.email).toBe('ada@example.com');
    expect(await selectUserByEmail(db, 'nobody@example.com')).toBeUndefined();
  });

  it('replaces a password hash only over the one given', async () => {
    const user = await newUser();
    expect(await replacePasswordHash(db, user.id, 'not-the-hash', 'new')).toBe(false);
    expect(await replacePasswordHash(db, user.id, user.passwordHash, 'new')).toBe(true);
    expect((await selectUserById(db, user.id))?.passwordHash).toBe('new');
  });

  it('disables and enables only when that changes something', async () => {
    const user = await newUser();
    expect((await markUserDisabled(db, user.id, at(10)))?.disabledAt).toEqual(at(10));
    expect(await markUserDisabled(db, user.id, at(20))).toBeUndefined();
    expect((await markUserEnabled(db, user.id, at(30)))?.disabledAt).toBeNull();
    expect(await markUserEnabled(db, user.id, at(40))).toBeUndefined();
    expect((await selectUserById(db, user.id))?.updatedAt).toEqual(at(30));
  });

  it('moves the not-before to the time of the change, never back nor past it, and deletes', async () => {
    const user = await newUser();
    expect(await advanceNotBefore(db, user.id, at(100))).toEqual({ notBefore: at(100) });
    // 150 changes at the same instant leave it there: no change pushes it ahead of the clock.
    for (let i = 0; i < 150; i++) await advanceNotBefore(db, user.id, at(100));
    expect(await advanceNotBefore(db, user.id, at(100))).toEqual({ notBefore: at(100) });
    // From an instance whose clock is behind: it stays.
    expect(await advanceNotBefore(db, user.id, at(99))).toEqual({ notBefore: at(100) });
    expect(await advanceNotBefore(db, user.id, new Date(at(100).getTime() + 1))).toEqual({ notBefore: new Date(at(100).getTime() + 1) });
    expect(await deleteUserRow(db, user.id)).toBe(true);
    expect(await deleteUserRow(db, user.id)).toBe(false);
    expect(await advanceNotBefore(db, user.id, at(200))).toBeUndefined();
  });

  it('pages in creation order by offset, after a user, and by search position', async () => {
    const mine = [await newUser({ email: 'page-a@pages.test' }), await newUser({ email: 'page-b@pages.test' }), await newUser({ email: 'page-c@pages.test' })];
    const all = await selectUsersPage(db, { limit: 1_000, offset: 0 });
    const ids = all.map((u) => u.id);
    expect(ids.slice(ids.indexOf(mine[0]!.id), ids.indexOf(mine[0]!.id) + 3)).toEqual(mine.map((u) => u.id));
    expect((await selectUsersPage(db, { limit: 2, offset: 0, after: mine[0] })).map((u) => u.id)).toEqual(mine.slice(1).map((u) => u.id));
    expect((await selectUsersPage(db, { limit: 1, offset: 1 }))[0]?.id).toBe(ids[1]);

    const found = await searchUsersPage(db, { needle: '@pages.test', limit: 10 });
    expect(found.map((r) => r.user.email)).toEqual(['page-a@pages.test', 'page-b@pages.test', 'page-c@pages.test']);
    // The exact creation time names a position: microseconds, UTC.
    expect(found[0]!.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    const rest = await searchUsersPage(db, { needle: '@pages.test', limit: 10, after: { createdAt: found[0]!.createdAt, id: found[0]!.user.id } });
    expect(rest.map((r) => r.user.email)).toEqual(['page-b@pages.test', 'page-c@pages.test']);
    // strpos: `%` is a plain character.
    expect(await searchUsersPage(db, { needle: '%', limit: 10 })).toEqual([]);
  });
});

describe('sessions and refresh tokens', () => {
  it('opens a session only with the not-before it was read with, and not for a disabled user', async () => {
    const user = await newUser();
    expect(await insertSession(db, newSession(user))).toBe(true);
    expect(await insertSession(db, newSession(user, { notBefore: at(5) }))).toBe(false);
    // A new password at the same not-before (a change within the same millisecond): no session either.
    expect(await insertSession(db, newSession(user, { passwordChangedAt: at(-5) }))).toBe(false);
    await markUserDisabled(db, user.id, T0);
    expect(await insertSession(db, newSession(user))).toBe(false);
    expect(await count('sessions', `user_id = '${user.id}'`)).toBe(1);
    expect(await count('refresh_tokens r JOIN sessions s ON s.id = r.session_id', `s.user_id = '${user.id}'`)).toBe(1);
  });

  it('claims a refresh token once, storing its successor; a second claim finds it spent', async () => {
    const user = await newUser();
    const session = newSession(user);
    await insertSession(db, session);
    const claim = { tokenHash: session.refreshTokenHash, successorHash: `s-${randomUUID()}`, successorSealed: 'sealed', now: at(60), refreshEnd: at(660), clientId: null };
    const claimed = await claimRefreshToken(db, claim);
    expect(claimed).toMatchObject({ id: session.sessionId, user_id: user.id });
    expect(new Date(claimed!.expires_at)).toEqual(session.expiresAt);
    expect(await claimRefreshToken(db, { ...claim, successorHash: `s-${randomUUID()}` })).toBeUndefined();

    const spent = await selectSpentToken(db, session.refreshTokenHash, at(61));
    expect(spent).toMatchObject({ id: session.sessionId, successor_sealed: 'sealed', session_live: true, successor_live: true });
    expect(new Date(spent!.rotated_at!)).toEqual(at(60));
    expect(await selectSpentToken(db, 'unknown', at(61))).toBeUndefined();
    // The successor never outlives its session.
    const [successor] = rowsOf<{ expires_at: string | Date }>(await db.execute(`SELECT expires_at FROM refresh_tokens WHERE token_hash = '${claim.successorHash}'`));
    expect(new Date(successor!.expires_at)).toEqual(at(660));
  });

  it('claims the token of a dead session without a successor, answering a null id', async () => {
    const user = await newUser();
    const session = newSession(user);
    await insertSession(db, session);
    expect(await markSessionRevoked(db, session.sessionId, at(1), 'logout')).toBe(user.id);
    expect(await markSessionRevoked(db, session.sessionId, at(2), 'logout')).toBeUndefined();
    const claimed = await claimRefreshToken(db, { tokenHash: session.refreshTokenHash, successorHash: 'never', successorSealed: 'x', now: at(3), refreshEnd: at(600), clientId: null });
    expect(claimed).toMatchObject({ id: null });
    expect(await count('refresh_tokens', `token_hash = 'never'`)).toBe(0);
    expect((await selectSpentToken(db, session.refreshTokenHash, at(4)))?.session_live).toBe(false);
  });

  it('locks the owner of a session, revokes all of a user\'s sessions, and counts the live ones', async () => {
    const user = await newUser();
    const sessions = [newSession(user), newSession(user), newSession(user, { expiresAt: at(10) })];
    for (const s of sessions) await insertSession(db, s);
    expect(await countLiveSessions(db, user, at(20))).toBe(2);
    expect(await countLiveSessions(db, { id: user.id, notBefore: at(1) }, at(20))).toBe(0);
    expect(await db.transaction((tx) => lockSessionOwner(tx, sessions[0]!.sessionId))).toBe(user.id);
    expect(await lockSessionOwner(db, randomUUID())).toBeUndefined();
    const revoked = await markUserSessionsRevoked(db, user.id, at(30), 'operator');
    expect(revoked.sort()).toEqual(sessions.map((s) => s.sessionId).sort());
    expect(await markUserSessionsRevoked(db, user.id, at(31), 'operator')).toEqual([]);
    expect(await countLiveSessions(db, user, at(5))).toBe(0);
  });
});

describe('revocations', () => {
  it('reads sessions revoked and not-befores moved since an instant, oldest first', async () => {
    const user = await newUser();
    const [a, b] = [newSession(user), newSession(user)];
    await insertSession(db, a);
    await insertSession(db, b);
    await markSessionRevoked(db, b.sessionId, at(5_002), 'logout');
    await markSessionRevoked(db, a.sessionId, at(5_001), 'logout');
    await advanceNotBefore(db, user.id, at(5_003));
    const revoked = await selectSessionsRevokedSince(db, at(5_000));
    expect(revoked).toEqual([{ id: a.sessionId, at: at(5_001) }, { id: b.sessionId, at: at(5_002) }]);
    expect(await selectSessionsRevokedSince(db, at(5_001))).toEqual([{ id: b.sessionId, at: at(5_002) }]);
    expect(await selectNotBeforesSince(db, at(5_000))).toEqual([{ id: user.id, at: at(5_003) }]);
  });
});

describe('signing keys', () => {
  const key = (kid: string, activatesAt: Date) => ({ kid, alg: 'ES256', publicJwk: { kty: 'EC' }, privateKeySealed: 'sealed', createdAt: T0, activatesAt });

  it('inserts, lists by activation, retires and deletes, under the advisory lock', async () => {
    await db.transaction(async (tx) => {
      await lockSigningKeys(tx);
      await insertKeyRow(tx, key('k2', at(2)));
      expect((await insertKeyRow(tx, key('k1', at(1)))).kid).toBe('k1');
    });
    expect((await selectKeyRows(db)).map((r) => r.kid)).toEqual(['k1', 'k2']);
    expect((await retireKeys(db, at(3))).sort()).toEqual(['k1', 'k2']);
    expect(await retireKeys(db, at(4))).toEqual([]);
    expect((await selectKeyRows(db)).every((r) => r.retiredAt?.getTime() === at(3).getTime())).toBe(true);
    await deleteKeyRows(db, ['k1']);
    expect((await selectKeyRows(db)).map((r) => r.kid)).toEqual(['k2']);
  });
});

describe('service clients', () => {
  it('inserts once per name, finds by name or id, rotates and deletes', async () => {
    const values = { clientId: 'lkc_queries-test-0001', name: 'billing', secretHash: 'h1', scopes: ['admin'], createdAt: T0 };
    expect(await insertServiceClient(db, values)).toMatchObject({ clientId: values.clientId, secretRotatedAt: null });
    expect(await insertServiceClient(db, { ...values, clientId: 'lkc_queries-test-0002' })).toBeUndefined();
    await insertServiceClient(db, { ...values, clientId: 'lkc_queries-test-0003', name: 'audit', scopes: ['users:read'] });
    expect((await selectServiceClientByRef(db, 'billing'))?.clientId).toBe(values.clientId);
    expect((await selectServiceClientByRef(db, values.clientId))?.name).toBe('billing');
    expect((await selectServiceClientById(db, 'lkc_queries-test-0003'))?.name).toBe('audit');
    expect((await selectServiceClients(db)).map((c) => c.name)).toEqual(['audit', 'billing']);
    expect(await updateServiceClientSecret(db, values.clientId, 'h2', at(1))).toMatchObject({ secretHash: 'h2', secretRotatedAt: at(1) });
    expect(await updateServiceClientSecret(db, 'lkc_nobody', 'h', at(1))).toBeUndefined();
    const secrets = await selectServiceClientSecrets(db, [values.clientId, 'lkc_nobody']);
    expect(secrets).toEqual([{ clientId: values.clientId, secretHash: 'h2', scopes: ['admin'] }]);
    expect((await deleteServiceClient(db, values.clientId))?.name).toBe('billing');
    expect(await deleteServiceClient(db, values.clientId)).toBeUndefined();
  });
});

describe('audit events and known clients', () => {
  it('stores events, reads the addresses a user signed in from, and deletes old events', async () => {
    const user = await newUser();
    const base = { type: 'signin_succeeded', userId: user.id, email: user.email };
    await insertAuditEvent(db, { ...base, occurredAt: at(100), ipAddress: '192.0.2.1' });
    await insertAuditEvent(db, { ...base, occurredAt: at(200), ipAddress: '192.0.2.1' });
    await insertAuditEvent(db, { ...base, occurredAt: at(300), ipAddress: '198.51.100.7' });
    await insertAuditEvent(db, { ...base, type: 'signin_failed', occurredAt: at(300), ipAddress: '203.0.113.9' });
    await insertAuditEvent(db, { ...base, occurredAt: at(300), ipAddress: null });
    expect((await selectSigninAddresses(db, user.id, at(0), 50)).sort()).toEqual(['192.0.2.1', '198.51.100.7']);
    expect(await selectSigninAddresses(db, user.id, at(250), 50)).toEqual(['198.51.100.7']);
    expect(await selectSigninAddresses(db, user.id, at(0), 1)).toHaveLength(1);
    const before = await count('audit_events');
    expect(await deleteAuditEventsBefore(db, at(150))).toBeGreaterThanOrEqual(1);
    expect(await count('audit_events')).toBeLessThan(before);
    expect(await count('audit_events', `occurred_at < '${at(150).toISOString()}'`)).toBe(0);
  });
});

describe('webhook events', () => {
  it('records events in order with a delivery per subscribed endpoint, and purges delivered ones', async () => {
    const user = await newUser();
    await db.execute(`INSERT INTO webhook_endpoints (id, url, event_types, secret_sealed, created_at)
      VALUES ('we_q1', 'https://hooks.test/a', '{user.created}', 's', now()), ('we_q2', 'https://hooks.test/b', '{session.revoked}', 's', now())`);
    const events = [
      { type: 'user.created', userId: user.id, data: { id: user.id } },
      { type: 'user.updated', userId: user.id, data: { id: user.id } },
      { type: 'session.revoked', userId: user.id, data: { sid: 'x' } },
    ];
    expect(await insertEventsWithDeliveries(db, events, at(0))).toBe(2);
    const stored = rowsOf<{ id: string; type: string }>(await db.execute(`SELECT id, type FROM events WHERE user_id = '${user.id}' ORDER BY id`));
    expect(stored.map((e) => e.type)).toEqual(['user.created', 'user.updated', 'session.revoked']);
    expect(await count('webhook_deliveries', `user_id = '${user.id}'`)).toBe(2);
    // Pending deliveries keep their events; the others go.
    await deleteEventsBefore(db, at(1));
    expect(await count('events', `user_id = '${user.id}'`)).toBe(2);
    await db.execute(`UPDATE webhook_deliveries SET status = 'delivered' WHERE user_id = '${user.id}'`);
    await deleteEventsBefore(db, at(1));
    expect(await count('events', `user_id = '${user.id}'`)).toBe(0);
    expect(await count('webhook_deliveries', `user_id = '${user.id}'`)).toBe(0);
    await db.execute(`DELETE FROM webhook_endpoints WHERE id IN ('we_q1', 'we_q2')`);
  });

  it('notifies inside a transaction without failing it', async () => {
    await expect(db.transaction((tx) => notify(tx, 'latchkey_test', 'payload'))).resolves.toBeUndefined();
  });
});

describe('user import', () => {
  it('inserts new emails with their events, leaves existing ones, and reads legacy ids', async () => {
    const existing = await newUser({ email: 'taken@import.test' });
    const row = (email: string, legacyId: string, disabledAt: Date | null = null) => ({
      name: 'Imported',
      email,
      passwordHash: '$2b$10$x',
      legacyId,
      disabledAt,
      emailVerifiedAt: disabledAt ? null : at(-1),
      createdAt: at(-100),
    });
    const inserted = await insertImportedUsers(db, [row('one@import.test', 'L1'), row('two@import.test', 'L2', at(0)), row('taken@import.test', 'L3')], at(0));
    expect(inserted.sort()).toEqual(['one@import.test', 'two@import.test']);
    expect((await selectUserByEmail(db, 'two@import.test'))).toMatchObject({ legacyId: 'L2', disabledAt: at(0), createdAt: at(-100), updatedAt: at(0) });
    expect(await count('events', `type = 'user.created' AND data->>'email' = 'two@import.test' AND data->>'disabled_at' = '${at(0).toISOString()}'`)).toBe(1);
    // The operator's word on the address is kept, and the event says it as every user.* event does.
    expect((await selectUserByEmail(db, 'one@import.test'))?.emailVerifiedAt).toEqual(at(-1));
    expect(await count('events', `type = 'user.created' AND data->>'email' = 'one@import.test' AND data->'email_verified' = 'true'`)).toBe(1);
    expect(await count('events', `type = 'user.created' AND data->>'email' = 'two@import.test' AND data->'email_verified' = 'false'`)).toBe(1);
    expect(await insertImportedUsers(db, [row('one@import.test', 'L1')], at(1))).toEqual([]);
    const legacy = await selectLegacyIds(db, ['one@import.test', 'taken@import.test', 'none@import.test']);
    expect(legacy).toEqual(new Map([['one@import.test', 'L1'], [existing.email, null]]));
  });
});

describe('purge sweeps', () => {
  it('deletes ended sessions and spent refresh tokens a page at a time, walking the keys', async () => {
    const user = await newUser();
    const live = newSession(user, { createdAt: at(-10_000), expiresAt: at(100_000) });
    const ended = newSession(user, { createdAt: at(-10_000), expiresAt: at(-5_000), refreshTokenExpiresAt: at(-5_000) });
    await insertSession(db, live);
    await insertSession(db, ended);
    const tokensCut = { expiredBefore: at(0), rotatedBefore: at(0), sessionEndedBefore: at(0) };
    let after: string | undefined;
    let deleted = 0;
    for (;;) {
      const page = await deleteSweepPage(db, refreshTokensSweep(tokensCut), after);
      deleted += page.deleted;
      if (!page.last) break;
      after = page.last;
    }
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(await count('refresh_tokens', `token_hash = '${ended.refreshTokenHash}'`)).toBe(0);
    expect(await count('refresh_tokens', `token_hash = '${live.refreshTokenHash}'`)).toBe(1);
    const page = await deleteSweepPage(db, sessionsSweep(at(0)), undefined);
    expect(page.deleted).toBeGreaterThanOrEqual(1);
    expect(await count('sessions', `id = '${ended.sessionId}'`)).toBe(0);
    expect(await count('sessions', `id = '${live.sessionId}'`)).toBe(1);
    // Past the last key, a page is empty.
    expect(await deleteSweepPage(db, sessionsSweep(at(0)), 'ffffffff-ffff-ffff-ffff-ffffffffffff')).toEqual({ last: null, deleted: 0 });
    expect(PURGE_BATCH).toBe(1_000);
  });

  it('deletes emails sent or given up before the cut', async () => {
    await db.execute(`INSERT INTO mail_outbox (message, created_at, expires_at, next_attempt_at, sent_at, abandoned_at) VALUES
      (NULL, '${at(-10).toISOString()}', '${at(10).toISOString()}', '${at(-10).toISOString()}', '${at(-5).toISOString()}', NULL),
      (NULL, '${at(-10).toISOString()}', '${at(10).toISOString()}', '${at(-10).toISOString()}', NULL, '${at(-5).toISOString()}'),
      (NULL, '${at(-10).toISOString()}', '${at(10).toISOString()}', '${at(-10).toISOString()}', NULL, NULL)`);
    expect((await deleteSweepPage(db, mailSweep(at(0)), undefined)).deleted).toBe(2);
    expect(await count('mail_outbox')).toBe(1);
  });
});
