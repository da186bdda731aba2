import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rowsOf, openDatabase, type Database } from '../../src/db/client.js';
import { recordEvents } from '../../src/core/events.js';
import { enqueueEmail } from '../../src/core/mail-queue.js';
import { leaseUntil } from '../../src/core/poller.js';
import { noMetrics } from '../../src/core/metrics.js';
import { claimOutboxRows, finishOutboxRow } from '../../src/db/queries/mail-outbox.js';
import { claimDueDeliveries, insertWebhookEndpoint, markDeliveriesDelivered, recordFailedDelivery } from '../../src/db/queries/webhooks.js';
import { countOverdueRows, startOutboxWorker } from '../../src/mail/outbox.js';
import { startWebhookWorker } from '../../src/webhooks/worker.js';
import { createTestClock } from '../helpers/clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

// The poller's leases, batch marking and back-off where they touch the database: the claim and marking
// queries of both channels, and both workers with a fixed jitter, on the engine the suite runs on.

const silent = pino({ level: 'silent' });
let testDb: TestDatabase;
let database: Database;

beforeAll(async () => {
  testDb = await createTestDatabase();
  database = await openDatabase({ databaseUrl: testDb.url, dataDir: 'memory://', poolSize: 4, embeddedImage: testDb.image });
  await database.migrate();
});

afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

let endpointCount = 0;
async function addEndpoint(url = 'http://127.0.0.1:9/hook', events = [`test.${++endpointCount}`]) {
  const id = `wh_test_${endpointCount}_${randomUUID().slice(0, 8)}`;
  await insertWebhookEndpoint(database.db, { id, url, eventTypes: events, secretSealed: 'unused', createdAt: new Date() });
  return { id, type: events[0]! };
}

async function record(type: string, users: string[], now: Date) {
  await database.db.transaction((tx) => recordEvents(tx, users.map((u, i) => ({ type: type as never, userId: u, data: { i } })), now));
}

async function deliveryRows(endpointId: string) {
  const result = await database.db.execute(sql`
    SELECT id::int AS id, status, attempts, next_attempt_at, locked_until, last_status FROM webhook_deliveries WHERE endpoint_id = ${endpointId} ORDER BY id`);
  return rowsOf<{ id: number; status: string; attempts: number; next_attempt_at: Date | string; locked_until: Date | string | null; last_status: number | null }>(result);
}

describe('webhook claims', () => {
  it('take the head of each user, hold it for the lease, and let it go once the lease has expired', async () => {
    const { id, type } = await addEndpoint();
    const [alice, bob] = [randomUUID(), randomUUID()];
    const t0 = new Date();
    await record(type, [alice, alice, bob], t0);
    const [a1, a2, b1] = (await deliveryRows(id)).map((r) => r.id);

    const first = await claimDueDeliveries(database.db, id, 10, t0, leaseUntil(t0));
    expect(first.map((r) => [r.id, r.attempts])).toEqual([[a1, 1], [b1, 1]]);
    const during = new Date(t0.getTime() + 59_000);
    expect(await claimDueDeliveries(database.db, id, 10, during, leaseUntil(during))).toEqual([]);

    // The claiming instance crashed: a minute on, another takes the deliveries over.
    const after = new Date(t0.getTime() + 61_000);
    const second = await claimDueDeliveries(database.db, id, 10, after, leaseUntil(after));
    expect(second.map((r) => [r.id, r.attempts])).toEqual([[a1, 2], [b1, 2]]);

    // The first claim's marks come too late: its lease is no longer the row's.
    const stale = first.map((r) => ({ id: r.id, lease: new Date(r.lease).toISOString(), at: after.toISOString(), status: 204 }));
    await markDeliveriesDelivered(database.db, stale);
    await recordFailedDelivery(database.db, { id: a1!, lease: new Date(first[0]!.lease) }, { dead: true }, { status: 500, error: 'HTTP 500' });
    expect((await deliveryRows(id)).map((r) => r.status)).toEqual(['pending', 'pending', 'pending']);

    // Both marked in one statement, under the lease that holds; then alice's second is her head.
    await markDeliveriesDelivered(database.db, second.map((r) => ({ id: r.id, lease: new Date(r.lease).toISOString(), at: after.toISOString(), status: 204 })));
    expect((await deliveryRows(id)).map((r) => [r.status, r.last_status, r.locked_until])).toEqual([
      ['delivered', 204, null],
      ['pending', null, null],
      ['delivered', 204, null],
    ]);
    const third = await claimDueDeliveries(database.db, id, 10, after, leaseUntil(after));
    expect(third.map((r) => r.id)).toEqual([a2]);
  });

  it('claim no more than the limit, oldest first', async () => {
    const { id, type } = await addEndpoint();
    const now = new Date();
    await record(type, [randomUUID(), randomUUID(), randomUUID()], now);
    const ids = (await deliveryRows(id)).map((r) => r.id);
    expect((await claimDueDeliveries(database.db, id, 2, now, leaseUntil(now))).map((r) => r.id)).toEqual(ids.slice(0, 2));
    expect((await claimDueDeliveries(database.db, id, 2, now, leaseUntil(now))).map((r) => r.id)).toEqual(ids.slice(2));
  });
});

beforeEach(async () => {
  await database.db.execute(sql`DELETE FROM mail_outbox`);
});

