import { and, eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { mfaKeys } from '../../src/auth/mfa/factors.js';
import { openTotpSecret } from '../../src/auth/mfa/totp.js';
import { SealOpenError } from '../../src/core/secret-box.js';
import { auditEvents, events, oneTimeTokens, recoveryCodes, totpAuthenticators, users } from '../../src/db/schema.js';
import { bearer, refresh, signIn, signUp, useMailingApp, useTwoInstances, type SignedUp, type TestApp } from '../helpers/app.js';
import { serviceClients } from '../helpers/service-clients.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

// Second factors: an authenticator app (TOTP) with its recovery codes, the second step of sign-in, the assurance
// level in the tokens, and the code every sensitive change takes once a user has a factor.

const STEP_MS = 30_000;
const RECOVERY_CODE = /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/;

/** The code an authenticator app with this secret shows at `at`, computed here as the app does (RFC 6238). */
const codeAt = (secret: string, at: Date) => new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: at.getTime() });
const offset = (t: TestApp, steps: number) => new Date(t.clock.now().getTime() + steps * STEP_MS);

interface Enrolled extends SignedUp {
  secret: string;
  recoveryCodes: string[];
  accessToken: string;
}

const post = (t: TestApp, url: string, payload: Record<string, unknown>, token?: string) =>
  t.inject({ method: 'POST', url, payload, ...(token ? { headers: bearer(token) } : {}) });

/** A new user with a confirmed authenticator app. The clock is moved two steps on: the codes of the step before and this one are unused. */
async function enrolled(t: TestApp): Promise<Enrolled> {
  const user = await signUp(t);
  const { access_token: accessToken } = await signIn(t, user.email);
  const setup = await post(t, '/api/me/mfa/totp', { password: user.password }, accessToken);
  expect(setup.statusCode).toBe(200);
  const { secret } = setup.json();
  const confirmed = await post(t, '/api/me/mfa/totp/confirm', { code: codeAt(secret, t.clock.now()) }, accessToken);
  expect(confirmed.statusCode).toBe(200);
  t.clock.advance(60);
  return { ...user, secret, recoveryCodes: confirmed.json().recovery_codes, accessToken };
}

/** The first step: the right password of an account with a factor; its mfa_token. */
async function firstStep(t: TestApp, user: SignedUp): Promise<string> {
  const res = await post(t, '/api/signin', { email: user.email, password: user.password });
  expect(res.statusCode).toBe(403);
  const body = res.json();
  expect(body).toMatchObject({ error: 'mfa_required', methods: ['totp', 'recovery_code'] });
  expect(body).not.toHaveProperty('access_token');
  expect(body).not.toHaveProperty('refresh_token');
  return body.mfa_token;
}

const secondStep = (t: TestApp, mfaToken: string, factor: { code?: string; recovery_code?: string }) => post(t, '/api/signin/mfa', { mfa_token: mfaToken, ...factor });

