import { createHash, randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { auditEvents, events, passkeys, recoveryCodes, spentSigninChallenges, users, webauthnChallenges } from '../../src/db/schema.js';
import { purgeExpiredRows } from '../../src/auth/maintenance/purge.js';
import { makeSigninChallenge, signinChallengeKey } from '../../src/auth/mfa/signin-challenges.js';
import { SoftwareAuthenticator, type Bend } from '../helpers/authenticator.js';
import { bearer, PUBLIC_URL, refresh, signIn, signUp, useMailingApp, type TestApp } from '../helpers/app.js';
import { creationOptions, withPasskey } from '../helpers/passkeys.js';
import { serviceClients } from '../helpers/service-clients.js';

// Passkeys (WebAuthn), driven by a software authenticator that signs as a browser and a platform authenticator
// would: registered with the password, a sign-in on their own and a second factor after a password, a step-up,
// removed with a proof; and every answer a hostile client could bend, refused.

type Json = Record<string, unknown>;
const post = (t: TestApp, url: string, payload?: Json, token?: string) =>
  t.inject({ method: 'POST', url, ...(payload ? { payload } : {}), ...(token ? { headers: bearer(token) } : {}) });

/** A passkey sign-in: the options, the authenticator's answer (bent as asked), and the server's answer. */
async function passkeySignIn(t: TestApp, authenticator: SoftwareAuthenticator, bend: Bend = {}) {
  const options = (await post(t, '/api/signin/passkey/options')).json();
  return post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: authenticator.get(options, bend) });
}

describe('registering a passkey', () => {
  const { t, smtp } = useMailingApp();

  it('takes the password, answers the browser’s creation options, and stores the public key alone; with the first factor come ten recovery codes', async () => {
    const user = await signUp(t);
    const { access_token: token } = await signIn(t, user.email);
    expect((await post(t, '/api/me/passkeys/options', {}, token)).statusCode).toBe(400);
    expect((await post(t, '/api/me/passkeys/options', { password: 'not the password' }, token)).json().error).toBe('invalid_credentials');
    const options = await creationOptions(t, user, token);
    expect(options).toMatchObject({
      rp: { id: 'latchkey.test', name: 'Latchkey' },
      user: { id: Buffer.from(user.id).toString('base64url'), name: user.email },
      attestation: 'none',
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      excludeCredentials: [],
    });
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(options.pubKeyCredParams).toContainEqual({ type: 'public-key', alg: -7 });

    const authenticator = new SoftwareAuthenticator(PUBLIC_URL);
    const answer = authenticator.create(options);
    const registered = await post(t, '/api/me/passkeys', { response: answer, name: 'Laptop' }, token);
    expect(registered.statusCode, registered.body).toBe(201);
    const { passkey, recovery_codes } = registered.json();
    expect(passkey).toMatchObject({ name: 'Laptop', last_used_at: null, synced: false });
    expect(recovery_codes).toHaveLength(10);
    // The same answer again: its challenge is spent.
    expect((await post(t, '/api/me/passkeys', { response: answer }, token)).json().error).toBe('invalid_passkey_registration');

    const me = (await t.inject({ method: 'GET', url: '/api/me', headers: bearer(token) })).json().user;
    expect(me.mfa).toEqual({ totp: false, passkeys: 1, recovery_codes_left: 10 });
    expect((await t.inject({ method: 'GET', url: '/api/me/passkeys', headers: bearer(token) })).json().passkeys).toEqual([passkey]);
    const [row] = await t.deps.db.select().from(passkeys).where(eq(passkeys.userId, user.id));
    expect(row).toMatchObject({ credentialId: answer.id, counter: 0, transports: ['internal'] });
    expect(await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'user.mfa_enabled')))).toHaveLength(1);
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'A passkey was added');

    // The second passkey needs a second factor now, lists the first as excluded, and brings no new codes.
    const again = await post(t, '/api/me/passkeys/options', { password: user.password }, token);
    expect(again.json().error).toBe('invalid_mfa_code');
    const second = await creationOptions(t, user, token, { recovery_code: recovery_codes[0] });
    expect(second.excludeCredentials).toEqual([{ id: answer.id, type: 'public-key', transports: ['internal'] }]);
    // A second passkey of the same authenticator.
    const copy = authenticator.create(second);
    const made = await post(t, '/api/me/passkeys', { response: copy }, token);
    expect(made.statusCode).toBe(201);
    expect(made.json()).not.toHaveProperty('recovery_codes');
    expect(made.json().passkey.name).toBe('Passkey');
  });

  it('refuses answers for another origin, another RP ID, without user verification or presence, to another user’s or another ceremony’s challenge', async () => {
    const user = await signUp(t);
    const { access_token: token } = await signIn(t, user.email);
    const authenticator = new SoftwareAuthenticator(PUBLIC_URL);
    const refused = async (response: Json) => expect((await post(t, '/api/me/passkeys', { response }, token)).json().error).toBe('invalid_passkey_registration');
    await refused(authenticator.create(await creationOptions(t, user, token), { origin: 'https://evil.example' }));
    await refused(authenticator.create(await creationOptions(t, user, token), { rpId: 'evil.example' }));
    await refused(authenticator.create(await creationOptions(t, user, token), { noUserVerification: true }));
    await refused(authenticator.create(await creationOptions(t, user, token), { noUserPresence: true }));
    await refused(authenticator.create(await creationOptions(t, user, token), { type: 'webauthn.get' }));
    // Another user's challenge.
    const other = await signUp(t);
    const otherOptions = await creationOptions(t, other, (await signIn(t, other.email)).access_token);
    await refused(authenticator.create({ ...(await creationOptions(t, user, token)), challenge: otherOptions.challenge }));
    // A sign-in's challenge, and a made-up one.
    const signinChallenge = (await post(t, '/api/signin/passkey/options')).json().challenge;
    await refused(authenticator.create({ ...(await creationOptions(t, user, token)), challenge: signinChallenge }));
    await refused(authenticator.create({ ...(await creationOptions(t, user, token)), challenge: Buffer.alloc(32, 7).toString('base64url') }));
    // An expired one.
    const stale = await creationOptions(t, user, token);
    t.clock.advance(301);
    await refused(authenticator.create(stale));
    expect(await t.deps.db.select().from(passkeys).where(eq(passkeys.userId, user.id))).toEqual([]);
    // Bodies that are not an answer at all.
    for (const response of [{}, { id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: 'not base64url!', attestationObject: 'AA' } }]) {
      expect((await post(t, '/api/me/passkeys', { response }, token)).statusCode).toBe(400);
    }
    const garbage = { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' } };
    expect((await post(t, '/api/me/passkeys', { response: garbage }, token)).json().error).toBe('invalid_passkey_registration');
  });
});

