import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { auditEvents, oauthClients as oauthClientRows, sessions } from '../../src/db/schema.js';
import { adminBrowser } from '../helpers/admin-browser.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { oauthSignIn, refreshAsClient, tokenRequest } from '../helpers/oauth-signin.js';
import { serviceClients, type Credentials } from '../helpers/service-clients.js';

// The admin API for OAuth clients (scope admin): what `latchkey clients create|list|rotate|remove` do, through the
// same domain functions, the secret in the answer once, the calling service as the audit's actor.

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

const { auth, call, onePerScope } = serviceClients(() => t, 'clients-admin');

type Method = 'GET' | 'POST' | 'DELETE';
/** Every OAuth-client admin route, for a client's name. */
const ROUTES = (ref: string): [Method, string][] => [
  ['GET', '/api/admin/clients'],
  ['POST', '/api/admin/clients'],
  ['POST', `/api/admin/clients/${ref}/rotate`],
  ['DELETE', `/api/admin/clients/${ref}`],
];

let admin: Credentials;
let reader: Credentials;
let feedOnly: Credentials;
beforeAll(async () => {
  ({ admin, reader, feedOnly } = await onePerScope());
});

const create = async (body: unknown, who = admin) => {
  const res = await call('POST', '/api/admin/clients', auth(who), body);
  if (res.statusCode === 201 && res.json().client_secret) secretsSeen.push(res.json().client_secret);
  return res;
};
const list = async () => (await call('GET', '/api/admin/clients', auth(admin))).json().clients as { name: string; client_id: string }[];
/** Whether a client's secret authenticates it now (the introspection endpoint, which any confidential client may call). */
const introspectWith = (c: { client_id: string; client_secret: string }) =>
  tokenRequest(t, { token: 'not-a-token', client_id: c.client_id, client_secret: c.client_secret }, '/oauth/introspect');
const auditOf = async (type: string, clientId: string) =>
  (await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, type))).filter((r) => (r.details as { clientId?: string }).clientId === clientId);

