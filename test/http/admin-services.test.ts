import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, serviceClients as serviceClientRows } from '../../src/db/schema.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { serviceClients, type Credentials } from '../helpers/service-clients.js';

// The admin API for service clients (scope admin): what `latchkey services create|list|rotate|remove` do, through the
// same domain functions, the secret in the answer once, the calling client as the audit's actor.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
/** Every secret an answer carried: none may be in the server's log. */
const secretsSeen: string[] = [];
afterAll(async () => {
  const logs = t?.logs.join('') ?? '';
  for (const secret of secretsSeen) expect(logs).not.toContain(secret);
  await t?.close();
});

const { auth, call, onePerScope } = serviceClients(() => t, 'services-admin');

type Method = 'GET' | 'POST' | 'DELETE';
/** Every service-client admin route, for a client's name. */
const ROUTES = (name: string): [Method, string][] => [
  ['GET', '/api/admin/services'],
  ['POST', '/api/admin/services'],
  ['POST', `/api/admin/services/${name}/rotate`],
  ['DELETE', `/api/admin/services/${name}`],
];

let admin: Credentials;
let reader: Credentials;
let feedOnly: Credentials;
beforeAll(async () => {
  ({ admin, reader, feedOnly } = await onePerScope());
});

const create = async (body: unknown, who = admin) => {
  const res = await call('POST', '/api/admin/services', auth(who), body);
  if (res.statusCode === 201) secretsSeen.push(res.json().client_secret);
  return res;
};
const basicOf = (c: { client_id: string; client_secret: string }) => auth({ ...c, name: '' });
const auditOf = async (type: string, clientId: string) =>
  (await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, type))).filter((r) => (r.details as { clientId?: string }).clientId === clientId);

describe('managing service clients', () => {
  it('creates a client, its secret in the answer only (no-store), audited with the calling client as actor; the secret works', async () => {
    const res = await create({ name: 'billing.api', scopes: ['users:read', 'admin', 'users:read'], client_id: 'lkc_mine', client_secret: 'lks_mine' });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toEqual({
      client_id: expect.stringMatching(/^lkc_[A-Za-z0-9_-]{22}$/),
      client_secret: expect.stringMatching(/^lks_[A-Za-z0-9_-]{43}$/),
      name: 'billing.api',
      scopes: ['users:read', 'admin'],
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      secret_rotated_at: null,
    });
    // Only its hash is stored.
    const [row] = await t.deps.db.select().from(serviceClientRows).where(eq(serviceClientRows.name, 'billing.api'));
    expect(JSON.stringify(row)).not.toContain(body.client_secret);
    expect(await auditOf('service_client_created', body.client_id)).toEqual([
      expect.objectContaining({ details: { actor: `service:${admin.name}`, clientId: body.client_id, name: 'billing.api', scopes: ['users:read', 'admin'] } }),
    ]);
    // The new client can call the admin API with its credentials.
    const listed = await call('GET', '/api/admin/services', basicOf(body));
    expect(listed.statusCode).toBe(200);
    const mine = listed.json().services.find((s: { name: string }) => s.name === 'billing.api');
    expect(mine).toEqual({ client_id: body.client_id, name: 'billing.api', scopes: ['users:read', 'admin'], created_at: body.created_at, secret_rotated_at: null });
    // Never a secret or its hash in the list.
    expect(listed.body).not.toMatch(/secret_hash|client_secret|lks_/);
    expect(listed.body).not.toContain(row!.secretHash);
    expect((await create({ name: 'billing.api', scopes: ['admin'] })).json().error).toBe('service_client_exists');
  });

  it('rotates a secret by name or client id: the new one in the answer only, the old one refused at once; audited', async () => {
    const created = (await create({ name: 'rotating', scopes: ['admin'] })).json();
    const first = await call('POST', '/api/admin/services/rotating/rotate', auth(admin));
    expect(first.statusCode).toBe(200);
    expect(first.headers['cache-control']).toBe('no-store');
    const rotated = first.json();
    secretsSeen.push(rotated.client_secret);
    expect(rotated).toMatchObject({ client_id: created.client_id, name: 'rotating', scopes: ['admin'], secret_rotated_at: expect.stringMatching(/^\d{4}-/) });
    expect(rotated.client_secret).not.toBe(created.client_secret);
    expect((await call('GET', '/api/admin/services', basicOf(created))).statusCode).toBe(401);
    expect((await call('GET', '/api/admin/services', basicOf(rotated))).statusCode).toBe(200);
    // By its client id, and by itself: the answer is its own new secret.
    const again = await call('POST', `/api/admin/services/${created.client_id}/rotate`, basicOf(rotated));
    expect(again.statusCode).toBe(200);
    secretsSeen.push(again.json().client_secret);
    expect((await call('GET', '/api/admin/services', basicOf(again.json()))).statusCode).toBe(200);
    const audits = await auditOf('service_client_secret_rotated', created.client_id);
    expect(audits.map((a) => (a.details as { actor: string }).actor)).toEqual([`service:${admin.name}`, 'service:rotating']);
    expect(JSON.stringify(audits)).not.toMatch(/lks_/);
  });

  it('removes a client: its secret is refused at once, a second removal is 404; audited', async () => {
    const created = (await create({ name: 'leaving', scopes: ['users:read'] })).json();
    expect((await call('GET', '/api/admin/users', basicOf(created))).statusCode).toBe(200);
    const res = await call('DELETE', '/api/admin/services/leaving', auth(admin));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ service: { client_id: created.client_id, name: 'leaving', scopes: ['users:read'], created_at: created.created_at, secret_rotated_at: null } });
    expect((await call('GET', '/api/admin/users', basicOf(created))).statusCode).toBe(401);
    const again = await call('DELETE', '/api/admin/services/leaving', auth(admin));
    expect(again.statusCode).toBe(404);
    expect(again.json().error).toBe('service_client_not_found');
    expect(await auditOf('service_client_removed', created.client_id)).toEqual([expect.objectContaining({ details: { actor: `service:${admin.name}`, clientId: created.client_id, name: 'leaving' } })]);
  });

  it('refuses bad bodies and names with 400 invalid_request, unknown names with 404, and creates nothing', async () => {
    const before = (await call('GET', '/api/admin/services', auth(admin))).json().services.length;
    const bodies: unknown[] = [
      {},
      { name: 'ok' },
      { scopes: ['admin'] },
      { name: 'ok', scopes: [] },
      { name: 'ok', scopes: ['root'] },
      { name: 'ok', scopes: 'admin' },
      { name: 'ok', scopes: Array(11).fill('admin') },
      { name: '', scopes: ['admin'] },
      { name: 'has space', scopes: ['admin'] },
      { name: '<script>alert(1)</script>', scopes: ['admin'] },
      { name: "x' OR '1'='1", scopes: ['admin'] },
      { name: 'lkc_looks_like_an_id', scopes: ['admin'] },
      { name: '.dot-first', scopes: ['admin'] },
      { name: 'a'.repeat(65), scopes: ['admin'] },
      { name: 5, scopes: ['admin'] },
      { name: 'x'.repeat(1000), scopes: ['admin'] },
    ];
    for (const body of bodies) {
      const res = await create(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
    expect((await create({ name: 'x'.repeat(100_000), scopes: ['admin'] })).statusCode).toBe(413);
    for (const name of ['.hidden', '%3Cscript%3E', 'a%00b', 'x'.repeat(69), '%27%20OR%201%3D1', '-leading']) {
      for (const [method, url] of ROUTES(name).slice(2)) {
        const res = await call(method, url, auth(admin));
        expect(res.statusCode, `${method} ${url}`).toBe(400);
        expect(res.json().error).toBe('invalid_request');
      }
    }
    for (const [method, url] of ROUTES('no-such-service').slice(2)) {
      const res = await call(method, url, auth(admin));
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().error).toBe('service_client_not_found');
    }
    expect((await call('GET', '/api/admin/services', auth(admin))).json().services.length).toBe(before);
  });
});

