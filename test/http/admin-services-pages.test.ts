import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceClient, listServiceClients } from '../../src/auth/service-clients/service-clients.js';
import { auditEvents } from '../../src/db/schema.js';
import { adminBrowser, Browser, csrfOf, PASSWORD_ONLY_AMR, type SignedInBrowser } from '../helpers/admin-browser.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { basic } from '../helpers/sse.js';

// The console's service clients (/admin/services) as an admin's browser drives them: the list, a new client whose
// secret is shown once (never in a URL, never cached), a rotation, a removal confirmed by typing the name; every
// change through the domain functions, audited with the admin as actor. Anyone else is refused.

let t: TestApp;
let admin: SignedInBrowser;
const secretsSeen: string[] = [];
beforeAll(async () => {
  t = await startTestApp();
  admin = await adminBrowser(t);
});
afterAll(async () => {
  const logs = t?.logs.join('') ?? '';
  for (const secret of secretsSeen) expect(logs).not.toContain(secret);
  await t?.close();
});

const secretOf = (body: string) => /<dt>Client secret<\/dt><dd><code>(lks_[A-Za-z0-9_-]{43})<\/code>/.exec(body)?.[1];
const clientIdOf = (body: string) => /<dt>Client id<\/dt><dd><code>(lkc_[A-Za-z0-9_-]+)<\/code>/.exec(body)?.[1];
const apiWith = (clientId: string, secret: string) => t.inject({ method: 'GET', url: '/api/admin/services', headers: { authorization: basic(clientId, secret) } });
const auditOf = async (type: string, name: string) =>
  (await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, type))).filter((r) => (r.details as { name?: string }).name === name);
const names = async () => (await listServiceClients(t.deps)).map((c) => c.name);

async function createThroughPage(browser: Browser, fields: Record<string, string>, scopes: string[]) {
  const page = await browser.get('/admin/services');
  const body = new URLSearchParams({ ...fields, csrf: csrfOf(page.body) });
  for (const scope of scopes) body.append('scopes', scope);
  const res = await t.inject({ method: 'POST', url: '/admin/services', payload: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: browser.cookie, origin: browser.origin } });
  const secret = secretOf(res.body);
  if (secret) secretsSeen.push(secret);
  return res;
}

