import { asc, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableUser, enableUser } from '../../src/auth/users/user-admin.js';
import { systemClock } from '../../src/core/clock.js';
import { runOperation } from '../../src/control/operations.js';
import { rowsOf } from '../../src/db/client.js';
import { events, users, webhookDeliveries, webhookEndpoints } from '../../src/db/schema.js';
import { purgeEvents, recordEvents, userEvent } from '../../src/core/events.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startWebhookReceiver, until } from '../helpers/webhook-receiver.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

const add = (t: TestApp, url: string, events: string[]) => runOperation(t.deps as never, 'webhooks.add', { url, events }, { actor: 'test' }) as Promise<{ id: string; secret: string }>;
const remove = (t: TestApp, id: string) => runOperation(t.deps as never, 'webhooks.remove', { id }, { actor: 'test' });
const ALL = ['user.created', 'user.updated', 'user.disabled', 'session.revoked'];

/** The webhook-ids of a user's events, oldest first, as the database recorded them. */
async function eventIdsOf(t: TestApp, userIds: string[]): Promise<Map<string, string[]>> {
  const rows = await t.deps.db.select().from(events).where(inArray(events.userId, userIds)).orderBy(asc(events.id));
  const byUser = new Map<string, string[]>(userIds.map((u) => [u, []]));
  for (const r of rows) byUser.get(r.userId!)!.push(`evt_${r.id}`);
  return byUser;
}

describe('a receiver that is down, then up', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ realClock: systemClock });
  });
  afterAll(() => t?.close());

  it('gets every event once it is back, each applied once, in order per user', async () => {
    const receiver = await startWebhookReceiver();
    const hook = await add(t, receiver.url, ALL);
    try {
      // Connection refused while the events are produced, and for a while after.
      await receiver.stop();
      const users = [await signUp(t), await signUp(t)];
      for (let i = 0; i < 2; i++) {
        for (const u of users) {
          await disableUser(t.deps, u.id, 'test');
          await enableUser(t.deps, u.id, 'test');
        }
      }
      const expected = await eventIdsOf(t, users.map((u) => u.id));
      const total = [...expected.values()].reduce((n, ids) => n + ids.length, 0);
      expect(total).toBeGreaterThanOrEqual(10);
      // The first event of each user has been tried (and refused) at least twice before the receiver is back.
      await until(
        () => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, hook.id)),
        (rows) => rows.filter((r) => r.attempts >= 2).length >= 2,
      );
      await receiver.start();

      // The receiver applies each webhook-id once, whatever it is sent.
      const applied = new Map<string, string[]>();
      const seen = new Set<string>();
      const apply = () => {
        for (const d of receiver.received) {
          if (seen.has(d.id)) continue;
          seen.add(d.id);
          const userId = (JSON.parse(d.body) as { data: { id: string } }).data.id;
          applied.set(userId, [...(applied.get(userId) ?? []), d.id]);
        }
        return seen.size;
      };
      // Backoff doubles from 1 s: the retries of the first two users' events come within ~15 s.
      await until(apply, (n) => n >= total, 40_000);
      for (const [userId, ids] of expected) expect(applied.get(userId), userId).toEqual(ids);
      // Every delivery is recorded as delivered: the worker records the receiver's answer after the receiver
      // has the request, so the last ones may still be on their way to the database.
      const rows = await until(
        () => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, hook.id)),
        (rs) => rs.every((d) => d.status === 'delivered'),
        10_000,
      );
      expect(rows.map((d) => d.status)).toEqual(rows.map(() => 'delivered'));
      // Nothing was sent twice once it had been received.
      expect(receiver.received.length).toBe(total);
    } finally {
      await remove(t, hook.id);
      await receiver.stop();
    }
  }, 60_000);
});