describe('who may call the service-client admin API', () => {
  it('answers 401 invalid_client without a good credential, and 403 insufficient_scope without the admin scope, on every route', async () => {
    const target = (await create({ name: 'target', scopes: ['revocations:read'] })).json();
    const body = { name: 'intruder', scopes: ['admin'] };
    for (const [method, url] of ROUTES('target')) {
      for (const headers of [{} as Record<string, string>, { authorization: `Basic ${Buffer.from(`${admin.client_id}:wrong`).toString('base64')}` }]) {
        const res = await call(method, url, headers, method === 'POST' ? body : undefined);
        expect(res.statusCode, `${method} ${url}`).toBe(401);
        expect(res.json().error).toBe('invalid_client');
        expect(res.headers['www-authenticate']).toBe('Basic realm="latchkey"');
      }
      for (const who of [reader, feedOnly]) {
        const res = await call(method, url, auth(who), method === 'POST' ? body : undefined);
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json().error).toBe('insufficient_scope');
      }
    }
    // Scopes are checked before the name or the body.
    expect((await call('DELETE', '/api/admin/services/-bad-', auth(reader))).statusCode).toBe(403);
    expect((await create({ name: '' }, reader)).statusCode).toBe(403);
    // Nothing was changed by the refused calls: the target's secret still works, no intruder was made.
    // (403, not 401: its secret is still good, though not for this route.)
    expect((await call('GET', '/api/admin/users', basicOf(target))).json().error).toBe('insufficient_scope');
    const names = (await call('GET', '/api/admin/services', auth(admin))).json().services.map((s: { name: string }) => s.name);
    expect(names).toContain('target');
    expect(names).not.toContain('intruder');
  });
});

describe('the OpenAPI document', () => {
  it('documents every service-client admin route under the admin tag, with HTTP Basic and its errors, never a secret in the list', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [method, url] of ROUTES('{name}')) {
      const op = doc.paths[url]?.[method.toLowerCase()];
      expect(op, `${method} ${url}`).toBeDefined();
      expect(op.tags).toEqual(['admin']);
      expect(op.security).toEqual([{ serviceClient: [] }]);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      if (url.includes('{')) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '404']));
    }
    expect(Object.keys(doc.paths['/api/admin/services'].post.responses)).toEqual(expect.arrayContaining(['201', '400', '409']));
    expect(JSON.stringify(doc.paths['/api/admin/services'].get.responses)).not.toMatch(/secret"/);
  });
});
