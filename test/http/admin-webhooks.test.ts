import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { runOperation } from '../../src/control/operations.js';
import { auditEvents, webhookEndpoints } from '../../src/db/schema.js';
import { signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { serviceClients, type Credentials } from '../helpers/service-clients.js';
import { startWebhookReceiver, until } from '../helpers/webhook-receiver.js';

let t: TestApp;
beforeAll(async () => {
  // A short retry window, so that a delivery to a receiver that is down soon dies (to be replayed).
  t = await startTestApp({ realClock: systemClock, env: { WEBHOOK_RETRY_FOR: '2s' } });
});
afterAll(async () => {
  await t?.close();
});

const { auth, call, onePerScope } = serviceClients(() => t, 'webhooks-admin');

type Method = 'GET' | 'POST' | 'DELETE';
/** Every webhook admin route, for an endpoint id and a delivery id. */
const ROUTES = (id: string, deliveryId: string): [Method, string][] => [
  ['GET', '/api/admin/webhooks'],
  ['POST', '/api/admin/webhooks'],
  ['DELETE', `/api/admin/webhooks/${id}`],
  ['GET', `/api/admin/webhooks/${id}/deliveries`],
  ['POST', `/api/admin/webhooks/deliveries/${deliveryId}/replay`],
];


let admin: Credentials;
let reader: Credentials;
let feedOnly: Credentials;
beforeAll(async () => {
  ({ admin, reader, feedOnly } = await onePerScope());
});

const create = (body: unknown, who = admin) => call('POST', '/api/admin/webhooks', auth(who), body);

describe('managing endpoints', () => {
  it('adds an endpoint answering only its id and secret, lists it without the secret, and removes it', async () => {
    const res = await create({ url: 'https://hooks.example.com/a', events: ['user.created', 'session.revoked', 'user.created'] });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['id', 'secret']);
    expect(body.id).toMatch(/^wh_[A-Za-z0-9_-]+$/);
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const list = await call('GET', '/api/admin/webhooks', auth(admin));
    expect(list.statusCode).toBe(200);
    const listed = list.json().webhooks.find((w: { id: string }) => w.id === body.id);
    expect(listed).toEqual({
      id: body.id,
      url: 'https://hooks.example.com/a',
      events: ['session.revoked', 'user.created'],
      backchannel_logout_audience: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      disabled_at: null,
    });
    expect(list.body).not.toContain(body.secret.slice(6));
    expect(list.body).not.toMatch(/whsec_|secret/);

    const deliveries = await call('GET', `/api/admin/webhooks/${body.id}/deliveries`, auth(admin));
    expect(deliveries.statusCode).toBe(200);
    expect(deliveries.json()).toEqual({ deliveries: [] });

    const removed = await call('DELETE', `/api/admin/webhooks/${body.id}`, auth(admin));
    expect(removed.statusCode).toBe(200);
    expect(removed.json().webhook).toMatchObject({ id: body.id, url: 'https://hooks.example.com/a' });
    expect((await call('GET', '/api/admin/webhooks', auth(admin))).json().webhooks.map((w: { id: string }) => w.id)).not.toContain(body.id);
    for (const [method, url] of [
      ['DELETE', `/api/admin/webhooks/${body.id}`],
      ['GET', `/api/admin/webhooks/${body.id}/deliveries`],
    ] as [Method, string][]) {
      const gone = await call(method, url, auth(admin));
      expect(gone.statusCode, `${method} ${url}`).toBe(404);
      expect(gone.json().error).toBe('webhook_not_found');
    }

    // The audit log names the service client.
    const audit = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, 'webhook_removed'));
    expect(audit.map((a) => a.details)).toContainEqual(expect.objectContaining({ actor: `service:${admin.name}`, webhookId: body.id }));
  });

  it('adds a back-channel logout endpoint, which receives session.revoked only', async () => {
    const res = await create({ url: 'https://rp.example.com/logout', backchannel_logout: true, audience: 'client-a' });
    expect(res.statusCode).toBe(201);
    const [row] = await t.deps.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, res.json().id));
    expect(row).toMatchObject({ backchannelAudience: 'client-a', eventTypes: ['session.revoked'] });
    expect((await call('DELETE', `/api/admin/webhooks/${row!.id}`, auth(admin))).statusCode).toBe(200);
  });

  it('refuses bad bodies, ids and queries with 400 invalid_request, and unknown ids with 404', async () => {
    const bodies: unknown[] = [
      {},
      { events: ['user.created'] },
      { url: 'ftp://hooks.example.com/x', events: ['user.created'] },
      { url: 'not a url', events: ['user.created'] },
      { url: 'https://user:pw@hooks.example.com/x', events: ['user.created'] },
      { url: 'https://hooks.example.com/x#frag', events: ['user.created'] },
      { url: 'https://hooks.example.com/x', events: ['user.exploded'] },
      { url: 'https://hooks.example.com/x', events: [] },
      { url: 'https://hooks.example.com/x' },
      { url: 'https://hooks.example.com/x', events: 'user.created' },
      { url: 'https://hooks.example.com/x', backchannel_logout: true },
      { url: 'https://hooks.example.com/x', events: ['user.created'], audience: 'client-a' },
      { url: 'https://hooks.example.com/x', events: ['user.created'], backchannel_logout: true, audience: 'client-a' },
      { url: 'https://hooks.example.com/x', backchannel_logout: true, audience: '   ' },
      { url: `https://hooks.example.com/${'x'.repeat(2000)}`, events: ['user.created'] },
      { url: 42, events: ['user.created'] },
      // What a terminal would act on, or parsing would quietly drop, in what `webhooks list` shows an operator.
      { url: 'https://hooks.example.com/x\u001b[2J\u001b[31mFAKE\rwh_fake  https://evil.example/', events: ['user.created'] },
      { url: ' https://hooks.example.com/x', events: ['user.created'] },
      { url: 'ht\ttps://hooks.example.com/x', events: ['user.created'] },
      { url: 'https://hooks.example.com/x\n', events: ['user.created'] },
      { url: 'https://hooks.example.com/a b', events: ['user.created'] },
      { url: 'https://hooks.example.com/x\u0000', events: ['user.created'] },
      { url: 'https://hooks.example.com/x', backchannel_logout: true, audience: 'client\u001b[31m' },
      { url: 'https://hooks.example.com/x', backchannel_logout: true, audience: 'client\u0000a' },
      { url: 'https://hooks.example.com/x', events: ['user.created'], backchannel_logout: 'yes' },
      [],
    ];
    for (const body of bodies) {
      const res = await create(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 100)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
      expect(res.json().details?.length, JSON.stringify(body).slice(0, 100)).toBeGreaterThan(0);
    }
    // A URL is stored as parsed, which is what is posted to and what the list shows.
    const parsed = await create({ url: 'HTTPS://Hooks.Example.COM:443/a/../b?x=%7e', events: ['user.created'] });
    expect(parsed.statusCode).toBe(201);
    const [stored] = await t.deps.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, parsed.json().id));
    expect(stored!.url).toBe('https://hooks.example.com/b?x=%7e');
    expect((await call('DELETE', `/api/admin/webhooks/${parsed.json().id}`, auth(admin))).statusCode).toBe(200);
    // Fields the API does not know are dropped, as everywhere in Latchkey: a caller cannot choose the secret.
    const extra = await create({ url: 'https://hooks.example.com/extra', events: ['user.created'], secret: 'whsec_mine' });
    expect(extra.statusCode).toBe(201);
    expect(extra.json().secret).not.toBe('whsec_mine');
    expect((await call('DELETE', `/api/admin/webhooks/${extra.json().id}`, auth(admin))).statusCode).toBe(200);
    const malformed = await t.inject({ method: 'POST', url: '/api/admin/webhooks', headers: { ...auth(admin), 'content-type': 'application/json' }, payload: '{"url":' });
    expect(malformed.statusCode).toBe(400);
    const text = await t.inject({ method: 'POST', url: '/api/admin/webhooks', headers: { ...auth(admin), 'content-type': 'text/plain' }, payload: 'https://hooks.example.com/x' });
    expect(text.statusCode).toBe(415);

    for (const id of ['nope', 'wh_', 'wh_!!', `wh_${'a'.repeat(200)}`, '%00']) {
      for (const [method, url] of ROUTES(id, '1').slice(2, 4)) {
        const res = await call(method, url, auth(admin));
        expect(res.statusCode, `${method} ${url}`).toBe(400);
        expect(res.json().error).toBe('invalid_request');
      }
    }
    for (const deliveryId of ['0', '-1', 'abc', '1e3', '01', '9'.repeat(16), '1.5']) {
      const res = await call('POST', `/api/admin/webhooks/deliveries/${deliveryId}/replay`, auth(admin));
      expect(res.statusCode, deliveryId).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
    const hook = (await create({ url: 'https://hooks.example.com/q', events: ['user.created'] })).json();
    for (const query of ['status=lost', 'limit=0', 'limit=1001', 'limit=-1', 'limit=ten', 'status=']) {
      const res = await call('GET', `/api/admin/webhooks/${hook.id}/deliveries?${query}`, auth(admin));
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
    expect((await call('GET', `/api/admin/webhooks/${hook.id}/deliveries?status=dead&limit=1000`, auth(admin))).statusCode).toBe(200);
    expect((await call('DELETE', `/api/admin/webhooks/${hook.id}`, auth(admin))).statusCode).toBe(200);

    const unknown = await call('DELETE', '/api/admin/webhooks/wh_AAAAAAAAAAAAAAAA', auth(admin));
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('webhook_not_found');
    const noDelivery = await call('POST', `/api/admin/webhooks/deliveries/${'9'.repeat(15)}/replay`, auth(admin));
    expect(noDelivery.statusCode).toBe(404);
    expect(noDelivery.json().error).toBe('webhook_delivery_not_found');
  });
});

