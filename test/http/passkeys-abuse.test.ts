import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { encodeCBOR, type CBORType } from '@levischuck/tiny-cbor';
import { eq } from 'drizzle-orm';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { sessions, users, webauthnChallenges } from '../../src/db/schema.js';
import { SoftwareAuthenticator } from '../helpers/authenticator.js';
import { withPasskey } from '../helpers/passkeys.js';
import { bearer, PUBLIC_URL, signIn, signUp, useMailingApp, type SignedUp, type TestApp } from '../helpers/app.js';

// A hostile look at second factors: what an attacker holding some of a user's credentials (the password, an
// access token, a recovery code, a passkey of their own account, an enrollment token) can or cannot reach.

type Json = Record<string, unknown>;
type Res = Awaited<ReturnType<TestApp['inject']>>;
const post = (t: TestApp, url: string, payload?: Json, token?: string, remoteAddress?: string) =>
  t.inject({ method: 'POST', url, ...(payload ? { payload } : {}), ...(token ? { headers: bearer(token) } : {}), ...(remoteAddress ? { remoteAddress } : {}) });
const codeAt = (secret: string, at: Date) => new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: at.getTime() });
const b64 = (data: Uint8Array | string) => Buffer.from(data).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();
const RP_ID = new URL(PUBLIC_URL).hostname;

const confirmOptions = async (t: TestApp, token: string) => {
  const res = await post(t, '/api/me/mfa/passkey-options', undefined, token);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

/** The first step of a password sign-in of an account with a factor: its mfa_token. */
async function mfaTokenOf(t: TestApp, user: SignedUp): Promise<string> {
  const res = await post(t, '/api/signin', { email: user.email, password: user.password });
  expect(res.json().error).toBe('mfa_required');
  return res.json().mfa_token;
}

const secondStepOptions = async (t: TestApp, mfaToken: string) => {
  const res = await post(t, '/api/signin/mfa/passkey-options', { mfa_token: mfaToken });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

const signinOptions = async (t: TestApp) => (await post(t, '/api/signin/passkey/options')).json();

/** A registration answer made by hand around any COSE key, for the keys an authenticator would never send. */
function handmadeRegistration(options: { challenge: string }, cose: Map<number, CBORType>, credentialId = randomBytes(16)) {
  const idLength = Buffer.alloc(2);
  idLength.writeUInt16BE(credentialId.length);
  const authData = Buffer.concat([sha256(RP_ID), Buffer.from([0x45]), Buffer.alloc(4), Buffer.alloc(16), idLength, credentialId, Buffer.from(encodeCBOR(cose))]);
  const attestationObject = encodeCBOR(new Map<string, CBORType>([['fmt', 'none'], ['attStmt', new Map<string, CBORType>()], ['authData', authData]]));
  const clientDataJSON = JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: PUBLIC_URL, crossOrigin: false });
  return {
    id: b64(credentialId),
    rawId: b64(credentialId),
    type: 'public-key',
    response: { clientDataJSON: b64(clientDataJSON), attestationObject: b64(attestationObject), transports: ['internal'] },
    clientExtensionResults: {},
  };
}

/** An assertion of `credentialId` signed by a key that is not the registered one. */
function strangerAssertion(options: { challenge: string }, credentialId: Buffer) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const counter = Buffer.alloc(4);
  counter.writeUInt32BE(1);
  const authData = Buffer.concat([sha256(RP_ID), Buffer.from([0x05]), counter]);
  const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: PUBLIC_URL, crossOrigin: false }));
  return {
    id: b64(credentialId),
    rawId: b64(credentialId),
    type: 'public-key',
    response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), privateKey)) },
    clientExtensionResults: {},
  };
}

const noServerError = (res: Res, what: string) => expect(res.statusCode, `${what}: ${res.body}`).toBeLessThan(500);

