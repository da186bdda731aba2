import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless, ON_POSTGRES } from '../helpers/skip.js';
import { addUpstreamProvider } from '../../src/auth/upstream/providers.js';
import { createUserByOperator } from '../../src/auth/users/user-admin.js';
import { userIdentities, users } from '../../src/db/schema.js';
import { Browser } from '../helpers/admin-browser.js';
import { GOOD_PASSWORD, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { startGithubStandIn, type GithubStandIn } from '../helpers/github-stand-in.js';
import { follow } from '../helpers/upstream-op.js';
import { callbackOf, signInThrough, startAt } from '../helpers/upstream.js';

// Sign-in through GitHub (OAuth 2, no OpenID Connect), against a stand-in for its endpoints on loopback, as a GitHub
// Enterprise Server at its own address would be: the provider row's issuer is that address.

// Engine-agnostic flows, run once, on the embedded engine (as `npm test` runs): the PostgreSQL pass of CI skips them.
describeUnless(ON_POSTGRES)('sign-in through GitHub', () => {
let t: TestApp;
let gh: GithubStandIn;
let nextId = 1000;
const gitHub = { authorize: (url: string, until: string) => follow(url, until) };

beforeAll(async () => {
  gh = await startGithubStandIn();
  t = await startTestApp();
  await addUpstreamProvider(t.deps, { name: 'github', type: 'github', issuer: gh.url, clientId: gh.clientId, clientSecret: gh.clientSecret }, 'test');
});
afterAll(async () => {
  await t?.close();
  await gh?.close();
});

const githubUser = (email: string, verified: boolean) => {
  nextId += 1;
  gh.user = { id: nextId, login: `octo${nextId}`, name: 'Octo Cat', emails: [{ email: `noreply${nextId}@users.noreply.example`, primary: false, verified: true }, { email, primary: true, verified }] };
  return gh.user;
};

describe('signing in through GitHub', () => {
  it('asks with state and PKCE, and makes an account from the numeric id and the verified primary address', async () => {
    const email = uniqueEmail('octo');
    const user = githubUser(email, true);
    const browser = new Browser(t);
    const url = new URL(await startAt(browser, '/api/signin/github?return_to=%2Faccount'));
    expect(url.origin + url.pathname).toBe(`${gh.url}/login/oauth/authorize`);
    expect(url.searchParams.get('scope')).toBe('read:user user:email');
    expect(url.searchParams.get('redirect_uri')).toBe(callbackOf('github'));
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const res = await browser.get((await gitHub.authorize(url.href, callbackOf('github'))).slice('http://latchkey.test'.length));
    expect(res.statusCode, res.body).toBe(303);
    expect(gh.exchanges.at(-1)).toBe('ok');
    const [made] = await t.deps.db.select().from(users).where(eq(users.email, email));
    expect(made?.emailVerifiedAt).not.toBeNull();
    const [identity] = await t.deps.db.select().from(userIdentities).where(eq(userIdentities.userId, made!.id));
    expect(identity).toMatchObject({ provider: 'github', subject: String(user.id), email });
  });

  it('does not take over an account with an unverified primary address', async () => {
    const owner = await createUserByOperator(t.deps, { email: uniqueEmail('owner'), name: 'Owner', password: GOOD_PASSWORD, admin: false, verified: true }, 'test');
    githubUser(owner.email, false);
    const { browser, res } = await signInThrough(t, gitHub, 'github');
    expect(res.statusCode).toBe(409);
    expect(browser.jar.has('latchkey_session')).toBe(false);
    expect(await t.deps.db.select().from(userIdentities).where(eq(userIdentities.userId, owner.id))).toEqual([]);
  });

  it('joins a verified account when GitHub verified the address too', async () => {
    const owner = await createUserByOperator(t.deps, { email: uniqueEmail('owner'), name: 'Owner', password: GOOD_PASSWORD, admin: false, verified: true }, 'test');
    githubUser(owner.email, true);
    expect((await signInThrough(t, gitHub, 'github')).res.statusCode).toBe(303);
    expect(await t.deps.db.select().from(userIdentities).where(eq(userIdentities.userId, owner.id))).toHaveLength(1);
  });

  it('refuses a replayed callback, and a code GitHub will not exchange', async () => {
    githubUser(uniqueEmail('octo'), true);
    const browser = new Browser(t);
    const url = await startAt(browser, '/api/signin/github?return_to=%2Faccount');
    const flowCookie = browser.jar.get('latchkey_upstream')!;
    const callback = (await gitHub.authorize(url, callbackOf('github'))).slice('http://latchkey.test'.length);
    expect((await browser.get(callback)).statusCode).toBe(303);
    const replay = new Browser(t);
    replay.jar.set('latchkey_upstream', flowCookie);
    expect((await replay.get(callback)).statusCode).toBe(400);

    const fresh = new Browser(t);
    const state = new URL(await startAt(fresh, '/api/signin/github?return_to=%2Faccount')).searchParams.get('state')!;
    const res = await fresh.get(`/api/signin/github/callback?code=made-up&state=${state}`);
    expect(res.statusCode).toBe(401);
    expect(gh.exchanges.at(-1)).toBe('bad_verification_code');
  });
});
});
