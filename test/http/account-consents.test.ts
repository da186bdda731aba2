import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOAuthClient, type OAuthClientCredentials } from '../../src/auth/oauth/clients.js';
import { listConsents } from '../../src/auth/oauth/consents.js';
import { auditEvents, events, oauthConsents, sessions } from '../../src/db/schema.js';
import { adminBrowser, csrfOf, type SignedInBrowser } from '../helpers/admin-browser.js';
import { bearer, signIn, startTestApp, type TestApp } from '../helpers/app.js';
import { authorizationCode, oauthSignIn, refreshAsClient, type OAuthTokens } from '../helpers/oauth-signin.js';

// "Apps with access" on /account and /api/me/consents: the third-party applications a user allowed through a real
// authorization flow, and removing one, which withdraws the consent and ends the user's sessions the application
// holds (its refresh token is then invalid_grant, its access token refused), on the page and over the API. Nobody
// removes another user's consent, and a forged form removes nothing.

let t: TestApp;
const secretsSeen: string[] = [];
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  const logs = t?.logs.join('') ?? '';
  for (const secret of secretsSeen) expect(logs).not.toContain(secret);
  await t?.close();
});

let counter = 0;
const REDIRECT = 'https://app.example/cb';
async function client(firstParty = false): Promise<OAuthClientCredentials> {
  counter += 1;
  const c = await createOAuthClient(t.deps, { name: `third-party-${counter}`, redirectUris: [REDIRECT], firstParty }, 'test');
  secretsSeen.push(c.client_secret!);
  return c;
}
const user = () => adminBrowser(t, { admin: false });
/** A user signed in to the client through the authorization endpoint, consent given on its page. */
async function allowed(browser: SignedInBrowser, c: OAuthClientCredentials, scope?: string): Promise<OAuthTokens> {
  const tokens = await oauthSignIn(t, browser, c, REDIRECT, scope);
  secretsSeen.push(tokens.refresh_token, tokens.access_token);
  return tokens;
}
const userinfo = (accessToken: string) => t.inject({ method: 'GET', url: '/oauth/userinfo', headers: bearer(accessToken) });
const consentRow = async (userId: string, clientId: string) =>
  (await t.deps.db.select().from(oauthConsents).where(and(eq(oauthConsents.userId, userId), eq(oauthConsents.clientId, clientId))))[0];
/** The API's own tokens for the browser's user (a sign-in with the password). */
const apiTokens = async (browser: SignedInBrowser) => {
  const tokens = await signIn(t, browser.user.email, browser.user.password);
  secretsSeen.push(tokens.refresh_token);
  return tokens;
};