describe('the service clients page', () => {
  it('lists the clients in a table, never a secret or its hash, with a labelled form for a new one', async () => {
    const made = await createServiceClient(t.deps, { name: 'listed-one', scopes: ['users:read', 'admin'] }, 'test');
    secretsSeen.push(made.client_secret);
    const res = await admin.get('/admin/services');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('aria-current="page">Service clients</a>');
    expect(res.body).toMatch(/<th scope="col">Name<\/th><th scope="col">Client id<\/th><th scope="col">Scopes<\/th><th scope="col">Created<\/th><th scope="col">Secret last rotated<\/th>/);
    expect(res.body).toContain(`<th scope="row">listed-one</th><td><code>${made.client_id}</code></td><td>users:read, admin</td>`);
    expect(res.body).toContain('href="/admin/services/listed-one/rotate"');
    expect(res.body).toContain('href="/admin/services/listed-one/remove"');
    expect(res.body).not.toContain(made.client_secret);
    expect(res.body).not.toMatch(/lks_/);
    // The form: every field labelled, the scopes as checkboxes of the known ones, a token, a button with words.
    expect(res.body).toMatch(/<label for="name">Name<\/label>/);
    expect(res.body).toMatch(/<legend>Scopes<\/legend>/);
    for (const scope of ['revocations:read', 'users:read', 'admin']) {
      expect(res.body).toContain(`<label class="check" for="scope-${scope}"><input type="checkbox" id="scope-${scope}" name="scopes" value="${scope}">\n<span><code>${scope}</code>`);
    }
    expect(csrfOf(res.body)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body).toMatch(/<button type="submit">Create service client<\/button>/);
    expect(res.body).not.toMatch(/\sstyle=|\son[a-z]+=|<script>/i);
  });

  it('creates a client: its secret shown once on the answer (no-store, not in a URL) with a note, audited with the admin as actor', async () => {
    const res = await createThroughPage(admin, { name: 'from-console' }, ['users:read', 'admin', 'users:read']);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.location).toBeUndefined();
    const secret = secretOf(res.body);
    const clientId = clientIdOf(res.body);
    expect(secret).toBeDefined();
    expect(res.body).toContain('it will not be shown again');
    // The secret works at once, and the list shows the client without it.
    expect((await apiWith(clientId!, secret!)).statusCode).toBe(200);
    const list = await admin.get('/admin/services');
    expect(list.body).toContain('<th scope="row">from-console</th>');
    expect(list.body).toContain('<td>users:read, admin</td>');
    expect(list.body).not.toContain(secret);
    expect(await auditOf('service_client_created', 'from-console')).toEqual([expect.objectContaining({ details: expect.objectContaining({ actor: `admin:${admin.user.id}` }) })]);
  });

  it('says what is wrong beside the field, keeps what was typed, and creates nothing', async () => {
    const before = await names();
    const cases: [Record<string, string>, string[], number, string][] = [
      [{ name: '' }, ['admin'], 422, 'name'],
      [{ name: 'has space' }, ['admin'], 422, 'name'],
      [{ name: '<img src=x onerror=alert(1)>' }, ['admin'], 422, 'name'],
      [{ name: 'lkc_looks_like_an_id' }, ['admin'], 422, 'name'],
      [{ name: 'no-scopes' }, [], 422, 'scopes'],
      [{ name: 'bad-scope' }, ['root'], 422, 'scopes'],
      [{ name: 'listed-one' }, ['admin'], 409, 'name'],
    ];
    await createServiceClient(t.deps, { name: 'listed-one', scopes: ['admin'] }, 'test').then((c) => secretsSeen.push(c.client_secret), () => {});
    const existing = await names();
    for (const [fields, scopes, status, field] of cases) {
      const res = await createThroughPage(admin, fields, scopes);
      expect(res.statusCode, JSON.stringify(fields)).toBe(status);
      expect(res.body).toMatch(new RegExp(`<p class="field-error" id="${field}-error" role="alert">`));
      expect(res.body).toMatch(new RegExp(field === 'name' ? 'aria-describedby="name-hint name-error" aria-invalid="true"' : '<fieldset aria-describedby="scopes-error">'));
      expect(res.body).not.toContain('<img src=x');
      expect(secretOf(res.body)).toBeUndefined();
    }
    expect((await createThroughPage(admin, { name: '<img src=x onerror=alert(1)>' }, ['admin'])).body).toContain('value="&lt;img src=x onerror=alert(1)&gt;"');
    expect((await createThroughPage(admin, { name: 'kept' }, ['users:read'])).statusCode).toBe(200);
    expect((await createThroughPage(admin, { name: 'kept-2' }, [])).body).toContain('value="kept-2"');
    expect((await names()).filter((n) => !existing.includes(n) && !before.includes(n))).toEqual(['kept']);
  });

  it('rotates a secret after asking: the new one shown once, the old one refused at once; audited', async () => {
    const made = await createServiceClient(t.deps, { name: 'to-rotate', scopes: ['admin'] }, 'test');
    secretsSeen.push(made.client_secret);
    const ask = await admin.get('/admin/services/to-rotate/rotate');
    expect(ask.statusCode).toBe(200);
    expect(ask.body).toMatch(/<form method="post" action="\/admin\/services\/to-rotate\/rotate">/);
    expect(ask.body).toMatch(/<button type="submit" class="danger">Rotate the secret of to-rotate<\/button>/);
    const res = await admin.post('/admin/services/to-rotate/rotate', { csrf: csrfOf(ask.body) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const secret = secretOf(res.body)!;
    secretsSeen.push(secret);
    expect(secret).not.toBe(made.client_secret);
    expect(res.body).toContain('it will not be shown again');
    expect((await apiWith(made.client_id, made.client_secret)).statusCode).toBe(401);
    expect((await apiWith(made.client_id, secret)).statusCode).toBe(200);
    expect(await auditOf('service_client_secret_rotated', 'to-rotate')).toEqual([expect.objectContaining({ details: expect.objectContaining({ actor: `admin:${admin.user.id}` }) })]);
  });

  it('removes a client once its name is typed: a wrong name is said beside the field; audited', async () => {
    const made = await createServiceClient(t.deps, { name: 'to-remove', scopes: ['users:read'] }, 'test');
    secretsSeen.push(made.client_secret);
    const ask = await admin.get('/admin/services/to-remove/remove');
    expect(ask.statusCode).toBe(200);
    expect(ask.body).toMatch(/<label for="confirm">Type the service client's name, to-remove, to confirm<\/label>/);
    const csrf = csrfOf(ask.body);
    for (const confirm of ['', 'to-remov', 'TO-REMOVE', made.client_id]) {
      const wrong = await admin.post('/admin/services/to-remove/remove', { confirm, csrf });
      expect(wrong.statusCode, confirm).toBe(422);
      expect(wrong.body).toMatch(/aria-invalid="true" aria-describedby="confirm-error"/);
      expect(wrong.body).toMatch(/<p class="field-error" id="confirm-error" role="alert">/);
    }
    expect(await names()).toContain('to-remove');
    const res = await admin.post('/admin/services/to-remove/remove', { confirm: ' to-remove ', csrf });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/services?done=removed');
    expect((await admin.get(res.headers.location as string)).body).toContain('<p class="notice" role="status">The service client was removed');
    expect(await names()).not.toContain('to-remove');
    expect((await t.inject({ method: 'GET', url: '/api/admin/users', headers: { authorization: basic(made.client_id, made.client_secret) } })).statusCode).toBe(401);
    expect(await auditOf('service_client_removed', 'to-remove')).toEqual([expect.objectContaining({ details: expect.objectContaining({ actor: `admin:${admin.user.id}` }) })]);
    // Gone: its pages say so.
    expect((await admin.get('/admin/services/to-remove/remove')).statusCode).toBe(404);
    expect((await admin.post('/admin/services/to-remove/remove', { confirm: 'to-remove', csrf })).statusCode).toBe(404);
    expect((await admin.post('/admin/services/to-remove/rotate', { csrf })).statusCode).toBe(404);
  });

  it('never reflects a notice it does not know, nor a name in the path as markup', async () => {
    for (const done of ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'constructor', '__proto__']) {
      const res = await admin.get(`/admin/services?done=${done}`);
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('<p class="notice"');
      expect(res.body).not.toContain('<script>alert');
    }
    for (const name of ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', '%27%20OR%201%3D1', 'x'.repeat(100), '%00']) {
      const res = await admin.get(`/admin/services/${name}/rotate`);
      expect(res.statusCode, name).toBeLessThan(500);
      expect([400, 404]).toContain(res.statusCode);
      expect(res.body).not.toContain('<script>alert');
    }
  });
});

describe('who may use the service clients pages', () => {
  it('sends a signed-out browser to sign in, and refuses a non-admin and an admin without a second factor, changing nothing', async () => {
    const signedOut = await new Browser(t).get('/admin/services');
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toBe('/login?return_to=%2Fadmin%2Fservices');
    const made = await createServiceClient(t.deps, { name: 'guarded', scopes: ['admin'] }, 'test');
    secretsSeen.push(made.client_secret);
    for (const browser of [await adminBrowser(t, { admin: false }), await adminBrowser(t, { amr: PASSWORD_ONLY_AMR })]) {
      const page = await browser.get('/admin/services');
      expect(page.statusCode).toBe(403);
      expect(page.body).not.toContain('guarded');
      for (const url of ['/admin/services/guarded/rotate', '/admin/services/guarded/remove']) expect((await browser.get(url)).statusCode).toBe(403);
      // Its own form token (from its account page) does not help it either.
      const csrf = csrfOf((await browser.get('/account')).body);
      const posts = [
        await browser.post('/admin/services', { name: 'sneaky', scopes: 'admin', csrf }),
        await browser.post('/admin/services/guarded/rotate', { csrf }),
        await browser.post('/admin/services/guarded/remove', { confirm: 'guarded', csrf }),
      ];
      for (const res of posts) {
        expect(res.statusCode).toBe(403);
        expect(secretOf(res.body)).toBeUndefined();
      }
    }
    expect((await apiWith(made.client_id, made.client_secret)).statusCode).toBe(200);
    expect(await names()).not.toContain('sneaky');
  });

  it('refuses an admin\'s form without its token or from another origin', async () => {
    const before = await names();
    const csrf = csrfOf((await admin.get('/admin/services')).body);
    expect((await admin.post('/admin/services', { name: 'no-token', scopes: 'admin' })).statusCode).toBe(403);
    expect((await admin.post('/admin/services', { name: 'elsewhere', scopes: 'admin', csrf }, { origin: 'https://evil.example' })).statusCode).toBe(403);
    expect((await admin.post('/admin/services', { name: 'no-origin', scopes: 'admin', csrf }, {})).statusCode).toBe(403);
    expect(await names()).toEqual(before);
  });
});
