import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteUser, disableUser, enableUser, revokeUserSessions } from '../../src/auth/users/user-admin.js';
import { importUserBatch } from '../../src/auth/import/user-import.js';
import { events } from '../../src/db/schema.js';
import { runOperation } from '../../src/control/operations.js';
import { onEventsRecorded, recordEvents, userEvent } from '../../src/core/events.js';
import { bearer, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const eventsOf = (userId: string) => t.deps.db.select().from(events).where(eq(events.userId, userId)).orderBy(asc(events.id));

describe('the events outbox', () => {
  it('records user and session changes with the change, never a password hash', async () => {
    const user = await signUp(t);
    const tokens = await signIn(t, user.email);
    await signIn(t, user.email);
    const logout = await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(tokens.access_token) });
    expect(logout.statusCode).toBeLessThan(300);
    await disableUser(t.deps, user.email, 'test');
    await enableUser(t.deps, user.email, 'test');
    await revokeUserSessions(t.deps, user.email, 'test');
    await deleteUser(t.deps, user.email, 'test');
    const rows = await eventsOf(user.id);
    expect(rows.map((r) => [r.type, (r.data as { reason?: string }).reason])).toEqual([
      ['user.created', undefined],
      ['session.revoked', 'logout'],
      ['user.disabled', undefined],
      ['session.revoked', 'account_disabled'],
      ['user.updated', undefined],
      ['user.deleted', undefined],
    ]);
    expect(rows[0]!.data).toMatchObject({ id: user.id, email: user.email, name: user.name });
    expect(rows[1]!.data).toEqual({ sid: expect.any(String), sub: user.id, reason: 'logout' });
    expect(JSON.stringify(rows)).not.toMatch(/argon2|password_hash/);
  });

  it('records imported users, and nothing for a refused sign-up', async () => {
    const email = uniqueEmail('imp');
    const result = await importUserBatch(t.deps.db, [{ row: 1, email, name: 'Imp', password_hash: '$2b$10$abcdefghijklmnopqrstuuJ3Q5N3nX3r5m0aJ0bcdefghijklmnop', id: 'L1' }], { now: t.clock.now() });
    const id = result.outcomes[0]!.status === 'inserted' ? result.outcomes[0]!.id : undefined;
    expect(result.inserted).toBe(1);
    {
      const [row] = await t.deps.db.select().from(events).where(eq(events.type, 'user.created')).orderBy(asc(events.id)).then((r) => r.filter((e) => (e.data as { email: string }).email === email));
      expect(row?.data).toMatchObject({ email, name: 'Imp', legacy_id: 'L1' });
      expect(id).toBeDefined();
    }
    const before = (await t.deps.db.select().from(events)).length;
    const dup = await t.inject({ method: 'POST', url: '/api/signup', payload: { name: 'X', email, password: 'correct horse battery staple' } });
    expect(dup.statusCode).toBe(409);
    expect((await t.deps.db.select().from(events)).length).toBe(before);
  });

  it('wakes the delivery workers only for events an endpoint subscribes to', async () => {
    let wakes = 0;
    const unsubscribe = onEventsRecorded(() => (wakes += 1));
    const settle = () => new Promise((r) => setImmediate(r));
    try {
      // No endpoint: the event is recorded, and no worker is woken (nor NOTIFY sent, on the same branch).
      const first = await signUp(t);
      await settle();
      expect((await eventsOf(first.id)).map((e) => e.type)).toEqual(['user.created']);
      expect(wakes).toBe(0);
      // An endpoint for another type changes nothing; one for this type wakes the workers.
      const other = (await runOperation(t.deps as never, 'webhooks.add', { url: 'http://127.0.0.1:9/other', events: ['user.deleted'] }, { actor: 'test' })) as { id: string };
      await signUp(t);
      await settle();
      expect(wakes).toBe(0);
      const hook = (await runOperation(t.deps as never, 'webhooks.add', { url: 'http://127.0.0.1:9/created', events: ['user.created'] }, { actor: 'test' })) as { id: string };
      await signUp(t);
      await settle();
      expect(wakes).toBe(1);
      for (const { id } of [other, hook]) await runOperation(t.deps as never, 'webhooks.remove', { id }, { actor: 'test' });
    } finally {
      unsubscribe();
    }
  });

  it('leaves no event when the change fails', async () => {
    const user = await signUp(t);
    const before = (await eventsOf(user.id)).length;
    await expect(
      t.deps.db.transaction(async (tx) => {
        await recordEvents(tx, [userEvent('user.updated', { id: user.id, email: user.email, name: 'n', role: 'user', createdAt: new Date(), disabledAt: null, emailVerifiedAt: null, legacyId: null })], new Date());
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await eventsOf(user.id)).toHaveLength(before);
  });
});