describe('signing in with a passkey', () => {
  const { t, smtp } = useMailingApp();

  it('opens a session at aal2 with no password, and keeps the level across refreshes', async () => {
    const user = await withPasskey(t);
    const res = await passkeySignIn(t, user.authenticator);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.user).toMatchObject({ id: user.id, email: user.email });
    expect(decodeJwt(body.access_token)).toMatchObject({ sub: user.id, amr: ['hwk', 'user', 'mfa'], aal: 'aal2' });
    const refreshed = await refresh(t, body.refresh_token);
    expect(decodeJwt(refreshed.json().access_token)).toMatchObject({ amr: ['hwk', 'user', 'mfa'], aal: 'aal2' });
    const [row] = await t.deps.db.select().from(passkeys).where(eq(passkeys.id, user.passkeyId));
    expect(row).toMatchObject({ counter: 1 });
    expect(row!.lastUsedAt).not.toBeNull();
    const [audit] = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'signin_succeeded')));
    expect(audit).toBeDefined();
  });

  it('refuses a replayed answer, another origin or RP ID, no user verification, a challenge of another ceremony, a forged signature and a counter gone back', async () => {
    const user = await withPasskey(t);
    const refused = async (res: Promise<{ statusCode: number; json(): Json }>) => {
      const r = await res;
      expect(r.statusCode).toBe(401);
      expect(r.json().error).toBe('invalid_passkey');
    };
    const options = (await post(t, '/api/signin/passkey/options')).json();
    const answer = user.authenticator.get(options);
    expect((await post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: answer })).statusCode).toBe(200);
    await refused(post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: answer }));
    await refused(passkeySignIn(t, user.authenticator, { origin: 'https://evil.example' }));
    await refused(passkeySignIn(t, user.authenticator, { rpId: 'evil.example' }));
    await refused(passkeySignIn(t, user.authenticator, { noUserVerification: true }));
    await refused(passkeySignIn(t, user.authenticator, { type: 'webauthn.create' }));
    await refused(passkeySignIn(t, user.authenticator, { crossOrigin: true }));
    // A challenge made to confirm a signed-in user, answered at sign-in.
    const confirm = (await post(t, '/api/me/mfa/passkey-options', undefined, user.token)).json();
    await refused(post(t, '/api/signin/passkey', { challenge_id: confirm.challenge, response: user.authenticator.get(confirm) }));
    // The challenge_id of one challenge with the answer to another.
    const [first, second] = [(await post(t, '/api/signin/passkey/options')).json(), (await post(t, '/api/signin/passkey/options')).json()];
    await refused(post(t, '/api/signin/passkey', { challenge_id: first.challenge_id, response: user.authenticator.get(second) }));
    // A signature over other data.
    const forged = user.authenticator.get((await post(t, '/api/signin/passkey/options')).json());
    forged.response.signature = user.authenticator.get((await post(t, '/api/signin/passkey/options')).json()).response.signature;
    await refused(post(t, '/api/signin/passkey', { challenge_id: JSON.parse(Buffer.from(forged.response.clientDataJSON, 'base64url').toString()).challenge, response: forged }));
    // An unknown credential.
    const stranger = new SoftwareAuthenticator(PUBLIC_URL);
    stranger.create({ challenge: 'AAAA', rp: { id: 'latchkey.test' }, user: { id: Buffer.from(user.id).toString('base64url') } });
    await refused(passkeySignIn(t, stranger));
    // A clone: the counter behind the one stored.
    const before = (await t.deps.db.select().from(passkeys).where(eq(passkeys.id, user.passkeyId)))[0]!.counter;
    await refused(passkeySignIn(t, user.authenticator, { counter: before - 1 }));
    await refused(passkeySignIn(t, user.authenticator, { counter: before }));
    const clones = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'passkey_clone_suspected')));
    expect(clones).toHaveLength(2);
    expect(clones[0]!.details).toMatchObject({ passkey_id: user.passkeyId, stored_counter: before });
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'A passkey of yours may have been copied');
    // Each refusal of one of the user's passkeys is audited for them.
    const failed = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'signin_failed')));
    expect(failed.length).toBeGreaterThanOrEqual(9);
    expect(failed.every((e) => (e.details as { reason?: string }).reason === 'invalid_passkey')).toBe(true);
    // The real authenticator still signs in: its counter is ahead.
    expect((await passkeySignIn(t, user.authenticator)).statusCode).toBe(200);
  });

  it('checks Ed25519 and RSA passkeys as it does P-256 ones: their signatures, and no other key’s', async () => {
    for (const algorithm of ['EdDSA', 'RS256'] as const) {
      const user = await withPasskey(t, new SoftwareAuthenticator(PUBLIC_URL, false, algorithm));
      const res = await passkeySignIn(t, user.authenticator);
      expect(res.statusCode, `${algorithm}: ${res.body}`).toBe(200);
      expect(decodeJwt(res.json().access_token)).toMatchObject({ sub: user.id, amr: ['hwk', 'user', 'mfa'] });
      // The same answer, signed by another key of the same kind.
      const other = new SoftwareAuthenticator(PUBLIC_URL, false, algorithm);
      other.create({ challenge: 'AAAA', rp: { id: 'latchkey.test' }, user: { id: Buffer.from(user.id).toString('base64url') } });
      const options = (await post(t, '/api/signin/passkey/options')).json();
      const answer = user.authenticator.get(options);
      answer.response.signature = other.get(options).response.signature;
      expect((await post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: answer })).json().error, algorithm).toBe('invalid_passkey');
    }
  });

  it('takes a sign-in challenge only as this server made it, unexpired: not altered, not extended, not made under another key', async () => {
    const user = await withPasskey(t);
    const answerWith = (challenge: string) => post(t, '/api/signin/passkey', { challenge_id: challenge, response: user.authenticator.get({ challenge }) });
    const made = (await post(t, '/api/signin/passkey/options')).json().challenge_id as string;
    const bytes = Buffer.from(made, 'base64url');
    expect(bytes.length, 'random part, expiry and MAC').toBe(52);
    // The expiry (bytes 32 to 35, in seconds) pushed an hour on: the MAC no longer matches.
    const extended = Buffer.from(bytes);
    extended.writeUInt32BE(bytes.readUInt32BE(32) + 3600, 32);
    const altered = Buffer.from(bytes);
    altered[0]! ^= 1;
    for (const challenge of [extended, altered, Buffer.alloc(52, 7)].map((b) => b.toString('base64url'))) {
      expect((await answerWith(challenge)).json().error).toBe('invalid_passkey');
    }
    // One made under another SECRET_KEY.
    const elsewhere = makeSigninChallenge(signinChallengeKey(randomBytes(32)), t.clock.now(), 300);
    expect((await answerWith(elsewhere)).json().error).toBe('invalid_passkey');
    // Expired: five minutes on.
    const stale = (await post(t, '/api/signin/passkey/options')).json().challenge_id as string;
    t.clock.advance(301);
    expect((await answerWith(stale)).json().error).toBe('invalid_passkey');
    // The one made as it is, in time.
    expect((await answerWith((await post(t, '/api/signin/passkey/options')).json().challenge_id)).statusCode).toBe(200);
  });

  it('keeps a spent sign-in challenge, as its hash, until it expires; the purge takes it then', async () => {
    const user = await withPasskey(t);
    const stored = async () => (await t.deps.db.select().from(spentSigninChallenges)).map((r) => r.challengeHash);
    const before = await stored();
    const options = (await post(t, '/api/signin/passkey/options')).json();
    expect(await stored(), 'nothing stored for options').toEqual(before);
    expect((await post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: user.authenticator.get(options) })).statusCode).toBe(200);
    const hash = createHash('sha256').update(options.challenge_id).digest('hex');
    expect(await stored()).toEqual([...before, hash]);
    t.clock.advance(300 + 61);
    expect((await purgeExpiredRows(t.deps.db, t.deps.clock, t.deps.config)).webauthnChallenges).toBeGreaterThanOrEqual(1);
    expect(await stored()).not.toContain(hash);
  });

  it('takes a synced passkey’s counter of 0 every time, as swk', async () => {
    const user = await withPasskey(t, new SoftwareAuthenticator(PUBLIC_URL, true));
    for (let i = 0; i < 2; i += 1) {
      const res = await passkeySignIn(t, user.authenticator);
      expect(res.statusCode, res.body).toBe(200);
      expect(decodeJwt(res.json().access_token)).toMatchObject({ amr: ['swk', 'user', 'mfa'], aal: 'aal2' });
    }
    expect((await t.inject({ method: 'GET', url: '/api/me/passkeys', headers: bearer(user.token) })).json().passkeys[0].synced).toBe(true);
  });

  it('opens one session for one challenge however many present it at once', async () => {
    const user = await withPasskey(t);
    const options = (await post(t, '/api/signin/passkey/options')).json();
    const answer = user.authenticator.get(options);
    const results = await Promise.all(Array.from({ length: 4 }, () => post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: answer })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401, 401, 401]);
  });

  it('refuses a disabled account once the passkey checked out', async () => {
    const user = await withPasskey(t);
    await t.deps.db.update(users).set({ disabledAt: t.clock.now() }).where(eq(users.id, user.id));
    expect((await passkeySignIn(t, user.authenticator)).json().error).toBe('account_disabled');
  });

  it('leaves a copy of the database nothing usable: public keys, and challenges only as hashes', async () => {
    const user = await withPasskey(t);
    const options = (await post(t, '/api/signin/passkey/options')).json();
    const confirm = (await post(t, '/api/me/mfa/passkey-options', undefined, user.token)).json();
    expect((await post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: user.authenticator.get(options) })).statusCode).toBe(200);
    const tables = [passkeys, webauthnChallenges, spentSigninChallenges] as const;
    const dump = JSON.stringify(await Promise.all(tables.map((table) => t.deps.db.select().from(table))));
    expect(dump).not.toContain(options.challenge_id);
    expect(dump).not.toContain(confirm.challenge);
    const [row] = await t.deps.db.select().from(passkeys).where(eq(passkeys.id, user.passkeyId));
    // A COSE EC2 public key: kty 2, alg -7, crv 1, x and y; no private part.
    expect(Buffer.from(row!.publicKey, 'base64url').length).toBeLessThan(100);
  });
});