describe('mail outbox claims', () => {
  it('take due rows oldest first, up to the limit, and again only once their lease has expired', async () => {
    const t0 = new Date();
    const message = { to: 'someone@example.com', subject: 's', text: 't', html: 'h' };
    for (let i = 0; i < 12; i++) await enqueueEmail(database.db, message, t0, new Date(t0.getTime() + 3_600_000));
    const first = await claimOutboxRows(database.db, 10, t0, leaseUntil(t0));
    const rest = await claimOutboxRows(database.db, 10, t0, leaseUntil(t0));
    expect(first).toHaveLength(10);
    expect(rest).toHaveLength(2);
    expect(Math.max(...first.map((r) => r.id))).toBeLessThan(Math.min(...rest.map((r) => r.id)));
    const during = new Date(t0.getTime() + 59_000);
    expect(await claimOutboxRows(database.db, 10, during, leaseUntil(during))).toEqual([]);
    const after = new Date(t0.getTime() + 61_000);
    const again = await claimOutboxRows(database.db, 20, after, leaseUntil(after));
    const byId = (rows: { id: number; attempts: number }[]) => rows.map((r) => [r.id, r.attempts]).sort((a, b) => a[0]! - b[0]!);
    expect(byId(again)).toEqual(byId([...first, ...rest]).map(([id]) => [id, 2]));
    expect(again.every((r) => r.lockedUntil?.getTime() === after.getTime() + 60_000)).toBe(true);
  });
});

describe('overdue outbox rows', () => {
  it('are those still to deliver a minute after they were queued: none while a row is on its way, whatever it holds', async () => {
    const t0 = new Date();
    const message = { to: 'someone@example.com', subject: 's', text: 't', html: 'h' };
    for (let i = 0; i < 3; i++) await enqueueEmail(database.db, message, t0, new Date(t0.getTime() + 3_600_000));
    const [sent, given] = await claimOutboxRows(database.db, 2, t0, leaseUntil(t0));
    await finishOutboxRow(database.db, sent!.id, { sentAt: t0 });
    await finishOutboxRow(database.db, given!.id, { abandonedAt: t0 });
    const at = (seconds: number) => countOverdueRows(database.db, new Date(t0.getTime() + seconds * 1000));
    expect([await at(0), await at(59), await at(61)]).toEqual([0, 0, 1]);
  });
});

describe('workers with a fixed jitter', () => {
  it('retry a mail 1 s, then 2 s after it failed, at the middle of the jitter', async () => {
    const clock = createTestClock();
    const worker = startOutboxWorker({
      db: database.db,
      clock,
      logger: silent,
      pollMs: 60_000,
      retryMaxDelaySeconds: 3600,
      jitter: () => 0.5,
      handlers: { rendered_email: async () => Promise.reject(new Error('SMTP away')) },
    });
    try {
      const t0 = clock.now();
      await enqueueEmail(database.db, { to: 'a@example.com', subject: 's', text: 't', html: 'h' }, t0, new Date(t0.getTime() + 3_600_000));
      const nextAttempt = async () =>
        rowsOf<{ at: Date | string; attempts: number }>(await database.db.execute(sql`SELECT next_attempt_at AS at, attempts FROM mail_outbox`))[0]!;
      expect(await worker.runOnce()).toBe(0);
      let row = await nextAttempt();
      expect([new Date(row.at).getTime() - t0.getTime(), row.attempts]).toEqual([1000, 1]);
      clock.advance(1);
      await worker.runOnce();
      row = await nextAttempt();
      expect([new Date(row.at).getTime() - t0.getTime(), row.attempts]).toEqual([3000, 2]);
    } finally {
      await worker.close();
    }
  });

  describe('webhooks', () => {
    let receiver: Server;
    let url: string;
    beforeAll(async () => {
      receiver = createServer((req, res) => req.resume().on('end', () => res.writeHead(503).end()));
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    });
    afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

    it('retry a delivery 1.2 s after it failed, at the top of the jitter', async () => {
      const clock = createTestClock();
      const { id: endpointId, type } = await addEndpoint(url);
      const worker = startWebhookWorker({
        db: database.db,
        clock,
        logger: silent,
        signLogoutToken: () => '',
        sealer: new Uint8Array(32),
        pollMs: 60_000,
        retryForSeconds: 3600,
        perEndpoint: 4,
        metrics: noMetrics,
        denyNetworks: [],
        jitter: () => 1,
      });
      try {
        await sealEndpointSecret(endpointId);
        const t0 = clock.now();
        await record(type, [randomUUID()], t0);
        worker.wake();
        await worker.idle();
        const [row] = await deliveryRows(endpointId);
        expect(row).toMatchObject({ status: 'pending', attempts: 1, last_status: 503, locked_until: null });
        expect(new Date(row!.next_attempt_at).getTime() - t0.getTime()).toBe(1200);
      } finally {
        await worker.close();
      }
    });
  });
});

/** A sealed secret the worker can open (the endpoint id is bound to the ciphertext). */
async function sealEndpointSecret(endpointId: string) {
  const { seal } = await import('../../src/core/secret-box.js');
  const sealed = seal(new Uint8Array(32), 'whsec_c2VjcmV0', endpointId);
  await database.db.execute(sql`UPDATE webhook_endpoints SET secret_sealed = ${sealed} WHERE id = ${endpointId}`);
}