describe('managing OAuth clients', () => {
  it('registers a confidential client, its secret in the answer only (no-store), audited with the calling service as actor; the secret works', async () => {
    const res = await create({
      name: 'web.app',
      redirect_uris: ['https://app.example/cb', 'http://127.0.0.1:8080/cb', 'https://app.example/cb'],
      post_logout_redirect_uris: ['https://app.example/bye'],
      backchannel_logout_uri: 'https://app.example/bcl',
      client_id: 'lko_mine',
      client_secret: 'lkos_mine',
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toEqual({
      client_id: expect.stringMatching(/^lko_[A-Za-z0-9_-]{22}$/),
      client_secret: expect.stringMatching(/^lkos_[A-Za-z0-9_-]{43}$/),
      name: 'web.app',
      type: 'confidential',
      first_party: false,
      redirect_uris: ['https://app.example/cb', 'http://127.0.0.1:8080/cb'],
      post_logout_redirect_uris: ['https://app.example/bye'],
      backchannel_logout_uri: 'https://app.example/bcl',
      token_endpoint_auth_methods: ['client_secret_basic', 'client_secret_post'],
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      secret_rotated_at: null,
    });
    const [row] = await t.deps.db.select().from(oauthClientRows).where(eq(oauthClientRows.name, 'web.app'));
    expect(JSON.stringify(row)).not.toContain(body.client_secret);
    expect(await auditOf('oauth_client_created', body.client_id)).toEqual([
      expect.objectContaining({ details: { actor: `service:${admin.name}`, clientId: body.client_id, name: 'web.app', public: false, firstParty: false } }),
    ]);
    expect((await introspectWith(body)).json()).toEqual({ active: false });
    const listed = await call('GET', '/api/admin/clients', auth(admin));
    expect(listed.statusCode).toBe(200);
    const { client_secret: _secret, ...view } = body;
    expect(listed.json().clients.find((c: { name: string }) => c.name === 'web.app')).toEqual(view);
    expect(listed.body).not.toMatch(/secret_hash|"client_secret"|lkos_|jwks/);
    expect(listed.body).not.toContain(row!.secretHash);
    const again = await create({ name: 'web.app', redirect_uris: ['https://other.example/cb'] });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toBe('oauth_client_exists');
  });

  it('registers a public client and one with keys, neither with a secret; first party as asked', async () => {
    const spa = await create({ name: 'spa', redirect_uris: ['https://spa.example/cb'], public: true, first_party: true });
    expect(spa.statusCode).toBe(201);
    expect(spa.json()).toMatchObject({ client_secret: null, type: 'public', first_party: true, token_endpoint_auth_methods: ['none'] });
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const keyed = await create({ name: 'keyed', redirect_uris: ['com.example.app:/cb'], jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] } });
    expect(keyed.statusCode, keyed.body).toBe(201);
    expect(keyed.json()).toMatchObject({ client_secret: null, type: 'confidential', token_endpoint_auth_methods: ['private_key_jwt'] });
    // The keys were kept as sent: an assertion signed with the private key authenticates the client.
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(keyed.json().client_id)
      .setSubject(keyed.json().client_id)
      .setAudience(`${t.deps.config.publicUrl}/oauth/introspect`)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(privateKey);
    const fields = { token: 'not-a-token', client_id: keyed.json().client_id, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    const introspected = await tokenRequest(t, fields, '/oauth/introspect');
    expect(introspected.statusCode, introspected.body).toBe(200);
    // Neither has a secret to rotate.
    for (const name of ['spa', 'keyed']) {
      const res = await call('POST', `/api/admin/clients/${name}/rotate`, auth(admin));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_request', message: expect.stringMatching(/no secret to rotate/) });
    }
  });

  it('rotates a secret by name or client id: the new one in the answer only, the old one refused at once; audited', async () => {
    const created = (await create({ name: 'rotating', redirect_uris: ['https://r.example/cb'] })).json();
    const first = await call('POST', '/api/admin/clients/rotating/rotate', auth(admin));
    expect(first.statusCode).toBe(200);
    expect(first.headers['cache-control']).toBe('no-store');
    const rotated = first.json();
    secretsSeen.push(rotated.client_secret);
    expect(rotated).toMatchObject({ client_id: created.client_id, name: 'rotating', secret_rotated_at: expect.stringMatching(/^\d{4}-/) });
    expect(rotated.client_secret).toMatch(/^lkos_/);
    expect(rotated.client_secret).not.toBe(created.client_secret);
    expect((await introspectWith(created)).statusCode).toBe(401);
    expect((await introspectWith(rotated)).statusCode).toBe(200);
    const again = await call('POST', `/api/admin/clients/${created.client_id}/rotate`, auth(admin));
    expect(again.statusCode).toBe(200);
    secretsSeen.push(again.json().client_secret);
    expect((await introspectWith(rotated)).statusCode).toBe(401);
    const audits = await auditOf('oauth_client_secret_rotated', created.client_id);
    expect(audits.map((a) => (a.details as { actor: string }).actor)).toEqual([`service:${admin.name}`, `service:${admin.name}`]);
    expect(JSON.stringify(audits)).not.toMatch(/lkos_/);
  });

  it("removes a client: its secret is refused and its users' sessions with it end at once; a second removal is 404; audited", async () => {
    const created = (await create({ name: 'leaving', redirect_uris: ['https://l.example/cb'] })).json();
    const browser = await adminBrowser(t, { admin: false });
    const tokens = await oauthSignIn(t, browser, created, 'https://l.example/cb');
    const res = await call('DELETE', '/api/admin/clients/leaving', auth(admin));
    expect(res.statusCode).toBe(200);
    const { client_secret: _secret, ...view } = created;
    expect(res.json()).toEqual({ client: view });
    expect((await introspectWith(created)).statusCode).toBe(401);
    const live = await t.deps.db.select().from(sessions).where(eq(sessions.clientId, created.client_id));
    expect(live.map((s) => s.revokedReason)).toEqual(['client_removed']);
    expect((await refreshAsClient(t, created, tokens.refresh_token)).statusCode).toBe(401);
    // The browser's own session goes on.
    expect((await browser.get('/account')).statusCode).toBe(200);
    const again = await call('DELETE', '/api/admin/clients/leaving', auth(admin));
    expect(again.statusCode).toBe(404);
    expect(again.json().error).toBe('oauth_client_not_found');
    expect(await auditOf('oauth_client_removed', created.client_id)).toEqual([
      expect.objectContaining({ details: { actor: `service:${admin.name}`, clientId: created.client_id, name: 'leaving', sessions: 1 } }),
    ]);
  });

  it('refuses bad redirect URIs, bad bodies and names with 400 invalid_request, unknown names with 404, and registers nothing', async () => {
    const before = (await list()).length;
    const ok = ['https://ok.example/cb'];
    const refused: [unknown, RegExp?][] = [
      [{}],
      [{ name: 'ok' }],
      [{ redirect_uris: ok }],
      [{ name: 'ok', redirect_uris: [] }],
      [{ name: 'ok', redirect_uris: 'https://ok.example/cb' }],
      [{ name: 'ok', redirect_uris: ['http://app.example/cb'] }, /redirect_uris\.0 must be https/],
      [{ name: 'ok', redirect_uris: ['https://app.example/cb#frag'] }, /redirect_uris\.0 must not have a fragment/],
      [{ name: 'ok', redirect_uris: ['https://app.example/cb#'] }, /fragment/],
      [{ name: 'ok', redirect_uris: ['/cb'] }, /not an absolute URI/],
      [{ name: 'ok', redirect_uris: ['app.example/cb'] }, /not an absolute URI/],
      [{ name: 'ok', redirect_uris: ['javascript:alert(1)'] }, /must be https/],
      [{ name: 'ok', redirect_uris: ['data:text/html,hi'] }, /must be https/],
      [{ name: 'ok', redirect_uris: ['https://a:b@app.example/cb'] }, /credentials/],
      [{ name: 'ok', redirect_uris: ['https://app.example/c b'] }, /spaces/],
      [{ name: 'ok', redirect_uris: ['http://localhost.evil.example/cb'] }, /must be https/],
      [{ name: 'ok', redirect_uris: [...ok, 'http://evil.example/'] }, /redirect_uris\.1 must be https/],
      [{ name: 'ok', redirect_uris: Array.from({ length: 21 }, (_, i) => `https://a.example/${i}`) }],
      [{ name: 'ok', redirect_uris: [`https://a.example/${'x'.repeat(2000)}`] }],
      [{ name: 'ok', redirect_uris: ok, post_logout_redirect_uris: ['http://evil.example/'] }, /post_logout_redirect_uris\.0 must be https/],
      [{ name: 'ok', redirect_uris: ok, backchannel_logout_uri: 'com.example.app:/bcl' }, /backchannel_logout_uri must be http\(s\)/],
      [{ name: 'ok', redirect_uris: ok, public: true, jwks: { keys: [{ kty: 'EC' }] } }, /a public client has no keys/],
      [{ name: 'ok', redirect_uris: ok, jwks: { keys: [] } }],
      [{ name: 'ok', redirect_uris: ok, jwks: { keys: [{ kty: 'EC', d: 'private' }] } }, /jwks must be a JWK Set of 1 to 10 public keys/],
      [{ name: 'ok', redirect_uris: ok, jwks: 'keys' }],
      [{ name: 'ok', redirect_uris: ok, public: 'yes' }],
      [{ name: '', redirect_uris: ok }],
      [{ name: 'has space', redirect_uris: ok }],
      [{ name: '<script>alert(1)</script>', redirect_uris: ok }],
      [{ name: 'lko_looks_like_an_id', redirect_uris: ok }],
      [{ name: '.dot-first', redirect_uris: ok }],
      [{ name: 'a'.repeat(65), redirect_uris: ok }],
      [{ name: 5, redirect_uris: ok }],
    ];
    for (const [body, message] of refused) {
      const res = await create(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 100)).toBe(400);
      expect(res.json().error).toBe('invalid_request');
      if (message) expect(res.json().message).toMatch(message);
    }
    // Each address at fault, by its field.
    const details = (await create({ name: 'ok', redirect_uris: ['/a', ...ok, 'https://b.example/#x'] })).json().details;
    expect(details.map((d: { field: string }) => d.field)).toEqual(['redirect_uris.0', 'redirect_uris.2']);
    expect((await create({ name: 'x'.repeat(100_000), redirect_uris: ok })).statusCode).toBe(413);
    for (const name of ['.hidden', '%3Cscript%3E', 'a%00b', 'x'.repeat(69), '%27%20OR%201%3D1', '-leading']) {
      for (const [method, url] of ROUTES(name).slice(2)) {
        const res = await call(method, url, auth(admin));
        expect(res.statusCode, `${method} ${url}`).toBe(400);
        expect(res.json().error).toBe('invalid_request');
      }
    }
    for (const [method, url] of ROUTES('no-such-client').slice(2)) {
      const res = await call(method, url, auth(admin));
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().error).toBe('oauth_client_not_found');
    }
    expect((await list()).length).toBe(before);
  });

  it('registers one client of a name however many ask at once', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => create({ name: 'racing', redirect_uris: ['https://race.example/cb'] })));
    expect(answers.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    expect((await list()).filter((c) => c.name === 'racing')).toHaveLength(1);
  });
});