describe('deliveries', () => {
  it('lists an endpoint\'s dead delivery, replays it, and it is delivered', async () => {
    let up = false;
    const receiver = await startWebhookReceiver({ answer: () => (up ? 204 : 503) });
    const hook = (await create({ url: receiver.url, events: ['user.created'] })).json();
    const deliveries = async (query = '') => (await call('GET', `/api/admin/webhooks/${hook.id}/deliveries${query}`, auth(admin))).json().deliveries as { id: number; status: string; attempts: number; last_status: number | null; event_type: string; endpoint_id: string }[];
    try {
      const user = await signUp(t);
      const dead = await until(() => deliveries('?status=dead'), (d) => d.length > 0, 30_000);
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ endpoint_id: hook.id, event_type: 'user.created', status: 'dead', last_status: 503 });
      expect(dead[0]!.attempts).toBeGreaterThan(1);
      expect(await deliveries('?status=pending')).toEqual([]);

      up = true;
      const replayed = await call('POST', `/api/admin/webhooks/deliveries/${dead[0]!.id}/replay`, auth(admin));
      expect(replayed.statusCode).toBe(200);
      expect(replayed.json()).toEqual({ replayed: 1 });
      const delivered = await until(() => deliveries('?status=delivered&limit=5'), (d) => d.length > 0, 30_000);
      expect(delivered.map((d) => d.id)).toEqual([dead[0]!.id]);
      expect(receiver.received.map((r) => JSON.parse(r.body).data.id)).toEqual([user.id]);

      // Only a dead delivery is replayed: a delivered one is not found as such.
      const again = await call('POST', `/api/admin/webhooks/deliveries/${dead[0]!.id}/replay`, auth(admin));
      expect(again.statusCode).toBe(404);
      expect(again.json().error).toBe('webhook_delivery_not_found');
      const audit = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, 'webhook_replayed'));
      expect(audit.map((a) => a.details)).toContainEqual(expect.objectContaining({ actor: `service:${admin.name}`, deliveryId: dead[0]!.id, replayed: 1 }));
    } finally {
      await call('DELETE', `/api/admin/webhooks/${hook.id}`, auth(admin));
      await receiver.stop();
    }
  }, 60_000);
});