describe('EVENT_RETENTION', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('deletes old events that were delivered (or had no endpoint), and keeps those still pending', async () => {
    // An endpoint nothing answers: its deliveries stay pending.
    const hook = await add(t, 'http://127.0.0.1:9/never', ['user.created', 'user.disabled']);
    try {
      const user = await signUp(t);
      await disableUser(t.deps, user.id, 'test');
      await enableUser(t.deps, user.id, 'test');
      const rows = await t.deps.db.select().from(events).where(eq(events.userId, user.id)).orderBy(asc(events.id));
      expect(rows.map((r) => r.type)).toEqual(['user.created', 'user.disabled', 'user.updated']);
      const [created, disabled] = rows as [(typeof rows)[0], (typeof rows)[0]];
      // The first was delivered, the second is still pending, the third had no endpoint to go to.
      await t.deps.db.execute(sql`UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now() WHERE event_id = ${created.id}`);
      const retention = t.deps.config.webhooks.eventRetention;
      const later = new Date(t.clock.now().getTime() + (retention + 60) * 1000);

      // Within the retention nothing goes.
      await purgeEvents(t.deps.db, new Date(t.clock.now().getTime() + (retention - 60) * 1000), retention);
      expect(await t.deps.db.select().from(events).where(eq(events.userId, user.id))).toHaveLength(3);

      await purgeEvents(t.deps.db, later, retention);
      let left = await t.deps.db.select().from(events).where(eq(events.userId, user.id));
      expect(left.map((r) => r.id)).toEqual([disabled.id]);
      const pending = await t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.eventId, disabled.id));
      expect(pending.map((d) => d.status)).toEqual(['pending']);

      // Once its delivery is dead (given up), it goes too, with its delivery.
      await t.deps.db.execute(sql`UPDATE webhook_deliveries SET status = 'dead' WHERE event_id = ${disabled.id}`);
      await purgeEvents(t.deps.db, later, retention);
      left = await t.deps.db.select().from(events).where(eq(events.userId, user.id));
      expect(left).toHaveLength(0);
      expect(rowsOf(await t.deps.db.execute(sql`SELECT 1 FROM webhook_deliveries WHERE event_id = ${disabled.id}`))).toHaveLength(0);
    } finally {
      await remove(t, hook.id);
    }
  });
});

describeUnless(NO_POSTGRES)('two instances on one PostgreSQL database, one slow receiver', () => {
  let database: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    // Four requests in flight per endpoint and instance, so that more at once shows both instances sending.
    a = await startTestApp({ database, realClock: systemClock, env: { WEBHOOK_CONCURRENCY: '4' } });
    b = await startTestApp({ database, realClock: systemClock, env: { WEBHOOK_CONCURRENCY: '4' } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await database?.drop();
  });

  it('never sends one event twice at once, delivers every event, and sends none twice', async () => {
    const receiver = await startWebhookReceiver({ delayMs: 300 });
    // 15 users, signed up before the endpoint exists: their events all come at once, a backlog for both instances.
    const users = await Promise.all(Array.from({ length: 15 }, (_, i) => signUp(i % 2 ? a : b)));
    const hook = await add(a, receiver.url, ALL);
    try {
      // 30 events: each user disabled then enabled, through one instance or the other.
      await Promise.all(
        users.map(async (u, i) => {
          await disableUser((i % 2 ? b : a).deps, u.id, 'test');
          await enableUser((i % 3 ? a : b).deps, u.id, 'test');
        }),
      );
      const expected = await eventIdsOf(a, users.map((u) => u.id));
      for (const ids of expected.values()) ids.shift(); // the user.created, recorded before the endpoint
      const ids = [...expected.values()].flat();
      expect(ids).toHaveLength(30);
      await until(() => new Set(receiver.received.map((d) => d.id)).size, (n) => n >= ids.length, 60_000);
      // Both instances had time to send anything they might send again.
      await Promise.all([a.deps.webhooks.idle(), b.deps.webhooks.idle()]);
      expect(new Set(receiver.received.map((d) => d.id))).toEqual(new Set(ids));
      expect(receiver.maxInFlightPerId()).toBe(1);
      // Each instance has at most 4 deliveries in flight per endpoint: more at once means both were sending.
      expect(receiver.maxInFlightTotal()).toBeGreaterThan(4);
      // At least once, by design: a delivery is sent again when its receiver answers after the 10 s timeout (it
      // may have applied it), or when the instance cannot record it and its 60 s lease expires. Neither happens
      // here: exactly once.
      const twice = [...receiver.requests].filter(([, n]) => n > 1);
      expect(twice).toEqual([]);
      // In order per user: the user.disabled before the user.updated.
      const order = receiver.received.map((d) => d.id);
      for (const [, [first, second]] of expected) expect(order.indexOf(first!)).toBeLessThan(order.indexOf(second!));
    } finally {
      await remove(a, hook.id);
      await receiver.stop();
    }
  }, 90_000);
});