describe('an authenticator app added to a passkey account', () => {
  const { t } = useMailingApp();

  it('refuses to set up an authenticator app on a passkey account without a second factor (a stolen session and the password are not enough)', async () => {
    const victim = await withPasskey(t);
    // The attacker holds the password and the aal1 session opened before the passkey (never ended by its enrolment).
    const setup = await post(t, '/api/me/mfa/totp', { password: victim.password }, victim.token);
    const secret: string | undefined = setup.json().secret;
    if (secret) await post(t, '/api/me/mfa/totp/confirm', { code: codeAt(secret, t.clock.now()) }, victim.token);
    t.clock.advance(60);
    const mfaToken = await mfaTokenOf(t, victim);
    const takeover = secret ? await post(t, '/api/signin/mfa', { mfa_token: mfaToken, code: codeAt(secret, t.clock.now()) }) : undefined;
    // The secure outcome: no aal2 session from anywhere with the password and an app of the attacker's.
    expect(takeover?.statusCode, 'an aal2 session opened with the password and the attacker’s own authenticator app').not.toBe(200);
    expect(setup.json().error).toBe('invalid_mfa_code');
  });
});

describe('WebAuthn challenges of one signed-in user', () => {
  const { t } = useMailingApp();

  it('keeps one live challenge of a ceremony per user however many options are asked for: the newest', async () => {
    const user = await withPasskey(t);
    for (let i = 0; i < 60; i += 1) expect((await post(t, '/api/me/mfa/passkey-options', undefined, user.token)).statusCode).toBe(200);
    const rows = await t.deps.db.select().from(webauthnChallenges).where(eq(webauthnChallenges.userId, user.id));
    expect(rows.length, 'live challenges stored for one user').toBe(1);
  });
});

describe('a step-up tells what happened, to the tokens and to the owner', () => {
  const { t, smtp } = useMailingApp();

  it('does not add `pwd` to a session opened with a passkey alone when it steps up with a recovery code', async () => {
    const user = await withPasskey(t);
    const options = await signinOptions(t);
    const signedIn = await post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: user.authenticator.get(options) });
    expect(decodeJwt(signedIn.json().access_token).amr).toEqual(['hwk', 'user', 'mfa']);
    const up = await post(t, '/api/me/mfa/step-up', { recovery_code: user.recoveryCodes[0] }, signedIn.json().access_token);
    expect(up.statusCode, up.body).toBe(200);
    expect(up.json().amr, 'no password was checked in this session').not.toContain('pwd');
  });

  it('mails the owner when a recovery code is spent on a step-up, as a sign-in with one does', async () => {
    const user = await withPasskey(t);
    const up = await post(t, '/api/me/mfa/step-up', { recovery_code: user.recoveryCodes[1] }, user.token);
    expect(up.statusCode, up.body).toBe(200);
    await expect(smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'A recovery code was used', 2000)).resolves.toBeDefined();
  });
});