describe('who may call the webhook admin API', () => {
  it('answers 401 invalid_client without a good credential, and 403 insufficient_scope without the admin scope, on every route', async () => {
    const hook = (await create({ url: 'https://hooks.example.com/scoped', events: ['user.created'] })).json();
    try {
      for (const [method, url] of ROUTES(hook.id, '1')) {
        for (const headers of [{} as Record<string, string>, { authorization: `Basic ${Buffer.from(`${admin.client_id}:wrong`).toString('base64')}` }]) {
          const res = await call(method, url, headers, method === 'POST' ? { url: 'https://x.example.com', events: ['user.created'] } : undefined);
          expect(res.statusCode, `${method} ${url}`).toBe(401);
          expect(res.json().error).toBe('invalid_client');
          expect(res.headers['www-authenticate']).toBe('Basic realm="latchkey"');
        }
        for (const who of [reader, feedOnly]) {
          const res = await call(method, url, auth(who), method === 'POST' ? { url: 'https://x.example.com', events: ['user.created'] } : undefined);
          expect(res.statusCode, `${method} ${url}`).toBe(403);
          expect(res.json().error).toBe('insufficient_scope');
        }
      }
      // Scopes are checked before the id or the body.
      expect((await call('DELETE', '/api/admin/webhooks/nope', auth(reader))).statusCode).toBe(403);
      expect((await create({ url: 'ftp://x' }, reader)).statusCode).toBe(403);
      // Nothing was changed by the refused calls.
      const list = (await call('GET', '/api/admin/webhooks', auth(admin))).json().webhooks;
      expect(list.map((w: { url: string }) => w.url)).toEqual(['https://hooks.example.com/scoped']);
    } finally {
      await call('DELETE', `/api/admin/webhooks/${hook.id}`, auth(admin));
    }
  });
});