describe('apps with access on the account page', () => {
  it('lists each application the user allowed, with what it may read and since when, and a form to remove it', async () => {
    const browser = await user();
    const none = await browser.get('/account');
    expect(none.body).toContain('<h2 id="apps">Apps with access</h2>');
    expect(none.body).toContain('No application has access to your account.');
    const c = await client();
    await allowed(browser, c, 'openid profile email');
    // A first-party application is never asked, so never listed.
    await allowed(browser, await client(true));
    const page = await browser.get('/account');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`<strong id="app-0">${c.name}</strong>`);
    expect(page.body).toContain('Allowed: Know who you are on this site (an identifier of your account); See your name; See your email address, and whether it is verified.');
    expect(page.body).toMatch(/<span class="hint">· \d{4}-\d\d-\d\d \d\d:\d\d UTC<\/span>/);
    expect(page.body).toContain(
      `<form method="post" action="/account/apps/remove" class="inline"><input type="hidden" name="csrf" value="${csrfOf(page.body)}"><input type="hidden" name="client_id" value="${c.client_id}"><button type="submit" class="secondary" aria-describedby="app-0">Remove access</button></form>`,
    );
    expect(page.body.match(/action="\/account\/apps\/remove"/g)).toHaveLength(1);
    expect(page.body).not.toContain('lkos_');
    // In French, the words of the catalogue.
    const fr = await t.inject({ method: 'GET', url: '/account', headers: { cookie: browser.cookie, 'accept-language': 'fr' } });
    expect(fr.body).toContain('<h2 id="apps">Applications autorisées</h2>');
    expect(fr.body).toContain('Retirer l’accès');
  });

  it("removes an application's access: the consent goes, the client's refresh token is invalid_grant and its access token refused; audited", async () => {
    const browser = await user();
    const c = await client();
    const tokens = await allowed(browser, c);
    // Its refresh works until then (and is rotated).
    const refreshed = await refreshAsClient(t, c, tokens.refresh_token);
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const held = { ...tokens, ...(refreshed.json() as OAuthTokens) };
    secretsSeen.push(held.refresh_token, held.access_token);
    expect((await userinfo(held.access_token)).statusCode).toBe(200);
    const page = await browser.get('/account');
    const res = await browser.post('/account/apps/remove', { csrf: csrfOf(page.body), client_id: c.client_id });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/account?apps=removed#apps');
    const after = await browser.get('/account?apps=removed');
    expect(after.body).toContain('<p class="notice" role="status">The application no longer has access.</p>');
    expect(after.body).not.toContain(`<strong id="app-0">${c.name}</strong>`);
    expect(await consentRow(browser.user.id, c.client_id)).toBeUndefined();
    const refused = await refreshAsClient(t, c, held.refresh_token);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe('invalid_grant');
    expect((await userinfo(held.access_token)).statusCode).toBe(401);
    // The browser's own session goes on; the application's next sign-in asks again.
    expect((await browser.get('/account')).statusCode).toBe(200);
    const asked = await browser.get(`/oauth/authorize?${new URLSearchParams({ client_id: c.client_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 's', code_challenge: 'A'.repeat(43), code_challenge_method: 'S256' })}`);
    expect(asked.statusCode).toBe(200);
    expect(asked.body).toContain('action="/oauth/authorize/consent"');
    const [session] = await t.deps.db.select().from(sessions).where(and(eq(sessions.userId, browser.user.id), eq(sessions.clientId, c.client_id)));
    expect(session!.revokedReason).toBe('consent_revoked');
    const audit = (await t.deps.db.select().from(auditEvents).where(eq(auditEvents.type, 'oauth_consent_revoked'))).filter((r) => r.userId === browser.user.id);
    expect(audit).toEqual([expect.objectContaining({ details: { actor: 'user', clientId: c.client_id, name: c.name, sessions: 1 } })]);
    const revoked = (await t.deps.db.select().from(events).where(eq(events.type, 'session.revoked'))).filter((e) => e.userId === browser.user.id);
    // With the client and the browser session its ID tokens named, for the client's back-channel logout.
    expect(revoked.map((e) => e.data)).toEqual([{ sid: session!.id, sub: browser.user.id, reason: 'consent_revoked', client_id: c.client_id, parent_sid: session!.parentSessionId }]);
  });

  it("refuses a forged form, and never removes another user's consent", async () => {
    const alice = await user();
    const mallory = await user();
    const c = await client();
    const aliceTokens = await allowed(alice, c);
    await allowed(mallory, c);
    const aliceCsrf = csrfOf((await alice.get('/account')).body);
    const malloryCsrf = csrfOf((await mallory.get('/account')).body);
    const fields = { client_id: c.client_id };
    for (const [why, res] of [
      ['no token', await alice.post('/account/apps/remove', fields)],
      ["another session's token", await alice.post('/account/apps/remove', { ...fields, csrf: malloryCsrf })],
      ['another origin', await alice.post('/account/apps/remove', { ...fields, csrf: aliceCsrf }, { origin: 'https://evil.example' })],
      ['no origin', await alice.post('/account/apps/remove', { ...fields, csrf: aliceCsrf }, {})],
    ] as const) {
      expect(res.statusCode, why).toBe(403);
    }
    expect(await consentRow(alice.user.id, c.client_id)).toBeDefined();
    // Mallory removes her own consent: Alice's, and Alice's session with the client, stay.
    expect((await mallory.post('/account/apps/remove', { ...fields, csrf: malloryCsrf })).statusCode).toBe(303);
    expect(await consentRow(mallory.user.id, c.client_id)).toBeUndefined();
    // Again, or a client she never allowed, or garbage: nothing to remove, nothing done.
    const other = await client();
    await allowed(alice, other);
    for (const clientId of [c.client_id, other.client_id, 'lko_AAAAAAAAAAAAAAAAAAAAAA', "' OR 1=1 --", '', 'x'.repeat(128)]) {
      const res = await mallory.post('/account/apps/remove', { client_id: clientId, csrf: malloryCsrf });
      expect(res.statusCode, clientId).toBe(303);
      expect(res.headers.location).toBe('/account#apps');
    }
    expect((await mallory.post('/account/apps/remove', { client_id: 'x'.repeat(129), csrf: malloryCsrf })).statusCode).toBe(400);
    expect(await consentRow(alice.user.id, c.client_id)).toBeDefined();
    expect(await consentRow(alice.user.id, other.client_id)).toBeDefined();
    expect((await refreshAsClient(t, c, aliceTokens.refresh_token)).statusCode).toBe(200);
    // Signed out: to sign in, nothing done.
    const signedOut = await t.inject({ method: 'POST', url: '/account/apps/remove', payload: `client_id=${c.client_id}`, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: alice.origin } });
    expect(signedOut.statusCode).toBe(303);
    expect(signedOut.headers.location).toMatch(/^\/login/);
    expect(await consentRow(alice.user.id, c.client_id)).toBeDefined();
  });
});

