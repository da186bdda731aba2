import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUnless, ON_POSTGRES } from '../helpers/skip.js';
import { addUpstreamProvider } from '../../src/auth/upstream/providers.js';
import { createUserByOperator } from '../../src/auth/users/user-admin.js';
import { auditEvents, sessions, userIdentities, users } from '../../src/db/schema.js';
import { Browser, csrfOf, signInBrowser, PASSWORD_ONLY_AMR, type SignedInBrowser } from '../helpers/admin-browser.js';
import { GOOD_PASSWORD, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { startTestOp, type OpAccount, type TestOp } from '../helpers/upstream-op.js';
import { callbackOf, signInThrough, throughProvider } from '../helpers/upstream.js';

// Which account an upstream identity is: the takeover path (an identity claiming the address of someone else's
// account) and its refusals, linking from /account while signed in, and unlinking, never the last way in.

// Engine-agnostic flows, run once, on the embedded engine (as `npm test` runs): the PostgreSQL pass of CI skips them.
describeUnless(ON_POSTGRES)('linking upstream identities', () => {
let t: TestApp;
let op: TestOp;
let other: TestOp;

beforeAll(async () => {
  op = await startTestOp([callbackOf('op')]);
  other = await startTestOp([callbackOf('other')]);
  t = await startTestApp();
  for (const [name, p] of [['op', op], ['other', other]] as const)
    await addUpstreamProvider(t.deps, { name, type: 'oidc', issuer: p.issuer, clientId: p.clientId, clientSecret: p.clientSecret }, 'test');
});
afterAll(async () => {
  await t?.close();
  await op?.close();
  await other?.close();
});

const subject = () => `sub-${randomBytes(6).toString('hex')}`;
const identitiesOf = async (userId: string) => t.deps.db.select().from(userIdentities).where(eq(userIdentities.userId, userId));
const sessionsOf = async (userId: string) => t.deps.db.select().from(sessions).where(eq(sessions.userId, userId));
const failuresOf = async (userId: string) =>
  (await t.deps.db.select().from(auditEvents).where(eq(auditEvents.userId, userId))).filter((e) => e.type === 'signin_failed').map((e) => e.details);
const verifiedUser = async (email = uniqueEmail('owner')) =>
  createUserByOperator(t.deps, { email, name: 'Owner', password: GOOD_PASSWORD, admin: false, verified: true }, 'test');

describe('an identity whose address has an account already', () => {
  it('does not take over a verified account when the provider has not verified the address', async () => {
    const owner = await verifiedUser();
    op.account = { sub: subject(), email: owner.email, email_verified: false };
    const { browser, res } = await signInThrough(t, op, 'op');
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('sign in to it, then link this provider');
    expect(browser.jar.has('latchkey_session')).toBe(false);
    expect(await identitiesOf(owner.id)).toEqual([]);
    expect(await sessionsOf(owner.id)).toEqual([]);
    expect(await failuresOf(owner.id)).toContainEqual({ reason: 'upstream_email_unverified', upstream: 'op' });
  });

  it('does not join an account whose own address is not verified, even for a verified upstream address', async () => {
    // Whoever signed up with an address they do not own must not get the real owner's upstream sign-ins, nor the reverse.
    const squatter = await signUp(t);
    op.account = { sub: subject(), email: squatter.email, email_verified: true };
    const { res } = await signInThrough(t, op, 'op');
    expect(res.statusCode).toBe(409);
    expect(await identitiesOf(squatter.id)).toEqual([]);
    expect(await failuresOf(squatter.id)).toContainEqual({ reason: 'account_email_unverified', upstream: 'op' });
  });

  it('does not treat an email_verified that is not the boolean true as verified', async () => {
    const owner = await verifiedUser();
    op.account = { sub: subject(), email: owner.email, email_verified: 'true' as unknown as boolean };
    expect((await signInThrough(t, op, 'op')).res.statusCode).toBe(409);
    expect(await identitiesOf(owner.id)).toEqual([]);
  });

  it('joins the account when both sides verified the address, in any letter case', async () => {
    const owner = await verifiedUser();
    op.account = { sub: subject(), email: owner.email.toUpperCase(), email_verified: true };
    const { res } = await signInThrough(t, op, 'op');
    expect(res.statusCode).toBe(303);
    expect((await identitiesOf(owner.id)).map((i) => i.subject)).toEqual([op.account.sub]);
    expect(await sessionsOf(owner.id)).toHaveLength(1);
  });

  it('refuses an identity that gives no address, making no account', async () => {
    op.account = { sub: subject() };
    const before = (await t.deps.db.select().from(users)).length;
    const { res } = await signInThrough(t, op, 'op');
    expect(res.statusCode).toBe(403);
    expect((await t.deps.db.select().from(users)).length).toBe(before);
  });

  it('makes a new account, unverified, for an unverified address nobody has', async () => {
    const email = uniqueEmail('fresh');
    op.account = { sub: subject(), email, email_verified: false };
    expect((await signInThrough(t, op, 'op')).res.statusCode).toBe(303);
    const [made] = await t.deps.db.select().from(users).where(eq(users.email, email));
    expect(made?.emailVerifiedAt).toBeNull();
  });
});

/** Links `account` at provider `name` to the browser's user, from /account: the callback's answer. */
async function linkFrom(b: Browser, p: TestOp, name: string, account: OpAccount) {
  p.account = account;
  const page = await b.get('/account');
  expect(page.body).toContain(`Link ${name}`);
  const started = await b.post('/account/identities/link', { csrf: csrfOf(page.body), provider: name });
  expect(started.statusCode, started.body).toBe(303);
  return b.get(await throughProvider(p, started.headers.location as string, name));
}

describe('linking from /account', () => {
  let owner: SignedInBrowser;
  beforeAll(async () => {
    const user = await verifiedUser();
    owner = await signInBrowser(t, user.id, GOOD_PASSWORD, PASSWORD_ONLY_AMR);
  });

  it('links an identity whatever its address, the user having proved both sides', async () => {
    const sub = subject();
    const res = await linkFrom(owner, op, 'op', { sub, email: uniqueEmail('elsewhere'), email_verified: false });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/account?saved=upstream_linked#identities');
    expect((await identitiesOf(owner.user.id)).map((i) => i.subject)).toContain(sub);
    const page = await owner.get('/account?saved=upstream_linked');
    expect(page.body).toContain('Unlink op');
    // From now on it signs in to this account.
    op.account = { sub };
    const signin = await signInThrough(t, op, 'op');
    expect(signin.res.statusCode).toBe(303);
    const events = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.userId, owner.user.id));
    expect(events.filter((e) => e.type === 'upstream_linked').map((e) => (e.details as { how?: string }).how)).toContain('signed_in');
  });

  it("refuses an identity linked to another account", async () => {
    const theirs = subject();
    op.account = { sub: theirs, email: uniqueEmail('theirs'), email_verified: true };
    await signInThrough(t, op, 'op');
    const res = await linkFrom(owner, op, 'op', { sub: theirs });
    expect(res.statusCode).toBe(409);
    expect((await identitiesOf(owner.user.id)).map((i) => i.subject)).not.toContain(theirs);
  });

  it('refuses a link finished in a browser signed out, or signed in as someone else', async () => {
    const page = await owner.get('/account');
    const started = await owner.post('/account/identities/link', { csrf: csrfOf(page.body), provider: 'op' });
    op.account = { sub: subject() };
    const callback = await throughProvider(op, started.headers.location as string, 'op');
    // Another browser given the flow's cookie, but not the session that started it.
    const someoneElse = await signInBrowser(t, (await verifiedUser()).id, GOOD_PASSWORD, PASSWORD_ONLY_AMR);
    someoneElse.jar.set('latchkey_upstream', owner.jar.get('latchkey_upstream')!);
    expect((await someoneElse.get(callback)).statusCode).toBe(400);
    expect(await identitiesOf(someoneElse.user.id)).toEqual([]);
  });

  it('refuses a link started by a form from elsewhere', async () => {
    const res = await owner.post('/account/identities/link', { csrf: 'forged', provider: 'op' });
    expect(res.statusCode).toBe(403);
  });
});

describe('unlinking', () => {
  it('never unlinks the last way in of an account with no password, and does once there is another', async () => {
    const email = uniqueEmail('only');
    const first = subject();
    op.account = { sub: first, email, email_verified: true };
    const { browser } = await signInThrough(t, op, 'op');
    const [user] = await t.deps.db.select().from(users).where(eq(users.email, email));
    const unlink = async (provider: string, sub: string) => {
      const page = await browser.get('/account');
      return browser.post('/account/identities/unlink', { csrf: csrfOf(page.body), provider, subject: sub });
    };
    const refused = await unlink('op', first);
    expect(refused.statusCode).toBe(409);
    expect(refused.body).toContain('last way this account can sign in');
    expect(await identitiesOf(user!.id)).toHaveLength(1);

    const second = subject();
    expect((await linkFrom(browser, other, 'other', { sub: second })).statusCode).toBe(303);
    const done = await unlink('op', first);
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe('/account?saved=upstream_unlinked#identities');
    expect((await identitiesOf(user!.id)).map((i) => i.subject)).toEqual([second]);
    expect((await unlink('other', second)).statusCode).toBe(409);
    const events = await t.deps.db.select().from(auditEvents).where(eq(auditEvents.userId, user!.id));
    expect(events.map((e) => e.type)).toContain('upstream_unlinked');
    // The unlinked identity is nobody's now: it comes back to the account only by the rule of any new one.
    op.account = { sub: first, email, email_verified: false };
    expect((await signInThrough(t, op, 'op')).res.statusCode).toBe(409);
  });

  it("unlinks the only identity of an account with a password; refuses another user's", async () => {
    const user = await verifiedUser();
    const b = await signInBrowser(t, user.id, GOOD_PASSWORD, PASSWORD_ONLY_AMR);
    const sub = subject();
    await linkFrom(b, op, 'op', { sub });
    const stranger = await signInBrowser(t, (await verifiedUser()).id, GOOD_PASSWORD, PASSWORD_ONLY_AMR);
    const page = await stranger.get('/account');
    expect((await stranger.post('/account/identities/unlink', { csrf: csrfOf(page.body), provider: 'op', subject: sub })).statusCode).toBe(404);
    const own = await b.get('/account');
    expect((await b.post('/account/identities/unlink', { csrf: csrfOf(own.body), provider: 'op', subject: sub })).statusCode).toBe(303);
    expect(await identitiesOf(user.id)).toEqual([]);
  });
});
});