describe('the OpenAPI document', () => {
  it('documents every webhook admin route under the admin tag, with HTTP Basic and its errors', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [method, url] of ROUTES('{id}', '{deliveryId}')) {
      const op = doc.paths[url]?.[method.toLowerCase()];
      expect(op, `${method} ${url}`).toBeDefined();
      expect(op.tags).toEqual(['admin']);
      expect(op.security).toEqual([{ serviceClient: [] }]);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      if (url.includes('{')) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '404']));
    }
    expect(Object.keys(doc.paths['/api/admin/webhooks'].post.responses)).toEqual(expect.arrayContaining(['201', '400']));
    expect(JSON.stringify(doc.paths['/api/admin/webhooks'].get.responses)).not.toMatch(/secret/);
  });
});

describe('the audience of back-channel logout tokens', () => {
  // A logout token is signed with the access-token key: with the access audience as its aud, a relying
  // party's plain jwtVerify (issuer, audience, signature) would take it for the user's access token.
  it('is never the access-token audience, in any spelling or list, by the API or the command line', async () => {
    const access = t.deps.config.jwt.audience;
    const spellings = [
      access,
      access.toUpperCase(),
      ` ${access} `,
      `${access}/`,
      `${access.toUpperCase()}//`,
      JSON.stringify([access]),
      JSON.stringify(['client-a', ` ${access.toUpperCase()}/`]),
      `client-a,${access}`,
      `client-a, ${access} ,client-b`,
      `client-a ${access}`,
      `"${access}"`,
    ];
    for (const audience of spellings) {
      const res = await create({ url: 'https://rp.example.com/logout', backchannel_logout: true, audience });
      expect(res.statusCode, audience).toBe(400);
      expect(res.json().error).toBe('invalid_request');
      expect(res.json().details, audience).toEqual([expect.objectContaining({ field: 'audience' })]);
      await expect(runOperation(t.deps as never, 'webhooks.add', { url: 'https://rp.example.com/logout', events: [], backchannelAudience: audience }, { actor: 'test' }), audience).rejects.toMatchObject({
        code: 'invalid_request',
      });
    }
    const rows = await t.deps.db.select().from(webhookEndpoints);
    expect(rows.filter((r) => r.backchannelAudience !== null && r.backchannelAudience.toLowerCase().includes(access.toLowerCase()))).toEqual([]);
    // A client id that merely contains it is another audience.
    const other = await create({ url: 'https://rp.example.com/logout', backchannel_logout: true, audience: `${access}-rp` });
    expect(other.statusCode).toBe(201);
    expect((await call('DELETE', `/api/admin/webhooks/${other.json().id}`, auth(admin))).statusCode).toBe(200);
  });
});