describe('a passkey as a second factor', () => {
  const { t, smtp } = useMailingApp();

  it('finishes a password sign-in at aal2, with a challenge made for that second step', async () => {
    const user = await withPasskey(t);
    const first = await post(t, '/api/signin', { email: user.email, password: user.password });
    expect(first.statusCode).toBe(403);
    expect(first.json()).toMatchObject({ error: 'mfa_required', methods: ['recovery_code', 'passkey'] });
    const mfaToken = first.json().mfa_token;
    const options = (await post(t, '/api/signin/mfa/passkey-options', { mfa_token: mfaToken })).json();
    expect(options.allowCredentials).toEqual([expect.objectContaining({ id: user.authenticator.credentials[0]!.id.toString('base64url') })]);
    // A sign-in's challenge does not finish a second step.
    const signinOptions = (await post(t, '/api/signin/passkey/options')).json();
    const wrong = await post(t, '/api/signin/mfa', { mfa_token: mfaToken, passkey: user.authenticator.get(signinOptions) });
    expect(wrong.json().error).toBe('invalid_mfa_code');
    const done = await post(t, '/api/signin/mfa', { mfa_token: mfaToken, passkey: user.authenticator.get(options) });
    expect(done.statusCode, done.body).toBe(200);
    expect(decodeJwt(done.json().access_token)).toMatchObject({ amr: ['pwd', 'hwk', 'user', 'mfa'], aal: 'aal2' });
    expect((await post(t, '/api/signin/mfa/passkey-options', { mfa_token: mfaToken })).json().error).toBe('invalid_mfa_token');
  });

  it('steps an aal1 session up to aal2 with a fresh access token, which the session’s refreshes keep', async () => {
    const user = await withPasskey(t);
    // The session opened before the passkey was added is aal1.
    expect(decodeJwt(user.token)).toMatchObject({ aal: 'aal1' });
    expect((await post(t, '/api/me/mfa/step-up', { code: '123456' }, user.token)).json().error).toBe('invalid_mfa_code');
    expect((await post(t, '/api/me/mfa/step-up', {}, user.token)).json().error).toBe('invalid_request');
    const options = (await post(t, '/api/me/mfa/passkey-options', undefined, user.token)).json();
    const up = await post(t, '/api/me/mfa/step-up', { passkey: user.authenticator.get(options) }, user.token);
    expect(up.statusCode, up.body).toBe(200);
    expect(up.json()).toMatchObject({ token_type: 'Bearer', aal: 'aal2' });
    const claims = decodeJwt(up.json().access_token);
    expect(claims).toMatchObject({ sid: decodeJwt(user.token).sid, aal: 'aal2' });
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'hwk', 'user', 'mfa']));
    expect((await t.inject({ method: 'GET', url: '/api/me', headers: bearer(up.json().access_token) })).statusCode).toBe(200);
    const [audit] = await t.deps.db.select().from(auditEvents).where(and(eq(auditEvents.userId, user.id), eq(auditEvents.type, 'mfa_step_up')));
    expect(audit!.details).toMatchObject({ mfa: 'passkey' });
  });

  it('answers a step-up without a factor 409 mfa_not_enrolled', async () => {
    const user = await signUp(t);
    const { access_token } = await signIn(t, user.email);
    expect((await post(t, '/api/me/mfa/step-up', { code: '123456' }, access_token)).json().error).toBe('mfa_not_enrolled');
  });

  it('is renamed, and removed only with the password and a second factor (itself will do); with the last factor go the recovery codes', async () => {
    const user = await withPasskey(t);
    const url = `/api/me/passkeys/${user.passkeyId}`;
    const renamed = await t.inject({ method: 'PATCH', url, headers: bearer(user.token), payload: { name: 'Phone' } });
    expect(renamed.json().passkey).toMatchObject({ id: user.passkeyId, name: 'Phone' });
    // Another user's passkey is not found, for renaming or removal.
    const other = await signUp(t);
    const otherToken = (await signIn(t, other.email)).access_token;
    expect((await t.inject({ method: 'PATCH', url, headers: bearer(otherToken), payload: { name: 'Mine' } })).statusCode).toBe(404);
    expect((await t.inject({ method: 'DELETE', url, headers: bearer(otherToken), payload: { password: other.password } })).statusCode).toBe(404);
    const remove = (payload: Json) => t.inject({ method: 'DELETE', url, headers: bearer(user.token), payload });
    expect((await remove({ password: user.password })).json().error).toBe('invalid_mfa_code');
    const options = (await post(t, '/api/me/mfa/passkey-options', undefined, user.token)).json();
    expect((await remove({ password: 'wrong password', passkey: user.authenticator.get(options) })).json().error).toBe('invalid_credentials');
    const fresh = (await post(t, '/api/me/mfa/passkey-options', undefined, user.token)).json();
    const removed = await remove({ password: user.password, passkey: user.authenticator.get(fresh) });
    expect(removed.statusCode, removed.body).toBe(200);
    expect(await t.deps.db.select().from(passkeys).where(eq(passkeys.userId, user.id))).toEqual([]);
    expect(await t.deps.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, user.id))).toEqual([]);
    expect(await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'user.mfa_disabled')))).toHaveLength(1);
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Two-step sign-in is off');
    expect((await post(t, '/api/signin', { email: user.email, password: user.password })).statusCode).toBe(200);
  });

  it('keeps the recovery codes when an authenticator app is added beside it, and when one of two factors goes', async () => {
    const user = await withPasskey(t);
    // With a passkey, setting up an app takes a second factor too: the password and an older session are not enough.
    expect((await post(t, '/api/me/mfa/totp', { password: user.password }, user.token)).json().error).toBe('invalid_mfa_code');
    const setup = await post(t, '/api/me/mfa/totp', { password: user.password, recovery_code: user.recoveryCodes[0] }, user.token);
    const code = new TOTP({ secret: Secret.fromBase32(setup.json().secret) }).generate({ timestamp: t.clock.now().getTime() });
    const confirmed = await post(t, '/api/me/mfa/totp/confirm', { code }, user.token);
    expect(confirmed.json().recovery_codes).toEqual([]);
    const first = await post(t, '/api/signin', { email: user.email, password: user.password });
    expect(first.json().methods).toEqual(['totp', 'recovery_code', 'passkey']);
    const options = (await post(t, '/api/me/mfa/passkey-options', undefined, user.token)).json();
    const removed = await t.inject({ method: 'DELETE', url: `/api/me/passkeys/${user.passkeyId}`, headers: bearer(user.token), payload: { password: user.password, passkey: user.authenticator.get(options) } });
    expect(removed.statusCode).toBe(200);
    expect((await t.deps.db.select().from(recoveryCodes).where(eq(recoveryCodes.userId, user.id))).length).toBe(10);
    expect(await t.deps.db.select().from(events).where(and(eq(events.userId, user.id), eq(events.type, 'user.mfa_disabled')))).toHaveLength(0);
    await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'A passkey was removed');
  });
});

