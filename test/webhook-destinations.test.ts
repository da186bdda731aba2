import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../src/core/clock.js';
import { loadConfig } from '../src/config.js';
import { runOperation } from '../src/control/operations.js';
import { webhookDeliveries } from '../src/db/schema.js';
import { deniedNetworkOf, parseNetworks } from '../src/webhooks/destinations.js';
import { signUp, startTestApp, type TestApp } from './helpers/app.js';
import { startWebhookReceiver, until } from './helpers/webhook-receiver.js';

const add = (t: TestApp, url: string) => runOperation(t.deps as never, 'webhooks.add', { url, events: ['user.created'] }, { actor: 'test' }) as Promise<{ id: string }>;
const remove = (t: TestApp, id: string) => runOperation(t.deps as never, 'webhooks.remove', { id }, { actor: 'test' });
const deliveriesOf = (t: TestApp, id: string) => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id));

describe('WEBHOOK_DENY_NETWORKS', () => {
  it('denies by default link-local and cloud metadata addresses, whatever their spelling, and allows loopback, private and public ones', () => {
    const denied = parseNetworks(loadConfig({}).webhooks.denyNetworks);
    for (const address of ['169.254.169.254', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', 'fd00:ec2::254', '100.100.100.200', '169.254.170.2', 'fe80::1', '0.0.0.0', '::', '224.0.0.1', '255.255.255.255']) {
      expect(deniedNetworkOf(address, denied), address).toBeDefined();
    }
    for (const address of ['127.0.0.1', '::1', '10.1.2.3', '192.168.0.10', '172.20.0.5', '8.8.8.8', '2001:db8::1', '100.100.100.201']) {
      expect(deniedNetworkOf(address, denied), address).toBeUndefined();
    }
    expect(deniedNetworkOf('not an address', denied)).toBeUndefined();
  });

  it('is a list of addresses and CIDR ranges; anything else stops the start, naming it', () => {
    expect(loadConfig({ WEBHOOK_DENY_NETWORKS: '' }).webhooks.denyNetworks).toEqual([]);
    expect(loadConfig({ WEBHOOK_DENY_NETWORKS: ' 10.0.0.0/8, ::1 ' }).webhooks.denyNetworks).toEqual(['10.0.0.0/8', '::1']);
    for (const value of ['10.0.0.0/33', 'localhost', '10.0.0.0/8,,nope', '::1/129']) {
      expect(() => loadConfig({ WEBHOOK_DENY_NETWORKS: value }), value).toThrow(/WEBHOOK_DENY_NETWORKS/);
    }
  });
});

describe('an endpoint at a denied address', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ realClock: systemClock, env: { WEBHOOK_DENY_NETWORKS: '169.254.0.0/16,127.0.0.0/8,::1' } });
  });
  afterAll(() => t?.close());

  it('is refused when registered as an IP literal, in any of its spellings', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://[::ffff:169.254.169.254]/', 'http://127.0.0.1:8080/hook', 'http://[::1]/hook', 'http://2130706433/hook']) {
      await expect(add(t, url), url).rejects.toMatchObject({ code: 'invalid_request', details: [{ field: 'url', message: expect.stringContaining('WEBHOOK_DENY_NETWORKS') }] });
    }
  });

  it('is never posted to through a host name that resolves there: the delivery fails, naming the setting, and is retried', async () => {
    const receiver = await startWebhookReceiver();
    // A name, not a literal: taken at registration, checked where it resolves at each connection.
    const hook = await add(t, receiver.url.replace('127.0.0.1', 'localhost'));
    try {
      await signUp(t);
      const [row] = await until(
        () => deliveriesOf(t, hook.id),
        (rows) => rows.some((r) => r.attempts >= 1 && r.lastError !== null),
      );
      expect(row!.lastError).toMatch(/^localhost resolves to .*, in WEBHOOK_DENY_NETWORKS/);
      expect(row!.status).toBe('pending');
      expect(receiver.requests.size).toBe(0);
    } finally {
      await remove(t, hook.id);
      await receiver.stop();
    }
  });
});

describe('an endpoint named by a host name that resolves to an allowed address', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ realClock: systemClock });
  });
  afterAll(() => t?.close());

  it('is posted to', async () => {
    const receiver = await startWebhookReceiver();
    const hook = await add(t, receiver.url.replace('127.0.0.1', 'localhost'));
    try {
      const user = await signUp(t);
      await until(() => receiver.received.length, (n) => n >= 1);
      expect(receiver.received.map((d) => (JSON.parse(d.body) as { data: { id: string } }).data.id)).toEqual([user.id]);
    } finally {
      await remove(t, hook.id);
      await receiver.stop();
    }
  });
});