describe('/api/me/consents', () => {
  it('lists the caller\'s consents and removes one, ending the client\'s sessions; another user\'s is 404', async () => {
    const browser = await user();
    const c = await client();
    const tokens = await allowed(browser, c, 'openid email');
    const api = await apiTokens(browser);
    const listed = await t.inject({ method: 'GET', url: '/api/me/consents', headers: bearer(api.access_token) });
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual({ consents: [{ client_id: c.client_id, name: c.name, scopes: ['openid', 'email'], granted_at: expect.stringMatching(/^\d{4}-/) }] });
    const stranger = await user();
    const strangerApi = await apiTokens(stranger);
    expect((await t.inject({ method: 'GET', url: '/api/me/consents', headers: bearer(strangerApi.access_token) })).json()).toEqual({ consents: [] });
    const theirs = await t.inject({ method: 'DELETE', url: `/api/me/consents/${c.client_id}`, headers: bearer(strangerApi.access_token) });
    expect(theirs.statusCode).toBe(404);
    expect(theirs.json().error).toBe('consent_not_found');
    expect((await refreshAsClient(t, c, tokens.refresh_token)).statusCode).toBe(200);
    for (const bad of ['nope', 'lko_AAAAAAAAAAAAAAAAAAAAAA', '%27%20OR%201%3D1', 'x'.repeat(300)]) {
      const res = await t.inject({ method: 'DELETE', url: `/api/me/consents/${bad}`, headers: bearer(api.access_token) });
      expect(res.statusCode, bad).toBe(404);
      expect(res.json().error).toBe('consent_not_found');
    }
    expect((await t.inject({ method: 'DELETE', url: `/api/me/consents/${c.client_id}` })).statusCode).toBe(401);
    expect((await t.inject({ method: 'GET', url: '/api/me/consents' })).statusCode).toBe(401);
    // Two at once: one removes it, the other finds nothing.
    const [a, b] = await Promise.all([0, 1].map(() => t.inject({ method: 'DELETE', url: `/api/me/consents/${c.client_id}`, headers: bearer(api.access_token) })));
    expect([a!.statusCode, b!.statusCode].sort()).toEqual([200, 404]);
    expect((a!.statusCode === 200 ? a! : b!).json()).toEqual({ message: expect.any(String), client_id: c.client_id, name: c.name, sessions_ended: 1 });
    expect(await listConsents(t.deps, browser.user.id)).toEqual([]);
    const refused = await refreshAsClient(t, c, tokens.refresh_token);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe('invalid_grant');
    // The caller's own API session goes on.
    expect((await t.inject({ method: 'GET', url: '/api/me/consents', headers: bearer(api.access_token) })).statusCode).toBe(200);
  });

  it('is in the OpenAPI document, with a bearer token and its errors', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.paths['/api/me/consents'].get.security).toEqual([{ bearerAuth: [] }]);
    const del = doc.paths['/api/me/consents/{client_id}'].delete;
    expect(del.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(del.responses)).toEqual(expect.arrayContaining(['200', '401', '404']));
  });

  it('a code the client got before the consent was removed, not exchanged yet, opens nothing after', async () => {
    const browser = await user();
    const c = await client();
    await allowed(browser, c);
    const { code, verifier } = await authorizationCode(browser, c, REDIRECT);
    const api = await apiTokens(browser);
    expect((await t.inject({ method: 'DELETE', url: `/api/me/consents/${c.client_id}`, headers: bearer(api.access_token) })).statusCode).toBe(200);
    const res = await t.inject({
      method: 'POST',
      url: '/oauth/token',
      payload: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: c.client_id, client_secret: c.client_secret! }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toBe('invalid_grant');
    const open = await t.deps.db.select().from(sessions).where(and(eq(sessions.userId, browser.user.id), eq(sessions.clientId, c.client_id)));
    expect(open.filter((s) => s.revokedAt === null)).toEqual([]);
  });
});