describe('roles that must have a second factor (REQUIRE_MFA_FOR_ROLES)', () => {
  const { t } = useMailingApp();
  const { client, auth, call } = serviceClients(() => t, 'passkeys-admin');

  it('give an admin without one an enrollment token that opens the enrolment routes alone, until a factor is enrolled', async () => {
    const admin = await signUp(t);
    await t.deps.db.update(users).set({ role: 'admin' }).where(eq(users.id, admin.id));
    const first = await post(t, '/api/signin', { email: admin.email, password: admin.password });
    expect(first.statusCode).toBe(403);
    const body = first.json();
    expect(body.error).toBe('mfa_enrollment_required');
    expect(body).not.toHaveProperty('access_token');
    const token: string = body.enrollment_token;
    for (const [method, url] of [['GET', '/api/me'], ['GET', '/api/me/sessions'], ['GET', '/api/me/passkeys'], ['POST', '/api/me/mfa/step-up']] as const) {
      expect((await t.inject({ method, url, headers: bearer(token), ...(method === 'POST' ? { payload: { code: '123456' } } : {}) })).statusCode, url).toBe(401);
    }
    const authenticator = new SoftwareAuthenticator(PUBLIC_URL);
    const options = await creationOptions(t, admin, token);
    const registered = await post(t, '/api/me/passkeys', { response: authenticator.create(options) }, token);
    expect(registered.statusCode, registered.body).toBe(201);
    expect(registered.json().recovery_codes).toHaveLength(10);
    // Enrolled: the token is spent, and sign-in takes the factor.
    expect((await post(t, '/api/me/passkeys/options', { password: admin.password }, token)).statusCode).toBe(401);
    expect((await post(t, '/api/signin', { email: admin.email, password: admin.password })).json().error).toBe('mfa_required');
    expect((await passkeySignIn(t, authenticator)).statusCode).toBe(200);
    // An operator's reset brings the requirement back, and removes the passkeys.
    const operator = await client(['admin']);
    // The admin API shows the factors, never a secret.
    const shown = (await call('GET', `/api/admin/users/${admin.id}`, auth(operator))).json();
    expect(shown.mfa).toEqual({ totp: false, passkeys: 1, recovery_codes_left: 10 });
    expect((await call('POST', `/api/admin/users/${admin.id}/mfa/reset`, auth(operator))).json().removed).toBe(true);
    expect(await t.deps.db.select().from(passkeys).where(eq(passkeys.userId, admin.id))).toEqual([]);
    expect((await post(t, '/api/signin', { email: admin.email, password: admin.password })).json().error).toBe('mfa_enrollment_required');
  });
});
