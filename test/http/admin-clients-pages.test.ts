import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOAuthClient, listOAuthClients } from '../../src/auth/oauth/clients.js';
import { auditEvents, sessions } from '../../src/db/schema.js';
import { adminBrowser, Browser, csrfOf, PASSWORD_ONLY_AMR, type SignedInBrowser } from '../helpers/admin-browser.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { oauthSignIn, refreshAsClient, tokenRequest } from '../helpers/oauth-signin.js';

// The console's OAuth clients (/admin/clients) as an admin's browser drives them: the list, a new client whose secret
// is shown once (never in a URL, never cached), a rotation, a removal confirmed by typing the name; every change
// through the domain functions, audited with the admin as actor. Anyone else is refused.

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

const secretOf = (body: string) => /<dt>Client secret<\/dt><dd><code>(lkos_[A-Za-z0-9_-]{43})<\/code>/.exec(body)?.[1];
const clientIdOf = (body: string) => /<dt>Client id<\/dt><dd><code>(lko_[A-Za-z0-9_-]+)<\/code>/.exec(body)?.[1];
const works = async (clientId: string, secret: string) =>
  (await tokenRequest(t, { token: 'not-a-token', client_id: clientId, client_secret: secret }, '/oauth/introspect')).statusCode === 200;
const auditOf = async (type: string, name: string) =>
  (await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, type))).filter((r) => (r.details as { name?: string }).name === name);
const names = async () => (await listOAuthClients(t.deps)).map((c) => c.name);
const made = async (name: string, more: { public?: boolean } = {}) => {
  const c = await createOAuthClient(t.deps, { name, redirectUris: [`https://${name}.example/cb`], ...more }, 'test');
  if (c.client_secret) secretsSeen.push(c.client_secret);
  return c;
};

async function createThroughPage(browser: Browser, fields: Record<string, string>) {
  const page = await browser.get('/admin/clients');
  const res = await browser.post('/admin/clients', { ...fields, csrf: csrfOf(page.body) });
  const secret = secretOf(res.body);
  if (secret) secretsSeen.push(secret);
  return res;
}

