import { createHash, randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless, ON_POSTGRES } from '../helpers/skip.js';
import { addUpstreamProvider } from '../../src/auth/upstream/providers.js';
import { insertIdentity } from '../../src/db/queries/upstream.js';
import { auditEvents, sessions, userIdentities, users } from '../../src/db/schema.js';
import { Browser, csrfOf } from '../helpers/admin-browser.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { startTestOp, type TestOp } from '../helpers/upstream-op.js';
import { callbackOf, signInThrough, startAt, throughProvider } from '../helpers/upstream.js';

// Sign-in through a real OpenID Provider (oidc-provider, on loopback): a new account, a returning one, an app's code,
// the second factor; and every way a callback must be refused: replayed, from another browser, expired, with an ID
// token of another nonce, another audience or another key.

// Engine-agnostic flows, run once, on the embedded engine (as `npm test` runs): the PostgreSQL pass of CI skips them.
describeUnless(ON_POSTGRES)('sign-in through an OpenID Connect provider', () => {
const APP = 'https://app.example';
let t: TestApp;
let op: TestOp;

beforeAll(async () => {
  op = await startTestOp([callbackOf('op')]);
  t = await startTestApp({ env: { ALLOWED_REDIRECT_URLS: APP } });
  await addUpstreamProvider(t.deps, { name: 'op', type: 'oidc', issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret }, 'test');
});
afterAll(async () => {
  await t?.close();
  await op?.close();
});

const newAccount = (verified = true) => {
  const email = uniqueEmail('up');
  op.account = { sub: `sub-${randomBytes(6).toString('hex')}`, email, email_verified: verified, name: 'Upstream Person' };
  return op.account;
};
const userByEmail = async (email: string) => (await t.deps.db.select().from(users).where(eq(users.email, email)))[0];
const auditOf = async (userId: string) => (await t.deps.db.select().from(auditEvents).where(eq(auditEvents.userId, userId))).map((e) => e.type);

describe('signing in through an OpenID provider', () => {
  it('makes an account for a new identity, signs the browser in, and shows the link on /account', async () => {
    const account = newAccount();
    const { browser, res } = await signInThrough(t, op, 'op');
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe('/account');
    const user = (await userByEmail(account.email!))!;
    expect(user).toMatchObject({ name: 'Upstream Person', passwordHash: '!none' });
    expect(user.emailVerifiedAt).not.toBeNull();
    const page = await browser.get('/account');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(account.email);
    expect(page.body).toContain('Unlink op');
    expect(await auditOf(user.id)).toEqual(expect.arrayContaining(['signup', 'upstream_linked', 'signin_succeeded']));
    const [session] = await t.deps.db.select().from(sessions).where(eq(sessions.userId, user.id));
    expect(session?.amr).toEqual(['fed']);
    // No password signs in to it.
    const refused = await t.inject({ method: 'POST', url: '/api/signin', payload: { email: account.email, password: '!none' } });
    expect(refused.json().error).toBe('invalid_credentials');
  });

  it('signs a returning identity in to the same account, whatever address it brings now', async () => {
    const account = newAccount();
    await signInThrough(t, op, 'op');
    const before = (await userByEmail(account.email!))!;
    op.account = { ...account, email: uniqueEmail('moved') };
    const { res } = await signInThrough(t, op, 'op');
    expect(res.statusCode).toBe(303);
    const identities = await t.deps.db.select().from(userIdentities).where(and(eq(userIdentities.provider, 'op'), eq(userIdentities.subject, account.sub)));
    expect(identities).toHaveLength(1);
    expect(identities[0]).toMatchObject({ userId: before.id, email: op.account.email });
    expect(await userByEmail(op.account.email!)).toBeUndefined();
  });

  it('shows a button per provider on /login that starts its flow with return_to', async () => {
    const page = await new Browser(t).get('/login?return_to=%2Faccount%2Fpassword');
    expect(page.body).toContain('href="/api/signin/op?return_to=%2Faccount%2Fpassword"');
    const started = await new Browser(t).get('/api/signin/op?return_to=%2Faccount');
    const url = new URL(started.headers.location as string);
    expect(url.origin).toBe(op.issuer);
    for (const p of ['state', 'nonce', 'code_challenge']) expect(url.searchParams.get(p)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('redirect_uri')).toBe(callbackOf('op'));
    const cookie = started.cookies.find((c) => c.name === 'latchkey_upstream');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    // The flow's secrets are sealed: neither the state nor the verifier can be read from the cookie.
    expect(cookie!.value).not.toContain(url.searchParams.get('state'));
  });

  it('answers an unknown provider with a page, 404', async () => {
    const res = await new Browser(t).get('/api/signin/nobody?return_to=%2Faccount');
    expect(res.statusCode).toBe(404);
    expect(res.body).toContain('No sign-in provider has this name.');
  });
});

describe('refusing a callback', () => {
  it('refuses a replayed callback: the state works once, even with a second code the provider gave for it', async () => {
    newAccount();
    const browser = new Browser(t);
    const url = await startAt(browser, '/api/signin/op?return_to=%2Faccount');
    const flowCookie = browser.jar.get('latchkey_upstream')!;
    const first = await throughProvider(op, url, 'op');
    const second = await throughProvider(op, url, 'op');
    expect(second).not.toBe(first);
    expect((await browser.get(first)).statusCode).toBe(303);
    // The same browser, its flow cookie put back, with the other code for the same state.
    const again = new Browser(t);
    again.jar.set('latchkey_upstream', flowCookie);
    const replay = await again.get(second);
    expect(replay.statusCode).toBe(400);
    expect(replay.body).toContain('already used');
    expect(again.jar.has('latchkey_session')).toBe(false);
    expect((await again.get(first)).statusCode).toBe(400);
  });

  it("refuses a callback in another browser: none with the flow's cookie, nor one with a flow of its own", async () => {
    newAccount();
    const victim = new Browser(t);
    const url = await startAt(victim, '/api/signin/op?return_to=%2Faccount');
    const callback = await throughProvider(op, url, 'op');
    const stranger = new Browser(t);
    expect((await stranger.get(callback)).statusCode).toBe(400);
    await startAt(stranger, '/api/signin/op?return_to=%2Faccount');
    const res = await stranger.get(callback);
    expect(res.statusCode).toBe(400);
    expect(stranger.jar.has('latchkey_session')).toBe(false);
    // A cookie that is not one this server sealed is no flow either.
    const forger = new Browser(t);
    forger.jar.set('latchkey_upstream', 'v1.AAAA');
    expect((await forger.get(callback)).statusCode).toBe(400);
  });

  it('refuses a flow past its ten minutes', async () => {
    newAccount();
    const browser = new Browser(t);
    const url = await startAt(browser, '/api/signin/op?return_to=%2Faccount');
    const callback = await throughProvider(op, url, 'op');
    // Ahead of the provider's time, but within its ID tokens' hour: only the flow has expired.
    t.clock.advance(11 * 60);
    expect((await browser.get(callback)).statusCode).toBe(400);
  });

  const tampered = async (change: (body: Record<string, unknown>) => Promise<void>) => {
    const account = newAccount();
    op.tamper = change;
    try {
      const { browser, res } = await signInThrough(t, op, 'op');
      expect(browser.jar.has('latchkey_session')).toBe(false);
      expect(await userByEmail(account.email!)).toBeUndefined();
      return res;
    } finally {
      op.tamper = undefined;
    }
  };

  it('refuses an ID token with another nonce', async () => {
    const res = await tampered(async (body) => {
      body.id_token = await op.sign({ ...op.claimsOf(body.id_token as string), nonce: 'another-flow' });
    });
    expect(res.statusCode).toBe(401);
    expect(res.body).toContain('could not be verified');
  });

  it('refuses an ID token for another audience', async () => {
    const res = await tampered(async (body) => {
      body.id_token = await op.sign({ ...op.claimsOf(body.id_token as string), aud: 'another-client', azp: 'another-client' });
    });
    expect(res.statusCode).toBe(401);
  });

  it("refuses an ID token not signed with the issuer's key, or from another issuer", async () => {
    expect((await tampered(async (body) => void (body.id_token = await op.signElsewhere(op.claimsOf(body.id_token as string))))).statusCode).toBe(401);
    expect((await tampered(async (body) => void (body.id_token = await op.sign({ ...op.claimsOf(body.id_token as string), iss: 'https://evil.example' })))).statusCode).toBe(401);
  });

  it('refuses a callback the provider answered with an error', async () => {
    newAccount();
    const browser = new Browser(t);
    const url = new URL(await startAt(browser, '/api/signin/op?return_to=%2Faccount'));
    const res = await browser.get(`/api/signin/op/callback?error=access_denied&state=${url.searchParams.get('state')}&iss=${encodeURIComponent(op.issuer)}`);
    expect(res.statusCode).toBe(401);
  });
});

describe('an app signing in through a provider', () => {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const appStart = (redirectTo = `${APP}/signed-in`) => `/api/signin/op?redirect_to=${encodeURIComponent(redirectTo)}&code_challenge=${challenge}&code_challenge_method=S256`;
  const exchange = (code: string, codeVerifier = verifier) => t.inject({ method: 'POST', url: '/api/signin/op/exchange', payload: { code, code_verifier: codeVerifier } });

  it('gets a single-use code at redirect_to, never a token, and exchanges it with its verifier', async () => {
    newAccount();
    const browser = new Browser(t);
    const res = await browser.get(await throughProvider(op, await startAt(browser, appStart()), 'op'));
    expect(res.statusCode).toBe(303);
    const landed = new URL(res.headers.location as string);
    expect(landed.origin + landed.pathname).toBe(`${APP}/signed-in`);
    expect([...landed.searchParams.keys()]).toEqual(['code']);
    expect(browser.jar.has('latchkey_session')).toBe(false);
    const code = landed.searchParams.get('code')!;
    const wrong = await exchange(code, randomBytes(32).toString('base64url'));
    expect(wrong.json().error).toBe('invalid_exchange_code');
    // The wrong verifier spent the code: it cannot be guessed at.
    expect((await exchange(code)).json().error).toBe('invalid_exchange_code');

    const next = new Browser(t);
    const again = new URL((await next.get(await throughProvider(op, await startAt(next, appStart()), 'op'))).headers.location as string);
    const tokens = await exchange(again.searchParams.get('code')!);
    expect(tokens.statusCode, tokens.body).toBe(200);
    expect(decodeJwt(tokens.json().access_token).amr).toEqual(['fed']);
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(tokens.json().access_token) })).statusCode).toBe(200);
    expect((await exchange(again.searchParams.get('code')!)).json().error).toBe('invalid_exchange_code');
  });

  it('sends a refusal back to the app as error=<code>', async () => {
    const existing = await signUp(t);
    op.account = { sub: `sub-${randomBytes(6).toString('hex')}`, email: existing.email, email_verified: false };
    const browser = new Browser(t);
    const res = await browser.get(await throughProvider(op, await startAt(browser, appStart()), 'op'));
    expect(res.headers.location).toBe(`${APP}/signed-in?error=upstream_account_exists`);
  });

  it('refuses a redirect_to off the allowed origins, and one without a PKCE challenge', async () => {
    expect((await new Browser(t).get(appStart('https://evil.example/x'))).statusCode).toBe(400);
    expect((await new Browser(t).get(`/api/signin/op?redirect_to=${encodeURIComponent(`${APP}/x`)}`)).statusCode).toBe(400);
    expect((await new Browser(t).get(`${appStart()}`.replace('S256', 'plain'))).statusCode).toBe(400);
  });
});

