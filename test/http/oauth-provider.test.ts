import { decodeJwt, importJWK, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless, ON_POSTGRES } from '../helpers/skip.js';
import { systemClock } from '../../src/core/clock.js';
import { createServiceClient } from '../../src/auth/service-clients/service-clients.js';
import { adminBrowser, Browser, csrfOf, PASSWORD_ONLY_AMR, signInBrowser } from '../helpers/admin-browser.js';
import { bearer, GOOD_PASSWORD, startTestApp, type TestApp } from '../helpers/app.js';
import { authorizationRequest, codeFlow, continuedTo, discover, followToClient, pathOf, POST_LOGOUT_URI, registerClient } from '../helpers/oauth.js';

// Latchkey as an OpenID Provider, driven by openid-client (a certified relying-party library) and a test browser.

// Engine-agnostic flows, run once, on the embedded engine (as `npm test` runs): the PostgreSQL pass of CI skips them.
describeUnless(ON_POSTGRES)('the OpenID Provider, driven by openid-client', () => {
let t: TestApp;
beforeAll(async () => {
  // The real clock: openid-client checks the ID token's times against its own.
  t = await startTestApp({ realClock: systemClock });
});
afterAll(() => t?.close());

const FORM = 'application/x-www-form-urlencoded';
const postForm = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.inject({ method: 'POST', url, payload: new URLSearchParams(fields).toString(), headers: { 'content-type': FORM, ...headers } });
const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });

describe('discovery', () => {
  it('publishes the issuer as PUBLIC_URL, S256 alone, and the endpoints under both names', async () => {
    const a = (await t.inject({ method: 'GET', url: '/.well-known/openid-configuration' })).json();
    const b = (await t.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).json();
    expect(a).toEqual(b);
    expect(a.issuer).toBe(t.deps.config.publicUrl);
    expect(a.code_challenge_methods_supported).toEqual(['S256']);
    expect(a.response_types_supported).toEqual(['code']);
    expect(a.authorization_response_iss_parameter_supported).toBe(true);
    expect(a.token_endpoint).toBe(`${t.deps.config.publicUrl}/oauth/token`);
  });
});

