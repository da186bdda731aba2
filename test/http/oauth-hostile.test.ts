import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { describeUnless, ON_POSTGRES } from '../helpers/skip.js';
import { oauthCodeKey, openCode, sealCode } from '../../src/auth/oauth/codes.js';
import { hashToken } from '../../src/core/secrets.js';
import { oauthClients, oneTimeTokens, sessions } from '../../src/db/schema.js';
import { systemClock } from '../../src/core/clock.js';
import { adminBrowser, Browser, csrfOf, PASSWORD_ONLY_AMR, signInBrowser, type SignedInBrowser } from '../helpers/admin-browser.js';
import { bearer, GOOD_PASSWORD, startTestApp, type TestApp } from '../helpers/app.js';
import { authorizationRequest, codeFlow, continuedTo, discover, followToClient, injectFetch, pathOf, registerClient, REDIRECT_URI } from '../helpers/oauth.js';

// What a hostile client, user or page tries against the OpenID Provider; and a public client through oauth4webapi.

// Engine-agnostic flows, run once, on the embedded engine (as `npm test` runs): the PostgreSQL pass of CI skips them.
describeUnless(ON_POSTGRES)('the OpenID Provider against a hostile client', () => {
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ realClock: systemClock });
});
afterAll(() => t?.close());