describe('accounts the provider signs in to', () => {
  it('still asks for the second factor of an account that has one, and opens the session at aal2 after it', async () => {
    const user = await signUp(t);
    const { access_token: accessToken } = await signIn(t, user.email);
    const setup = (await t.inject({ method: 'POST', url: '/api/me/mfa/totp', headers: bearer(accessToken), payload: { password: user.password } })).json();
    const totp = new TOTP({ secret: Secret.fromBase32(setup.secret) });
    const confirmed = await t.inject({ method: 'POST', url: '/api/me/mfa/totp/confirm', headers: bearer(accessToken), payload: { code: totp.generate({ timestamp: t.clock.now().getTime() }) } });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    // The next 30-second step of the app: a code not used at the setup's confirmation.
    t.clock.advance(30);
    op.account = { sub: `sub-${randomBytes(6).toString('hex')}`, email: user.email, email_verified: true };
    await insertIdentity(t.deps.db, { provider: 'op', subject: op.account.sub, userId: user.id, email: user.email, createdAt: t.clock.now() });

    const { browser: b, res } = await signInThrough(t, op, 'op', new Browser(t), '/account/password');
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('action="/login/mfa"');
    expect(b.jar.has('latchkey_session')).toBe(false);
    const mfaToken = /name="mfa_token" value="([^"]+)"/.exec(res.body)![1]!;
    const done = await b.post('/login/mfa', { csrf: csrfOf(res.body), mfa_token: mfaToken, code: totp.generate({ timestamp: t.clock.now().getTime() }), return_to: '/account/password' });
    expect(done.statusCode, done.body).toBe(303);
    expect(done.headers.location).toBe('/account/password');
    const opened = (await t.deps.db.select().from(sessions).where(eq(sessions.userId, user.id))).map((s) => s.amr);
    expect(opened).toContainEqual(['fed', 'otp', 'mfa']);
    // The API's second step takes an upstream sign-in's mfa_token as it takes a password's.
    const { res: again } = await signInThrough(t, op, 'op');
    t.clock.advance(30);
    const api = await t.inject({ method: 'POST', url: '/api/signin/mfa', payload: { mfa_token: /name="mfa_token" value="([^"]+)"/.exec(again.body)![1]!, code: totp.generate({ timestamp: t.clock.now().getTime() }) } });
    expect(api.statusCode, api.body).toBe(200);
    expect(decodeJwt(api.json().access_token).amr).toEqual(['fed', 'otp', 'mfa']);
  });

  it('refuses a disabled account', async () => {
    const account = newAccount();
    await signInThrough(t, op, 'op');
    const user = (await userByEmail(account.email!))!;
    await t.deps.db.update(users).set({ disabledAt: t.clock.now() }).where(eq(users.id, user.id));
    const { browser, res } = await signInThrough(t, op, 'op');
    expect(res.statusCode).toBe(403);
    expect(browser.jar.has('latchkey_session')).toBe(false);
    expect(await auditOf(user.id)).toContain('signin_failed');
  });

  it('keeps the password sign-in of accounts as it was', async () => {
    const user = await signUp(t);
    expect((await signIn(t, user.email, GOOD_PASSWORD)).access_token).toBeDefined();
  });
});
});