describe('a passkey, a challenge or a code of one user never serves another, nor another ceremony', () => {
  const { t } = useMailingApp();

  it('refuses user A’s passkey in user B’s second step, and A’s second-step challenge with B’s mfa_token', async () => {
    const a = await withPasskey(t);
    const b = await withPasskey(t);
    const bToken = await mfaTokenOf(t, b);
    // B's own options, answered with A's passkey (a credential the options do not list).
    const bOptions = await secondStepOptions(t, bToken);
    const aCredential = a.authenticator.credentials[0]!;
    const refused1 = await post(t, '/api/signin/mfa', { mfa_token: bToken, passkey: a.authenticator.get(bOptions, {}, aCredential) });
    expect(refused1.json().error).toBe('invalid_mfa_code');
    // A's options (an attacker who knows A's password and has A's passkey), sent with B's token.
    const aToken = await mfaTokenOf(t, a);
    const aOptions = await secondStepOptions(t, aToken);
    const aAnswer = a.authenticator.get(aOptions);
    expect((await post(t, '/api/signin/mfa', { mfa_token: bToken, passkey: aAnswer })).json().error).toBe('invalid_mfa_code');
    // That challenge is spent by the refusal: A's own step with it fails as well.
    expect((await post(t, '/api/signin/mfa', { mfa_token: aToken, passkey: aAnswer })).json().error).toBe('invalid_mfa_code');
    // B still signs in with B's passkey.
    const fresh = await secondStepOptions(t, bToken);
    expect((await post(t, '/api/signin/mfa', { mfa_token: bToken, passkey: b.authenticator.get(fresh) })).statusCode).toBe(200);
  });

  it('refuses A’s passkey, A’s challenge or A’s recovery code in B’s step-up', async () => {
    const a = await withPasskey(t);
    const b = await withPasskey(t);
    const stepUp = (factor: Json) => post(t, '/api/me/mfa/step-up', factor, b.token);
    expect((await stepUp({ passkey: a.authenticator.get(await confirmOptions(t, b.token), {}, a.authenticator.credentials[0]!) })).json().error).toBe('invalid_mfa_code');
    expect((await stepUp({ passkey: a.authenticator.get(await confirmOptions(t, a.token)) })).json().error).toBe('invalid_mfa_code');
    expect((await stepUp({ passkey: b.authenticator.get(await confirmOptions(t, a.token), {}, b.authenticator.credentials[0]!) })).json().error).toBe('invalid_mfa_code');
    expect((await stepUp({ recovery_code: a.recoveryCodes[0] })).json().error).toBe('invalid_mfa_code');
    expect(decodeJwt(b.token).aal).toBe('aal1');
    // A's code is still A's.
    expect((await post(t, '/api/me/mfa/step-up', { recovery_code: a.recoveryCodes[0] }, a.token)).statusCode).toBe(200);
  });

  it('refuses a challenge of one ceremony answered for another (second step, confirm, sign-in, registration)', async () => {
    const a = await withPasskey(t);
    const aToken = await mfaTokenOf(t, a);
    const stepUp = (passkey: Json) => post(t, '/api/me/mfa/step-up', { passkey }, a.token);
    expect((await stepUp(a.authenticator.get(await secondStepOptions(t, aToken)))).json().error).toBe('invalid_mfa_code');
    expect((await stepUp(a.authenticator.get(await signinOptions(t)))).json().error).toBe('invalid_mfa_code');
    const register = (await post(t, '/api/me/passkeys/options', { password: a.password, recovery_code: a.recoveryCodes[0] }, a.token)).json();
    expect((await stepUp(a.authenticator.get({ challenge: register.challenge, rpId: RP_ID }))).json().error).toBe('invalid_mfa_code');
    expect((await post(t, '/api/signin/mfa', { mfa_token: aToken, passkey: a.authenticator.get(await confirmOptions(t, a.token)) })).json().error).toBe('invalid_mfa_code');
    const confirm = await confirmOptions(t, a.token);
    expect((await post(t, '/api/signin/passkey', { challenge_id: confirm.challenge, response: a.authenticator.get(confirm) })).json().error).toBe('invalid_passkey');
  });

  it('refuses an assertion whose user handle is another user’s, though its signature checks out', async () => {
    const a = await withPasskey(t);
    const b = await signUp(t);
    const options = await signinOptions(t);
    const answer = a.authenticator.get(options);
    answer.response.userHandle = b64(b.id);
    const res = await post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: answer });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_passkey');
  });

  it('opens one session of two assertions racing with one counter value', async () => {
    const a = await withPasskey(t);
    const [o1, o2] = [await signinOptions(t), await signinOptions(t)];
    const [r1, r2] = await Promise.all([
      post(t, '/api/signin/passkey', { challenge_id: o1.challenge_id, response: a.authenticator.get(o1, { counter: 7 }) }),
      post(t, '/api/signin/passkey', { challenge_id: o2.challenge_id, response: a.authenticator.get(o2, { counter: 7 }) }),
    ]);
    expect([r1.statusCode, r2.statusCode].sort()).toEqual([200, 401]);
  });
});