describeUnless(NO_POSTGRES)('a user’s events committed by concurrent transactions', () => {
  let database: TestDatabase;
  let t: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    t = await startTestApp({ database, realClock: systemClock });
  });
  afterAll(async () => {
    await t?.close();
    await database?.drop();
  });

  it('are sent in the order they committed: a logout waits for an earlier change of its user', async () => {
    const receiver = await startWebhookReceiver();
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    const hook = await add(t, receiver.url, ['user.updated', 'session.revoked']);
    let commit!: () => void;
    const gate = new Promise<void>((resolve) => (commit = resolve));
    try {
      // A change of the user that has recorded its event but not yet committed, as a slow transaction would.
      let recorded!: () => void;
      const hasRecorded = new Promise<void>((resolve) => (recorded = resolve));
      const change = t.deps.db.transaction(async (tx) => {
        const [row] = await tx.update(users).set({ updatedAt: new Date() }).where(eq(users.id, user.id)).returning();
        await recordEvents(tx, [userEvent('user.updated', row!)], new Date());
        recorded();
        await gate;
      });
      await hasRecorded;
      const logout = t.inject({ method: 'POST', url: '/api/logout', headers: bearer(access_token) });
      // A logout that does not wait for the change commits at once: then let its event be delivered (it should
      // not be: the change's event came first) before the change commits. One that waits is still waiting.
      const outcome = await Promise.race([logout.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 1_000))]);
      if (outcome === 'answered') await until(() => receiver.received.length, (n) => n >= 1, 3_000);
      commit();
      await change;
      expect((await logout).statusCode).toBe(200);
      await until(() => receiver.received.length, (n) => n >= 2);
      expect(receiver.received.map((d) => (JSON.parse(d.body) as { type: string }).type)).toEqual(['user.updated', 'session.revoked']);
      const [first, second] = receiver.received.map((d) => Number(d.id.slice('evt_'.length)));
      expect(first).toBeLessThan(second!);
    } finally {
      commit();
      await remove(t, hook.id);
      await receiver.stop();
    }
  }, 30_000);

  it('an endpoint removed while a change records its event: the change commits, with no delivery to it', async () => {
    const hook = await add(t, 'http://127.0.0.1:9/never', ['user.created']);
    let commit!: () => void;
    const gate = new Promise<void>((resolve) => (commit = resolve));
    // The removal has deleted the endpoint but not yet committed, as a removal with a long history would.
    const removal = t.deps.db.transaction(async (tx) => {
      await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.id, hook.id));
      await gate;
    });
    try {
      const signup = t.inject({ method: 'POST', url: '/api/signup', payload: { name: 'Racer', email: uniqueEmail('racer'), password: GOOD_PASSWORD } });
      await Promise.race([signup, new Promise((r) => setTimeout(r, 500))]);
      commit();
      await removal;
      const res = await signup;
      expect(res.statusCode, res.body).toBe(201);
      const [event] = await t.deps.db.select().from(events).where(eq(events.userId, res.json().user.id));
      expect(event?.type).toBe('user.created');
      expect(await t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.eventId, event!.id))).toEqual([]);
    } finally {
      commit();
    }
  });
});