describe('an authenticator app', () => {
  const { t, smtp } = useMailingApp();
  const me = async (token: string) => (await t.inject({ method: 'GET', url: '/api/me', headers: bearer(token) })).json().user;

  it('is set up with the password, pending until a first code confirms it, then shows in the account with ten recovery codes', async () => {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    expect((await post(t, '/api/me/mfa/totp', { password: 'not the password' }, access_token)).json().error).toBe('invalid_credentials');
    const setup = await post(t, '/api/me/mfa/totp', { password: user.password }, access_token);
    expect(setup.statusCode).toBe(200);
    const { secret, otpauth_uri, qr_svg } = setup.json();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(otpauth_uri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Latchkey:${user.email}`);
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ secret, issuer: 'Latchkey', algorithm: 'SHA1', digits: '6', period: '30' });
    expect(qr_svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    // Pending: nothing changes yet.
    expect((await me(access_token)).mfa).toEqual({ totp: false, passkeys: 0, recovery_codes_left: 0 });
    expect((await post(t, '/api/signin', { email: user.email, password: user.password })).statusCode).toBe(200);
    // Starting again replaces the pending secret: a code of the first no longer confirms.
    const again = (await post(t, '/api/me/mfa/totp', { password: user.password }, access_token)).json().secret;
    expect(again).not.toBe(secret);
    expect((await post(t, '/api/me/mfa/totp/confirm', { code: codeAt(secret, t.clock.now()) }, access_token)).json().error).toBe('invalid_mfa_code');
    const confirmed = await post(t, '/api/me/mfa/totp/confirm', { code: codeAt(again, t.clock.now()) }, access_token);
    expect(confirmed.statusCode).toBe(200);
    const codes: string[] = confirmed.json().recovery_codes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(RECOVERY_CODE);
    expect((await me(access_token)).mfa).toEqual({ totp: true, passkeys: 0, recovery_codes_left: 10 });
    expect((await post(t, '/api/me/mfa/totp', { password: user.password }, access_token)).json().error).toBe('mfa_already_enabled');
    expect((await post(t, '/api/me/mfa/totp/confirm', { code: codeAt(again, offset(t, 1)) }, access_token)).json().error).toBe('mfa_not_enrolled');
    const [event] = await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'user.mfa_enabled')));
    expect(event!.data).toMatchObject({ id: user.id, email: user.email });
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Two-step sign-in is on');
  });

  it('makes sign-in a second step: no token for the password alone, tokens at aal2 for the code, kept across refreshes', async () => {
    const user = await enrolled(t);
    const mfaToken = await firstStep(t, user);
    const res = await secondStep(t, mfaToken, { code: codeAt(user.secret, t.clock.now()) });
    expect(res.statusCode).toBe(200);
    const claims = decodeJwt(res.json().access_token);
    expect(claims).toMatchObject({ sub: user.id, amr: ['pwd', 'otp', 'mfa'], aal: 'aal2' });
    expect(res.json().user).toMatchObject({ id: user.id, email: user.email });
    const refreshed = await refresh(t, res.json().refresh_token);
    expect(decodeJwt(refreshed.json().access_token)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], aal: 'aal2' });
    // The token of a password alone, as before second factors.
    const plain = await signUp(t);
    expect(decodeJwt((await signIn(t, plain.email)).access_token)).toMatchObject({ amr: ['pwd'], aal: 'aal1' });
    // The mfa_token works once.
    expect((await secondStep(t, mfaToken, { code: codeAt(user.secret, offset(t, 1)) })).json().error).toBe('invalid_mfa_token');
  });

  it('takes a code once: a code that signed in, or an earlier one, is refused; a step either side is taken, two are not', async () => {
    const user = await enrolled(t);
    const now = t.clock.now();
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, offset(t, -2)) })).json().error).toBe('invalid_mfa_code');
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, offset(t, 2)) })).json().error).toBe('invalid_mfa_code');
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, offset(t, -1)) })).statusCode).toBe(200);
    // Replayed in the same step, and the code of the step just used: refused.
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, offset(t, -1)) })).json().error).toBe('invalid_mfa_code');
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, now) })).statusCode).toBe(200);
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, now) })).json().error).toBe('invalid_mfa_code');
    // The code of the step before the last one used, though within the window: refused.
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, offset(t, -1)) })).json().error).toBe('invalid_mfa_code');
    // Another user's code, at the right time: refused.
    const other = await enrolled(t);
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(other.secret, offset(t, 1)) })).json().error).toBe('invalid_mfa_code');
    const audit = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'signin_failed')));
    expect(audit.filter((a) => (a.details as { reason?: string } | null)?.reason === 'invalid_mfa_code')).toHaveLength(6);
  });

  it('ends an mfa_token after five wrong codes, after 5 minutes, and refuses unknown ones and bodies with no code or two', async () => {
    const user = await enrolled(t);
    const mfaToken = await firstStep(t, user);
    for (let i = 0; i < 5; i++) expect((await secondStep(t, mfaToken, { code: '000000' })).json().error).toBe('invalid_mfa_code');
    expect((await secondStep(t, mfaToken, { code: codeAt(user.secret, t.clock.now()) })).json().error).toBe('invalid_mfa_token');
    const late = await firstStep(t, user);
    t.clock.advance(301);
    expect((await secondStep(t, late, { code: codeAt(user.secret, t.clock.now()) })).json().error).toBe('invalid_mfa_token');
    expect((await secondStep(t, 'x'.repeat(43), { code: '123456' })).json().error).toBe('invalid_mfa_token');
    const fresh = await firstStep(t, user);
    expect((await secondStep(t, fresh, {})).json().error).toBe('invalid_request');
    expect((await secondStep(t, fresh, { code: codeAt(user.secret, t.clock.now()), recovery_code: user.recoveryCodes[0]! })).json().error).toBe('invalid_request');
    for (const code of ['12345', '1234567', 'abcdef', '12 34 56']) expect((await secondStep(t, fresh, { code })).statusCode).toBe(400);
    expect((await secondStep(t, fresh, { code: codeAt(user.secret, t.clock.now()) })).statusCode).toBe(200);
  });

  it('ends the second steps a credential change left waiting (here a sign-out everywhere)', async () => {
    const user = await enrolled(t);
    const waiting = await firstStep(t, user);
    t.clock.advance(1);
    expect((await t.inject({ method: 'POST', url: '/api/logout?scope=global', headers: bearer(user.accessToken) })).statusCode).toBe(200);
    expect((await secondStep(t, waiting, { code: codeAt(user.secret, t.clock.now()) })).json().error).toBe('invalid_mfa_token');
    expect((await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, t.clock.now()) })).statusCode).toBe(200);
  });

  it('signs in with a recovery code once, at aal2, in any case and spacing, and mails the owner', async () => {
    const user = await enrolled(t);
    const [first, second] = user.recoveryCodes;
    const res = await secondStep(t, await firstStep(t, user), { recovery_code: first!.toLowerCase().replaceAll('-', ' ') });
    expect(res.statusCode).toBe(200);
    expect(decodeJwt(res.json().access_token)).toMatchObject({ amr: ['pwd', 'mfa'], aal: 'aal2' });
    expect((await secondStep(t, await firstStep(t, user), { recovery_code: first! })).json().error).toBe('invalid_mfa_code');
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'A recovery code was used');
    expect(mail.text).toContain('9 codes are left');
    expect(mail.text).not.toContain(first!);
    expect((await me(res.json().access_token)).mfa.recovery_codes_left).toBe(9);
    // One code presented at once with two tokens: one sign-in.
    const tokens = await Promise.all([firstStep(t, user), firstStep(t, user), firstStep(t, user)]);
    const answers = await Promise.all(tokens.map((token) => secondStep(t, token, { recovery_code: second! })));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 401, 401]);
  });

  it('replaces the recovery codes, and is removed, only with the password and a code; then sign-in takes the password alone', async () => {
    const user = await enrolled(t);
    const token = user.accessToken;
    expect((await post(t, '/api/me/mfa/recovery-codes', { password: user.password }, token)).json().error).toBe('invalid_mfa_code');
    expect((await post(t, '/api/me/mfa/recovery-codes', { password: 'wrong password', code: codeAt(user.secret, t.clock.now()) }, token)).json().error).toBe('invalid_credentials');
    const replaced = await post(t, '/api/me/mfa/recovery-codes', { password: user.password, code: codeAt(user.secret, t.clock.now()) }, token);
    expect(replaced.statusCode).toBe(200);
    const fresh: string[] = replaced.json().recovery_codes;
    expect(fresh.some((c) => user.recoveryCodes.includes(c))).toBe(false);
    expect((await secondStep(t, await firstStep(t, user), { recovery_code: user.recoveryCodes[1]! })).json().error).toBe('invalid_mfa_code');

    const remove = (payload: Record<string, unknown>) => t.inject({ method: 'DELETE', url: '/api/me/mfa/totp', headers: bearer(token), payload });
    expect((await remove({ password: user.password })).json().error).toBe('invalid_mfa_code');
    expect((await remove({ password: user.password, code: '000000' })).json().error).toBe('invalid_mfa_code');
    expect((await remove({ password: user.password, recovery_code: fresh[0] })).statusCode).toBe(200);
    expect((await me(token)).mfa).toEqual({ totp: false, passkeys: 0, recovery_codes_left: 0 });
    expect(await t.deps.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, user.id))).toEqual([]);
    const signin = await post(t, '/api/signin', { email: user.email, password: user.password });
    expect(signin.statusCode).toBe(200);
    expect(decodeJwt(signin.json().access_token)).toMatchObject({ aal: 'aal1' });
    expect(await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'user.mfa_disabled')))).toHaveLength(1);
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Two-step sign-in is off');
  });

  it('guards the password change, the email change and the deletion with a code, changing nothing without one', async () => {
    const user = await enrolled(t);
    const token = user.accessToken;
    const hashBefore = (await t.deps.db.select().from(users).where(eq(users.id, user.id)))[0]!.passwordHash;
    const change = { current_password: user.password, new_password: 'a brand new passphrase' };
    expect((await post(t, '/api/me/password', change, token)).json().error).toBe('invalid_mfa_code');
    expect((await post(t, '/api/me/password', { ...change, code: '000000' }, token)).json().error).toBe('invalid_mfa_code');
    expect((await t.deps.db.select().from(users).where(eq(users.id, user.id)))[0]!.passwordHash).toBe(hashBefore);
    expect((await post(t, '/api/me/email', { email: `new-${user.email}`, password: user.password }, token)).json().error).toBe('invalid_mfa_code');
    const del = await t.inject({ method: 'DELETE', url: '/api/me', headers: bearer(token), payload: { password: user.password } });
    expect(del.json().error).toBe('invalid_mfa_code');
    expect(await t.deps.db.select().from(users).where(eq(users.id, user.id))).toHaveLength(1);
    const changed = await post(t, '/api/me/password', { ...change, code: codeAt(user.secret, t.clock.now()) }, token);
    expect(changed.statusCode).toBe(200);
    expect(decodeJwt(changed.json().access_token)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], aal: 'aal2' });
  });

  it('leaves a copy of the database nothing usable: no secret, recovery code or mfa_token in it, and secrets open only with SECRET_KEY for their own user', async () => {
    const user = await enrolled(t);
    const mfaToken = await firstStep(t, user);
    const dump = JSON.stringify([
      await t.deps.db.select().from(totpAuthenticators),
      await t.deps.db.select().from(recoveryCodes),
      await t.deps.db.select().from(oneTimeTokens),
    ]);
    expect(dump).not.toContain(user.secret);
    for (const code of user.recoveryCodes) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replaceAll('-', ''));
    }
    expect(dump).not.toContain(mfaToken);
    const [row] = await t.deps.db.select().from(totpAuthenticators).where(eq(totpAuthenticators.userId, user.id));
    expect(openTotpSecret(t.deps.mfaKeys.totp, user.id, row!.secretSealed)).toBe(user.secret);
    expect(() => openTotpSecret(mfaKeys('another secret key, not this server\'s').totp, user.id, row!.secretSealed)).toThrow(SealOpenError);
    const other = await signUp(t);
    expect(() => openTotpSecret(t.deps.mfaKeys.totp, other.id, row!.secretSealed)).toThrow(SealOpenError);
  });
});

describe("an operator's reset of a lost authenticator app", () => {
  const { t, smtp } = useMailingApp();
  const { client, auth, call } = serviceClients(() => t, 'mfa-reset');

  it('removes the app and the recovery codes (admin scope only), audited with the operator, mailed, and signs in with the password alone', async () => {
    const [admin, reader] = [await client(['admin']), await client(['users:read'])];
    const user = await enrolled(t);
    const url = `/api/admin/users/${user.id}/mfa/reset`;
    expect((await call('POST', url, auth(reader))).statusCode).toBe(403);
    expect((await post(t, '/api/signin', { email: user.email, password: user.password })).statusCode).toBe(403);
    const reset = await call('POST', url, auth(admin));
    expect(reset.statusCode).toBe(200);
    expect(reset.json()).toMatchObject({ removed: true, user: { id: user.id, email: user.email } });
    expect((await post(t, '/api/signin', { email: user.email, password: user.password })).statusCode).toBe(200);
    expect(await t.deps.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, user.id))).toEqual([]);
    const [audit] = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'mfa_disabled')));
    expect(audit!.details).toMatchObject({ actor: `service:${admin.name}` });
    expect(await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'user.mfa_disabled')))).toHaveLength(1);
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Two-step sign-in was reset');
    expect((await call('POST', url, auth(admin))).json().removed).toBe(false);
  });
});

describe('second-factor codes per account (RATE_LIMIT_MFA)', () => {
  const { t } = useMailingApp({ RATE_LIMIT_MFA: '3/15m' });

  it('refuses tries past the limit across tokens, even the right code, until the window passes', async () => {
    const user = await enrolled(t);
    for (let i = 0; i < 2; i++) expect((await secondStep(t, await firstStep(t, user), { code: '000000' })).statusCode).toBe(401);
    const refused = await secondStep(t, await firstStep(t, user), { code: codeAt(user.secret, t.clock.now()) });
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describeUnless(NO_POSTGRES)('two instances', () => {
  const { a, b } = useTwoInstances();

  it('share the replay protection: a code used on one is refused on the other', async () => {
    const user = await enrolled(a);
    const code = codeAt(user.secret, a.clock.now());
    expect((await secondStep(a, await firstStep(a, user), { code })).statusCode).toBe(200);
    expect((await secondStep(b, await firstStep(b, user), { code })).json().error).toBe('invalid_mfa_code');
  });
});
