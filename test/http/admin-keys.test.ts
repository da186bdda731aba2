import { eq } from 'drizzle-orm';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../../src/db/schema.js';
import { adminBrowser, csrfOf, PASSWORD_ONLY_AMR } from '../helpers/admin-browser.js';
import { dashboard, refresh, signIn, signUp, startTestApp, useTwoInstances, type TestApp } from '../helpers/app.js';
import { serviceClients, type Credentials } from '../helpers/service-clients.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

// Signing keys over the admin API (GET /api/admin/keys, POST /api/admin/keys/rotate, POST /api/admin/keys/:kid/revoke)
// and in the console (/admin/keys): the same domain functions as `latchkey keys …`, the caller as the audit's actor.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const { client, auth, call, onePerScope } = serviceClients(() => t, 'keys-admin');
let admin: Credentials;
let reader: Credentials;
let feedOnly: Credentials;
beforeAll(async () => {
  ({ admin, reader, feedOnly } = await onePerScope());
});

const kidOf = (token: string) => decodeProtectedHeader(token).kid!;
const auditsOf = async (type: string) => t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, type));
const listKeys = async () => (await call('GET', '/api/admin/keys', auth(admin))).json().keys as { kid: string; state: string }[];
const currentKid = async () => (await listKeys()).find((k) => k.state === 'current')!.kid;

async function signedIn(app: TestApp) {
  const user = await signUp(app);
  return signIn(app, user.email);
}

describe('the admin API', () => {
  it('lists the keys as `keys list` does, never a private half', async () => {
    const res = await call('GET', '/api/admin/keys', auth(admin));
    expect(res.statusCode).toBe(200);
    const { keys } = res.json();
    expect(keys).toEqual([
      { kid: t.deps.keys.current.kid, alg: 'ES256', state: 'current', created_at: expect.any(String), activates_at: expect.any(String), retired_at: null, revoked_at: null },
    ]);
    expect(res.body).not.toMatch(/"d"|private/);
  });

  it('rotates: a next key, published now, audited with the client as actor', async () => {
    const res = await call('POST', '/api/admin/keys/rotate', auth(admin));
    expect(res.statusCode).toBe(200);
    const next = res.json();
    expect(next).toMatchObject({ state: 'next', alg: 'ES256' });
    expect((await listKeys()).map((k) => k.kid)).toContain(next.kid);
    const audit = (await auditsOf('signing_key_rotated')).find((a) => (a.details as { kid: string }).kid === next.kid);
    expect(audit!.details).toEqual({ actor: `service:${admin.name}`, kid: next.kid });
  });

  it('revokes the current key: its tokens refused, a new key signs at once, sessions live on; again: already_revoked', async () => {
    const tokens = await signedIn(t);
    const old = kidOf(tokens.access_token);
    const res = await call('POST', `/api/admin/keys/${old}/revoke`, auth(admin));
    expect(res.statusCode).toBe(200);
    const done = res.json();
    expect(done).toMatchObject({ kid: old, already_revoked: false, new_key: { state: 'current' } });
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
    const refreshed = await refresh(t, tokens.refresh_token);
    expect(refreshed.statusCode).toBe(200);
    expect(kidOf(refreshed.json().access_token)).toBe(done.new_key.kid);
    const audit = (await auditsOf('signing_key_revoked')).find((a) => (a.details as { kid: string }).kid === old);
    expect(audit!.details).toEqual({ actor: `service:${admin.name}`, kid: old, new_kid: done.new_key.kid });

    const again = await call('POST', `/api/admin/keys/${old}/revoke`, auth(admin), {});
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ kid: old, already_revoked: true, new_key: null, revoked_at: done.revoked_at });
  });

  it('refuses a caller without the admin scope, or without credentials, and changes nothing', async () => {
    const kid = await currentKid();
    const noAdmin = await client(['users:read', 'revocations:read']);
    for (const headers of [{}, auth(reader), auth(feedOnly), auth(noAdmin), { authorization: 'Basic bm9ib2R5Om5vdGhpbmc=' }]) {
      for (const [method, url] of [
        ['GET', '/api/admin/keys'],
        ['POST', '/api/admin/keys/rotate'],
        ['POST', `/api/admin/keys/${kid}/revoke`],
      ] as const) {
        const res = await call(method, url, headers);
        expect([401, 403], `${method} ${url}`).toContain(res.statusCode);
        expect(res.json().error).toMatch(/^(invalid_client|insufficient_scope)$/);
      }
    }
    // A user's own access token is not a service client's credential.
    const user = await signedIn(t);
    expect((await call('POST', `/api/admin/keys/${kid}/revoke`, { authorization: `Bearer ${user.access_token}` })).statusCode).toBe(401);
    expect(await currentKid()).toBe(kid);
  });

  it('answers bad kids 4xx with a stable code, never a 5xx, and revokes nothing', async () => {
    const kid = await currentKid();
    const cases: [string, number, string][] = [
      ['A'.repeat(43), 404, 'key_not_found'],
      ['unknown-kid', 404, 'key_not_found'],
      ['not%20a%20kid', 400, 'invalid_request'],
      ['%27%20or%201%3D1%20--', 400, 'invalid_request'],
      ['..%2F..%2Fetc%2Fpasswd', 400, 'invalid_request'],
      [`${kid}%00`, 400, 'invalid_request'],
      ['x'.repeat(101), 400, 'invalid_request'],
    ];
    for (const [bad, status, code] of cases) {
      const res = await call('POST', `/api/admin/keys/${bad}/revoke`, auth(admin));
      expect(res.statusCode, bad).toBe(status);
      expect(res.json().error, bad).toBe(code);
    }
    // An overlong path parameter is refused by the router.
    const huge = await call('POST', `/api/admin/keys/${'x'.repeat(5000)}/revoke`, auth(admin));
    expect(huge.statusCode).toBeGreaterThanOrEqual(400);
    expect(await currentKid()).toBe(kid);
  });

  it('is in the OpenAPI document under the admin tag, with HTTP Basic and its errors', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [method, url, statuses] of [
      ['get', '/api/admin/keys', ['200', '401', '403']],
      ['post', '/api/admin/keys/rotate', ['200', '400', '401', '403']],
      ['post', '/api/admin/keys/{kid}/revoke', ['200', '400', '401', '403', '404']],
    ] as const) {
      const op = doc.paths[url]?.[method];
      expect(op, `${method} ${url}`).toBeDefined();
      expect(op.tags).toEqual(['admin']);
      expect(op.security).toEqual([{ serviceClient: [] }]);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining([...statuses]));
    }
    expect(doc.paths['/api/admin/keys/{kid}/revoke'].post.parameters.find((p: { name: string }) => p.name === 'kid').schema).toMatchObject({ maxLength: 100 });
  });
});