describe('a confidential client, first party', () => {
  it('signs a user in: code, tokens checked by openid-client, userinfo, refresh, introspection, revocation', async () => {
    const client = await registerClient(t);
    const config = await discover(t, client);
    const browser = await signInBrowser(t, (await adminBrowser(t, { admin: false })).user.id, GOOD_PASSWORD);
    const { tokens, location } = await codeFlow(config, browser);
    expect(location.searchParams.get('iss'), 'RFC 9207').toBe(t.deps.config.publicUrl);

    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: browser.user.id, aud: client.client_id, email: browser.user.email, email_verified: true, sid: browser.sessionId, acr: 'aal2' });
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(tokens.refresh_token).toBeTruthy();
    // The access token is Latchkey's own, naming the client and its scopes; Latchkey's API takes it.
    const access = decodeJwt(tokens.access_token);
    expect(access).toMatchObject({ sub: browser.user.id, client_id: client.client_id, scope: 'openid profile email' });
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(tokens.access_token) })).statusCode).toBe(200);

    const info = await oidc.fetchUserInfo(config, tokens.access_token, browser.user.id);
    expect(info).toMatchObject({ sub: browser.user.id, email: browser.user.email, email_verified: true, name: 'Test Admin' });

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.scope).toBe('openid profile email');

    const live = await oidc.tokenIntrospection(config, refreshed.access_token);
    expect(live).toMatchObject({ active: true, sub: browser.user.id, client_id: client.client_id, token_type: 'access_token' });
    expect(await oidc.tokenIntrospection(config, refreshed.refresh_token!)).toMatchObject({ active: true, token_type: 'refresh_token' });

    await oidc.tokenRevocation(config, refreshed.refresh_token!);
    expect(await oidc.tokenIntrospection(config, refreshed.access_token)).toMatchObject({ active: false });
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The browser's own session goes on: revoking a client's grant is not a sign-out.
    expect((await browser.get('/account')).statusCode).toBe(200);
  });

  it('verifies its ID token with the JWKS: typed JWT, never taken as an access token', async () => {
    const client = await registerClient(t);
    const config = await discover(t, client);
    const browser = await signInBrowser(t, (await adminBrowser(t, { admin: false })).user.id, GOOD_PASSWORD);
    const { tokens } = await codeFlow(config, browser);
    const keys = (await t.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    const { protectedHeader, payload } = await jwtVerify(tokens.id_token!, (header) => importJWK(keys.keys.find((k: { kid: string }) => k.kid === header.kid), header.alg), {
      issuer: t.deps.config.publicUrl,
      audience: client.client_id,
    });
    expect(protectedHeader.typ).toBe('JWT');
    expect(payload.nonce).toBeTruthy();
    const asAccess = await t.inject({ method: 'GET', url: '/api/me', headers: bearer(tokens.id_token!) });
    expect(asAccess.statusCode).toBe(401);
  });

  it('takes a user through /login when the browser is signed out, then on to the client', async () => {
    const client = await registerClient(t);
    const config = await discover(t, client);
    const user = (await adminBrowser(t, { admin: false })).user;
    const browser = new Browser(t);
    const request = await authorizationRequest(config);
    const first = await browser.get(pathOf(request.url));
    expect(first.statusCode).toBe(303);
    const login = String(first.headers.location);
    expect(login).toMatch(/^\/login\?reauth=1&return_to=%2Foauth%2Fauthorize%3F/);
    const page = await browser.get(login);
    const returnTo = /name="return_to" value="([^"]+)"/.exec(page.body)![1]!.replaceAll('&amp;', '&');
    const signedIn = await browser.post('/login', { email: user.email, password: GOOD_PASSWORD, csrf: csrfOf(page.body), return_to: returnTo });
    expect(signedIn.statusCode, 'a page that navigates: no redirect chain out of a form post').toBe(200);
    const { location } = await followToClient(browser, continuedTo(signedIn.body)!);
    const got = await oidc.authorizationCodeGrant(config, location!, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(got.claims()).toMatchObject({ sub: user.id, acr: 'aal1', amr: ['pwd'] });
  });

  it('ends both sessions at RP-initiated logout with the ID token as hint, and goes back to the registered address', async () => {
    const client = await registerClient(t);
    const config = await discover(t, client);
    const browser = await signInBrowser(t, (await adminBrowser(t, { admin: false })).user.id, GOOD_PASSWORD);
    const { tokens } = await codeFlow(config, browser);
    const end = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' });
    const res = await browser.get(pathOf(end));
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`${POST_LOGOUT_URI}?state=bye`);
    expect((await browser.get('/account')).statusCode, 'the browser is signed out').toBe(303);
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: false });
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('asks before signing out when the request does not carry this browser\'s ID token, and refuses an unregistered address', async () => {
    const client = await registerClient(t);
    const browser = await signInBrowser(t, (await adminBrowser(t, { admin: false })).user.id, GOOD_PASSWORD);
    const forged = await browser.get(`/oauth/logout?client_id=${client.client_id}&post_logout_redirect_uri=${encodeURIComponent(POST_LOGOUT_URI)}`);
    expect(forged.statusCode).toBe(200);
    expect(forged.body).toContain('action="/oauth/logout"');
    expect((await browser.get('/account')).statusCode, 'still signed in').toBe(200);
    const elsewhere = await browser.get(`/oauth/logout?client_id=${client.client_id}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`);
    expect(elsewhere.statusCode).toBe(400);
    expect(elsewhere.headers.location).toBeUndefined();
    // The question answered from another site's form: refused.
    const crossSite = await browser.post('/oauth/logout', { csrf: csrfOf(forged.body), client_id: client.client_id }, { origin: 'https://evil.example' });
    expect(crossSite.statusCode).toBe(403);
    const confirmed = await browser.post('/oauth/logout', { csrf: csrfOf(forged.body), client_id: client.client_id, post_logout_redirect_uri: POST_LOGOUT_URI });
    expect(continuedTo(confirmed.body)).toBe(POST_LOGOUT_URI);
    expect((await browser.get('/account')).statusCode).toBe(303);
  });
});

describe('service clients', () => {
  it('get an access token of their own with client_credentials, naming no user, refused by the user routes', async () => {
    const service = await createServiceClient(t.deps, { name: `svc-${Date.now()}`, scopes: ['users:read'] }, 'test');
    const res = await postForm('/oauth/token', { grant_type: 'client_credentials' }, basic(service.client_id, service.client_secret));
    expect(res.statusCode).toBe(200);
    const token = res.json().access_token as string;
    expect(decodeJwt(token)).toMatchObject({ sub: service.client_id, client_id: service.client_id, scope: 'users:read' });
    expect(decodeJwt(token).sid).toBeUndefined();
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(token) })).statusCode).toBe(401);
    expect((await postForm('/oauth/token', { grant_type: 'client_credentials', scope: 'admin' }, basic(service.client_id, service.client_secret))).json().error).toBe('invalid_scope');
    const wrong = await postForm('/oauth/token', { grant_type: 'client_credentials' }, basic(service.client_id, `lks_${'A'.repeat(43)}`));
    expect(wrong.statusCode).toBe(401);
  });

  it('introspect any client\'s token; a public client cannot introspect', async () => {
    const service = await createServiceClient(t.deps, { name: `svc-i-${Date.now()}`, scopes: ['revocations:read'] }, 'test');
    const client = await registerClient(t);
    const config = await discover(t, client);
    const browser = await signInBrowser(t, (await adminBrowser(t, { admin: false })).user.id, GOOD_PASSWORD, PASSWORD_ONLY_AMR);
    const { tokens } = await codeFlow(config, browser);
    const asked = await postForm('/oauth/introspect', { token: tokens.access_token }, basic(service.client_id, service.client_secret));
    expect(asked.json()).toMatchObject({ active: true, client_id: client.client_id });
    const spa = await registerClient(t, { public: true });
    const refused = await postForm('/oauth/introspect', { token: tokens.access_token, client_id: spa.client_id });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error).toBe('invalid_client');
  });
});
});