describe('the enrollment token opens the four enrolment routes alone, while its user may still enrol', () => {
  const { t } = useMailingApp();

  async function enrolling(): Promise<{ admin: SignedUp; token: string }> {
    const admin = await signUp(t);
    await t.deps.db.update(users).set({ role: 'admin' }).where(eq(users.id, admin.id));
    const res = await post(t, '/api/signin', { email: admin.email, password: admin.password });
    expect(res.json().error).toBe('mfa_enrollment_required');
    return { admin, token: res.json().enrollment_token };
  }

  it('is refused everywhere else, and as an mfa_token or a refresh token', async () => {
    const { admin, token } = await enrolling();
    const calls: [string, string, Json | undefined][] = [
      ['GET', '/api/me', undefined],
      ['GET', '/api/me/sessions', undefined],
      ['GET', '/api/me/passkeys', undefined],
      ['PATCH', `/api/me/passkeys/${randomUUID()}`, { name: 'Mine' }],
      ['DELETE', `/api/me/passkeys/${randomUUID()}`, { password: admin.password }],
      ['POST', '/api/me/mfa/passkey-options', undefined],
      ['POST', '/api/me/mfa/step-up', { recovery_code: 'AAAA-BBBB-CCCC' }],
      ['POST', '/api/me/mfa/recovery-codes', { password: admin.password }],
      ['DELETE', '/api/me/mfa/totp', { password: admin.password }],
      ['POST', '/api/me/password', { current_password: admin.password, new_password: 'another long passphrase here' }],
      ['DELETE', '/api/me', { password: admin.password }],
    ];
    for (const [method, url, payload] of calls) {
      const res = await t.inject({ method: method as 'GET', url, headers: bearer(token), ...(payload ? { payload } : {}) });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(401);
    }
    expect((await post(t, '/api/signin/mfa', { mfa_token: token, code: '123456' })).json().error).toBe('invalid_mfa_token');
    expect((await post(t, '/api/signin/mfa/passkey-options', { mfa_token: token })).json().error).toBe('invalid_mfa_token');
    expect((await t.inject({ method: 'POST', url: '/api/refresh', headers: bearer(token) })).statusCode).toBe(401);
    // It still opens the enrolment routes.
    expect((await post(t, '/api/me/mfa/totp', { password: admin.password }, token)).statusCode).toBe(200);
  });

  it('is refused once the password changed, or the account is disabled, after it was issued', async () => {
    const first = await enrolling();
    t.clock.advance(2);
    await t.deps.db.update(users).set({ passwordChangedAt: t.clock.now() }).where(eq(users.id, first.admin.id));
    expect((await post(t, '/api/me/mfa/totp', { password: first.admin.password }, first.token)).statusCode).toBe(401);
    const second = await enrolling();
    await t.deps.db.update(users).set({ disabledAt: t.clock.now() }).where(eq(users.id, second.admin.id));
    expect((await post(t, '/api/me/passkeys/options', { password: second.admin.password }, second.token)).statusCode).toBe(401);
    expect((await post(t, '/api/me/mfa/totp/confirm', { code: '123456' }, second.token)).statusCode).toBe(401);
  });

  it('is spent by the first factor, whichever route enrolled it', async () => {
    const { admin, token } = await enrolling();
    const setup = await post(t, '/api/me/mfa/totp', { password: admin.password }, token);
    const confirmed = await post(t, '/api/me/mfa/totp/confirm', { code: codeAt(setup.json().secret, t.clock.now()) }, token);
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    expect((await post(t, '/api/me/passkeys/options', { password: admin.password }, token)).statusCode).toBe(401);
    expect((await post(t, '/api/me/mfa/totp', { password: admin.password }, token)).statusCode).toBe(401);
  });
});