const FORM = 'application/x-www-form-urlencoded';
const token = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.inject({ method: 'POST', url: '/oauth/token', payload: new URLSearchParams(fields).toString(), headers: { 'content-type': FORM, ...headers } });
const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` });
const challengeOf = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');
const VERIFIER = 'v'.repeat(50);

async function user(amr?: readonly string[]): Promise<SignedInBrowser> {
  const made = await adminBrowser(t, { admin: false });
  return signInBrowser(t, made.user.id, GOOD_PASSWORD, amr);
}

/** An authorization request by hand: its query, with the fields given over the good ones. */
function authorizeUrl(clientId: string, over: Record<string, string | undefined> = {}) {
  const q: Record<string, string | undefined> = {
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid email',
    state: 'st',
    nonce: 'n',
    code_challenge: challengeOf(VERIFIER),
    code_challenge_method: 'S256',
    ...over,
  };
  return `/oauth/authorize?${new URLSearchParams(Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined))}`;
}

/** A code for a signed-in browser, by hand. */
async function codeFor(browser: Browser, clientId: string, over: Record<string, string | undefined> = {}) {
  const { location } = await followToClient(browser, authorizeUrl(clientId, over));
  return location!.searchParams.get('code')!;
}

describe('the authorization request', () => {
  it('shows an error page, never a redirect, for an unknown client or a redirect URI one character off', async () => {
    const client = await registerClient(t);
    const browser = await user();
    for (const over of [{ client_id: 'lko_AAAAAAAAAAAAAAAAAAAAAA' }, { redirect_uri: `${REDIRECT_URI}x` }, { redirect_uri: REDIRECT_URI.toUpperCase() }, { redirect_uri: undefined }]) {
      const res = await browser.get(authorizeUrl(client.client_id, over));
      expect(res.statusCode, JSON.stringify(over)).toBe(400);
      expect(res.headers.location).toBeUndefined();
      expect(res.headers['content-type']).toMatch(/text\/html/);
    }
  });

  it('sends the client an error for plain PKCE, no PKCE, no state, another response type; with state and iss', async () => {
    const client = await registerClient(t);
    const browser = await user();
    const cases: [Record<string, string | undefined>, string][] = [
      [{ code_challenge_method: 'plain', code_challenge: VERIFIER }, 'invalid_request'],
      [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge_method: undefined }, 'invalid_request'],
      [{ state: undefined }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ request: 'x.y.z' }, 'request_not_supported'],
    ];
    for (const [over, error] of cases) {
      const res = await browser.get(authorizeUrl(client.client_id, over));
      expect(res.statusCode, JSON.stringify(over)).toBe(303);
      const to = new URL(String(res.headers.location));
      expect(`${to.origin}${to.pathname}`).toBe(REDIRECT_URI);
      expect(to.searchParams.get('error'), JSON.stringify(over)).toBe(error);
      expect(to.searchParams.get('iss')).toBe(t.deps.config.publicUrl);
      expect(to.searchParams.get('code')).toBeNull();
    }
  });

  it('answers prompt=none without a session with login_required, and sends a signed-out browser to sign in otherwise', async () => {
    const client = await registerClient(t);
    const browser = new Browser(t);
    const none = await browser.get(authorizeUrl(client.client_id, { prompt: 'none' }));
    expect(new URL(String(none.headers.location)).searchParams.get('error')).toBe('login_required');
    const login = await browser.get(authorizeUrl(client.client_id));
    expect(String(login.headers.location)).toMatch(/^\/login\?reauth=1&return_to=/);
  });

  it('asks for a fresh sign-in with prompt=login and an old session with max_age, without a loop once signed in again', async () => {
    const client = await registerClient(t);
    const browser = await user();
    const again = await browser.get(authorizeUrl(client.client_id, { prompt: 'login' }));
    expect(String(again.headers.location)).toMatch(/^\/login\?reauth=1/);
    const returnTo = decodeURIComponent(String(again.headers.location).split('return_to=')[1]!);
    expect(returnTo).not.toContain('prompt=login');
    expect(returnTo).toContain('lk_after=');
    // The sign-in form shows though the browser is signed in; signing in again lands on a code.
    const page = await browser.get(String(again.headers.location));
    expect(page.statusCode).toBe(200);
    const posted = await browser.post('/login', { email: browser.user.email, password: GOOD_PASSWORD, csrf: csrfOf(page.body), return_to: returnTo });
    const { location } = await followToClient(browser, continuedTo(posted.body)!);
    expect(location?.searchParams.get('code')).toBeTruthy();
  });
});

describe('the code at the token endpoint', () => {
  it('works once: a second use is refused and revokes every token the first gave', async () => {
    const client = await registerClient(t);
    const browser = await user();
    const code = await codeFor(browser, client.client_id);
    const exchange = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER };
    const first = await token(exchange, basic(client.client_id, client.client_secret!));
    expect(first.statusCode).toBe(200);
    const { access_token: access, refresh_token: refresh } = first.json();
    const second = await token(exchange, basic(client.client_id, client.client_secret!));
    expect(second.statusCode).toBe(400);
    expect(second.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.any(String) });
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(access) })).statusCode).toBe(401);
    expect((await token({ grant_type: 'refresh_token', refresh_token: refresh }, basic(client.client_id, client.client_secret!))).json().error).toBe('invalid_grant');
    // The user's own browser session is not the thief's to end.
    expect((await browser.get('/account')).statusCode).toBe(200);
  });

  it('refuses a wrong verifier, another redirect URI, and a code stolen for another client; each attempt spends the code', async () => {
    const client = await registerClient(t);
    const other = await registerClient(t);
    const browser = await user();
    const tries: [Record<string, string>, Record<string, string>][] = [
      [{ code_verifier: 'w'.repeat(50) }, basic(client.client_id, client.client_secret!)],
      [{ redirect_uri: `${REDIRECT_URI}/` }, basic(client.client_id, client.client_secret!)],
      [{}, basic(other.client_id, other.client_secret!)],
    ];
    for (const [over, auth] of tries) {
      const code = await codeFor(browser, client.client_id);
      const bad = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER, ...over }, auth);
      expect(bad.statusCode, JSON.stringify(over)).toBe(400);
      expect(bad.json().error).toBe('invalid_grant');
      const good = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER }, basic(client.client_id, client.client_secret!));
      expect(good.statusCode, 'the code is spent').toBe(400);
    }
  });

  it('refuses a wrong secret, two authentication methods at once, and a confidential client posing as public', async () => {
    const client = await registerClient(t);
    const code = await codeFor(await user(), client.client_id);
    const exchange = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER };
    expect((await token(exchange, basic(client.client_id, `lkos_${'A'.repeat(43)}`))).statusCode).toBe(401);
    expect((await token({ ...exchange, client_id: client.client_id })).statusCode, 'no secret').toBe(401);
    const both = await token({ ...exchange, client_secret: client.client_secret! }, basic(client.client_id, client.client_secret!));
    expect(both.json().error).toBe('invalid_request');
    expect((await token({ grant_type: 'password', username: 'x', password: 'y' }, basic(client.client_id, client.client_secret!))).json().error).toBe('unsupported_grant_type');
  });

  it('gives nothing for a code whose browser session signed out before the exchange', async () => {
    const client = await registerClient(t);
    const browser = await user();
    const code = await codeFor(browser, client.client_id);
    const page = await browser.get('/logout');
    await browser.post('/logout', { csrf: csrfOf(page.body) });
    const res = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER }, basic(client.client_id, client.client_secret!));
    expect(res.json().error).toBe('invalid_grant');
  });

  it('refuses a code altered, sealed under another key, or expired; the database holds no code that could be redeemed', async () => {
    const client = await registerClient(t);
    const browser = await user();
    const code = await codeFor(browser, client.client_id);
    // Issuing wrote nothing: a copy of the database taken now holds no code of this user's, spent or not.
    const held = await t.deps.db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, browser.user.id));
    expect(held.filter((row) => row.type === 'oauth_code')).toHaveLength(0);
    const exchange = (c: string) => token({ grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER }, basic(client.client_id, client.client_secret!));
    const grant = openCode(t.deps.oauthCodeKey, code, Date.now())!;
    expect(grant).toMatchObject({ clientId: client.client_id, userId: browser.user.id });
    const flipped = `${code.slice(0, 20)}${code[20] === 'A' ? 'B' : 'A'}${code.slice(21)}`;
    const forged = sealCode(oauthCodeKey('another server\'s SECRET_KEY, not this one'), grant);
    const expired = sealCode(t.deps.oauthCodeKey, { ...grant, expiresAt: Math.floor(Date.now() / 1000) - 1 });
    for (const bad of [flipped, forged, expired, 'v1.', code.slice(0, -4), `${code}.x`, 'x'.repeat(8000)]) {
      const res = await exchange(bad);
      expect(res.statusCode, bad.slice(0, 40)).toBe(400);
      expect(res.json().error).toBe('invalid_grant');
    }
    expect((await exchange('x'.repeat(9000))).json().error, 'longer than any code').toBe('invalid_request');
    // None of those spent the real code, which works once.
    expect((await exchange(code)).statusCode).toBe(200);
    // Still no code in the database: the session its exchange opened, under the id the code carries, is what makes it work once.
    const after = await t.deps.db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, browser.user.id));
    expect(after.filter((row) => row.type === 'oauth_code')).toHaveLength(0);
    expect(await t.deps.db.select().from(sessions).where(eq(sessions.id, grant.sessionId))).toHaveLength(1);
  });

  it('works once when a code is exchanged many times at the same moment: one session opens, the rest are refused', async () => {
    const client = await registerClient(t);
    const browser = await user();
    const code = await codeFor(browser, client.client_id);
    const exchange = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER };
    const answers = await Promise.all(Array.from({ length: 8 }, () => token(exchange, basic(client.client_id, client.client_secret!))));
    const won = answers.filter((r) => r.statusCode === 200);
    expect(won).toHaveLength(1);
    expect(answers.filter((r) => r.statusCode === 400 && r.json().error === 'invalid_grant')).toHaveLength(7);
    // Each of the seven was taken as a replay: the one session opened is revoked, as a second use revokes it.
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(won[0]!.json().access_token) })).statusCode).toBe(401);
    const opened = await t.deps.db.select().from(sessions).where(and(eq(sessions.userId, browser.user.id), eq(sessions.clientId, client.client_id)));
    expect(opened).toHaveLength(1);
  });

  it('opens nothing for a client whose secret changed, even on an instance still holding the old one in memory', async () => {
    const client = await registerClient(t);
    const browser = await user();
    // The authorization request read the client: this instance now keeps it, with its secret's hash.
    const code = await codeFor(browser, client.client_id);
    // The secret replaced behind this instance's back, as another instance does before its notice arrives.
    const other = `lkos_${'N'.repeat(43)}`;
    await t.deps.db.update(oauthClients).set({ secretHash: hashToken(other) }).where(eq(oauthClients.clientId, client.client_id));
    const exchange = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER };
    const stale = await token(exchange, basic(client.client_id, client.client_secret!));
    expect(stale.statusCode).toBe(400);
    expect(stale.json().error).toBe('invalid_grant');
    expect(await t.deps.db.select().from(sessions).where(and(eq(sessions.userId, browser.user.id), eq(sessions.clientId, client.client_id)))).toHaveLength(0);
    // Once the notice comes, the new secret is the one that works.
    t.deps.oauthClients.forget(client.client_id);
    expect((await token(exchange, basic(client.client_id, client.client_secret!))).statusCode).toBe(401);
    const fresh = await codeFor(browser, client.client_id);
    expect((await token({ ...exchange, code: fresh }, basic(client.client_id, other))).statusCode).toBe(200);
  });

  it('answers from a browser session it read lately only while the revocation list says it lives, and its code still asks the database', async () => {
    const client = await registerClient(t);
    const browser = await user();
    expect(await codeFor(browser, client.client_id)).toBeTruthy();
    // Ended behind this instance's back (no notice yet): the authorization endpoint may still answer from what it read,
    // but the code it gives opens nothing.
    await t.deps.db.update(sessions).set({ revokedAt: new Date(), revokedReason: 'test' }).where(eq(sessions.id, browser.sessionId));
    const stale = await codeFor(browser, client.client_id);
    const res = await token({ grant_type: 'authorization_code', code: stale, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER }, basic(client.client_id, client.client_secret!));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_grant');
    // Once the revocation list has it, as a sign-out on any instance puts it there, the browser is sent to sign in.
    t.deps.revocations.add(browser.sessionId, new Date());
    const again = await browser.get(authorizeUrl(client.client_id));
    expect(again.statusCode).toBe(303);
    expect(String(again.headers.location)).toMatch(/^\/login\?reauth=1&return_to=/);
  });

  it('asks the database before any answer but a code: a session stepped up since it was read is taken at its new level', async () => {
    const client = await registerClient(t);
    const browser = await user(PASSWORD_ONLY_AMR);
    expect(await codeFor(browser, client.client_id)).toBeTruthy();
    // The session becomes aal2 behind this instance's back: what it read says aal1, which alone would ask for a step-up.
    await t.deps.db.update(sessions).set({ amr: ['pwd', 'otp', 'mfa'] }).where(eq(sessions.id, browser.sessionId));
    const { location } = await followToClient(browser, authorizeUrl(client.client_id, { acr_values: 'aal2' }));
    expect(location?.searchParams.get('code')).toBeTruthy();
  });

  it('never refreshes another client\'s token, nor a client\'s token at /api/refresh, nor Latchkey\'s own at /oauth/token', async () => {
    const a = await registerClient(t);
    const b = await registerClient(t);
    const browser = await user();
    const code = await codeFor(browser, a.client_id);
    const { refresh_token: refresh } = (await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER }, basic(a.client_id, a.client_secret!))).json();
    expect((await token({ grant_type: 'refresh_token', refresh_token: refresh }, basic(b.client_id, b.client_secret!))).json().error).toBe('invalid_grant');
    expect((await t.inject({ method: 'POST', url: '/api/refresh', payload: { refresh_token: refresh } })).statusCode).toBe(401);
    const own = (await t.inject({ method: 'POST', url: '/api/signin', payload: { email: browser.user.email, password: GOOD_PASSWORD } })).json();
    expect((await token({ grant_type: 'refresh_token', refresh_token: own.refresh_token }, basic(a.client_id, a.client_secret!))).json().error).toBe('invalid_grant');
    // None of these was taken as theft: the client's own refresh still works.
    expect((await token({ grant_type: 'refresh_token', refresh_token: refresh }, basic(a.client_id, a.client_secret!))).statusCode).toBe(200);
  });
});

describe('consent', () => {
  it('is asked of a third-party client once, again with prompt=consent, and cannot be skipped by a forged form', async () => {
    const client = await registerClient(t, { firstParty: false });
    const browser = await user();
    const page = await browser.get(authorizeUrl(client.client_id));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('action="/oauth/authorize/consent"');
    expect(page.body).toContain(client.name);
    const carried = /name="request" value="([^"]+)"/.exec(page.body)![1]!.replaceAll('&amp;', '&');
    // Another site's page, no token, another browser's token: refused, and no code.
    expect((await browser.post('/oauth/authorize/consent', { csrf: csrfOf(page.body), request: carried, decision: 'allow' }, { origin: 'https://evil.example' })).statusCode).toBe(403);
    expect((await browser.post('/oauth/authorize/consent', { request: carried, decision: 'allow' })).statusCode).toBe(403);
    const stranger = await user();
    expect((await stranger.post('/oauth/authorize/consent', { csrf: csrfOf(page.body), request: carried, decision: 'allow' })).statusCode).toBe(403);

    const denied = await browser.post('/oauth/authorize/consent', { csrf: csrfOf(page.body), request: carried, decision: 'deny' });
    expect(new URL(continuedTo(denied.body)!).searchParams.get('error')).toBe('access_denied');
    const allowed = await browser.post('/oauth/authorize/consent', { csrf: csrfOf(page.body), request: carried, decision: 'allow' });
    expect(new URL(continuedTo(allowed.body)!).searchParams.get('code')).toBeTruthy();
    // Remembered: no page the second time; asked again with prompt=consent; prompt=none without it is consent_required.
    expect((await browser.get(authorizeUrl(client.client_id))).statusCode).toBe(303);
    expect((await browser.get(authorizeUrl(client.client_id, { prompt: 'consent' }))).statusCode).toBe(200);
    const wider = await browser.get(authorizeUrl(client.client_id, { scope: 'openid email profile', prompt: 'none' }));
    expect(new URL(String(wider.headers.location)).searchParams.get('error')).toBe('consent_required');
  });
});

describe('a second factor asked by the client (acr_values=aal2)', () => {
  it('steps an aal1 session up with a second factor (a wrong code first), and the ID token says aal2', async () => {
    const client = await registerClient(t);
    const config = await discover(t, client);
    const browser = await user(PASSWORD_ONLY_AMR);
    const { access_token: access } = (await t.inject({ method: 'POST', url: '/api/signin', payload: { email: browser.user.email, password: GOOD_PASSWORD } })).json();
    const setup = (await t.inject({ method: 'POST', url: '/api/me/mfa/totp', payload: { password: GOOD_PASSWORD }, headers: bearer(access) })).json();
    const totp = new TOTP({ secret: Secret.fromBase32(setup.secret) });
    const confirmed = await t.inject({ method: 'POST', url: '/api/me/mfa/totp/confirm', payload: { code: totp.generate() }, headers: bearer(access) });
    // The app's code of this half-minute is spent by the confirmation: a recovery code steps up.
    const recovery = (confirmed.json().recovery_codes as string[])[0]!;

    const request = await authorizationRequest(config, { acr_values: 'aal2' });
    const steps: number[] = [];
    const { location } = await followToClient(browser, request.url.href, async (res) => {
      steps.push(res.statusCode);
      if (!res.body.includes('/oauth/authorize/step-up')) return undefined;
      const carried = /name="request" value="([^"]+)"/.exec(res.body)![1]!.replaceAll('&amp;', '&');
      if (steps.length === 1) return browser.post('/oauth/authorize/step-up', { csrf: csrfOf(res.body), request: carried, code: '000000' });
      return browser.post('/oauth/authorize/step-up', { csrf: csrfOf(res.body), request: carried, code: recovery });
    });
    expect(steps).toEqual([200, 401]);
    const tokens = await oidc.authorizationCodeGrant(config, location!, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
    expect(tokens.claims()).toMatchObject({ acr: 'aal2' });
    expect(tokens.claims()!.amr).toContain('mfa');
  });

  it('answers interaction_required to prompt=none, and unmet_authentication_requirements for an account without a factor', async () => {
    const client = await registerClient(t);
    const browser = await user(PASSWORD_ONLY_AMR);
    const none = await browser.get(authorizeUrl(client.client_id, { acr_values: 'aal2', prompt: 'none' }));
    expect(new URL(String(none.headers.location)).searchParams.get('error')).toBe('interaction_required');
    const noFactor = await browser.get(authorizeUrl(client.client_id, { acr_values: 'aal2' }));
    expect(new URL(String(noFactor.headers.location)).searchParams.get('error')).toBe('unmet_authentication_requirements');
  });
});

describe('the ID token of one client', () => {
  it('is refused by another client, and as the hint of another client\'s logout', async () => {
    const a = await registerClient(t);
    const b = await registerClient(t);
    const browser = await user();
    const { tokens } = await codeFlow(await discover(t, a), browser);
    const configB = await discover(t, b);
    // oauth4webapi's own check of an ID token's audience: A's token is not B's.
    const as = configB.serverMetadata() as oauth.AuthorizationServer;
    const forged = new Response(JSON.stringify({ access_token: tokens.access_token, token_type: 'bearer', id_token: tokens.id_token }), { headers: { 'content-type': 'application/json' } });
    await expect(oauth.processAuthorizationCodeResponse(as, { client_id: b.client_id }, forged, { expectedNonce: oauth.expectNoNonce })).rejects.toThrow();
    const hinted = await browser.get(`/oauth/logout?id_token_hint=${tokens.id_token}&client_id=${b.client_id}`);
    expect(hinted.statusCode).toBe(400);
    expect((await browser.get('/account')).statusCode).toBe(200);
  });
});

describe('a public client through oauth4webapi', () => {
  it('signs in with PKCE alone, refreshes, and cannot skip the verifier', async () => {
    const spa = await registerClient(t, { public: true });
    expect(spa.client_secret).toBeNull();
    const options = { [oauth.customFetch]: injectFetch(t), [oauth.allowInsecureRequests]: true };
    const issuer = new URL(t.deps.config.publicUrl);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options));
    const client: oauth.Client = { client_id: spa.client_id };
    const auth = oauth.None();
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    Object.entries({ client_id: spa.client_id, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid email', state, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).forEach(([k, v]) => url.searchParams.set(k, v));
    const browser = await user();
    const { location } = await followToClient(browser, pathOf(url));
    const params = oauth.validateAuthResponse(as, client, location!, state);
    // A thief with the code but not the verifier gets nothing, and the code is gone.
    const stolen = await oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT_URI, oauth.generateRandomCodeVerifier(), options);
    await expect(oauth.processAuthorizationCodeResponse(as, client, stolen)).rejects.toMatchObject({ error: 'invalid_grant' });

    const { location: again } = await followToClient(browser, pathOf(url).replace(`state=${state}`, `state=${state}2`));
    const params2 = oauth.validateAuthResponse(as, client, again!, `${state}2`);
    const response = await oauth.authorizationCodeGrantRequest(as, client, auth, params2, REDIRECT_URI, verifier, options);
    const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: oauth.expectNoNonce, requireIdToken: true });
    expect(oauth.getValidatedIdTokenClaims(result)).toMatchObject({ sub: browser.user.id, email: browser.user.email });
    const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, result.refresh_token!, options));
    expect(refreshed.access_token).toBeTruthy();
  });
});

describe('private_key_jwt', () => {
  it('authenticates with a signed assertion once: a replayed assertion is refused', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const client = await registerClient(t, { jwks: { keys: [jwk] } });
    expect(client.client_secret).toBeNull();
    expect(client.token_endpoint_auth_methods).toEqual(['private_key_jwt']);
    const browser = await user();
    const assertion = await new SignJWT({ jti: `j-${Date.now()}` })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(client.client_id)
      .setSubject(client.client_id)
      .setAudience(`${t.deps.config.publicUrl}/oauth/token`)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);
    const proof = { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    const code = await codeFor(browser, client.client_id);
    const ok = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER, ...proof });
    expect(ok.statusCode).toBe(200);
    const code2 = await codeFor(browser, client.client_id);
    const replay = await token({ grant_type: 'authorization_code', code: code2, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER, ...proof });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error).toBe('invalid_client');
    // openid-client signs a fresh assertion each time: its exchange goes through.
    const config = await discover(t, client, oidc.PrivateKeyJwt({ key: privateKey, kid: 'k1' }));
    const { tokens } = await codeFlow(config, browser);
    expect(tokens.access_token).toBeTruthy();
  });
});
});