describe('who may call the OAuth-client admin API', () => {
  it('answers 401 invalid_client without a good credential, and 403 insufficient_scope without the admin scope, on every route', async () => {
    const target = (await create({ name: 'target', redirect_uris: ['https://t.example/cb'] })).json();
    const body = { name: 'intruder', redirect_uris: ['https://evil.example/cb'] };
    for (const [method, url] of ROUTES('target')) {
      for (const headers of [{} as Record<string, string>, { authorization: `Basic ${Buffer.from(`${admin.client_id}:wrong`).toString('base64')}` }]) {
        const res = await call(method, url, headers, method === 'POST' ? body : undefined);
        expect(res.statusCode, `${method} ${url}`).toBe(401);
        expect(res.json().error).toBe('invalid_client');
      }
      for (const who of [reader, feedOnly]) {
        const res = await call(method, url, auth(who), method === 'POST' ? body : undefined);
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json().error).toBe('insufficient_scope');
      }
    }
    // An OAuth client's own credentials are not a service client's.
    const asOAuthClient = { authorization: `Basic ${Buffer.from(`${target.client_id}:${target.client_secret}`).toString('base64')}` };
    expect((await call('GET', '/api/admin/clients', asOAuthClient)).statusCode).toBe(401);
    expect((await introspectWith(target)).statusCode).toBe(200);
    const names = (await list()).map((c) => c.name);
    expect(names).toContain('target');
    expect(names).not.toContain('intruder');
  });
});

describe('the OpenAPI document', () => {
  it('documents every OAuth-client admin route under the admin tag, with HTTP Basic and its errors, never a secret in the list', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [method, url] of ROUTES('{ref}')) {
      const op = doc.paths[url]?.[method.toLowerCase()];
      expect(op, `${method} ${url}`).toBeDefined();
      expect(op.tags).toEqual(['admin']);
      expect(op.security).toEqual([{ serviceClient: [] }]);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      if (url.includes('{')) expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '404']));
    }
    expect(Object.keys(doc.paths['/api/admin/clients'].post.responses)).toEqual(expect.arrayContaining(['201', '400', '409']));
    expect(JSON.stringify(doc.paths['/api/admin/clients'].get.responses)).not.toMatch(/secret"/);
  });
});