describe('a step-up raises only a live session', () => {
  const { t } = useMailingApp();

  it('refuses a session revoked in the database that this instance has not heard of, spending nothing but the code', async () => {
    const user = await withPasskey(t);
    const sid = decodeJwt(user.token).sid as string;
    await t.deps.db.update(sessions).set({ revokedAt: t.clock.now(), revokedReason: 'hostile test' }).where(eq(sessions.id, sid));
    const up = await post(t, '/api/me/mfa/step-up', { recovery_code: user.recoveryCodes[0] }, user.token);
    expect(up.statusCode).toBe(401);
    expect(up.json().error).toBe('session_revoked');
    expect(up.json()).not.toHaveProperty('access_token');
    const [row] = await t.deps.db.select().from(sessions).where(eq(sessions.id, sid));
    expect(row!.amr).toEqual(['pwd']);
  });
});

describe('odd but schema-valid WebAuthn bodies are refused, never a 5xx', () => {
  const { t } = useMailingApp();

  it('at the passkey sign-in', async () => {
    const a = await withPasskey(t);
    const credentialId = a.authenticator.credentials[0]!.id;
    const tries: [string, (o: { challenge: string; challenge_id: string }) => Json][] = [
      ['client data null', (o) => ({ ...a.authenticator.get(o), response: { ...a.authenticator.get(o).response, clientDataJSON: b64('null') } })],
      ['client data a number', (o) => ({ ...a.authenticator.get(o), response: { ...a.authenticator.get(o).response, clientDataJSON: b64('5') } })],
      ['client data not JSON', (o) => ({ ...a.authenticator.get(o), response: { ...a.authenticator.get(o).response, clientDataJSON: b64(randomBytes(64)) } })],
      ['client data with the challenge as an object', (o) => ({ ...a.authenticator.get(o), response: { ...a.authenticator.get(o).response, clientDataJSON: b64(JSON.stringify({ type: 'webauthn.get', challenge: { o }, origin: PUBLIC_URL })) } })],
      ['authenticator data too short', (o) => ({ ...a.authenticator.get(o), response: { ...a.authenticator.get(o).response, authenticatorData: b64(Buffer.alloc(10)) } })],
      [
        'authenticator data with deeply nested extension CBOR',
        (o) => ({
          ...a.authenticator.get(o),
          response: { ...a.authenticator.get(o).response, authenticatorData: b64(Buffer.concat([sha256(RP_ID), Buffer.from([0x85]), Buffer.alloc(4, 0xff), Buffer.alloc(2900, 0x81), Buffer.from([0xa0])])) },
        }),
      ],
      ['a signature of one byte', (o) => ({ ...a.authenticator.get(o), response: { ...a.authenticator.get(o).response, signature: 'AA' } })],
      ['id and rawId differing', (o) => ({ ...a.authenticator.get(o), rawId: b64(randomBytes(16)) })],
      ['a stranger’s key on the credential id', (o) => strangerAssertion(o, credentialId)],
      ['an id of 1,400 characters', (o) => ({ ...a.authenticator.get(o), id: 'A'.repeat(1400), rawId: 'A'.repeat(1400) })],
      ['a padded id', (o) => ({ ...a.authenticator.get(o), id: `${b64(credentialId)}=`, rawId: `${b64(credentialId)}=` })],
    ];
    for (const [what, make] of tries) {
      const options = await signinOptions(t);
      const res = await post(t, '/api/signin/passkey', { challenge_id: options.challenge_id, response: make(options) });
      noServerError(res, what);
      expect(res.statusCode, `${what}: ${res.body}`).not.toBe(200);
    }
  });

  it('at a step-up and a second step', async () => {
    const a = await withPasskey(t);
    const options = await confirmOptions(t, a.token);
    const answer = a.authenticator.get(options);
    for (const clientDataJSON of [b64('null'), b64('[]'), b64('"x"'), b64(randomBytes(40))]) {
      const res = await post(t, '/api/me/mfa/step-up', { passkey: { ...answer, response: { ...answer.response, clientDataJSON } } }, a.token);
      noServerError(res, `step-up with client data ${clientDataJSON}`);
    }
    const mfaToken = await mfaTokenOf(t, a);
    const second = a.authenticator.get(await secondStepOptions(t, mfaToken));
    const res = await post(t, '/api/signin/mfa', { mfa_token: mfaToken, passkey: { ...second, response: { ...second.response, authenticatorData: b64(Buffer.alloc(37)) } } });
    noServerError(res, 'second step with empty authenticator data');
  });

  it('at registration: wrong COSE keys, huge CBOR, transports no database stores', async () => {
    /** A new user's creation options (no factor yet: the password alone), and their access token. */
    const fresh = async () => {
      const user = await signUp(t);
      const { access_token: token } = await signIn(t, user.email);
      const options = await post(t, '/api/me/passkeys/options', { password: user.password }, token);
      expect(options.statusCode, options.body).toBe(200);
      return { token, options: options.json() };
    };
    const coseKeys: [string, Map<number, CBORType>][] = [
      ['EC2 with 5-byte coordinates', new Map<number, CBORType>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.alloc(5, 1)], [-3, Buffer.alloc(5, 2)]])],
      ['EC2 key with the RS256 algorithm', new Map<number, CBORType>([[1, 2], [3, -257], [-1, 1], [-2, Buffer.alloc(32, 1)], [-3, Buffer.alloc(32, 2)]])],
      ['RSA key of one byte', new Map<number, CBORType>([[1, 3], [3, -257], [-1, Buffer.from([7])], [-2, Buffer.from([1, 0, 1])]])],
      ['OKP key on the P-256 algorithm', new Map<number, CBORType>([[1, 1], [3, -7], [-1, 6], [-2, Buffer.alloc(32, 3)]])],
      ['ES384 (not offered)', new Map<number, CBORType>([[1, 2], [3, -35], [-1, 2], [-2, Buffer.alloc(48, 1)], [-3, Buffer.alloc(48, 2)]])],
      ['no key type', new Map<number, CBORType>([[3, -7]])],
    ];
    for (const [what, cose] of coseKeys) {
      const { token, options } = await fresh();
      const credentialId = randomBytes(16);
      const res = await post(t, '/api/me/passkeys', { response: handmadeRegistration(options, cose, credentialId) }, token);
      noServerError(res, what);
      if (res.statusCode === 201) {
        // Stored: an assertion with it must be refused, not crash.
        const o = await signinOptions(t);
        const signin = await post(t, '/api/signin/passkey', { challenge_id: o.challenge_id, response: strangerAssertion(o, credentialId) });
        noServerError(signin, `sign-in with ${what}`);
        expect(signin.statusCode).toBe(401);
      }
    }
    const authenticator = new SoftwareAuthenticator(PUBLIC_URL);
    // Huge, deeply nested CBOR for the attestation object.
    const first = await fresh();
    const made = authenticator.create(first.options);
    const hugeCbor = b64(Buffer.concat([Buffer.alloc(6000, 0x81), Buffer.from([0xa0])]));
    const huge = await post(t, '/api/me/passkeys', { response: { ...made, response: { ...made.response, attestationObject: hugeCbor } } }, first.token);
    noServerError(huge, 'nested CBOR attestation');
    expect(huge.json().error).toBe('invalid_passkey_registration');
    // A NUL byte in a transport (valid JSON, schema-valid, which PostgreSQL text cannot hold).
    const second = await fresh();
    const nul = authenticator.create(second.options);
    const res = await post(t, '/api/me/passkeys', { response: { ...nul, response: { ...nul.response, transports: ['usb\u0000'] } } }, second.token);
    noServerError(res, 'NUL transport');
    expect(res.json().error).toBe('invalid_request');
  });
});

