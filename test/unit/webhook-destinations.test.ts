import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { loadConfig } from '../../src/config.js';
import { runOperation } from '../../src/control/operations.js';
import { webhookDeliveries } from '../../src/db/schema.js';
import { deniedLiteral, deniedNetworkOf, guardedLookup, parseNetworks } from '../../src/webhooks/destinations.js';
import { signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { startWebhookReceiver, until } from '../helpers/webhook-receiver.js';

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

/** 169.254.169.254 (AWS, GCP and Azure metadata) and the other metadata services, as an attacker would spell them in IPv6. */
const METADATA_IN_IPV6 = [
  'fd20:ce::254', // GCP's IPv6 metadata service
  'fd00:ec2::23', // EKS Pod Identity
  '::169.254.169.254', // IPv4-compatible
  '::a9fe:a9fe',
  '64:ff9b::169.254.169.254', // NAT64 (RFC 6052)
  '64:ff9b::a9fe:a9fe',
  '64:ff9b:1::a9fe:a9fe', // local-use NAT64 (RFC 8215)
  '2002:a9fe:a9fe::', // 6to4
  '2002:a9fe:a9fe:1::1',
  '2001:0:a9fe:a9fe::1', // Teredo, as its server
  '2001:0:4136:e378:8000:63bf:5601:5601', // Teredo, as its client (the address is stored inverted)
];
/** The same forms around addresses nobody denies by default. */
const ALLOWED_IN_IPV6 = ['64:ff9b::808:808', '2002:808:808::1', '::8.8.8.8', '2001:0:4136:e378:8000:63bf:f7f7:f7f7', '::1', '2001:db8::1', 'fd20:ce::253'];

describe('WEBHOOK_DENY_NETWORKS and IPv4 inside IPv6', () => {
  const denied = parseNetworks(loadConfig({}).webhooks.denyNetworks);
  const lookUp = (address: string, deny = denied) =>
    new Promise<Error | null>((resolve) => guardedLookup(deny)(address, { all: true }, (err) => resolve(err)));

  it('denies by default every IPv6 spelling of a metadata address: checked as a literal (registration and delivery)', () => {
    for (const address of METADATA_IN_IPV6) {
      expect(deniedNetworkOf(address, denied), address).toBeDefined();
      expect(deniedLiteral(new URL(`http://[${address}]/latest/meta-data/`), denied)?.message, address).toContain('WEBHOOK_DENY_NETWORKS');
    }
    for (const address of ALLOWED_IN_IPV6) expect(deniedNetworkOf(address, denied), address).toBeUndefined();
  });

  it('refuses the connection when a host resolves to one of them (the lookup each delivery makes)', async () => {
    for (const address of METADATA_IN_IPV6) expect((await lookUp(address))?.message, address).toMatch(/WEBHOOK_DENY_NETWORKS/);
    for (const address of ALLOWED_IN_IPV6) expect(await lookUp(address), address).toBeNull();
  });

  it('denies an embedded IPv4 address that maps to any denied one, the operator\'s own networks too', async () => {
    const deny = parseNetworks(['127.0.0.0/8', '10.0.0.0/8']);
    for (const address of ['64:ff9b::7f00:1', '::ffff:127.0.0.1', '2002:a00:1::1', '::10.1.2.3']) {
      expect(deniedNetworkOf(address, deny), address).toBeDefined();
      expect((await lookUp(address, deny))?.message, address).toMatch(/WEBHOOK_DENY_NETWORKS/);
    }
    expect(deniedNetworkOf('64:ff9b::808:808', deny)).toBeUndefined();
  });
});

describe('an endpoint at a metadata address spelled in IPv6, with the default deny list', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ realClock: systemClock });
  });
  afterAll(() => t?.close());

  it('is refused at registration in each form', async () => {
    for (const address of METADATA_IN_IPV6) {
      const url = `http://[${address}]/latest/meta-data/`;
      await expect(add(t, url), url).rejects.toMatchObject({ code: 'invalid_request', details: [{ field: 'url', message: expect.stringContaining('WEBHOOK_DENY_NETWORKS') }] });
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