describe('the OAuth clients page', () => {
  it('lists the clients in a table, never a secret or its hash, with a labelled form for a new one', async () => {
    const listed = await made('listed-one');
    await made('listed-spa', { public: true });
    const res = await admin.get('/admin/clients');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('aria-current="page">OAuth clients</a>');
    expect(res.body).toMatch(/<th scope="col">Name<\/th><th scope="col">Client id<\/th><th scope="col">Type<\/th><th scope="col">Redirect URIs<\/th>/);
    expect(res.body).toContain(`<th scope="row">listed-one</th><td><code>${listed.client_id}</code></td><td>confidential<br>`);
    expect(res.body).toContain('<span class="url">https://listed-one.example/cb</span>');
    expect(res.body).toContain('href="/admin/clients/listed-one/rotate"');
    expect(res.body).toContain('href="/admin/clients/listed-one/remove"');
    // A public client has no secret to rotate: no link.
    expect(res.body).not.toContain('href="/admin/clients/listed-spa/rotate"');
    expect(res.body).toContain('href="/admin/clients/listed-spa/remove"');
    expect(res.body).not.toContain(listed.client_secret);
    expect(res.body).not.toMatch(/lkos_/);
    for (const label of ['Name', 'Redirect URIs', 'Post-logout redirect URIs (optional)', 'Back-channel logout URI (optional)']) expect(res.body).toContain(`>${label}</label>`);
    expect(res.body).toMatch(/<legend>How it authenticates<\/legend>/);
    expect(res.body).toContain('<input type="radio" id="kind-secret" name="kind" value="secret" checked>');
    expect(csrfOf(res.body)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body).toMatch(/<button type="submit">Create OAuth client<\/button>/);
    expect(res.body).not.toMatch(/\sstyle=|\son[a-z]+=|<script>/i);
  });

  it('creates a client: its secret shown once on the answer (no-store, not in a URL), audited with the admin as actor', async () => {
    const res = await createThroughPage(admin, { name: 'from-console', redirect_uris: ' https://fc.example/cb  http://localhost:8080/cb ', first_party: 'on' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.location).toBeUndefined();
    const secret = secretOf(res.body)!;
    const clientId = clientIdOf(res.body)!;
    expect(secret).toBeDefined();
    expect(res.body).toContain('it will not be shown again');
    expect(await works(clientId, secret)).toBe(true);
    const [client] = (await listOAuthClients(t.deps)).filter((c) => c.name === 'from-console');
    expect(client).toMatchObject({ client_id: clientId, type: 'confidential', first_party: true, redirect_uris: ['https://fc.example/cb', 'http://localhost:8080/cb'] });
    expect((await admin.get('/admin/clients')).body).not.toContain(secret);
    expect(await auditOf('oauth_client_created', 'from-console')).toEqual([expect.objectContaining({ details: expect.objectContaining({ actor: `admin:${admin.user.id}` }) })]);
    // A public one: no secret to show, and the page says why.
    const spa = await createThroughPage(admin, { name: 'console-spa', redirect_uris: 'com.example.spa:/cb', kind: 'public' });
    expect(spa.statusCode).toBe(200);
    expect(secretOf(spa.body)).toBeUndefined();
    expect(spa.body).toContain('<dt>Client secret</dt><dd>none: a public client proves each code with PKCE alone</dd>');
  });

  it('says what is wrong beside the field (bad redirect URIs among them), keeps what was typed, and creates nothing', async () => {
    await made('taken');
    const before = await names();
    const ok = 'https://ok.example/cb';
    const cases: [Record<string, string>, number, string, RegExp?][] = [
      [{ name: '', redirect_uris: ok }, 422, 'name'],
      [{ name: 'has space', redirect_uris: ok }, 422, 'name'],
      [{ name: '<img src=x onerror=alert(1)>', redirect_uris: ok }, 422, 'name'],
      [{ name: 'lko_looks_like_an_id', redirect_uris: ok }, 422, 'name'],
      [{ name: 'no-uri', redirect_uris: '' }, 422, 'redirect_uris'],
      [{ name: 'plain-http', redirect_uris: 'http://app.example/cb' }, 422, 'redirect_uris', /0: must be https/],
      [{ name: 'fragment', redirect_uris: `${ok} https://app.example/cb#x` }, 422, 'redirect_uris', /1: must not have a fragment/],
      [{ name: 'relative', redirect_uris: '/cb' }, 422, 'redirect_uris', /not an absolute URI/],
      [{ name: 'script', redirect_uris: 'javascript:alert(1)' }, 422, 'redirect_uris'],
      [{ name: 'bye', redirect_uris: ok, post_logout_redirect_uris: 'http://evil.example/' }, 422, 'post_logout_redirect_uris'],
      [{ name: 'bcl', redirect_uris: ok, backchannel_logout_uri: 'not a url' }, 422, 'backchannel_logout_uri'],
      [{ name: 'keys-none', redirect_uris: ok, kind: 'keys' }, 422, 'jwks'],
      [{ name: 'keys-garbled', redirect_uris: ok, kind: 'keys', jwks: '{"keys": [' }, 422, 'jwks'],
      [{ name: 'keys-private', redirect_uris: ok, kind: 'keys', jwks: '{"keys": [{"kty": "EC", "d": "secret"}]}' }, 422, 'jwks'],
      [{ name: 'keys-public', redirect_uris: ok, kind: 'public', jwks: '{"keys": [{"kty": "EC"}]}' }, 422, 'jwks'],
      [{ name: 'taken', redirect_uris: ok }, 409, 'name'],
    ];
    for (const [fields, status, field, message] of cases) {
      const res = await createThroughPage(admin, fields);
      expect(res.statusCode, JSON.stringify(fields)).toBe(status);
      expect(res.body).toMatch(new RegExp(`<p class="field-error" id="${field}-error" role="alert">`));
      expect(res.body).toContain(`id="${field}" name="${field}"`);
      expect(res.body).toMatch(new RegExp(`name="${field}"[^>]* aria-invalid="true" aria-describedby="${field}-error"`));
      if (message) expect(res.body).toMatch(message);
      expect(res.body).not.toContain('<img src=x');
      expect(secretOf(res.body)).toBeUndefined();
    }
    const kept = await createThroughPage(admin, { name: '<img src=x onerror=alert(1)>', redirect_uris: 'https://a.example/cb#"><script>' });
    expect(kept.body).toContain('value="&lt;img src=x onerror=alert(1)&gt;"');
    expect(kept.body).toContain('value="https://a.example/cb#&quot;&gt;&lt;script&gt;"');
    expect(await names()).toEqual(before);
  });

  it('rotates a secret after asking: the new one shown once, the old one refused at once; a public client has none to rotate', async () => {
    const c = await made('to-rotate');
    const ask = await admin.get('/admin/clients/to-rotate/rotate');
    expect(ask.statusCode).toBe(200);
    expect(ask.body).toMatch(/<form method="post" action="\/admin\/clients\/to-rotate\/rotate">/);
    expect(ask.body).toMatch(/<button type="submit" class="danger">Rotate the secret of to-rotate<\/button>/);
    const res = await admin.post('/admin/clients/to-rotate/rotate', { csrf: csrfOf(ask.body) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const secret = secretOf(res.body)!;
    secretsSeen.push(secret);
    expect(secret).not.toBe(c.client_secret);
    expect(await works(c.client_id, c.client_secret!)).toBe(false);
    expect(await works(c.client_id, secret)).toBe(true);
    expect(await auditOf('oauth_client_secret_rotated', 'to-rotate')).toEqual([expect.objectContaining({ details: expect.objectContaining({ actor: `admin:${admin.user.id}` }) })]);
    await made('no-secret', { public: true });
    expect((await admin.get('/admin/clients/no-secret/rotate')).statusCode).toBe(409);
    const refused = await admin.post('/admin/clients/no-secret/rotate', { csrf: csrfOf(ask.body) });
    expect(refused.statusCode).toBe(409);
    expect(refused.body).toContain('has no secret to rotate');
  });

  it("removes a client once its name is typed, ending its users' sessions; a wrong name is said beside the field; audited", async () => {
    const c = await made('to-remove');
    const user = await adminBrowser(t, { admin: false });
    const tokens = await oauthSignIn(t, user, c, 'https://to-remove.example/cb');
    const ask = await admin.get('/admin/clients/to-remove/remove');
    expect(ask.statusCode).toBe(200);
    expect(ask.body).toMatch(/<label for="confirm">Type the client's name, to-remove, to confirm<\/label>/);
    const csrf = csrfOf(ask.body);
    for (const confirm of ['', 'to-remov', 'TO-REMOVE', c.client_id]) {
      const wrong = await admin.post('/admin/clients/to-remove/remove', { confirm, csrf });
      expect(wrong.statusCode, confirm).toBe(422);
      expect(wrong.body).toMatch(/aria-invalid="true" aria-describedby="confirm-error"/);
    }
    expect(await names()).toContain('to-remove');
    expect((await refreshAsClient(t, c, tokens.refresh_token)).statusCode).toBe(200);
    const res = await admin.post('/admin/clients/to-remove/remove', { confirm: ' to-remove ', csrf });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/clients?done=removed');
    expect((await admin.get(res.headers.location as string)).body).toContain('<p class="notice" role="status">The OAuth client was removed');
    expect(await names()).not.toContain('to-remove');
    expect(await works(c.client_id, c.client_secret!)).toBe(false);
    const held = await t.deps.db.select().from(sessions).where(eq(sessions.clientId, c.client_id));
    expect(held.every((s) => s.revokedAt !== null)).toBe(true);
    expect(await auditOf('oauth_client_removed', 'to-remove')).toEqual([expect.objectContaining({ details: expect.objectContaining({ actor: `admin:${admin.user.id}`, sessions: 1 }) })]);
    expect((await admin.get('/admin/clients/to-remove/remove')).statusCode).toBe(404);
    expect((await admin.post('/admin/clients/to-remove/remove', { confirm: 'to-remove', csrf })).statusCode).toBe(404);
    expect((await admin.post('/admin/clients/to-remove/rotate', { csrf })).statusCode).toBe(404);
  });

  it('never reflects a notice it does not know, nor a name in the path as markup', async () => {
    for (const done of ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'constructor', '__proto__']) {
      const res = await admin.get(`/admin/clients?done=${done}`);
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('<p class="notice"');
    }
    for (const name of ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', '%27%20OR%201%3D1', 'x'.repeat(100), '%00']) {
      const res = await admin.get(`/admin/clients/${name}/rotate`);
      expect([400, 404], name).toContain(res.statusCode);
      expect(res.body).not.toContain('<script>alert');
    }
  });
});

describe('who may use the OAuth clients pages', () => {
  it('sends a signed-out browser to sign in, and refuses a non-admin and an admin without a second factor, changing nothing', async () => {
    const signedOut = await new Browser(t).get('/admin/clients');
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toBe('/login?return_to=%2Fadmin%2Fclients');
    const c = await made('guarded');
    for (const browser of [await adminBrowser(t, { admin: false }), await adminBrowser(t, { amr: PASSWORD_ONLY_AMR })]) {
      const page = await browser.get('/admin/clients');
      expect(page.statusCode).toBe(403);
      expect(page.body).not.toContain('guarded');
      for (const url of ['/admin/clients/guarded/rotate', '/admin/clients/guarded/remove']) expect((await browser.get(url)).statusCode).toBe(403);
      const csrf = csrfOf((await browser.get('/account')).body);
      const posts = [
        await browser.post('/admin/clients', { name: 'sneaky', redirect_uris: 'https://evil.example/cb', csrf }),
        await browser.post('/admin/clients/guarded/rotate', { csrf }),
        await browser.post('/admin/clients/guarded/remove', { confirm: 'guarded', csrf }),
      ];
      for (const res of posts) {
        expect(res.statusCode).toBe(403);
        expect(secretOf(res.body)).toBeUndefined();
      }
    }
    expect(await works(c.client_id, c.client_secret!)).toBe(true);
    expect(await names()).not.toContain('sneaky');
  });

  it("refuses an admin's forged forms: without its token, with another session's, from another origin", async () => {
    const c = await made('forged-target');
    const before = await names();
    const other = await adminBrowser(t);
    const csrf = csrfOf((await admin.get('/admin/clients')).body);
    const otherCsrf = csrfOf((await other.get('/admin/clients')).body);
    const fields = { name: 'forged', redirect_uris: 'https://evil.example/cb' };
    expect((await admin.post('/admin/clients', fields)).statusCode).toBe(403);
    expect((await admin.post('/admin/clients', { ...fields, csrf: otherCsrf })).statusCode).toBe(403);
    expect((await admin.post('/admin/clients', { ...fields, csrf }, { origin: 'https://evil.example' })).statusCode).toBe(403);
    expect((await admin.post('/admin/clients', { ...fields, csrf }, {})).statusCode).toBe(403);
    expect((await admin.post('/admin/clients/forged-target/rotate', { csrf: otherCsrf })).statusCode).toBe(403);
    expect((await admin.post('/admin/clients/forged-target/remove', { confirm: 'forged-target', csrf }, { origin: 'https://evil.example' })).statusCode).toBe(403);
    expect(await names()).toEqual(before);
    expect(await works(c.client_id, c.client_secret!)).toBe(true);
  });
});