describe('a public key no authenticator could hold', () => {
  const { t } = useMailingApp();

  it('refuses registration answers whose COSE key is malformed (5-byte EC2 coordinates, no key type, an EC2 key under RS256)', async () => {
    const malformed: [string, Map<number, CBORType>][] = [
      ['EC2 with 5-byte coordinates', new Map<number, CBORType>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.alloc(5, 1)], [-3, Buffer.alloc(5, 2)]])],
      ['no key type', new Map<number, CBORType>([[3, -7]])],
      ['EC2 key with the RS256 algorithm', new Map<number, CBORType>([[1, 2], [3, -257], [-1, 1], [-2, Buffer.alloc(32, 1)], [-3, Buffer.alloc(32, 2)]])],
    ];
    const accepted: string[] = [];
    for (const [what, cose] of malformed) {
      const user = await signUp(t);
      const { access_token: token } = await signIn(t, user.email);
      const options = (await post(t, '/api/me/passkeys/options', { password: user.password }, token)).json();
      const res = await post(t, '/api/me/passkeys', { response: handmadeRegistration(options, cose) }, token);
      if (res.statusCode === 201) {
        const first = await post(t, '/api/signin', { email: user.email, password: user.password });
        accepted.push(`${what} (sign-in now answers ${first.json().error}, recovery codes: ${res.json().recovery_codes?.length ?? 0})`);
      }
    }
    expect(accepted, 'malformed keys stored as passkeys').toEqual([]);
  });
});