describe('the console\'s keys page', () => {
  const FORM_ERROR = /role="alert"/;

  it('lists the keys with their state, dates and age, a Rotate now form and a Revoke form per key, warning what it does', async () => {
    const browser = await adminBrowser(t);
    const page = await browser.get('/admin/keys');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    const keys = await listKeys();
    for (const key of keys) expect(page.body).toContain(key.kid);
    expect(page.body).toMatch(/<th scope="col">Kid<\/th><th scope="col">Algorithm<\/th><th scope="col">State<\/th><th scope="col">Created<\/th><th scope="col">Age \(days\)<\/th><th scope="col">Activates<\/th><th scope="col">Retired or revoked<\/th>/);
    expect(page.body).toContain('<strong class="error">revoked</strong>');
    expect(page.body).toMatch(/<button type="submit" aria-describedby="rotate-hint">Rotate now<\/button>/);
    expect(page.body).toContain('id="revoke-warning"');
    expect(page.body).toMatch(/refuses every access token it signed/);
    expect(page.body).toMatch(/Users stay signed in: refresh tokens are not signed by the key/);
    // One revoke form per key not revoked yet, each field labelled and tied to the warning.
    const revocable = keys.filter((k) => k.state !== 'revoked');
    expect(page.body.match(/action="\/admin\/keys\/revoke"/g)).toHaveLength(revocable.length);
    revocable.forEach((key, n) => {
      expect(page.body).toContain(`<input type="hidden" name="kid" value="${key.kid}">`);
      expect(page.body).toContain(`<label for="confirm-${n}">Type this key's kid to confirm</label>`);
      expect(page.body).toMatch(new RegExp(`id="confirm-${n}"[^>]*aria-describedby="revoke-warning"`));
    });
    expect(page.body).toMatch(/<button type="submit" class="danger">Revoke the current key<\/button>/);
    expect(page.body).not.toMatch(/\sstyle=|\son[a-z]+=|<script>/i);
    expect(page.body).toContain('aria-current="page"');
  });

  it('rotates: back to the page with its notice, audited with the admin as actor', async () => {
    const browser = await adminBrowser(t);
    const before = (await listKeys()).length;
    const page = await browser.get('/admin/keys');
    const res = await browser.post('/admin/keys/rotate', { csrf: csrfOf(page.body) });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/keys?done=rotated');
    expect(await listKeys()).toHaveLength(before + 1);
    const back = await browser.get(res.headers.location as string);
    expect(back.body).toMatch(/<p class="notice" role="status">A new signing key was published/);
    const audits = (await auditsOf('signing_key_rotated')).filter((a) => (a.details as { actor: string }).actor === `admin:${browser.user.id}`);
    expect(audits).toHaveLength(1);
  });

  it('revokes a key only when its kid is typed again; the current one is replaced at once; audited with the admin', async () => {
    const browser = await adminBrowser(t);
    const tokens = await signedIn(t);
    const kid = await currentKid();
    const page = await browser.get('/admin/keys');
    const csrf = csrfOf(page.body);

    for (const confirm of ['', 'not the kid', kid.slice(0, -1), kid.toLowerCase() === kid ? kid.toUpperCase() : kid.toLowerCase()]) {
      const wrong = await browser.post('/admin/keys/revoke', { csrf, kid, confirm });
      expect(wrong.statusCode, confirm).toBe(422);
      expect(wrong.body).toMatch(/<p class="field-error" id="confirm-\d+-error" role="alert">Type the key&#39;s kid exactly/);
      expect(wrong.body).toMatch(/aria-describedby="revoke-warning confirm-\d+-error" aria-invalid="true"/);
      expect(await currentKid()).toBe(kid);
    }

    const res = await browser.post('/admin/keys/revoke', { csrf, kid, confirm: ` ${kid} ` });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/admin/keys?done=replaced');
    expect(await currentKid()).not.toBe(kid);
    expect((await dashboard(t, tokens.access_token)).statusCode).toBe(401);
    const back = await browser.get('/admin/keys?done=replaced');
    expect(back.body).toMatch(/role="status">The key was revoked[^<]*It was signing: a new key signs from now on\./);
    const audit = (await auditsOf('signing_key_revoked')).find((a) => (a.details as { kid: string }).kid === kid);
    expect((audit!.details as { actor: string }).actor).toBe(`admin:${browser.user.id}`);

    // The revoked key has no form any more; posting it anyway changes nothing and says so.
    expect(back.body).not.toContain(`name="kid" value="${kid}"`);
    const again = await browser.post('/admin/keys/revoke', { csrf, kid, confirm: kid });
    expect(again.headers.location).toBe('/admin/keys?done=already');
    // A kid no key has: the page again, 404, with an alert; nothing reflected raw.
    const unknown = await browser.post('/admin/keys/revoke', { csrf, kid: '<b>nope</b>', confirm: '<b>nope</b>' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toMatch(FORM_ERROR);
    expect(unknown.body).not.toContain('<b>nope</b>');
  });

  it('shows only the notices it knows, never the query itself', async () => {
    const browser = await adminBrowser(t);
    for (const done of ['constructor', '<script>alert(1)</script>', 'toString']) {
      const res = await browser.get(`/admin/keys?done=${encodeURIComponent(done)}`);
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('class="notice"');
      expect(res.body).not.toContain('<script>alert');
    }
  });

  it('refuses anyone but an admin at aal2, a form without its token or from elsewhere, and changes nothing', async () => {
    const kid = await currentKid();
    const count = (await listKeys()).length;
    const adminAtAal1 = await adminBrowser(t, { amr: PASSWORD_ONLY_AMR });
    const user = await adminBrowser(t, { admin: false });
    for (const browser of [adminAtAal1, user]) {
      expect((await browser.get('/admin/keys')).statusCode).toBe(403);
      const csrf = csrfOf((await browser.get('/account')).body);
      expect((await browser.post('/admin/keys/rotate', { csrf })).statusCode).toBe(403);
      expect((await browser.post('/admin/keys/revoke', { csrf, kid, confirm: kid })).statusCode).toBe(403);
    }
    const anonymous = await t.inject({ method: 'GET', url: '/admin/keys' });
    expect(anonymous.statusCode).toBe(303);
    expect(anonymous.headers.location).toBe('/login?return_to=%2Fadmin%2Fkeys');

    const browser = await adminBrowser(t);
    const csrf = csrfOf((await browser.get('/admin/keys')).body);
    expect((await browser.post('/admin/keys/revoke', { kid, confirm: kid })).statusCode).toBe(403);
    expect((await browser.post('/admin/keys/revoke', { csrf, kid, confirm: kid }, { origin: 'https://evil.example' })).statusCode).toBe(403);
    expect((await browser.post('/admin/keys/revoke', { csrf, kid, confirm: kid }, {})).statusCode).toBe(403);
    expect((await browser.post('/admin/keys/rotate', { csrf: 'forged' })).statusCode).toBe(403);
    expect(await currentKid()).toBe(kid);
    expect(await listKeys()).toHaveLength(count);
  });
});

describeUnless(NO_POSTGRES)('two instances on one PostgreSQL', () => {
  const { a, b } = useTwoInstances();
  const other = serviceClients(() => a, 'keys-admin-two');

  it('a revocation through one instance\'s API: the other refuses the key\'s tokens at once and accepts the new key\'s', async () => {
    const ops = await other.client(['admin']);
    const before = await signedIn(b);
    expect((await dashboard(b, before.access_token)).statusCode).toBe(200);
    const res = await a.inject({ method: 'POST', url: `/api/admin/keys/${kidOf(before.access_token)}/revoke`, headers: other.auth(ops) });
    expect(res.statusCode).toBe(200);
    const after = await signedIn(a);
    expect(kidOf(after.access_token)).toBe(res.json().new_key.kid);
    // B has not necessarily heard the notice yet: the new kid makes it read the keys, and the old key is gone with that.
    expect((await dashboard(b, after.access_token)).statusCode).toBe(200);
    expect((await dashboard(b, before.access_token)).statusCode).toBe(401);
    expect((await dashboard(a, before.access_token)).statusCode).toBe(401);
  });
});