describe('an mfa_token issued for a password a reset replaced while it was being checked', () => {
  const { t } = useMailingApp();

  it('refuses the second step of a sign-in whose password check a reset overtook', async () => {
    const user = await withPasskey(t);
    const passwords = t.deps.passwords as { verify: (hash: string, password: string) => Promise<boolean> };
    const verify = passwords.verify;
    // The owner's reset commits while the attacker's (old, right) password is being hashed.
    passwords.verify = async (hash, password) => {
      const ok = await verify.call(t.deps.passwords, hash, password);
      t.clock.advance(1);
      await t.deps.db.update(users).set({ passwordChangedAt: t.clock.now(), notBefore: t.clock.now() }).where(eq(users.id, user.id));
      return ok;
    };
    let mfaToken: string;
    try {
      mfaToken = await mfaTokenOf(t, user);
    } finally {
      passwords.verify = verify;
    }
    const done = await post(t, '/api/signin/mfa', { mfa_token: mfaToken, recovery_code: user.recoveryCodes[0] });
    expect(done.json().error, 'a session opened on a password that was already replaced').toBe('invalid_mfa_token');
  });
});

describe('address limits on the unauthenticated passkey routes (RATE_LIMIT_PASSKEY) and RATE_LIMIT_MFA on the step-up', () => {
  const { t } = useMailingApp({ RATE_LIMIT_PASSKEY: '5/1m', RATE_LIMIT_MFA: '3/15m' });

  it('refuses a step-up past RATE_LIMIT_MFA, even with a right recovery code', async () => {
    const user = await withPasskey(t);
    for (let i = 0; i < 3; i += 1) expect((await post(t, '/api/me/mfa/step-up', { code: '000000' }, user.token)).statusCode).toBe(401);
    expect((await post(t, '/api/me/mfa/step-up', { recovery_code: user.recoveryCodes[0] }, user.token)).statusCode).toBe(429);
  });

  it('answers 429 past RATE_LIMIT_PASSKEY for passkey sign-in options and answers, from one address', async () => {
    const from = '203.0.113.9';
    const codes: number[] = [];
    for (let i = 0; i < 4; i += 1) codes.push((await post(t, '/api/signin/passkey/options', undefined, undefined, from)).statusCode);
    codes.push((await post(t, '/api/signin/passkey', { challenge_id: 'x', response: strangerAssertion({ challenge: 'x' }, randomBytes(16)) }, undefined, from)).statusCode);
    codes.push((await post(t, '/api/signin/passkey/options', undefined, undefined, from)).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 401, 429]);
  });
});
